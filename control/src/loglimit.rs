//! Rate limits for the log lines that the network or a client can trigger,
//! after the kernel's `net_ratelimit()` (`lib/ratelimit.c`): in each interval
//! the first few lines pass, the rest are counted, and once the interval is
//! over one line says how many were suppressed.
//!
//! - Every site that logs because of a packet, a peer's message, an API
//!   request or a netlink event names its [`Kind`] and its source (a MAC, a
//!   peer address, a nexthop: whatever tells two senders apart) and goes
//!   through [`log_limited!`](crate::log_limited).
//! - A line passes when both its source and its kind have budget left in
//!   the current interval: [`SOURCE_BURST`] lines per source, [`KIND_BURST`]
//!   per kind. One noisy source cannot spend its kind's whole budget, and a
//!   flood from ever-new sources (random MACs) still ends at the kind's cap.
//! - A kind keeps [`SOURCES`] source windows, the least recently started
//!   one replaced by a new source: the memory is fixed, whatever the flood.
//! - Every suppressed line is counted per kind
//!   (`ecmp_router_log_suppressed_total{kind}`), and the summary line comes
//!   with the next line of that kind after the interval, or from
//!   [`flush`] (the control thread calls it), whichever is first.
//!
//! The limiter is for the control side: it takes a mutex per kind. Workers
//! never log (ARCHITECTURE.md, invariant 1).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The length of a window (the kernel's `net_ratelimit` interval, 5 s).
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Lines per kind and interval (the kernel's burst, 10), for most kinds.
pub const KIND_BURST: u32 = 10;
/// Lines per source and interval, within its kind's budget, for most kinds.
pub const SOURCE_BURST: u32 = 5;
/// Source windows kept per kind.
pub const SOURCES: usize = 16;

/// The severity a kind's lines (and its summary) are logged at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `warn!`
    Warn,
    /// `info!`
    Info,
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $v:ident = $name:literal, $level:ident, $kb:expr, $sb:expr; )+) => {
        /// What a rate-limited line is about: its budget and its metric label.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Kind { $( $(#[$doc])* $v, )+ }

        impl Kind {
            /// Every kind, in index order.
            pub const ALL: &'static [Kind] = &[$(Kind::$v),+];
            /// The metric label.
            pub fn name(self) -> &'static str {
                match self { $(Kind::$v => $name,)+ }
            }
            /// The level its lines are logged at.
            pub fn level(self) -> Level {
                match self { $(Kind::$v => Level::$level,)+ }
            }
            /// Lines per interval: for the kind, and for each of its sources.
            pub fn bursts(self) -> (u32, u32) {
                match self { $(Kind::$v => ($kb, $sb),)+ }
            }
        }
    };
}

kinds! {
    /// ARP or NDP from another host claiming one of the router's addresses.
    AddressClaim = "address_claim", Warn, KIND_BURST, SOURCE_BURST;
    /// A nexthop's neighbour stopped or started answering (NUD).
    NeighborState = "neighbor_state", Warn, KIND_BURST, SOURCE_BURST;
    /// A port's link went up or down.
    LinkState = "link_state", Info, KIND_BURST, SOURCE_BURST;
    /// An uplink's health probes failed or recovered.
    UplinkState = "uplink_state", Warn, KIND_BURST, SOURCE_BURST;
    /// A neighbour the kernel learned on a kernel interface, mirrored.
    KernelNeighbor = "kernel_neighbor", Info, KIND_BURST, SOURCE_BURST;
    /// rtnetlink: routes, links and peers the kernel reported.
    KernelNetlink = "kernel_netlink", Warn, KIND_BURST, SOURCE_BURST;
    /// FPM connections: accepted, refused, ended.
    FpmConnection = "fpm_connection", Warn, KIND_BURST, SOURCE_BURST;
    /// An FPM session began, ended, or had its stale routes swept.
    FpmSession = "fpm_session", Info, KIND_BURST, SOURCE_BURST;
    /// FPM input the router cannot read.
    FpmMalformed = "fpm_malformed", Warn, KIND_BURST, SOURCE_BURST;
    /// API requests refused by the guard (Host, content type, token).
    ApiRefused = "api_refused", Warn, KIND_BURST, SOURCE_BURST;
    /// API writes and their outcome (the audit line), reloads and flushes:
    /// a larger budget, since an operator's script may write in bursts.
    ApiWrite = "api_write", Info, 50, 10;
    /// accept() failures on the API's and FPM's listeners.
    Accept = "accept", Warn, KIND_BURST, SOURCE_BURST;
    /// A policy rule left out of a FIB build.
    PolicyRule = "policy_rule", Warn, KIND_BURST, SOURCE_BURST;
}

impl Kind {
    /// The number of kinds.
    pub const COUNT: usize = Kind::ALL.len();
}

/// One interval's budget, as the kernel's `struct ratelimit_state`.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    begin: Option<Instant>,
    passed: u32,
    missed: u64,
}

