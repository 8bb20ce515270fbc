//! `ecmp-router`: the DPDK ECMP router daemon.
//!
//! Start-up: load and validate the config (refuse it whole on any error),
//! initialise the EAL, probe and start every port, build the first FIB, launch
//! one worker per worker lcore, then serve `/metrics` and run the control loop
//! on the main lcore until SIGINT or SIGTERM. Teardown runs in reverse.

use anyhow::{bail, Context, Result};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Json;
use clap::Parser;
use control::config::{self, Config};
use control::punt::Channels;
use control::rcu::Quiescent;
use control::state::ControlPlane;
use dataplane::stats::LcoreStats;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[allow(unsafe_code)] // the one module with unsafe code: the safe layer over DPDK
mod dpdk;
mod fpm_server;
mod http_server;
mod kernel;
mod systemd;
mod worker;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Nexthops (gateways plus learned hosts) the router can hold.
const MAX_NEXTHOPS: usize = 65536;
/// Descriptors per rx and tx queue.
const QUEUE_DESC: u16 = 1024;

#[derive(Parser, Debug)]
#[command(name = "ecmp-router", version, about = "DPDK ECMP router")]
struct Args {
    /// Run the router with this YAML config.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["check_config", "man"])]
    config: Option<PathBuf>,
    /// Validate this config and exit (0 when valid, 1 with the error when not).
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    check_config: Option<PathBuf>,
    /// Prints the manual page, ecmp-router(8), in roff and exits (the package's build runs it).
    #[arg(long, hide = true)]
    man: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.man {
        use clap::CommandFactory;
        let page = clap_mangen::Man::new(Args::command()).section("8");
        return match page.render(&mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: writing the manual page: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(path) = args.check_config {
        return match config::load(&path) {
            Ok(c) => {
                println!(
                    "{}: OK ({} ports, {} routes, {} static neighbours, {} worker(s), api {})",
                    path.display(),
                    c.ports.len(),
                    c.routes.len(),
                    c.neighbors.len(),
                    c.workers,
                    c.listen
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    if systemd::stderr_is_journal() {
        // The journal stamps and ranks each line itself: priorities, no times.
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .event_format(systemd::Journal)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
    let path = args.config.expect("clap requires --config");
    let cfg = match config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(cfg, path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn eal_args(cfg: &Config) -> Vec<String> {
    let mut a = vec!["ecmp-router".to_owned()];
    let has_cores = cfg.eal.iter().any(|x| {
        matches!(x.as_str(), "-l" | "-c" | "--lcores")
            || x.starts_with("--lcores=")
            || x.starts_with("-l")
    });
    if !has_cores {
        a.push("-l".into());
        a.push(format!("0-{}", cfg.workers));
    }
    a.extend(cfg.eal.iter().cloned());
    a
}

/// The workers' millisecond clock (TSC since start), which flow timeouts use.
#[derive(Clone, Copy)]
struct Clock {
    epoch: u64,
    ticks_per_ms: u64,
}

impl Clock {
    fn now_ms(&self) -> u32 {
        (dpdk::rdtsc().wrapping_sub(self.epoch) / self.ticks_per_ms) as u32
    }
}

struct Shared {
    /// Each worker's flow table.
    flows: Vec<Arc<dataplane::flowtable::FlowTable>>,
    /// Each worker's SNAT counters (empty without SNAT).
    nat: Vec<Arc<dataplane::nat::NatCounters>>,
    clock: Clock,
    cp: Mutex<ControlPlane>,
    config_path: PathBuf,
    /// `api.token`; a reload replaces it (rotation).
    token: std::sync::RwLock<Option<String>>,
    /// `api.hosts`.
    api_hosts: Vec<String>,
    /// Connections the TCP API server closed, by reason.
    api_closed: Arc<http_server::Closed>,
    ports: Vec<dpdk::Port>,
    lcores: Vec<Arc<LcoreStats>>,
    /// Changes of the kernel's routes to mirror (kernel::watch_routes).
    kernel_routes: Mutex<std::sync::mpsc::Receiver<Vec<control::fpm::Change>>>,
    /// Kernel neighbours to mirror (kernel::watch_neighbors).
    kernel_neighbors: Mutex<std::sync::mpsc::Receiver<kernel::KernelNeighbor>>,
    /// Effective link state of each port, which the kernel interfaces' carrier follows.
    kernel_links: Arc<Vec<AtomicBool>>,
    /// Each port's kernel interface counters (none: no kernel interface).
    kernel_counters: Vec<Option<Arc<control::punt::KernelCounters>>>,
}

impl Shared {
    /// The control plane, locked (a panic elsewhere does not poison it for us).
    fn cp(&self) -> std::sync::MutexGuard<'_, ControlPlane> {
        self.cp.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The control loop: every millisecond, link states (every 100 ms: a PMD
/// query is not free on every PMD), then punted frames, resolution requests,
/// held packets and timers. Runs on its own thread until `stop`.
fn control_thread(shared: &Shared, stop: &AtomicBool) {
    let mut announced = false;
    let mut last_link = Instant::now() - Duration::from_secs(1);
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1));
        let now = Instant::now();
        let links: Option<Vec<bool>> =
            (now.duration_since(last_link) >= Duration::from_millis(100)).then(|| {
                last_link = now;
                shared.ports.iter().map(|p| p.link_up()).collect()
            });
        let mut cp = shared.cp();
        for (i, up) in links.into_iter().flatten().enumerate() {
            cp.set_link(dataplane::PortId(i as u16), up);
            let monitored = cp.config().ports.get(i).is_some_and(|p| p.monitor_link);
            if let Some(k) = shared.kernel_links.get(i) {
                k.store(!monitored || up, Ordering::Relaxed);
            }
        }
        if let Ok(rx) = shared.kernel_routes.try_lock() {
            // A bounded batch per pass: a full table's dump does not hold the loop.
            for _ in 0..64 {
                let Ok(c) = rx.try_recv() else { break };
                cp.apply_kernel(c);
            }
        }
        if let Ok(rx) = shared.kernel_neighbors.try_lock() {
            while let Ok(n) = rx.try_recv() {
                cp.set_kernel_neighbor(dataplane::PortId(n.port as u16), n.addr, n.mac);
            }
        }
        cp.poll(now);
        if !announced && cp.gateways_resolved() {
            announced = true;
            tracing::info!("all route gateways resolved");
        }
    }
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let counters: Vec<_> = s
        .ports
        .iter()
        .zip(&s.kernel_counters)
        .map(|(p, k)| control::metrics::PortCounters {
            link_up: p.link_up(),
            kernel: k.as_ref().map(|k| k.snapshot()),
            ..p.stats()
        })
        .collect();
    let now = s.clock.now_ms();
    // Copy under the lock, render without it: a scrape never delays the
    // control loop by its rendering.
    let snap = {
        let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
        cp.counters.api_evicted = s.api_closed.evicted.load(Ordering::Relaxed);
        cp.counters.api_idle_closed = s.api_closed.idle.load(Ordering::Relaxed);
        control::metrics::Snapshot::of(&cp)
    };
    // On a blocking thread, so that the runtime's own tasks (FPM, the API)
    // are not held up either.
    let s2 = s.clone();
    let body = tokio::task::spawn_blocking(move || {
        control::metrics::render(&snap, &counters, &s2.lcores, &s2.flows, &s2.nat, now)
    })
    .await
    .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

fn nexthop_json(n: &control::state::NexthopView) -> serde_json::Value {
    serde_json::json!({
        "id": control::state::ControlPlane::listed_nexthop_id(n.id),
        "address": n.addr.to_string(),
        "port": n.port,
        "kind": match n.kind { control::state::NexthopKind::Gateway => "gateway", control::state::NexthopKind::Host => "host" },
        "mac": n.mac.map(|m| m.to_string()),
        "live": n.live,
        "enabled": !n.admin_down,
        "link_down": n.link_down,
        "unreachable": n.unreachable,
        "uplink_down": n.uplink_down,
        "state": n.state.name(),
        "permanent": n.permanent,
        "last_seen_ms": n.last_seen_ms,
        "probes_unanswered": n.probes_unanswered,
    })
}

/// `GET /api/v1/neighbors`: every adjacency (gateways and hosts) with its
/// resolution state; `?port=NAME` filters.
async fn list_neighbors(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = q.get("port") {
        if cp.config().port_id(p).is_none() {
            return field_error(StatusCode::NOT_FOUND, format!("unknown port '{p}'"), "port");
        }
    }
    Json(serde_json::Value::Array(
        cp.nexthops()
            .iter()
            .filter(|n| q.get("port").is_none_or(|p| *p == n.port))
            .map(nexthop_json)
            .collect(),
    ))
    .into_response()
}

fn endpoint_addr(a: u128, v6: bool) -> std::net::IpAddr {
    if v6 {
        std::net::IpAddr::V6(a.into())
    } else {
        std::net::IpAddr::V4(((a >> 96) as u32).into())
    }
}

/// Flow-table slots one `/flows` request reads at most, whatever its filters
/// match: a request costs its page, not the table.
const FLOW_SCAN: usize = 65_536;

/// `GET /api/v1/flows[?addr=A&port=N&proto=P&worker=W&limit=N&after=CURSOR]`:
/// the flows of every worker's table (sticky routes), filtered, one page of
/// at most `limit` (default 1000) from at most [`FLOW_SCAN`] slots.
/// `X-Next-Cursor` (`WORKER:SLOT`) is the slot the next page starts at; a page may
/// be short, or empty, with a cursor still to follow. No total is given: it
/// would cost the whole table.
async fn list_flows(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let addr = match q.get("addr").map(|a| a.parse::<std::net::IpAddr>()) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => {
            return field_error(StatusCode::BAD_REQUEST, "addr: not an IP address", "addr")
        }
    };
    let num = |k: &str, d: u64| match q.get(k).map(|v| v.parse::<u64>()) {
        None => Ok(d),
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => Err(k.to_owned()),
    };
    let proto = match q.get("proto").map(String::as_str) {
        None => None,
        Some("tcp") => Some(6u8),
        Some("udp") => Some(17),
        Some("icmp") => Some(1),
        Some(p) => match p.parse::<u8>() {
            Ok(n) => Some(n),
            Err(_) => {
                return field_error(
                    StatusCode::BAD_REQUEST,
                    format!("proto: '{p}' is not tcp, udp, icmp or a number"),
                    "proto",
                )
            }
        },
    };
    if q.contains_key("offset") {
        return field_error(
            StatusCode::BAD_REQUEST,
            "offset is gone: page with after=CURSOR from the X-Next-Cursor header",
            "offset",
        );
    }
    let (port, worker, limit) = match (
        num("port", u64::MAX),
        num("worker", u64::MAX),
        num("limit", 1000),
    ) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, (c as usize).clamp(1, 100_000)),
        (Err(k), ..) | (_, Err(k), _) | (.., Err(k)) => {
            return field_error(
                StatusCode::BAD_REQUEST,
                format!("{k}: expected a number"),
                &k,
            )
        }
    };
    // The cursor is the first slot the page reads.
    let start = match q.get("after").map(|c| {
        c.split_once(':')
            .and_then(|(w, sl)| Some((w.parse::<usize>().ok()?, sl.parse::<usize>().ok()?)))
    }) {
        None => (0, 0),
        Some(Some(c)) => c,
        Some(None) => {
            return field_error(
                StatusCode::BAD_REQUEST,
                "after: expected a cursor WORKER:SLOT (from X-Next-Cursor)",
                "after",
            )
        }
    };
    let nexthops: HashMap<u32, (String, String)> = {
        let cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
        cp.nexthops()
            .iter()
            .map(|n| (n.id.0, (n.addr.to_string(), n.port.clone())))
            .collect()
    };
    let now = s.clock.now_ms();
    let mut page = Vec::new();
    let mut scanned = 0usize;
    let mut next: Option<(usize, usize)> = None;
    'tables: for (w, t) in s.flows.iter().enumerate().skip(start.0) {
        if worker != u64::MAX && worker != w as u64 {
            continue;
        }
        let from = if w == start.0 { start.1 } else { 0 };
        for (slot, f) in t.flows_from(from, now) {
            scanned += 1;
            if page.len() == limit || scanned > FLOW_SCAN {
                // More to read: the next page starts at this slot.
                next = Some((w, slot));
                break 'tables;
            }
            let Some(f) = f else { continue };
            let k = &f.key;
            let (a, b) = (endpoint_addr(k.src, k.v6), endpoint_addr(k.dst, k.v6));
            if addr.is_some_and(|x| x != a && x != b)
                || proto.is_some_and(|p| p != k.proto)
                || (port != u64::MAX && port != k.sport as u64 && port != k.dport as u64)
            {
                continue;
            }
            {
                let nh = nexthops.get(&f.nexthop.0);
                page.push(serde_json::json!({
                    "worker": w,
                    "proto": k.proto,
                    "a": { "addr": a.to_string(), "port": k.sport },
                    "b": { "addr": b.to_string(), "port": k.dport },
                    "nexthop": nh.map(|n| serde_json::json!({ "via": n.0, "port": n.1 })),
                    "tcp_state": f.tcp.name(),
                    "packets": f.packets,
                    "idle_ms": f.idle_ms,
                    "expires_in_ms": f.expires_in_ms,
                }));
            }
        }
    }
    let body = Json(serde_json::Value::Array(page));
    match next {
        Some((w, sl)) => ([("x-next-cursor", format!("{w}:{sl}"))], body).into_response(),
        None => body.into_response(),
    }
}

/// `GET /api/v1/uplinks`: every uplink with its probe state.
async fn list_uplinks(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    Json(serde_json::Value::Array(
        cp.uplinks()
            .iter()
            .map(|u| {
                serde_json::json!({
                    "name": u.name,
                    "port": u.port,
                    "gateway": u.gateway.to_string(),
                    "state": if u.up { "up" } else { "down" },
                    "since_ms": u.since_ms,
                    "loss_pct": u.loss_pct,
                    "rounds": u.rounds,
                    "transitions": u.transitions,
                    "targets": u.targets.iter().map(|(t, sent, got, rtt)| serde_json::json!({
                        "addr": t.to_string(),
                        "sent": sent,
                        "answered": got,
                        "last_rtt_us": rtt.map(|r| r.as_micros() as u64),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect(),
    ))
}

/// `GET /api/v1/ports`: configuration, link state and counters of every port.
async fn list_ports(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    let fib = cp.fib();
    Json(serde_json::Value::Array(
        cp.config()
            .ports
            .iter()
            .zip(&s.ports)
            .enumerate()
            .map(|(i, (pc, p))| {
                let st = p.stats();
                serde_json::json!({
                    "name": pc.name,
                    "device": pc.device,
                    "mac": fib.ports.get(i).map(|x| x.mac.to_string()),
                    "addresses": pc.addresses.iter().map(|a| format!("{}/{}", a.addr, a.len)).collect::<Vec<_>>(),
                    "mtu": pc.mtu,
                    "monitor_link": pc.monitor_link_setting.name(),
                    "monitor_link_effective": pc.monitor_link,
                    "link_up": p.link_up(),
                    "rx_packets": st.rx_packets, "rx_bytes": st.rx_bytes,
                    "tx_packets": st.tx_packets, "tx_bytes": st.tx_bytes,
                    "rx_missed": st.rx_missed, "rx_errors": st.rx_errors,
                    "rx_nombuf": st.rx_nombuf, "tx_errors": st.tx_errors,
                })
            })
            .collect(),
    ))
}

fn group_json(g: &control::state::GroupView) -> serde_json::Value {
    serde_json::json!({
        "id": g.id,
        "name": g.name,
        "kind": g.kind,
        "origin": g.origin.map(|o| o.name()),
        "algorithm": g.algorithm,
        "members": g.members.iter().map(|m| serde_json::json!({
            "id": m.id, "via": m.via.to_string(), "port": m.port, "weight": m.weight, "live": m.live,
        })).collect::<Vec<_>>(),
        "live": g.live,
        "routes": g.routes,
    })
}

/// `GET /api/v1/groups`: every group, named, shared and per route.
async fn list_groups(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    Json(serde_json::Value::Array(
        cp.groups().iter().map(group_json).collect(),
    ))
}

async fn put_group(s: Arc<Shared>, body: String, replace: bool) -> axum::response::Response {
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    let gc = match control::config::parse_named_group(&body, cp.config()) {
        Ok(g) => g,
        Err(e) => return config_error(&e),
    };
    let name = gc.name.clone().unwrap_or_default();
    match cp.set_named_group(gc, replace) {
        Ok(created) => {
            let view = cp.groups().into_iter().find(|g| g.name == name);
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut body = view.as_ref().map(group_json).unwrap_or_default();
            body["fib_generation"] = serde_json::json!(cp.fib().generation);
            (code, Json(body)).into_response()
        }
        Err(e) => api_error(StatusCode::CONFLICT, e),
    }
}

/// `POST /api/v1/groups`: add a named group (409 when the name exists).
async fn add_group(State(s): State<Arc<Shared>>, body: String) -> axum::response::Response {
    put_group(s, body, false).await
}

/// `PUT /api/v1/groups`: add or replace a named group.
async fn replace_group(State(s): State<Arc<Shared>>, body: String) -> axum::response::Response {
    put_group(s, body, true).await
}

/// `DELETE /api/v1/groups/{name}`.
async fn delete_group(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> axum::response::Response {
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    match cp.delete_named_group(&name) {
        Ok(()) => Json(serde_json::json!({ "ok": true, "fib_generation": cp.fib().generation }))
            .into_response(),
        Err(e) if e.starts_with("no nexthop group") => api_error(StatusCode::NOT_FOUND, e),
        Err(e) => api_error(StatusCode::CONFLICT, e),
    }
}

fn api_error(status: StatusCode, msg: impl Into<String>) -> axum::response::Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
}

fn field_error(
    status: StatusCode,
    msg: impl Into<String>,
    field: &str,
) -> axum::response::Response {
    (
        status,
        Json(serde_json::json!({ "error": msg.into(), "field": field })),
    )
        .into_response()
}

/// Whether `got` equals `want`, in time that depends only on `want`'s
/// length: neither where the first difference is nor `got`'s length shows.
fn token_matches(got: &[u8], want: &[u8]) -> bool {
    let mut diff = (got.len() != want.len()) as u8;
    for (i, w) in want.iter().enumerate() {
        diff |= w ^ got.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The token of an `Authorization` header, with the `Bearer` scheme in any case (RFC 7235 2.1).
fn bearer(v: &str) -> Option<&str> {
    let (scheme, rest) = v.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Whether a `Host` header names this router: an IP literal (with or without
/// a port), `localhost`, or a name from `api.hosts`. Anything else is a
/// browser sent here by DNS rebinding.
fn host_allowed(host: &str, names: &[String]) -> bool {
    let h = host.trim();
    if h.parse::<std::net::SocketAddr>().is_ok() || h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.split(']').next()) {
        if inner.parse::<std::net::Ipv6Addr>().is_ok() {
            return true;
        }
    }
    let name = h.rsplit_once(':').map_or(h, |(n, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            n
        } else {
            h
        }
    });
    let name = name.to_ascii_lowercase();
    name == "localhost" || names.contains(&name)
}

/// The TCP API's guard (see [`guard`]).
async fn auth_tcp(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    guard(&s, req, next, true).await
}

/// The Unix socket's guard: its file permissions are the access control,
/// so no token and no `Host` check (see [`guard`]).
async fn auth_unix(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    guard(&s, req, next, false).await
}

/// Guards the API: on TCP the `Host` header (421); a JSON content type on
/// every write (415: a browser's form or `text/plain` POST cannot drive the
/// API, which closes CSRF); on TCP the bearer token when one is configured
/// (401). Writes are logged with their outcome.
async fn guard(
    s: &Shared,
    req: axum::extract::Request,
    next: axum::middleware::Next,
    tcp: bool,
) -> axum::response::Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let write = !matches!(
        method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|_| tcp)
    {
        if !host_allowed(host, &s.api_hosts) {
            tracing::warn!(%method, %path, host, "API: refused, Host is not this router (421)");
            return api_error(
                StatusCode::MISDIRECTED_REQUEST,
                "the Host header names neither an IP address, localhost, nor one of api.hosts",
            );
        }
    }
    if write {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            tracing::warn!(%method, %path, "API: write refused, not Content-Type: application/json (415)");
            return api_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "writes need Content-Type: application/json (bodiless ones too)",
            );
        }
    }
    let want = s
        .token
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .filter(|_| tcp);
    if let Some(want) = want {
        let got = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        if !got.is_some_and(|g| token_matches(g.as_bytes(), want.as_bytes())) {
            if write {
                tracing::warn!(%method, %path, "API: write refused, missing or wrong token (401)");
            }
            return api_error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (send Authorization: Bearer <api.token>)",
            );
        }
    }
    let resp = next.run(req).await;
    if write {
        let via = if tcp { "tcp" } else { "unix" };
        tracing::info!(%method, %path, status = resp.status().as_u16(), via, "API write");
    }
    resp
}

/// `GET /api/v1/nexthops`: every nexthop with its state.
async fn list_nexthops(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    Json(serde_json::Value::Array(
        cp.nexthops().iter().map(nexthop_json).collect(),
    ))
}

/// `POST /api/v1/nexthops` with `{"via": A, "port": P}`: create a nexthop.
async fn add_nexthop(State(s): State<Arc<Shared>>, body: String) -> axum::response::Response {
    let v: serde_json::Value = match serde_json::from_str(&body) {
        Ok(v) => v,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("body: {e}")),
    };
    let Some(port) = v.get("port").and_then(|p| p.as_str()) else {
        return field_error(StatusCode::BAD_REQUEST, "port: missing", "port");
    };
    let Some(via) = v.get("via").and_then(|p| p.as_str()) else {
        return field_error(StatusCode::BAD_REQUEST, "via: missing", "via");
    };
    if let Some(k) = v
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "via" && *k != "port"))
    {
        return field_error(
            StatusCode::BAD_REQUEST,
            format!("unknown field `{k}` (expected via, port)"),
            k,
        );
    }
    let Ok(addr) = via.parse::<std::net::IpAddr>() else {
        return field_error(
            StatusCode::BAD_REQUEST,
            format!("'{via}' is not an IP address"),
            "via",
        );
    };
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    match cp.add_nexthop_api(port, addr) {
        Ok(n) => (StatusCode::CREATED, Json(nexthop_json(&n))).into_response(),
        Err(e) if e.contains("exists") => api_error(StatusCode::CONFLICT, e),
        Err(e) if e.starts_with("unknown port") => field_error(StatusCode::BAD_REQUEST, e, "port"),
        Err(e) => field_error(StatusCode::BAD_REQUEST, e, "via"),
    }
}

/// `DELETE /api/v1/nexthops/{port}/{address}`: delete a nexthop no group uses.
async fn delete_nexthop(
    State(s): State<Arc<Shared>>,
    Path((port, address)): Path<(String, String)>,
) -> axum::response::Response {
    let Ok(addr) = address.parse::<std::net::IpAddr>() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            format!("'{address}' is not an IP address"),
        );
    };
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    match cp.delete_nexthop_api(&port, addr) {
        Ok(()) => Json(serde_json::json!({ "ok": true })).into_response(),
        Err(e) if e.starts_with("no nexthop") || e.starts_with("unknown port") => {
            api_error(StatusCode::NOT_FOUND, e)
        }
        Err(e) => api_error(StatusCode::CONFLICT, e),
    }
}

/// `POST /api/v1/nexthops/{port}/{address}/{enable|disable}`.
async fn set_nexthop(
    State(s): State<Arc<Shared>>,
    Path((port, address, action)): Path<(String, String, String)>,
) -> axum::response::Response {
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        other => {
            return api_error(
                StatusCode::NOT_FOUND,
                format!("unknown action '{other}' (expected enable or disable)"),
            )
        }
    };
    let Ok(addr) = address.parse::<std::net::IpAddr>() else {
        return api_error(
            StatusCode::BAD_REQUEST,
            format!("'{address}' is not an IP address"),
        );
    };
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    match cp.set_enabled(&port, addr, enabled) {
        Ok(n) => Json(nexthop_json(&n)).into_response(),
        Err(e) => api_error(StatusCode::NOT_FOUND, e),
    }
}

fn route_json(v: &control::state::RouteView, ports: &[String]) -> serde_json::Value {
    use control::config::RouteGroup;
    let s = &v.spec;
    let mut o = serde_json::json!({
        "table": s.table,
        "prefix": s.prefix.to_string(),
        "origin": v.origin.name(),
        "protocol": control::config::protocol_name(s.protocol),
        "metric": s.metric,
        "active": v.active,
        "hash": { "policy": s.hash.policy.name(), "seed": s.hash.seed },
    });
    if s.sticky {
        o["sticky"] = serde_json::json!(true);
    }
    if let dataplane::hash::HashPolicy::Fields(f) = s.hash.policy {
        o["hash"]["fields"] = serde_json::json!(f.names());
    }
    // A route through an FPM nexthop object shows the object's id and what it is now.
    let group = match (&s.group, &v.resolved) {
        (RouteGroup::Object(id), r) => {
            o["nhid"] = serde_json::json!(id);
            r.as_ref()
        }
        (g, _) => Some(g),
    };
    o["type"] = serde_json::json!(match group {
        Some(RouteGroup::Reject(x)) => x.name(),
        _ => "unicast",
    });
    match group {
        None | Some(RouteGroup::Reject(_)) | Some(RouteGroup::Object(_)) => {}
        Some(RouteGroup::Connected(p)) => {
            o["dev"] = serde_json::json!(ports.get(p.index()).cloned().unwrap_or_default());
        }
        Some(RouteGroup::Named(n)) => o["nexthop-group"] = serde_json::json!(n),
        Some(RouteGroup::Inline(g)) => {
            o["group"] = serde_json::json!(g.algorithm.name());
            o["nexthops"] = g
                .nexthops
                .iter()
                .map(|n| serde_json::json!({ "via": n.via.to_string(), "port": ports.get(n.port.index()), "weight": n.weight }))
                .collect();
        }
    }
    o
}

/// `GET /api/v1/routes[?table=N]`.
async fn list_routes(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let table = match q.get("table").map(|t| t.parse::<u32>()) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "table: expected a table id such as 254",
            )
        }
    };
    let within: Option<dataplane::Prefix> = match q.get("prefix").map(|p| p.parse()) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            return field_error(StatusCode::BAD_REQUEST, format!("{e}"), "prefix");
        }
    };
    let origin = match q.get("origin").map(String::as_str) {
        None => None,
        Some(o @ ("api" | "config" | "fpm" | "kernel")) => Some(o.to_owned()),
        Some(o) => {
            return field_error(
                StatusCode::BAD_REQUEST,
                format!("unknown origin '{o}' (expected api, config or fpm)"),
                "origin",
            )
        }
    };
    let num = |k: &str, d: usize| match q.get(k).map(|v| v.parse::<usize>()) {
        None => Ok(d),
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => Err(k.to_owned()),
    };
    let limit = match num("limit", ROUTES_PAGE) {
        Ok(l) if (1..=ROUTES_PAGE_MAX).contains(&l) => l,
        _ => {
            return field_error(
                StatusCode::BAD_REQUEST,
                format!("limit: expected 1..={ROUTES_PAGE_MAX}"),
                "limit",
            )
        }
    };
    if q.contains_key("offset") {
        return field_error(
            StatusCode::BAD_REQUEST,
            "offset is gone: page with after=CURSOR from the X-Next-Cursor header",
            "offset",
        );
    }
    let after = match q.get("after").map(|c| parse_cursor(c)) {
        None => None,
        Some(Some(c)) => Some(c),
        Some(None) => {
            return field_error(
                StatusCode::BAD_REQUEST,
                "after: expected a cursor TABLE:PREFIX (from X-Next-Cursor)",
                "after",
            )
        }
    };
    // The lock is held for one page only; the JSON is rendered after it.
    let (page, next, ports) = {
        let cp = s.cp();
        let ports: Vec<String> = cp.config().ports.iter().map(|p| p.name.clone()).collect();
        let (page, next) = cp.routes_page(table, after, limit, |v| {
            within
                .is_none_or(|w| w.len() <= v.spec.prefix.len() && w.contains(v.spec.prefix.addr()))
                && origin.as_deref().is_none_or(|o| o == v.origin.name())
        });
        (page, next, ports)
    };
    let body = Json(serde_json::Value::Array(
        page.iter().map(|v| route_json(v, &ports)).collect(),
    ));
    match next {
        Some((t, p)) => ([("x-next-cursor", format!("{t}:{p}"))], body).into_response(),
        None => body.into_response(),
    }
}

