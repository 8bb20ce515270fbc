//! The FPM server: zebra's `dplane_fpm_nl` connects here and streams routes.
//!
//! Sessions follow zebra's semantics (docs/frr.md, "Sessions"):
//! - A connection becomes a session with its first valid FPM frame. Until
//!   then it is a candidate: one that sends nothing valid within
//!   [`FIRST_FRAME_TIMEOUT`] is closed and changes nothing.
//! - One session at a time. While one is live, a new connection is refused
//!   (closed at once) and counted; the live session is never blocked or displaced.
//! - A live session has no read timeout (zebra is silent while idle). Dead
//!   peers are found by TCP keepalive ([`KEEPALIVE_IDLE`], [`KEEPALIVE_INTERVAL`],
//!   [`KEEPALIVE_PROBES`]).
//! - When a session ends (EOF, a malformed frame, a keepalive failure), its
//!   routes are kept for `fpm.stale-time`, then swept unless a new session
//!   has re-sent them (graceful restart).
//! - A message past `fpm.max-routes` or `fpm.max-nexthops` is refused and
//!   counted, and the session goes on.

use crate::Shared;
use control::fpm;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// A connection must send a valid frame within this time to become a session.
pub const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP keepalive: idle time before the first probe.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
/// TCP keepalive: time between probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(3);
/// TCP keepalive: unanswered probes before the connection is dead (so a
/// vanished zebra is found in about 10 + 3 × 3 = 19 s).
pub const KEEPALIVE_PROBES: u32 = 3;

/// The server's settings, from `fpm:`.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub stale: Duration,
    pub limits: fpm::Limits,
}

impl From<&control::config::FpmConfig> for Settings {
    fn from(f: &control::config::FpmConfig) -> Settings {
        Settings {
            stale: Duration::from_millis(f.stale_time_ms),
            limits: fpm::Limits {
                routes: f.max_routes,
                nexthops: f.max_nexthops,
            },
        }
    }
}

/// What the connections share.
struct Server {
    shared: Arc<Shared>,
    settings: Settings,
    /// A session is live.
    live: AtomicBool,
    /// The pending stale sweep, armed when a session ends.
    sweep: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// How a connection ended.
enum End {
    /// The peer closed it.
    Eof,
    /// A read failed (a keepalive failure is one).
    Io(std::io::Error),
    /// A malformed frame or netlink message.
    Malformed(fpm::Error),
    /// No valid frame within [`FIRST_FRAME_TIMEOUT`].
    Silent,
    /// It became a session while another was live.
    Busy,
}

/// Accepts zebra's connections until the task is aborted.
pub async fn serve(shared: Arc<Shared>, listener: tokio::net::TcpListener, settings: Settings) {
    let server = Arc::new(Server {
        shared,
        settings,
        live: AtomicBool::new(false),
        sweep: std::sync::Mutex::new(None),
    });
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                control::log_limited!(warn, control::loglimit::Kind::Accept, control::loglimit::source("fpm"); "FPM accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if server.live.load(Ordering::Acquire) {
            server.shared.cp().counters.fpm_refused_busy += 1;
            control::log_limited!(warn, control::loglimit::Kind::FpmConnection, control::loglimit::source(peer.ip()); %peer, "FPM: connection refused, a session is live");
            drop(sock);
            continue;
        }
        if let Err(e) = keepalive(&sock) {
            control::log_limited!(warn, control::loglimit::Kind::FpmConnection, control::loglimit::source(peer.ip()); %peer, "FPM: cannot set TCP keepalive: {e}");
        }
        control::log_limited!(info, control::loglimit::Kind::FpmConnection, control::loglimit::source(peer.ip()); %peer, "FPM: connection accepted");
        let server = server.clone();
        tokio::spawn(async move {
            let end = connection(&server, sock).await;
            log_end(&server, peer, end);
        });
    }
}

fn keepalive(sock: &tokio::net::TcpStream) -> std::io::Result<()> {
    let ka = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    socket2::SockRef::from(sock).set_tcp_keepalive(&ka)
}

fn log_end(server: &Server, peer: std::net::SocketAddr, end: End) {
    let mut cp = server.shared.cp();
    match end {
        End::Eof => {
            control::log_limited!(info, control::loglimit::Kind::FpmConnection, control::loglimit::source(peer.ip()); %peer, "FPM: zebra disconnected")
        }
        End::Io(e) => {
            control::log_limited!(warn, control::loglimit::Kind::FpmConnection, control::loglimit::source(peer.ip()); %peer, "FPM: connection lost: {e}")
        }
        End::Malformed(e) => {
            cp.counters.fpm_errors += 1;
            control::log_limited!(warn, control::loglimit::Kind::FpmMalformed, control::loglimit::source(peer.ip()); %peer, "FPM: connection reset after malformed input: {e}")
        }
        End::Silent => {
            cp.counters.fpm_refused_silent += 1;
            control::log_limited!(warn, control::loglimit::Kind::FpmConnection, control::loglimit::source(peer.ip()); %peer, "FPM: no valid frame within {FIRST_FRAME_TIMEOUT:?}: closed, nothing changed")
        }
        End::Busy => {
            cp.counters.fpm_refused_busy += 1;
            control::log_limited!(warn, control::loglimit::Kind::FpmConnection, control::loglimit::source(peer.ip()); %peer, "FPM: connection refused, a session is live")
        }
    }
}