impl Window {
    /// Starts a new window when the current one is over; returns the lines
    /// the ended window suppressed.
    fn roll(&mut self, now: Instant) -> u64 {
        match self.begin {
            Some(b) if now.duration_since(b) < INTERVAL => 0,
            _ => {
                let missed = self.missed;
                *self = Window {
                    begin: Some(now),
                    passed: 0,
                    missed: 0,
                };
                missed
            }
        }
    }
}

#[derive(Debug)]
struct KindState {
    window: Window,
    sources: [(u64, Window); SOURCES],
}

impl Default for KindState {
    fn default() -> Self {
        KindState {
            window: Window::default(),
            sources: [(0, Window::default()); SOURCES],
        }
    }
}

/// What [`Limiter::admit`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Log the line. `suppressed_before`: lines the kind's previous window
    /// suppressed, to be reported first (0: none).
    Pass {
        /// Lines suppressed in the window that just ended.
        suppressed_before: u64,
    },
    /// Do not log it; it was counted.
    Suppress,
}

/// Per-kind windows and counters. [`LIMITER`] is the process's.
#[derive(Debug)]
pub struct Limiter {
    kinds: [Mutex<KindState>; Kind::COUNT],
    suppressed: [AtomicU64; Kind::COUNT],
}

impl Default for Limiter {
    fn default() -> Self {
        Self::new()
    }
}

impl Limiter {
    /// A limiter with every window empty.
    pub const fn new() -> Self {
        #[allow(clippy::declare_interior_mutable_const)]
        const STATE: Mutex<KindState> = Mutex::new(KindState {
            window: Window {
                begin: None,
                passed: 0,
                missed: 0,
            },
            sources: [(
                0,
                Window {
                    begin: None,
                    passed: 0,
                    missed: 0,
                },
            ); SOURCES],
        });
        #[allow(clippy::declare_interior_mutable_const)]
        const ZERO: AtomicU64 = AtomicU64::new(0);
        Limiter {
            kinds: [STATE; Kind::COUNT],
            suppressed: [ZERO; Kind::COUNT],
        }
    }

    /// Decides whether a line of `kind` from `source` may be logged at `now`.
    pub fn admit(&self, kind: Kind, source: u64, now: Instant) -> Admit {
        let mut st = self.kinds[kind as usize]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let suppressed_before = st.window.roll(now);
        let slot = match st
            .sources
            .iter()
            .position(|(k, w)| *k == source && w.begin.is_some())
        {
            Some(i) => i,
            None => {
                // A new source takes the window that began longest ago (or never).
                let i = st
                    .sources
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, (_, w))| w.begin)
                    .map_or(0, |(i, _)| i);
                st.sources[i] = (source, Window::default());
                i
            }
        };
        st.sources[slot].1.roll(now);
        let (kind_burst, source_burst) = kind.bursts();
        if st.window.passed < kind_burst && st.sources[slot].1.passed < source_burst {
            st.window.passed += 1;
            st.sources[slot].1.passed += 1;
            Admit::Pass { suppressed_before }
        } else {
            // The ended window's count is carried into this one's summary.
            st.window.missed += 1 + suppressed_before;
            self.suppressed[kind as usize].fetch_add(1, Ordering::Relaxed);
            Admit::Suppress
        }
    }

    /// The kinds whose window is over with lines suppressed, and how many:
    /// the summaries that are due. Their windows are closed.
    pub fn due(&self, now: Instant) -> Vec<(Kind, u64)> {
        let mut out = Vec::new();
        for &k in Kind::ALL {
            let mut st = self.kinds[k as usize]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if st.window.missed > 0
                && st
                    .window
                    .begin
                    .is_some_and(|b| now.duration_since(b) >= INTERVAL)
            {
                out.push((k, st.window.missed));
                st.window = Window::default();
            }
        }
        out
    }

    /// Lines of `kind` suppressed since the start.
    pub fn suppressed(&self, kind: Kind) -> u64 {
        self.suppressed[kind as usize].load(Ordering::Relaxed)
    }
}

/// The process's limiter: every rate-limited site and the metrics use it.
pub static LIMITER: Limiter = Limiter::new();

/// A source key for `x` (a MAC, an address, a peer): the same for the same
/// value in every run.
pub fn source(x: impl Hash) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    x.hash(&mut h);
    h.finish()
}

/// [`LIMITER`]'s decision for a line of `kind` from `source` now; logs the
/// summary of the kind's previous window first when one is due.
pub fn admit(kind: Kind, source: u64) -> bool {
    match LIMITER.admit(kind, source, Instant::now()) {
        Admit::Pass { suppressed_before } => {
            if suppressed_before > 0 {
                summary(kind, suppressed_before);
            }
            true
        }
        Admit::Suppress => false,
    }
}

/// Logs the summaries that are due (the control thread calls this about
/// once a second, so a flood's last count is told even if no line follows).
pub fn flush() {
    for (k, n) in LIMITER.due(Instant::now()) {
        summary(k, n);
    }
}

