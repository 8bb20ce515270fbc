//! Ports, flows, uplinks, reload and `/metrics`.

use super::types::{
    Endpoint, ErrorBody, Flow, FlowsQuery, Port, Uplink, UplinkTarget, Via, Vrf, Written,
};
use super::{field_error, page, ApiError};
use crate::Shared;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Prometheus metrics, in the text exposition format (docs/metrics.md). It
/// never needs the token.
#[utoipa::path(get, path = "/metrics", tag = "meta", security(()),
    responses((status = 200, description = "Text exposition format 0.0.4.", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    // Every config port: a VLAN sub-interface has its trunk's link, no PMD
    // counters of its own, and a kernel interface of its own. (The devices
    // are read outside the control plane's lock.)
    let devices: Vec<usize> = {
        let cp = s.cp();
        let cfg = cp.config();
        (0..cfg.ports.len())
            .map(|i| cfg.device_of(dataplane::PortId(i as u16)).index())
            .collect()
    };
    let counters: Vec<_> = devices
        .iter()
        .enumerate()
        .map_while(|(i, &dev)| {
            let p = s.ports.get(dev)?;
            Some(control::metrics::PortCounters {
                pmd: (dev == i).then(|| p.stats()),
                bond: (dev == i).then(|| p.bond()).flatten(),
                link_up: p.link_up(),
                kernel: s
                    .kernel_counters
                    .get(i)
                    .and_then(|k| k.as_ref().map(|k| k.snapshot())),
            })
        })
        .collect();
    let now = s.clock.now_ms();
    // Copy under the lock, render without it: a scrape never delays the
    // control loop by its rendering.
    let snap = {
        let mut cp = s.cp.lock().unwrap_or_else(|e| e.into_inner());
        cp.counters.api_evicted = s.api_closed.evicted.load(Ordering::Relaxed);
        cp.counters.api_idle_closed = s.api_closed.idle.load(Ordering::Relaxed);
        let a = &s.api_counters;
        cp.counters.api_refused_host = a.refused_host.load(Ordering::Relaxed);
        cp.counters.api_refused_content_type = a.refused_content_type.load(Ordering::Relaxed);
        cp.counters.api_refused_token = a.refused_token.load(Ordering::Relaxed);
        cp.counters.api_write_ok = a.write_ok.load(Ordering::Relaxed);
        cp.counters.api_write_failed = a.write_failed.load(Ordering::Relaxed);
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

/// The flows of every worker's table (sticky routes), filtered, one page of
/// at most `limit` (default 1000) from at most 65,536 slots. `X-Next-Cursor`
/// (`WORKER:SLOT`) is the slot the next page starts at; a page may be short,
/// or empty, with a cursor still to follow. No total is given: it would cost
/// the whole table.
#[utoipa::path(get, path = "/api/v1/flows", tag = "status", params(FlowsQuery),
    responses(
        (status = 200, description = "The page.", body = Vec<Flow>,
            headers(("x-next-cursor" = String, description = "WORKER:SLOT"))),
        (status = 400, description = "A bad parameter: `field` names it.", body = ErrorBody)))]
pub(super) async fn list_flows(
    State(s): State<Arc<Shared>>,
    Query(q): Query<FlowsQuery>,
) -> Result<Response, ApiError> {
    let bad = |msg: String, field: &str| field_error(StatusCode::BAD_REQUEST, msg, field);
    let addr = match q.addr.as_deref().map(str::parse::<std::net::IpAddr>) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(_)) => return Err(bad("addr: not an IP address".into(), "addr")),
    };
    let num = |k: &str, v: &Option<String>, d: u64| match v.as_deref().map(str::parse::<u64>) {
        None => Ok(d),
        Some(Ok(n)) => Ok(n),
        Some(Err(_)) => Err(bad(format!("{k}: expected a number"), k)),
    };
    let proto = match q.proto.as_deref() {
        None => None,
        Some("tcp") => Some(6u8),
        Some("udp") => Some(17),
        Some("icmp") => Some(1),
        Some(p) => Some(p.parse::<u8>().map_err(|_| {
            bad(
                format!("proto: '{p}' is not tcp, udp, icmp or a number"),
                "proto",
            )
        })?),
    };
    if q.offset.is_some() {
        return Err(bad(
            "offset is gone: page with after=CURSOR from the X-Next-Cursor header".into(),
            "offset",
        ));
    }
    let port = num("port", &q.port, u64::MAX)?;
    let worker = num("worker", &q.worker, u64::MAX)?;
    let limit = (num("limit", &q.limit, 1000)? as usize).clamp(1, 100_000);
    // The cursor is the first slot the page reads.
    let start = match q.after.as_deref().map(|c| {
        c.split_once(':')
            .and_then(|(w, sl)| Some((w.parse::<usize>().ok()?, sl.parse::<usize>().ok()?)))
    }) {
        None => (0, 0),
        Some(Some(c)) => c,
        Some(None) => {
            return Err(bad(
                "after: expected a cursor WORKER:SLOT (from X-Next-Cursor)".into(),
                "after",
            ))
        }
    };
    let nexthops: HashMap<u32, (String, String)> = s
        .cp()
        .nexthops()
        .iter()
        .map(|n| (n.id.0, (n.addr.to_string(), n.port.clone())))
        .collect();
    let now = s.clock.now_ms();
    let mut flows = Vec::new();
    let mut scanned = 0usize;
    let mut next: Option<(usize, usize)> = None;
    'tables: for (w, t) in s.flows.iter().enumerate().skip(start.0) {
        if worker != u64::MAX && worker != w as u64 {
            continue;
        }
        let from = if w == start.0 { start.1 } else { 0 };
        for (slot, f) in t.flows_from(from, now) {
            scanned += 1;
            if flows.len() == limit || scanned > FLOW_SCAN {
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
            flows.push(Flow {
                worker: w,
                proto: k.proto,
                a: Endpoint {
                    addr: a.to_string(),
                    port: k.sport,
                },
                b: Endpoint {
                    addr: b.to_string(),
                    port: k.dport,
                },
                nexthop: nexthops.get(&f.nexthop.0).map(|n| Via {
                    via: n.0.clone(),
                    port: n.1.clone(),
                }),
                tcp_state: f.tcp.name().into(),
                packets: f.packets.into(),
                idle_ms: f.idle_ms,
                expires_in_ms: f.expires_in_ms,
            });
        }
    }
    Ok(page(flows, next.map(|(w, sl)| format!("{w}:{sl}"))))
}