/// Serves one connection: a candidate until its first valid frame, then the session.
async fn connection(server: &Arc<Server>, mut sock: tokio::net::TcpStream) -> End {
    let mut session = fpm::Session::with_limits(server.settings.limits);
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    let deadline = tokio::time::Instant::now() + FIRST_FRAME_TIMEOUT;
    let mut live = false;
    let end = loop {
        let read = if live {
            sock.read(&mut chunk).await
        } else {
            match tokio::time::timeout_at(deadline, sock.read(&mut chunk)).await {
                Ok(r) => r,
                Err(_) => break End::Silent,
            }
        };
        let n = match read {
            Ok(0) => break End::Eof,
            Ok(n) => n,
            Err(e) => break End::Io(e),
        };
        buf.extend_from_slice(&chunk[..n]);
        let batch = decode(&mut buf);
        if !live && batch.frames > 0 {
            if server.live.swap(true, Ordering::AcqRel) {
                break End::Busy;
            }
            live = true;
            let mut cp = server.shared.cp();
            cp.counters.fpm_connections += 1;
            cp.counters.fpm_connected = 1;
            control::log_limited!(info, control::loglimit::Kind::FpmSession, control::loglimit::source("session"); "FPM: session begun");
        }
        if live {
            apply(server, &mut session, batch.messages);
        }
        if let Some(e) = batch.error {
            break End::Malformed(e);
        }
    };
    if live {
        session_ended(server);
    }
    end
}

/// The whole frames of a read.
struct Batch {
    messages: Vec<fpm::Message>,
    frames: usize,
    error: Option<fpm::Error>,
}

/// Takes the whole frames out of `buf`. A malformed frame ends the batch:
/// what came before it is kept, nothing of it.
fn decode(buf: &mut Vec<u8>) -> Batch {
    let (mut messages, mut used, mut frames, mut error) = (Vec::new(), 0usize, 0usize, None);
    loop {
        match fpm::frame(&buf[used..]) {
            Ok(Some((nl, len))) => match fpm::decode_frame(nl) {
                Ok(ms) => {
                    messages.extend(ms);
                    used += len;
                    frames += 1;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            },
            Ok(None) => break,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    buf.drain(..used);
    Batch {
        messages,
        frames,
        error,
    }
}

fn apply(server: &Server, session: &mut fpm::Session, messages: Vec<fpm::Message>) {
    let (mut changes, mut msgs, mut nh_msgs) = (Vec::new(), 0u64, 0u64);
    let (mut route_limit, mut nexthop_limit) = (0u64, 0u64);
    let mut cp = server.shared.cp();
    // fpm.max-routes: the control plane holds the routes; the ones this
    // batch adds or removes are not applied yet, so they are tracked here.
    let mut held = cp.fpm_routes_held();
    let mut batch: std::collections::HashMap<(u32, dataplane::types::Prefix), bool> =
        std::collections::HashMap::new();
    for m in messages {
        msgs += 1;
        nh_msgs += matches!(m, fpm::Message::Nexthop { .. }) as u64;
        tracing::debug!(?m, "FPM message");
        if let fpm::Message::Route {
            table,
            prefix,
            target,
            ..
        } = &m
        {
            let key = (*table, *prefix);
            let holds = *batch
                .entry(key)
                .or_insert_with(|| !cp.fpm_route_is_new(key));
            match (target.is_some(), holds) {
                (true, false) if held >= server.settings.limits.routes => {
                    route_limit += 1;
                    continue;
                }
                (true, false) => held += 1,
                (false, true) => held = held.saturating_sub(1),
                _ => {}
            }
            batch.insert(key, target.is_some());
        }
        match session.apply(m) {
            Ok(c) => changes.extend(c),
            Err(fpm::Refused::RouteLimit) => route_limit += 1,
            Err(fpm::Refused::NexthopLimit) => nexthop_limit += 1,
        }
    }
    if route_limit + nexthop_limit > 0
        && cp.counters.fpm_refused_route_limit + cp.counters.fpm_refused_nexthop_limit == 0
    {
        tracing::warn!(
            routes = route_limit,
            nexthops = nexthop_limit,
            "FPM: messages refused past fpm.max-routes / fpm.max-nexthops (counted; logged once)"
        );
    }
    cp.counters.fpm_messages += msgs;
    cp.counters.fpm_nexthop_messages += nh_msgs;
    cp.counters.fpm_refused_route_limit += route_limit;
    cp.counters.fpm_refused_nexthop_limit += nexthop_limit;
    cp.apply_fpm(changes);
}

/// The session ended: its routes go stale, and the sweep is armed.
fn session_ended(server: &Arc<Server>) {
    {
        let mut cp = server.shared.cp();
        cp.fpm_session_end();
        cp.counters.fpm_connected = 0;
    }
    server.live.store(false, Ordering::Release);
    let stale = server.settings.stale;
    control::log_limited!(info, control::loglimit::Kind::FpmSession, control::loglimit::source("session"); stale_time = ?stale, "FPM: session ended; its routes are kept until the stale time, unless re-sent");
    let s2 = server.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep(stale).await;
        let n = s2.shared.cp().fpm_sweep();
        control::log_limited!(info, control::loglimit::Kind::FpmSession, control::loglimit::source("session"); removed = n, "FPM: stale routes swept");
    });
    if let Some(old) = server
        .sweep
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(task)
    {
        old.abort();
    }
}