fn summary(kind: Kind, n: u64) {
    let secs = INTERVAL.as_secs();
    match kind.level() {
        Level::Warn => tracing::warn!(
            kind = kind.name(),
            suppressed = n,
            "{n} {} lines suppressed in the last {secs} s (ecmp_router_log_suppressed_total)",
            kind.name()
        ),
        Level::Info => tracing::info!(
            kind = kind.name(),
            suppressed = n,
            "{n} {} lines suppressed in the last {secs} s (ecmp_router_log_suppressed_total)",
            kind.name()
        ),
    }
}

/// Logs a line at `warn` or `info` if `kind`'s budget for `source` allows,
/// else counts it:
///
/// ```ignore
/// log_limited!(warn, Kind::AddressClaim, loglimit::source(mac); address = %a, "...");
/// ```
#[macro_export]
macro_rules! log_limited {
    ($level:ident, $kind:expr, $source:expr; $($arg:tt)+) => {
        if $crate::loglimit::admit($kind, $source) {
            ::tracing::$level!($($arg)+);
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passes(l: &Limiter, k: Kind, src: u64, now: Instant, n: u32) -> u32 {
        (0..n)
            .filter(|_| matches!(l.admit(k, src, now), Admit::Pass { .. }))
            .count() as u32
    }

    #[test]
    fn one_source_gets_its_burst_then_is_counted() {
        let l = Limiter::new();
        let t = Instant::now();
        assert_eq!(passes(&l, Kind::AddressClaim, 1, t, 1000), SOURCE_BURST);
        assert_eq!(l.suppressed(Kind::AddressClaim), 1000 - SOURCE_BURST as u64);
        assert_eq!(l.suppressed(Kind::FpmMalformed), 0);
    }

    #[test]
    fn a_second_source_is_heard_while_the_first_floods() {
        let l = Limiter::new();
        let t = Instant::now();
        passes(&l, Kind::AddressClaim, 1, t, 1000);
        assert_eq!(passes(&l, Kind::AddressClaim, 2, t, 1), 1);
    }

    #[test]
    fn new_sources_stop_at_the_kinds_cap() {
        let l = Limiter::new();
        let t = Instant::now();
        let passed: u32 = (0..10_000u64)
            .map(|s| passes(&l, Kind::ApiRefused, s, t, 1))
            .sum();
        assert_eq!(passed, KIND_BURST);
        assert_eq!(l.suppressed(Kind::ApiRefused), 10_000 - KIND_BURST as u64);
    }

    #[test]
    fn kinds_have_separate_budgets() {
        let l = Limiter::new();
        let t = Instant::now();
        for s in 0..100 {
            l.admit(Kind::FpmConnection, s, t);
        }
        assert_eq!(passes(&l, Kind::FpmMalformed, 7, t, 1), 1);
    }

    #[test]
    fn the_next_window_passes_again_and_reports_the_count() {
        let l = Limiter::new();
        let t = Instant::now();
        passes(&l, Kind::AddressClaim, 1, t, 100);
        let later = t + INTERVAL;
        assert_eq!(
            l.admit(Kind::AddressClaim, 1, later),
            Admit::Pass {
                suppressed_before: 100 - SOURCE_BURST as u64
            }
        );
        // Reported once.
        assert_eq!(
            l.admit(Kind::AddressClaim, 1, later),
            Admit::Pass {
                suppressed_before: 0
            }
        );
    }

    #[test]
    fn due_reports_a_finished_window_once() {
        let l = Limiter::new();
        let t = Instant::now();
        passes(&l, Kind::KernelNetlink, 1, t, 30);
        assert!(l.due(t).is_empty(), "the window is not over");
        assert_eq!(
            l.due(t + INTERVAL),
            vec![(Kind::KernelNetlink, 30 - SOURCE_BURST as u64)]
        );
        assert!(l.due(t + INTERVAL * 2).is_empty());
        // Then the kind starts afresh.
        assert_eq!(passes(&l, Kind::KernelNetlink, 1, t + INTERVAL * 2, 1), 1);
    }

    #[test]
    fn a_long_flood_logs_a_bounded_number_of_lines() {
        // 10 s at 10,000 lines/s from random sources: at most the kind's
        // burst per window, and a summary per window.
        let l = Limiter::new();
        let t = Instant::now();
        let (mut passed, mut summaries) = (0, 0);
        for i in 0..100_000u64 {
            let now = t + Duration::from_micros(i * 100);
            if let Admit::Pass { suppressed_before } = l.admit(Kind::AddressClaim, i, now) {
                passed += 1;
                summaries += (suppressed_before > 0) as u32;
            }
        }
        summaries += l.due(t + Duration::from_secs(20)).len() as u32;
        assert_eq!(passed, 2 * KIND_BURST);
        assert_eq!(summaries, 2);
        assert_eq!(
            l.suppressed(Kind::AddressClaim),
            100_000 - 2 * KIND_BURST as u64
        );
    }

    #[test]
    fn source_keys_are_stable() {
        assert_eq!(source(("lan", 5u16)), source(("lan", 5u16)));
        assert_ne!(source(("lan", 5u16)), source(("lan", 6u16)));
    }
}
