//! Weighted nexthop groups with hash-threshold selection (RFC 2992).
//!
//! Each member owns a contiguous region of the 32-bit hash space, sized by
//! its weight. Selection is a binary search over the regions' upper bounds:
//! no allocation, O(log n).
//!
//! Members are sorted by a caller-supplied stable key (the control plane uses
//! the nexthop's port and address) before the regions are laid out, so a group
//! built from the same members comes out the same whatever order they were
//! given in (ARCHITECTURE.md invariant 5).

use crate::types::NexthopId;

/// Weights run 1..=65535.
pub const MAX_WEIGHT: u32 = 65535;

/// Why a group could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No members.
    #[error("a nexthop group needs at least one member")]
    Empty,
    /// A weight outside 1..=65535.
    #[error("weight {0} is outside 1..=65535")]
    BadWeight(u32),
}

/// An immutable weighted group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    members: Box<[NexthopId]>,
    weights: Box<[u32]>,
    /// Inclusive upper bound of each member's share of the hash space.
    upper: Box<[u32]>,
}

impl Group {
    /// Builds a group from `(nexthop, weight)` members, already sorted in
    /// canonical order by the caller.
    ///
    /// # Errors
    /// [`Error::Empty`] or [`Error::BadWeight`].
    pub fn new(members: &[(NexthopId, u32)]) -> Result<Group, Error> {
        if members.is_empty() {
            return Err(Error::Empty);
        }
        let total: u64 = members.iter().map(|&(_, w)| w as u64).sum();
        let mut cum = 0u64;
        let mut upper = Vec::with_capacity(members.len());
        for &(_, w) in members {
            if w == 0 || w > MAX_WEIGHT {
                return Err(Error::BadWeight(w));
            }
            cum += w as u64;
            // Region end = floor(cum * 2^32 / total) - 1; the last is u32::MAX.
            upper.push((((cum << 32) / total) - 1) as u32);
        }
        Ok(Group {
            members: members.iter().map(|m| m.0).collect(),
            weights: members.iter().map(|m| m.1).collect(),
            upper: upper.into_boxed_slice(),
        })
    }

    /// Picks the member whose region holds `hash`.
    #[inline]
    pub fn select(&self, hash: u32) -> NexthopId {
        let i = self.upper.partition_point(|&end| end < hash);
        // The last bound is u32::MAX, so i < len; `min` keeps this panic-free.
        self.members[i.min(self.members.len() - 1)]
    }

    /// The members in canonical order.
    pub fn members(&self) -> &[NexthopId] {
        &self.members
    }

    /// The weights, parallel to [`Self::members`].
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn regions_follow_weights() {
        let g = Group::new(&[(NexthopId(1), 1), (NexthopId(2), 2)]).unwrap();
        assert_eq!(g.select(0), NexthopId(1));
        assert_eq!(g.select(u32::MAX / 3 - 1), NexthopId(1));
        assert_eq!(g.select(u32::MAX / 3 + 2), NexthopId(2));
        assert_eq!(g.select(u32::MAX), NexthopId(2));
        assert_eq!(Group::new(&[]).unwrap_err(), Error::Empty);
        assert_eq!(
            Group::new(&[(NexthopId(1), 0)]).unwrap_err(),
            Error::BadWeight(0)
        );
        assert_eq!(
            Group::new(&[(NexthopId(1), 65536)]).unwrap_err(),
            Error::BadWeight(65536)
        );
    }

    #[test]
    fn share_is_exact_to_one_part_in_2_32() {
        let g = Group::new(&[(NexthopId(0), 1), (NexthopId(1), 65535), (NexthopId(2), 7)]).unwrap();
        let total = 1u64 + 65535 + 7;
        let mut lo = 0u64;
        for (i, &end) in g.upper.iter().enumerate() {
            let share = end as u64 + 1 - lo;
            let want = (g.weights[i] as u64) << 32;
            assert!((share * total).abs_diff(want) <= total, "member {i}");
            lo = end as u64 + 1;
        }
    }

    proptest! {
        #[test]
        fn select_is_total_and_monotonic(ws in proptest::collection::vec(1u32..=65535, 1..16), h in any::<u32>()) {
            let m: Vec<_> = ws.iter().enumerate().map(|(i, &w)| (NexthopId(i as u32), w)).collect();
            let g = Group::new(&m).unwrap();
            let a = g.select(h);
            let b = g.select(h.saturating_add(1));
            prop_assert!(a.0 <= b.0);
        }
    }
}
