//! Per-nexthop state shared by every FIB generation: the resolved MAC and
//! the liveness flags, packed in one atomic word.
//!
//! The control plane is the only writer; workers read one word per packet.
//! A nexthop is *live* when its MAC is known and no down flag is set. Taking
//! a nexthop out of every group that holds it is one atomic store here,
//! whatever the number of routes (issue 3: failover time independent of the
//! route count).

use crate::types::{MacAddr, NexthopId};
use std::sync::atomic::{AtomicU64, Ordering};

const VALID: u64 = 1 << 63;
const MAC_MASK: u64 = (1 << 48) - 1;

/// Why a nexthop may be down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum DownFlag {
    /// The operator disabled it.
    Admin = 1 << 62,
    /// Its port's link is down.
    Link = 1 << 61,
    /// It stopped answering reachability probes.
    Unreachable = 1 << 60,
    /// It is an uplink whose health probes (to targets beyond it) fail.
    Uplink = 1 << 59,
}

/// Nexthop id -> MAC address and liveness.
#[derive(Debug)]
pub struct Neighbors {
    slots: Box<[AtomicU64]>,
}

impl Neighbors {
    /// A table for up to `capacity` nexthops, all unresolved and up.
    pub fn new(capacity: usize) -> Self {
        Neighbors {
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    #[inline]
    fn load(&self, nh: NexthopId) -> u64 {
        self.slots
            .get(nh.index())
            .map_or(0, |s| s.load(Ordering::Acquire))
    }

    /// The MAC of `nh`, if resolved (whether or not it is live).
    #[inline]
    pub fn get(&self, nh: NexthopId) -> Option<MacAddr> {
        let v = self.load(nh);
        (v & VALID != 0).then(|| MacAddr::from_u64(v & MAC_MASK))
    }

    /// The MAC of `nh` if it is live: resolved and not down for any reason.
    #[inline]
    pub fn live(&self, nh: NexthopId) -> Option<MacAddr> {
        self.live_u64(nh).map(MacAddr::from_u64)
    }

    /// [`Self::live`] as the `u64` of [`MacAddr::to_u64`], which stays in a
    /// register where a 6-byte array would go through memory.
    #[inline(always)]
    pub fn live_u64(&self, nh: NexthopId) -> Option<u64> {
        let v = self.load(nh);
        (v & !MAC_MASK == VALID).then_some(v & MAC_MASK)
    }

    /// True when `flag` is set on `nh`.
    pub fn is_down(&self, nh: NexthopId, flag: DownFlag) -> bool {
        self.load(nh) & flag as u64 != 0
    }

    /// Records the MAC of `nh`, keeping its flags (control plane only).
    pub fn set(&self, nh: NexthopId, mac: MacAddr) {
        if let Some(s) = self.slots.get(nh.index()) {
            let flags = s.load(Ordering::Acquire) & !(MAC_MASK | VALID);
            s.store(flags | VALID | mac.to_u64(), Ordering::Release);
        }
    }

    /// Forgets the MAC of `nh`, keeping its flags (control plane only).
    pub fn clear(&self, nh: NexthopId) {
        if let Some(s) = self.slots.get(nh.index()) {
            s.fetch_and(!(MAC_MASK | VALID), Ordering::AcqRel);
        }
    }

    /// Sets or clears a down flag (control plane only). Returns true when it changed.
    pub fn set_down(&self, nh: NexthopId, flag: DownFlag, down: bool) -> bool {
        let Some(s) = self.slots.get(nh.index()) else {
            return false;
        };
        let old = if down {
            s.fetch_or(flag as u64, Ordering::AcqRel)
        } else {
            s.fetch_and(!(flag as u64), Ordering::AcqRel)
        };
        (old & flag as u64 != 0) != down
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_and_flags_are_independent() {
        let n = Neighbors::new(4);
        let id = NexthopId(1);
        assert_eq!((n.get(id), n.live(id)), (None, None));
        n.set(id, MacAddr::ZERO);
        assert_eq!(n.live(id), Some(MacAddr::ZERO));
        assert!(n.set_down(id, DownFlag::Admin, true));
        assert!(!n.set_down(id, DownFlag::Admin, true));
        assert_eq!((n.get(id), n.live(id)), (Some(MacAddr::ZERO), None));
        n.set(id, MacAddr::BROADCAST);
        assert!(n.is_down(id, DownFlag::Admin), "a new MAC keeps the flags");
        n.set_down(id, DownFlag::Link, true);
        n.set_down(id, DownFlag::Admin, false);
        assert_eq!(n.live(id), None);
        n.set_down(id, DownFlag::Link, false);
        assert_eq!(n.live(id), Some(MacAddr::BROADCAST));
        n.clear(id);
        assert_eq!(n.get(id), None);
        assert_eq!(n.get(NexthopId(9)), None);
    }
}