/// Prefixes per `GET /api/v1/routes` page by default.
const ROUTES_PAGE: usize = 1000;
/// The largest page.
const ROUTES_PAGE_MAX: usize = 10_000;

/// A routes cursor, `TABLE:PREFIX`.
fn parse_cursor(c: &str) -> Option<(u32, dataplane::Prefix)> {
    let (t, p) = c.split_once(':')?;
    Some((t.parse().ok()?, p.parse().ok()?))
}

fn config_error(e: &control::config::ConfigError) -> axum::response::Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": e.message, "field": e.key })),
    )
        .into_response()
}

async fn put_route(s: Arc<Shared>, body: String, replace: bool) -> axum::response::Response {
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    let spec = match control::config::parse_route_with(&body, cp.config(), &cp.api_groups()) {
        Ok(x) => x,
        Err(e) => return config_error(&e),
    };
    match cp.add_route(spec, control::state::Origin::Api, replace) {
        Ok(()) => (
            if replace {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            },
            Json(serde_json::json!({ "ok": true, "fib_generation": cp.fib().generation })),
        )
            .into_response(),
        Err(e) => api_error(StatusCode::CONFLICT, e),
    }
}

/// `POST /api/v1/routes`: add (409 when it exists).
async fn add_route(State(s): State<Arc<Shared>>, body: String) -> axum::response::Response {
    put_route(s, body, false).await
}

