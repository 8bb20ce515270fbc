//! Resolved link-layer addresses of nexthops, shared by every FIB generation.
//!
//! One atomic word per nexthop: the MAC in the low 48 bits and a valid bit.
//! The control plane stores, workers load; resolving or refreshing a
//! neighbour never rebuilds a table.

use crate::types::{MacAddr, NexthopId};
use std::sync::atomic::{AtomicU64, Ordering};

const VALID: u64 = 1 << 63;

/// Nexthop id -> MAC address.
#[derive(Debug)]
pub struct Neighbors {
    slots: Box<[AtomicU64]>,
}

impl Neighbors {
    /// A table for up to `capacity` nexthops, all unresolved.
    pub fn new(capacity: usize) -> Self {
        Neighbors {
            slots: (0..capacity).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The MAC of `nh`, if resolved.
    #[inline]
    pub fn get(&self, nh: NexthopId) -> Option<MacAddr> {
        let v = self.slots.get(nh.index())?.load(Ordering::Acquire);
        (v & VALID != 0).then(|| MacAddr::from_u64(v & !VALID))
    }

    /// Records the MAC of `nh` (control plane only).
    pub fn set(&self, nh: NexthopId, mac: MacAddr) {
        if let Some(s) = self.slots.get(nh.index()) {
            s.store(mac.to_u64() | VALID, Ordering::Release);
        }
    }

    /// Forgets the MAC of `nh` (control plane only).
    pub fn clear(&self, nh: NexthopId) {
        if let Some(s) = self.slots.get(nh.index()) {
            s.store(0, Ordering::Release);
        }
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
    fn set_get_clear() {
        let n = Neighbors::new(4);
        assert_eq!(n.get(NexthopId(1)), None);
        n.set(NexthopId(1), MacAddr([0, 0, 0, 0, 0, 0]));
        assert_eq!(n.get(NexthopId(1)), Some(MacAddr::ZERO));
        n.clear(NexthopId(1));
        assert_eq!(n.get(NexthopId(1)), None);
        assert_eq!(n.get(NexthopId(9)), None);
        n.set(NexthopId(9), MacAddr::BROADCAST);
    }
}
