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
    /// ICMP errors and echo replies the worker generated.
    pub icmp_sent: AtomicU64,
    /// Poll-loop iterations that received at least one packet.
    pub polls_busy: AtomicU64,
    /// Poll-loop iterations that received nothing.
    pub polls_idle: AtomicU64,
    /// Packets received by this worker.
    pub rx_packets: AtomicU64,
    /// Non-empty rx bursts (packets per burst = rx_packets / rx_bursts).
    pub rx_bursts: AtomicU64,
    /// ICMP errors hashed on the flow they are about.
    pub hash_icmp_steered: AtomicU64,
    /// ICMP errors whose embedded packet was truncated (hash fell back).
    pub hash_icmp_truncated: AtomicU64,
    /// IPv6 packets whose extension-header walk hit the limit.
    pub hash_ext_limit: AtomicU64,
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
            icmp_sent: AtomicU64::new(0),
            polls_busy: AtomicU64::new(0),
            polls_idle: AtomicU64::new(0),
            rx_packets: AtomicU64::new(0),
            rx_bursts: AtomicU64::new(0),
            hash_icmp_steered: AtomicU64::new(0),
            hash_icmp_truncated: AtomicU64::new(0),
            hash_ext_limit: AtomicU64::new(0),
        }
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