/// `PUT /api/v1/routes`: add or replace.
async fn replace_route(State(s): State<Arc<Shared>>, body: String) -> axum::response::Response {
    put_route(s, body, true).await
}

/// `DELETE /api/v1/routes?prefix=P[&table=T]`: delete the API's route.
async fn delete_route(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let Some(prefix) = q.get("prefix") else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "prefix: missing (?prefix=198.51.100.0/24)",
        );
    };
    let prefix: dataplane::Prefix = match prefix.parse() {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({ "error": e.to_string(), "field": "prefix" })),
            )
                .into_response()
        }
    };
    let table = match q.get("table").map(|t| t.parse::<u32>()) {
        None => control::config::MAIN_TABLE,
        Some(Ok(t)) => t,
        Some(Err(_)) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "table: expected a table id such as 254",
            )
        }
    };
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    match cp.delete_route(table, prefix, control::state::Origin::Api) {
        Ok(()) => Json(serde_json::json!({ "ok": true, "fib_generation": cp.fib().generation }))
            .into_response(),
        Err(e) => api_error(StatusCode::NOT_FOUND, e),
    }
}

/// `GET /api/v1/fpm/not-installed`: FPM routes held but not installed, and why.
async fn fpm_not_installed(State(s): State<Arc<Shared>>) -> axum::response::Response {
    let list: Vec<_> = s
        .cp()
        .fpm_not_installed()
        .into_iter()
        .map(|v| {
            let mut o = serde_json::json!({
                "table": v.table,
                "prefix": v.prefix.to_string(),
                "reason": v.reason.name(),
            });
            if let control::state::NotInstalled::RouteType(t) = v.reason {
                o["rtm_type"] = serde_json::json!(t);
            }
            o
        })
        .collect();
    Json(list).into_response()
}