/// Every uplink with its probe state.
#[utoipa::path(get, path = "/api/v1/uplinks", tag = "status",
    responses((status = 200, description = "The uplinks.", body = Vec<Uplink>)))]
pub(super) async fn list_uplinks(State(s): State<Arc<Shared>>) -> Json<Vec<Uplink>> {
    let cp = s.cp();
    Json(
        cp.uplinks()
            .into_iter()
            .map(|u| Uplink {
                name: u.name,
                port: u.port,
                gateway: u.gateway.to_string(),
                state: if u.up { "up" } else { "down" }.into(),
                since_ms: u.since_ms,
                loss_pct: u.loss_pct,
                rounds: u.rounds,
                transitions: u.transitions,
                targets: u
                    .targets
                    .iter()
                    .map(|(t, sent, got, rtt)| UplinkTarget {
                        addr: t.to_string(),
                        sent: *sent,
                        answered: *got,
                        last_rtt_us: rtt.map(|r| r.as_micros() as u64),
                    })
                    .collect(),
            })
            .collect(),
    )
}

/// The VRFs: each one's table and interfaces, as `ip vrf show` lists them.
#[utoipa::path(get, path = "/api/v1/vrfs", tag = "status",
    responses((status = 200, description = "The VRFs (the default VRF is not listed).", body = Vec<Vrf>)))]
pub(super) async fn list_vrfs(State(s): State<Arc<Shared>>) -> Json<Vec<Vrf>> {
    let cp = s.cp();
    let cfg = cp.config();
    Json(
        cfg.vrfs
            .iter()
            .enumerate()
            .map(|(i, v)| Vrf {
                name: v.name.clone(),
                table: v.table,
                interfaces: cfg
                    .ports
                    .iter()
                    .filter(|p| p.vrf as usize == i + 1)
                    .map(|p| p.name.clone())
                    .collect(),
            })
            .collect(),
    )
}

