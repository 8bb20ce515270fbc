//! The TCP API server with the limits a listener open to clients needs
//! (`axum::serve` has none of them):
//! - a header-read timeout ([`HEADER_READ_TIMEOUT`]): a client that sends its
//!   request headers slowly (slowloris) is closed;
//! - an idle timeout ([`IDLE_TIMEOUT`]): a connection with no bytes either
//!   way for that long is closed;
//! - a connection cap ([`MAX_CONNECTIONS`]) that evicts the connection idle
//!   the longest, rather than refusing the new one, so that 500 idle sockets
//!   cannot lock an operator's `ecmpctl` out.
//!
//! Evictions and timeouts are counted (`ecmp_router_api_connections_closed_total{reason}`).
//!
//! The Unix socket's listener ([`bind_socket`]) is bound here too.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Time to read a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection silent both ways for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections; a new one past this evicts the one idle the longest.
pub const MAX_CONNECTIONS: usize = 128;

/// Why the server closed connections, for /metrics.
#[derive(Debug, Default)]
pub struct Closed {
    /// Evicted at the cap.
    pub evicted: AtomicU64,
    /// Idle past [`IDLE_TIMEOUT`].
    pub idle: AtomicU64,
}

/// One open connection, as the cap sees it.
struct Slot {
    id: u64,
    /// Milliseconds since the server started, at the last byte either way.
    last: Arc<AtomicU64>,
    close: Arc<tokio::sync::Notify>,
}

/// A stream that records when a byte last went through it.
struct Tracked<S> {
    inner: S,
    last: Arc<AtomicU64>,
    epoch: tokio::time::Instant,
}

impl<S> Tracked<S> {
    fn touch(&self) {
        self.last
            .store(self.epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, b);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Serves `app` on `listener` with the limits above, until aborted.
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router, closed: Arc<Closed>) {
    let epoch = tokio::time::Instant::now();
    let slots: Arc<Mutex<Vec<Slot>>> = Arc::new(Mutex::new(Vec::new()));
    let mut next_id = 0u64;
    loop {
        let (sock, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                control::log_limited!(warn, control::loglimit::Kind::Accept, control::loglimit::source("api"); "API accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let now = epoch.elapsed().as_millis() as u64;
        let (last, close) = (
            Arc::new(AtomicU64::new(now)),
            Arc::new(tokio::sync::Notify::new()),
        );
        let id = next_id;
        next_id += 1;
        {
            let mut s = slots.lock().unwrap_or_else(|e| e.into_inner());
            if s.len() >= MAX_CONNECTIONS {
                if let Some(i) = (0..s.len()).min_by_key(|&i| s[i].last.load(Ordering::Relaxed)) {
                    let victim = s.swap_remove(i);
                    victim.close.notify_one();
                    closed.evicted.fetch_add(1, Ordering::Relaxed);
                }
            }
            s.push(Slot {
                id,
                last: last.clone(),
                close: close.clone(),
            });
        }
        let io = hyper_util::rt::TokioIo::new(Tracked {
            inner: sock,
            last: last.clone(),
            epoch,
        });
        let (app, slots, closed) = (app.clone(), slots.clone(), closed.clone());
        tokio::spawn(async move {
            connection(io, app, &last, &close, epoch, &closed).await;
            slots
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|s| s.id != id);
        });
    }
}

async fn connection<I>(
    io: hyper_util::rt::TokioIo<I>,
    app: axum::Router,
    last: &AtomicU64,
    close: &tokio::sync::Notify,
    epoch: tokio::time::Instant,
    closed: &Closed,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    use tower_service::Service;
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        app.clone().call(req)
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let conn = b.serve_connection(io, svc);
    tokio::pin!(conn);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = conn.as_mut() => return,
            _ = close.notified() => break,
            _ = tick.tick() => {
                let idle = epoch.elapsed().as_millis() as u64 - last.load(Ordering::Relaxed);
                if idle > IDLE_TIMEOUT.as_millis() as u64 {
                    closed.idle.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    // Let a request in flight finish, briefly; then drop the connection.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
}

/// Binds the API's Unix socket at `path`, mode 0660, group `group`. A socket
/// file left by a crash is replaced; one a live router answers on is not.
pub fn bind_socket(
    path: &std::path::Path,
    group: Option<&str>,
) -> anyhow::Result<tokio::net::UnixListener> {
    use anyhow::{bail, Context};
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