/// `POST /api/v1/neighbors/flush[?dev=PORT]`: removes learned hosts, like `ip neigh flush`.
async fn flush_neighbors(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let mut cp = s.cp();
    let port = match q.get("dev") {
        None => None,
        Some(d) => match cp.config().port_id(d) {
            Some(p) => Some(p),
            None => {
                return field_error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown port '{d}'"),
                    "dev",
                )
            }
        },
    };
    let n = cp.flush_neighbors(port);
    tracing::info!(flushed = n, "neighbours flushed");
    Json(serde_json::json!({ "flushed": n })).into_response()
}

/// `GET /api/v1/route/get?dst=A[&src=A&proto=tcp|udp|N&sport=N&dport=N]`.
async fn route_get(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let addr = |k: &str, d: Option<std::net::IpAddr>| match q.get(k) {
        None => d.ok_or_else(|| format!("{k}: missing")),
        Some(v) => v
            .parse::<std::net::IpAddr>()
            .map_err(|_| format!("{k}: '{v}' is not an IP address")),
    };
    let num = |k: &str| match q.get(k) {
        None => Ok(0u16),
        Some(v) => v
            .parse::<u16>()
            .map_err(|_| format!("{k}: '{v}' is not a port number")),
    };
    let parsed = (|| {
        let dst = addr("dst", None)?;
        let src = addr(
            "src",
            Some(if dst.is_ipv4() {
                std::net::Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            }),
        )?;
        let proto = match q.get("proto").map(String::as_str) {
            None | Some("tcp") => 6,
            Some("udp") => 17,
            Some("sctp") => 132,
            Some("icmp") => 1,
            Some(n) => n
                .parse::<u8>()
                .map_err(|_| format!("proto: '{n}' is not tcp, udp, sctp, icmp or a number"))?,
        };
        Ok::<_, String>((dst, src, proto, num("sport")?, num("dport")?))
    })();
    let (dst, src, proto, sport, dport) = match parsed {
        Ok(x) => x,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, e),
    };
    let cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    let iif = match q.get("iif") {
        None => None,
        Some(name) => match cp.config().port_id(name) {
            Some(p) => Some(p),
            None => {
                return field_error(
                    StatusCode::BAD_REQUEST,
                    format!("iif: unknown port '{name}'"),
                    "iif",
                )
            }
        },
    };
    let g = cp.route_get_from(dst, src, proto, sport, dport, iif);
    Json(serde_json::json!({
        "prefix": g.route.map(|r| r.0.to_string()),
        "origin": g.route.map(|r| r.1.name()),
        "kind": g.kind,
        "hash": g.hash,
        "nexthop": g.nexthop.as_ref().map(|n| serde_json::json!({ "via": n.0.to_string(), "port": n.1 })),
    }))
    .into_response()
}

