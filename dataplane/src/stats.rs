//! Per-lcore counters. Each worker owns one [`LcoreStats`] and is its only
//! writer, so an increment is a relaxed load and store (no locked
//! instruction). The control thread sums all lcores for Prometheus.

use crate::drop::DropReason;
use crate::types::NexthopId;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Adds `n` to a single-writer counter.
#[inline]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Counters written by one worker lcore.
#[derive(Debug)]
#[repr(align(64))]
pub struct LcoreStats {
    /// Drops by reason, indexed by `DropReason as usize`.
    pub drops: [AtomicU64; DropReason::COUNT],
    /// Packets forwarded through each nexthop.
    pub nh_packets: Box<[AtomicU64]>,
    /// Bytes (L2 frame) forwarded through each nexthop.
    pub nh_bytes: Box<[AtomicU64]>,
    /// Frames handed to the control plane.
    pub punted: AtomicU64,
    /// Packets handed to a port's kernel interface, by [`crate::punt::PuntClass`].
    pub kernel_punted: [AtomicU64; crate::punt::PuntClass::COUNT],
    /// Packets the punt policer kept from a kernel interface, by class
    /// (dropped as `punt_policed`, or only the kernel's copy of an ARP/NDP
    /// frame the control plane still read).
    pub kernel_policed: [AtomicU64; crate::punt::PuntClass::COUNT],
    /// ICMP errors and echo replies the worker generated.
    pub icmp_sent: AtomicU64,
    /// Echo requests to the router answered (packets delivered locally; the
    /// rest of the router's own traffic is punted or dropped).
    pub echo_replies: AtomicU64,
    /// ICMP errors not sent because the rate limit's bucket was empty.
    pub icmp_rate_limited: AtomicU64,
    /// Poll-loop iterations that received at least one packet.
    pub polls_busy: AtomicU64,
    /// Poll-loop iterations that received nothing.
    pub polls_idle: AtomicU64,
    /// Packets received by this worker.
    pub rx_packets: AtomicU64,
    /// Non-empty rx bursts (packets per burst = rx_packets / rx_bursts).
    pub rx_bursts: AtomicU64,
    /// IPv4 packets forwarded as fragments (longer than the egress MTU, DF clear).
    pub fragmented: AtomicU64,
    /// Fragments those packets became.
    pub fragments_created: AtomicU64,
    /// ICMP errors hashed on the flow they are about.
    pub hash_icmp_steered: AtomicU64,
    /// ICMP errors whose embedded packet was truncated (hash fell back).
    pub hash_icmp_truncated: AtomicU64,
    /// IPv6 packets whose extension-header walk hit the limit.
    pub hash_ext_limit: AtomicU64,
    /// Cycles per pipeline stage ([`Stage`]); counted only in a build with
    /// the `stage-cycles` feature.
    pub stage_cycles: [AtomicU64; Stage::COUNT],
    /// The clock at the last stage boundary (`stage-cycles` builds).
    stage_mark: AtomicU64,
}

/// Pipeline stages timed by the `stage-cycles` feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Ethernet and IP header checks.
    Parse,
    /// The LPM lookup.
    Route,
    /// Flow key, hash and group member.
    Select,
    /// TTL, MTU, header rewrite and counters.
    Rewrite,
}

impl Stage {
    /// Number of stages.
    pub const COUNT: usize = 4;
    /// Every stage with its metric label.
    pub const ALL: [(Stage, &'static str); Stage::COUNT] = [
        (Stage::Parse, "parse"),
        (Stage::Route, "route"),
        (Stage::Select, "select"),
        (Stage::Rewrite, "rewrite"),
    ];
}

/// The cycle counter for `stage-cycles` builds (the router sets `rte_rdtsc`).
#[cfg(feature = "stage-cycles")]
static CLOCK: std::sync::OnceLock<fn() -> u64> = std::sync::OnceLock::new();

/// Sets the clock `stage-cycles` builds read; a no-op otherwise.
pub fn set_stage_clock(f: fn() -> u64) {
    #[cfg(feature = "stage-cycles")]
    let _ = CLOCK.set(f);
    #[cfg(not(feature = "stage-cycles"))]
    let _ = f;
}

impl LcoreStats {
    /// Counters for up to `max_nexthops` nexthops.
    pub fn new(max_nexthops: usize) -> Self {
        let z = |n| (0..n).map(|_| AtomicU64::new(0)).collect::<Box<[_]>>();
        LcoreStats {
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            nh_packets: z(max_nexthops),
            nh_bytes: z(max_nexthops),
            punted: AtomicU64::new(0),
            kernel_punted: std::array::from_fn(|_| AtomicU64::new(0)),
            kernel_policed: std::array::from_fn(|_| AtomicU64::new(0)),
            icmp_sent: AtomicU64::new(0),
            echo_replies: AtomicU64::new(0),
            icmp_rate_limited: AtomicU64::new(0),
            polls_busy: AtomicU64::new(0),
            polls_idle: AtomicU64::new(0),
            rx_packets: AtomicU64::new(0),
            rx_bursts: AtomicU64::new(0),
            fragmented: AtomicU64::new(0),
            fragments_created: AtomicU64::new(0),
            hash_icmp_steered: AtomicU64::new(0),
            hash_icmp_truncated: AtomicU64::new(0),
            hash_ext_limit: AtomicU64::new(0),
            stage_cycles: std::array::from_fn(|_| AtomicU64::new(0)),
            stage_mark: AtomicU64::new(0),
        }
    }

