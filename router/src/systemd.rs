//! What the router tells systemd, and how its logs reach the journal.
//!
//! - `notify`: sd_notify(3) by hand, one datagram to `$NOTIFY_SOCKET` (a path,
//!   or `@name` in the abstract namespace). The unit is `Type=notify`: the
//!   router says `READY=1` once its ports are started and the config's routes
//!   are in the FIB, and `STOPPING=1` when it begins to stop.
//! - `Journal`: under systemd (`$JOURNAL_STREAM` names stderr), each line
//!   starts with its syslog priority (`<3>` error, `<4>` warning, `<6>` info,
//!   `<7>` debug and trace) and carries no timestamp of its own, so that
//!   `journalctl -p warning` selects by level and the journal's own time is the
//!   only one (sd-daemon(3)).

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::{format::Writer, FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Sends `state` (`READY=1`, `STOPPING=1`, ...) to systemd when it asked for
/// it (`$NOTIFY_SOCKET`); a no-op otherwise. A failure is logged, not fatal:
/// the router runs the same without a supervisor.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| {
        let sock = std::os::unix::net::UnixDatagram::unbound()?;
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
        match bytes.strip_prefix(b"@") {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                sock.send_to_addr(state.as_bytes(), &addr)
            }
            None => sock.send_to(state.as_bytes(), &path),
        }
    })();
    if let Err(e) = sent {
        tracing::warn!(socket = ?path, "telling systemd {state}: {e}");
    }
}

/// True when stderr is the journal's stream: `$JOURNAL_STREAM` is its
/// `device:inode` (systemd.exec(5)).
pub fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    want == format!("{}:{}", meta.dev(), meta.ino())
}

/// The syslog priority of a tracing level.
pub fn priority(l: &Level) -> u8 {
    match *l {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Lines for the journal: `<N>target: message fields`.
pub struct Journal;

impl<S, N> FormatEvent<S, N> for Journal
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let m = event.metadata();
        write!(w, "<{}>{}: ", priority(m.level()), m.target())?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_syslogs() {
        assert_eq!(priority(&Level::ERROR), 3);
        assert_eq!(priority(&Level::WARN), 4);
        assert_eq!(priority(&Level::INFO), 6);
        assert_eq!(priority(&Level::DEBUG), 7);
        assert_eq!(priority(&Level::TRACE), 7);
    }

    #[test]
    fn notify_sends_one_datagram_to_the_socket() {
        let dir = std::env::temp_dir().join(format!("ecmp-notify-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let rx = std::os::unix::net::UnixDatagram::bind(&dir).unwrap();
        // The variable is read at the call, so the test sets it just before.
        std::env::set_var("NOTIFY_SOCKET", &dir);
        notify("READY=1");
        std::env::remove_var("NOTIFY_SOCKET");
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        let _ = std::fs::remove_file(&dir);
    }
}