/// Re-reads the config file and applies it (API and SIGHUP). On failure: the
/// status and JSON body to answer with; nothing changed.
fn do_reload(s: &Shared) -> Result<u64, (StatusCode, serde_json::Value)> {
    let new = control::config::load(&s.config_path).map_err(|e| {
        tracing::warn!("reload refused: {e}");
        (
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": e.to_string(), "field": e.key }),
        )
    })?;
    let token = new.token.clone();
    let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
    cp.reload(new).map_err(|e| {
        tracing::warn!("reload refused: {e}");
        (StatusCode::CONFLICT, serde_json::json!({ "error": e }))
    })?;
    let mut t = s.token.write().unwrap_or_else(|e| e.into_inner());
    if *t != token {
        tracing::info!("reload: api.token replaced");
        *t = token;
    }
    tracing::info!(generation = cp.fib().generation, "config reloaded");
    Ok(cp.fib().generation)
}

/// `POST /api/v1/reload`.
async fn reload(State(s): State<Arc<Shared>>) -> axum::response::Response {
    match do_reload(&s) {
        Ok(g) => Json(serde_json::json!({ "ok": true, "fib_generation": g })).into_response(),
        Err((code, body)) => (code, Json(body)).into_response(),
    }
}

/// Slots in each ring between two workers (SNAT reply steering).
const STEER_RING: u32 = 512;