    /// Starts timing a packet (`stage-cycles` builds; free otherwise).
    #[inline(always)]
    pub fn stage_start(&self) {
        #[cfg(feature = "stage-cycles")]
        if let Some(c) = CLOCK.get() {
            self.stage_mark.store(c(), Relaxed);
        }
    }

    /// Charges the cycles since the last boundary to `s` (`stage-cycles` builds).
    #[inline(always)]
    pub fn stage_end(&self, s: Stage) {
        #[cfg(feature = "stage-cycles")]
        if let Some(c) = CLOCK.get() {
            let now = c();
            let d = now.wrapping_sub(self.stage_mark.load(Relaxed));
            bump(&self.stage_cycles[s as usize], d);
            self.stage_mark.store(now, Relaxed);
        }
        #[cfg(not(feature = "stage-cycles"))]
        let _ = (s, &self.stage_mark);
    }

    /// Counts one drop.
    #[inline]
    pub fn count_drop(&self, r: DropReason) {
        bump(&self.drops[r as usize], 1);
    }

    /// Counts a packet of `bytes` through `nh`.
    #[inline]
    pub fn nexthop(&self, nh: NexthopId, bytes: usize) {
        if let (Some(p), Some(b)) = (
            self.nh_packets.get(nh.index()),
            self.nh_bytes.get(nh.index()),
        ) {
            bump(p, 1);
            bump(b, bytes as u64);
        }
    }

    /// Reads one drop counter.
    pub fn drops_of(&self, r: DropReason) -> u64 {
        self.drops[r as usize].load(Relaxed)
    }
}

/// A port's counters, as the PMD keeps them (`rte_eth_stats`; the `dpdk`
/// crate reads them, the metrics export them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped: no free rx descriptor.
    pub rx_missed: u64,
    /// Erroneous packets received.
    pub rx_errors: u64,
    /// Receive failures: no mbuf.
    pub rx_nombuf: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
}

/// An 802.3ad (LACP) bond's state, as the bonding PMD keeps it (the `dpdk`
/// crate reads it; the API, `ecmpctl link show` and the metrics show it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BondState {
    /// The bonding mode (4: 802.3ad).
    pub mode: u8,
    /// Every member, in the bond's order.
    pub members: Vec<BondMember>,
}

/// One member (DPDK: slave) of a bond.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BondMember {
    /// The member's DPDK device name (`net_af_packet0`, a PCI address).
    pub name: String,
    /// The PMD reports its link up.
    pub link_up: bool,
    /// The bond sends and receives on it (DPDK's active members: in 802.3ad,
    /// collecting and distributing).
    pub active: bool,
    /// The member's own counters.
    pub stats: PortStats,
    /// Its LACP state machine (802.3ad only).
    pub lacp: Option<LacpMember>,
}

/// A member's LACP actor and partner (IEEE 802.1AX).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpMember {
    /// The selection logic picked this member's aggregator.
    pub selected: bool,
    /// The aggregator's DPDK port id.
    pub aggregator: u16,
    /// This end.
    pub actor: LacpPort,
    /// The far end, as its LACPDUs describe it (defaulted until one arrives).
    pub partner: LacpPort,
}

/// One end of a LACP link: system, key, port and the state bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LacpPort {
    /// System priority.
    pub system_priority: u16,
    /// System id (a MAC).
    pub system: crate::MacAddr,
    /// Operational key.
    pub key: u16,
    /// Port priority.
    pub port_priority: u16,
    /// Port number.
    pub port: u16,
    /// The state octet: bit 0 LACP activity, 1 short timeout, 2
    /// aggregation, 3 synchronization, 4 collecting, 5 distributing, 6
    /// defaulted, 7 expired.
    pub state: u8,
}

impl LacpPort {
    /// The state bits' names, in iproute2's words
    /// (`ad_actor_oper_port_state_str`).
    pub fn state_names(&self) -> Vec<&'static str> {
        const NAMES: [&str; 8] = [
            "active",
            "short_timeout",
            "aggregating",
            "in_sync",
            "collecting",
            "distributing",
            "defaulted",
            "expired",
        ];
        (0..8)
            .filter(|b| self.state & (1 << b) != 0)
            .map(|b| NAMES[b])
            .collect()
    }
}