/// Configuration, link state and counters of every port.
#[utoipa::path(get, path = "/api/v1/ports", tag = "status",
    responses((status = 200, description = "The ports.", body = Vec<Port>)))]
pub(super) async fn list_ports(State(s): State<Arc<Shared>>) -> Json<Vec<Port>> {
    let cp = s.cp();
    let fib = cp.fib();
    let cfg = cp.config();
    Json(
        cfg.ports
            .iter()
            .enumerate()
            .filter_map(|(i, pc)| {
                // A VLAN sub-interface has its trunk's link; the PMD counts per device.
                let dev = cfg.device_of(dataplane::PortId(i as u16)).index();
                let p = s.ports.get(dev)?;
                let st = if pc.vlan.is_none() {
                    p.stats()
                } else {
                    Default::default()
                };
                Some(Port {
                    name: pc.name.clone(),
                    device: pc.device.clone(),
                    mac: fib.ports.get(i).map(|x| x.mac.to_string()),
                    addresses: pc
                        .addresses
                        .iter()
                        .map(|a| format!("{}/{}", a.addr, a.len))
                        .collect(),
                    mtu: pc.mtu,
                    monitor_link: pc.monitor_link_setting.name().into(),
                    monitor_link_effective: pc.monitor_link,
                    link_up: p.link_up(),
                    rx_packets: st.rx_packets,
                    rx_bytes: st.rx_bytes,
                    tx_packets: st.tx_packets,
                    tx_bytes: st.tx_bytes,
                    rx_missed: st.rx_missed,
                    rx_errors: st.rx_errors,
                    rx_nombuf: st.rx_nombuf,
                    tx_errors: st.tx_errors,
                    link: pc.vlan.map(|v| cfg.ports[v.parent.index()].name.clone()),
                    vlan_id: pc.vlan.map(|v| v.id),
                    vrf: (pc.vrf != 0).then(|| cfg.vrf_name(pc.vrf).to_owned()),
                    bond: pc.vlan.is_none().then(|| p.bond()).flatten().map(|b| {
                        let mut b = super::types::Bond::from(&b);
                        b.xmit_hash_policy =
                            pc.bond.as_ref().map(|c| c.xmit_hash_policy.name().into());
                        b
                    }),
                })
            })
            .collect(),
    )
}

/// Re-reads the config file and applies it (API and SIGHUP). On failure: the
/// error to answer with; nothing changed.
pub(crate) fn do_reload(s: &Shared) -> Result<u64, ApiError> {
    let new = control::config::load(&s.config_path).map_err(|e| {
        control::log_limited!(warn, control::loglimit::Kind::ApiWrite, control::loglimit::source("reload"); "reload refused: {e}");
        field_error(StatusCode::BAD_REQUEST, e.to_string(), &e.key)
    })?;
    let token = new.token.clone();
    let mut cp = s.cp();
    cp.reload(new).map_err(|e| {
        control::log_limited!(warn, control::loglimit::Kind::ApiWrite, control::loglimit::source("reload"); "reload refused: {e}");
        ApiError::from(e)
    })?;
    let mut t = s.token.write().unwrap_or_else(|e| e.into_inner());
    if *t != token {
        control::log_limited!(info, control::loglimit::Kind::ApiWrite, control::loglimit::source("reload"); "reload: api.token replaced");
        *t = token;
    }
    control::log_limited!(info, control::loglimit::Kind::ApiWrite, control::loglimit::source("reload"); generation = cp.fib().generation, "config reloaded");
    Ok(cp.fib().generation)
}

/// Re-read the config file and apply it in place: routes, groups,
/// neighbours, hash, uplinks, rules. A change that needs a restart is refused.
#[utoipa::path(post, path = "/api/v1/reload", tag = "status",
    responses(
        (status = 200, description = "Applied.", body = Written),
        (status = 400, description = "The file is refused: `field` names the key.", body = ErrorBody),
        (status = 409, description = "The change needs a restart.", body = ErrorBody)))]
pub(super) async fn reload(State(s): State<Arc<Shared>>) -> Result<Json<Written>, ApiError> {
    let g = do_reload(&s)?;
    Ok(Json(Written {
        ok: true,
        fib_generation: g,
    }))
}