/// With SNAT and several workers: a ring from every worker to every other,
/// and each worker's [`worker::Steer`]. `None`s otherwise.
fn steer_rings(
    snat: &dataplane::nat::Snat,
    nq: u16,
    ports: &[dpdk::Port],
) -> Result<Vec<Option<worker::Steer>>> {
    if snat.is_empty() || nq < 2 {
        return Ok((0..nq).map(|_| None).collect());
    }
    let n = nq as usize;
    let mut port_index = vec![u16::MAX; dpdk_sys::RTE_MAX_ETHPORTS as usize];
    for (i, p) in ports.iter().enumerate() {
        port_index[p.id as usize] = i as u16;
    }
    // rings[a][b]: from worker a to worker b.
    let mut rings: Vec<Vec<Option<Arc<dpdk::Ring>>>> = vec![vec![None; n]; n];
    for (a, row) in rings.iter_mut().enumerate() {
        for (b, slot) in row.iter_mut().enumerate() {
            if a != b {
                let r = dpdk::Ring::new(&format!("steer_{a}_{b}"), STEER_RING)
                    .context("creating the SNAT steering rings")?;
                *slot = Some(Arc::new(r));
            }
        }
    }
    Ok((0..n)
        .map(|w| {
            Some(worker::Steer {
                workers: nq,
                to: rings[w].clone(),
                from: (0..n).filter_map(|a| rings[a][w].clone()).collect(),
                port_index: port_index.clone(),
            })
        })
        .collect())
}

