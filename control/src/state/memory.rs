//! Where the control plane's memory goes, per structure: an estimate from
//! lengths, capacities and element sizes (what the allocator was asked for;
//! its own overhead, about 16 bytes a block, is counted for the RIB's boxes).

use super::*;
use std::mem::size_of;

/// Heap bytes of a hash map or set with `capacity` slots of `T` (hashbrown:
/// a power-of-two number of buckets, at most 7/8 full, one control byte each).
pub(super) fn hashed<T>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two();
    buckets * (size_of::<T>() + 1)
}

/// Bytes of a B-tree map of `len` entries of `K` and `V`: nodes of 11
/// entries, about two thirds full after random inserts, plus node headers.
fn btree<K, V>(len: usize) -> usize {
    len * (size_of::<K>() + size_of::<V>()) * 3 / 2 + len / 7 * 16
}

const MALLOC_OVERHEAD: usize = 16;

impl ControlPlane {
    /// Bytes per structure, largest first: the RIB (its map, and each
    /// prefix's routes), the installed routes, both route tables' tries
    /// (allocated: a root page no prefix covers is never touched, so the
    /// resident share can be lower), their route values, the FPM state.
    pub fn memory(&self) -> Vec<(&'static str, usize)> {
        let mut routes = 0usize;
        let mut inline = 0usize;
        for by in self.rib.values() {
            routes += MALLOC_OVERHEAD + by.iter().count() * size_of::<(Origin, RouteSpec)>();
            for s in by.values() {
                if let RouteGroup::Inline(g) = &s.group {
                    inline += MALLOC_OVERHEAD
                        + size_of::<GroupConfig>()
                        + g.nexthops.capacity() * size_of::<crate::config::NexthopConfig>();
                }
            }
        }
        let mut out = vec![
            (
                "rib: map by (table, prefix)",
                btree::<(u32, Prefix), crate::rib::ByOrigin>(self.rib.len()),
            ),
            ("rib: each prefix's routes", routes),
            ("rib: inline groups", inline),
            (
                "fpm: objects and use counts",
                hashed::<(u32, FpmObject)>(self.fpm.objects_capacity())
                    + hashed::<(u32, usize)>(self.fpm.uses_capacity()),
            ),
            ("groups", self.groups.memory()),
        ];
        out.extend(self.build.memory());
        out.sort_by_key(|e| std::cmp::Reverse(e.1));
        out
    }
}