fn run(cfg: Config, config_path: PathBuf) -> Result<()> {
    let eal = dpdk::Eal::init(&eal_args(&cfg)).context("starting DPDK")?;
    dataplane::stats::set_stage_clock(dpdk::rdtsc);
    let lcores = eal.worker_lcores();
    if lcores.len() < cfg.workers as usize {
        bail!("the EAL has {} worker lcore(s) but the config asks for workers: {} (give more cores with eal: [-l, ...])", lcores.len(), cfg.workers);
    }
    let nq = cfg.workers as u16;
    let nports = cfg.ports.len() as u32;
    // Rx and tx rings of every queue, the SNAT steering rings between
    // workers (worker::Steer), and room for the control thread's frames.
    let steering = nq as u32 * (nq as u32 - 1) * STEER_RING;
    let with_kernel = cfg.ports.iter().any(|p| p.kernel_interface);
    let kernel_rings = if with_kernel {
        2 * nq as u32 * kernel::RING
    } else {
        0
    };
    let mbufs = (nports * 2 * QUEUE_DESC as u32 * nq as u32 + steering + kernel_rings + 4096)
        .next_power_of_two()
        - 1;
    let max_mtu = cfg.ports.iter().map(|p| p.mtu).max().unwrap_or(1500);
    let data_room = dpdk::data_room_for_mtu(max_mtu);
    if data_room as u32 > dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE {
        tracing::info!(
            mtu = max_mtu,
            data_room,
            mbufs,
            "jumbo MTU: mbufs sized for a whole frame"
        );
    }
    let pool = Arc::new(
        dpdk::Mempool::new("ecmp_pkt", mbufs, 256, data_room)
            .context("creating the packet pool")?,
    );

    let mut ports = Vec::new();
    let mut macs = Vec::new();
    for p in &cfg.ports {
        let port = dpdk::Port::probe(&p.device).with_context(|| format!("port '{}'", p.name))?;
        port.configure_and_start(nq, QUEUE_DESC, p.mtu, &pool)
            .with_context(|| format!("port '{}'", p.name))?;
        tracing::info!(port = %p.name, dpdk_port = port.id, mac = %port.mac(), device = %p.device, "port up");
        macs.push(port.mac());
        ports.push(port);
    }

    // Kernel interfaces: their carrier starts as the port's effective link
    // state (monitor-link off: always up).
    let effective: Vec<bool> = cfg
        .ports
        .iter()
        .zip(&ports)
        .map(|(c, p)| !c.monitor_link || p.link_up())
        .collect();
    let kifs = kernel::create(&cfg.ports, &macs, &effective).context("kernel interfaces")?;
    let kernel_links: Arc<Vec<AtomicBool>> =
        Arc::new(effective.iter().map(|&u| AtomicBool::new(u)).collect());
    let mut kernel_counters: Vec<Option<Arc<control::punt::KernelCounters>>> =
        vec![None; cfg.ports.len()];
    for k in &kifs {
        kernel_counters[k.port] = Some(k.counters.clone());
    }
    let krings = if kifs.is_empty() {
        Vec::new()
    } else {
        kernel::rings(nq).context("kernel interface rings")?
    };
    let kernel_ifindex: Vec<(u32, dataplane::PortId)> = kifs
        .iter()
        .map(|k| (k.ifindex, dataplane::PortId(k.port as u16)))
        .collect();
    // The kernel's neighbours on the kernel interfaces that the router mirrors (RFC 5549).
    let (neigh_tx, neigh_rx) = std::sync::mpsc::channel();
    if !kifs.is_empty() {
        let by_ifindex = kifs.iter().map(|k| (k.ifindex, k.port)).collect();
        kernel::watch_neighbors(by_ifindex, neigh_tx).context("kernel neighbours")?;
    }
    // kernel-routes: the kernel's main table, mirrored (BIRD, ip route, ...).
    let (routes_tx, routes_rx) = std::sync::mpsc::channel();
    if cfg.kernel_routes {
        kernel::watch_routes(routes_tx).context("kernel routes")?;
    }
    let peers = Arc::new(dataplane::punt::Peers::default());
    for &p in &cfg.punt_policer.peers {
        peers.learn(p, false);
    }
    let punt_limits = cfg.punt_policer.limits;
    let channels = Channels::default();
    let quiescent: Vec<Arc<Quiescent>> = (0..nq).map(|_| Arc::new(Quiescent::default())).collect();
    let stats: Vec<Arc<LcoreStats>> = (0..nq)
        .map(|_| Arc::new(LcoreStats::new(MAX_NEXTHOPS)))
        .collect();
    let listen = cfg.listen;
    let token = cfg.token.clone();
    let cfg_api_hosts = cfg.api_hosts.clone();
    let socket = cfg
        .api_socket
        .clone()
        .map(|p| (p, cfg.api_socket_group.clone()));
    let fpm = cfg.fpm;
    let flow_cfg = cfg.flows;
    let (icmp_rate, icmp_burst) = (cfg.icmp_rate, cfg.icmp_burst);
    let flows: Vec<Arc<dataplane::flowtable::FlowTable>> = (0..nq)
        .map(|_| {
            Arc::new(dataplane::flowtable::FlowTable::new(
                flow_cfg.capacity,
                flow_cfg.timeouts,
            ))
        })
        .collect();
    let clock = Clock {
        epoch: dpdk::rdtsc(),
        ticks_per_ms: (eal.tsc_hz() / 1000).max(1),
    };
    let mut cp = ControlPlane::new(
        cfg,
        &macs,
        quiescent.clone(),
        channels.clone(),
        MAX_NEXTHOPS,
    );
    // Neighbour states see traffic through the workers' per-nexthop counters.
    cp.set_traffic(stats.clone());
    // FPM paths name their port by the kernel interface's ifindex.
    cp.set_kernel_interfaces(kernel_ifindex);
    let stop = Arc::new(AtomicBool::new(false));
    let fib = cp.fib_handle();
    let snat = cp.snat();
    // Each worker's table hands out only its share of the ports, so a reply
    // that reaches another worker can be steered back (dataplane::nat).
    let mut nat_tables: Vec<Option<dataplane::nat::NatTable>> = (0..nq)
        .map(|i| {
            (!snat.is_empty()).then(|| {
                dataplane::nat::NatTable::new(
                    flow_cfg.capacity,
                    snat.addrs.len(),
                    flow_cfg.timeouts,
                )
                .shared(i, nq)
            })
        })
        .collect();
    let mut steer = steer_rings(&snat, nq, &ports)?;
    let nat: Vec<Arc<dataplane::nat::NatCounters>> = nat_tables
        .iter()
        .flatten()
        .map(|t| t.counters.clone())
        .collect();
    for (i, &lcore) in lcores.iter().take(nq as usize).enumerate() {
        let w = worker::Worker {
            index: i as u16,
            ports: ports.iter().map(|p| p.id).collect(),
            fib: fib.clone(),
            stats: stats[i].clone(),
            quiescent: quiescent[i].clone(),
            channels: channels.clone(),
            pool: pool.clone(),
            stop: stop.clone(),
            tsc_hz: eal.tsc_hz(),
            flows: flows[i].clone(),
            nat: nat_tables[i].take(),
            steer: steer[i].take(),
            clock_epoch: clock.epoch,
            icmp_rate,
            icmp_burst,
            kernel: krings.get(i).cloned(),
            punt_limits,
            workers: nq,
            peers: peers.clone(),
        };
        eal.launch(lcore, Box::new(move || w.run()))?;
        tracing::info!(worker = i, lcore, "worker started");
    }

    let kernel_thread = if kifs.is_empty() {
        None
    } else {
        let io = kernel::Io {
            ifs: kifs,
            rings: krings,
            pool: pool.clone(),
            dpdk_ports: ports.iter().map(|p| p.id).collect(),
            peers: peers.clone(),
            links: kernel_links.clone(),
            stop: stop.clone(),
        };
        Some(
            std::thread::Builder::new()
                .name("kernel-io".into())
                .spawn(move || io.run())
                .context("starting the kernel interfaces' thread")?,
        )
    };

    let shared = Arc::new(Shared {
        kernel_neighbors: Mutex::new(neigh_rx),
        kernel_routes: Mutex::new(routes_rx),
        kernel_links,
        kernel_counters,
        cp: Mutex::new(cp),
        config_path,
        token: std::sync::RwLock::new(token),
        api_hosts: cfg_api_hosts,
        api_closed: Arc::default(),
        ports: ports.clone(),
        lcores: stats,
        flows,
        nat,
        clock,
    });
    let result = control_loop(shared.clone(), listen, fpm, socket);

    stop.store(true, Ordering::Relaxed);
    eal.wait_workers();
    if let Some(t) = kernel_thread {
        let _ = t.join();
    }
    for p in &ports {
        p.stop_and_close();
    }
    drop(shared);
    drop(pool);
    drop(eal);
    tracing::info!("stopped");
    result
}

/// Binds the API's Unix socket at `path`, mode 0660, group `group`. A socket
/// file left by a crash is replaced; one a live router answers on is not.
fn bind_socket(path: &std::path::Path, group: Option<&str>) -> Result<tokio::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} (api.socket)", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("api.socket: another router answers on {}", path.display());
        }
        tracing::info!(socket = %path.display(), "removing a stale API socket");
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale {} (api.socket)", path.display()))?;
    }
    let l = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("binding {} (api.socket)", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod 0660 {} (api.socket)", path.display()))?;
    if let Some(g) = group {
        let gid = group_id(g)
            .with_context(|| format!("api.socket-group: no group '{g}' in /etc/group"))?;
        std::os::unix::fs::chown(path, None, Some(gid))
            .with_context(|| format!("chgrp {g} {} (api.socket-group)", path.display()))?;
    }
    Ok(l)
}

/// The id of group `name`, from /etc/group.
fn group_id(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == name).then_some(())?;
            f.nth(1)?.parse().ok()
        })
}

fn control_loop(
    shared: Arc<Shared>,
    listen: std::net::SocketAddr,
    fpm: Option<control::config::FpmConfig>,
    socket: Option<(std::path::PathBuf, Option<String>)>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the control runtime")?;
    rt.block_on(async move {
        let api = axum::Router::new()
            .route("/api/v1/nexthops", get(list_nexthops).post(add_nexthop))
            .route("/api/v1/nexthops/{port}/{address}", axum::routing::delete(delete_nexthop))
            .route("/api/v1/neighbors", get(list_neighbors))
            .route("/api/v1/neighbors/flush", post(flush_neighbors))
            .route("/api/v1/ports", get(list_ports))
            .route("/api/v1/flows", get(list_flows))
            .route("/api/v1/uplinks", get(list_uplinks))
            .route("/api/v1/groups", get(list_groups).post(add_group).put(replace_group))
            .route("/api/v1/groups/{name}", axum::routing::delete(delete_group))
            .route("/api/v1/nexthops/{port}/{address}/{action}", post(set_nexthop))
            .route("/api/v1/routes", get(list_routes).post(add_route).put(replace_route).delete(delete_route))
            .route("/api/v1/route/get", get(route_get))
            .route("/api/v1/fpm/not-installed", get(fpm_not_installed))
            .route("/api/v1/reload", post(reload));
        let unix_app = socket.as_ref().map(|_| {
            axum::Router::new()
                .route("/metrics", get(metrics))
                .merge(api.clone().route_layer(axum::middleware::from_fn_with_state(shared.clone(), auth_unix)))
                .with_state(shared.clone())
        });
        let api = api.route_layer(axum::middleware::from_fn_with_state(shared.clone(), auth_tcp));
        let app = axum::Router::new().route("/metrics", get(metrics)).merge(api).with_state(shared.clone());
        let unix_server = match (&socket, unix_app) {
            (Some((path, group)), Some(app)) => {
                let l = bind_socket(path, group.as_deref())?;
                tracing::info!(socket = %path.display(), "serving the API on a Unix socket");
                Some(tokio::spawn(async move { axum::serve(l, app).await }))
            }
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (api.listen)"))?;
        tracing::info!(%listen, "serving /metrics");
        let server = tokio::spawn(http_server::serve(listener, app, shared.api_closed.clone()));
        let fpm_task = match fpm {
            Some(f) => {
                let l = tokio::net::TcpListener::bind(f.listen).await.with_context(|| format!("listening on {} (fpm.listen)", f.listen))?;
                tracing::info!(listen = %f.listen, "FPM server for FRR");
                Some(tokio::spawn(fpm_server::serve(shared.clone(), l, fpm_server::Settings::from(&f))))
            }
            None => None,
        };

        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        // The control loop has a thread of its own: no API request, scrape or
        // FPM read on the runtime's thread can delay ARP/NDP, probes and timers.
        let control_stop = Arc::new(AtomicBool::new(false));
        let control = {
            let (shared, stop) = (shared.clone(), control_stop.clone());
            std::thread::Builder::new()
                .name("control".into())
                .spawn(move || control_thread(&shared, &stop))?
        };
        // The ports are started and the config's routes are in the FIB (not
        // carrier up: a NIC with no cable must not hold start-up).
        systemd::notify("READY=1");
        tracing::info!("ready");
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break; }
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
                _ = hup.recv() => { tracing::info!("SIGHUP: reloading the config"); let _ = do_reload(&shared); }
            }
        }
        systemd::notify("STOPPING=1");
        control_stop.store(true, Ordering::Release);
        let _ = control.join();
        server.abort();
        if let Some(t) = fpm_task {
            t.abort();
        }
        if let Some(t) = unix_server {
            t.abort();
        }
        if let Some((path, _)) = &socket {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    /// The routes this file serves, as (path, methods), read from its router setup.
    fn served() -> Vec<(String, Vec<String>)> {
        let src = include_str!("main.rs");
        let mut out = Vec::new();
        for part in src.split(".route(\"").skip(1) {
            let Some((path, rest)) = part.split_once('"') else {
                continue;
            };
            if !path.starts_with('/') {
                continue;
            }
            let call = rest.split(")\n").next().unwrap_or("");
            let methods = ["get", "post", "put", "delete"]
                .iter()
                .filter(|m| {
                    call.contains(&format!("{m}(")) && !call.contains(&format!("_{m}("))
                        || call.contains(&format!(".{m}("))
                        || call.contains(&format!("::{m}("))
                        || call.contains(&format!(" {m}("))
                })
                .map(|m| m.to_string())
                .collect();
            out.push((path.to_owned(), methods));
        }
        out
    }

    #[test]
    fn openapi_covers_every_route() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/openapi.json")).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let served = served();
        assert!(served.len() >= 10, "found the router setup: {served:?}");
        for (path, methods) in &served {
            let p = paths
                .get(path)
                .unwrap_or_else(|| panic!("docs/openapi.json lacks {path}"));
            for m in methods {
                assert!(p.get(m).is_some(), "docs/openapi.json lacks {m} {path}");
            }
        }
        for (path, ops) in paths {
            let s = served
                .iter()
                .find(|(p, _)| p == path)
                .unwrap_or_else(|| panic!("docs/openapi.json has {path}, which is not served"));
            for m in ops.as_object().unwrap().keys() {
                assert!(
                    s.1.contains(m),
                    "docs/openapi.json has {m} {path}, which is not served"
                );
            }
        }
    }
}
