//! Nexthop groups and their selection algorithms.
//!
//! - `hash-threshold` (RFC 2992, the default): each member owns a contiguous
//!   region of the 32-bit hash space sized by its weight; O(log n) search.
//! - `modulo`: `hash mod total_weight` mapped over cumulative weights: the
//!   legacy mapping, kept for comparison (a membership change moves most flows).
//! - `resilient`: a table of buckets, each owned by one member, in the spirit
//!   of Linux resilient nexthop groups. The control plane assigns buckets with
//!   [`ResilientTable`] (idle and unbalanced timers); workers mark buckets
//!   they use so the control plane knows which are idle.
//!
//! Liveness: [`Group::select_live`] skips members that are not live (see
//! [`Neighbors::live`]). A flow whose member is down is re-hashed onto the live
//! members (up to [`REPICKS`] draws, weighted like the group, then a
//! deterministic scan); flows on live members never move. So a nexthop
//! failure is one atomic store and takes effect on the next packet, whatever
//! the number of routes that use the group.
//!
//! Members are given in canonical order by the caller (the control plane
//! sorts by address and port), so the same members give the same group
//! whatever order they were configured in (ARCHITECTURE.md invariant 5).

use crate::hash::fmix;
use crate::neighbor::Neighbors;
use crate::types::{MacAddr, NexthopId};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Weights run 1..=65535.
pub const MAX_WEIGHT: u32 = 65535;
/// Re-hash draws for a flow whose member is down, before the linear scan.
pub const REPICKS: u32 = 8;
/// Default bucket count of a resilient group.
pub const DEFAULT_BUCKETS: usize = 1024;
/// Largest bucket count of a resilient group.
pub const MAX_BUCKETS: usize = 65536;

/// How a group maps hashes to members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Algorithm {
    /// RFC 2992 regions.
    #[default]
    HashThreshold,
    /// `hash mod total weight`.
    Modulo,
    /// Bucket table.
    Resilient,
}

impl Algorithm {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HashThreshold => "hash-threshold",
            Algorithm::Modulo => "modulo",
            Algorithm::Resilient => "resilient",
        }
    }
}

/// Why a group could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No members.
    #[error("a nexthop group needs at least one member")]
    Empty,
    /// A weight outside 1..=65535.
    #[error("weight {0} is outside 1..=65535")]
    BadWeight(u32),
    /// A bucket table that is empty or too large.
    #[error("bucket count {0} is outside 1..=65536")]
    BadBuckets(usize),
}

/// An immutable group, as workers see it.
#[derive(Debug)]
pub struct Group {
    algo: Algorithm,
    members: Box<[NexthopId]>,
    weights: Box<[u32]>,
    /// hash-threshold: inclusive upper bound of each member's region.
    upper: Box<[u32]>,
    /// hash-threshold with at most 256 members: for each value of the
    /// hash's top byte, the first member whose region reaches into it. The
    /// pick starts there and steps past the few bounds below the hash.
    lut: Box<[u8; 256]>,
    /// modulo: exclusive cumulative weight of each member.
    cum: Box<[u64]>,
    /// resilient: the owner of each bucket.
    buckets: Box<[NexthopId]>,
    /// resilient: set by workers when a bucket is used.
    activity: Option<Arc<[AtomicU8]>>,
}

fn check(members: &[(NexthopId, u32)]) -> Result<(), Error> {
    if members.is_empty() {
        return Err(Error::Empty);
    }
    match members.iter().find(|m| m.1 == 0 || m.1 > MAX_WEIGHT) {
        Some(m) => Err(Error::BadWeight(m.1)),
        None => Ok(()),
    }
}

impl Group {
    fn base(algo: Algorithm, members: &[(NexthopId, u32)]) -> Group {
        Group {
            algo,
            members: members.iter().map(|m| m.0).collect(),
            weights: members.iter().map(|m| m.1).collect(),
            upper: Box::new([]),
            lut: Box::new([0; 256]),
            cum: Box::new([]),
            buckets: Box::new([]),
            activity: None,
        }
    }

    /// A hash-threshold group (RFC 2992) of `(nexthop, weight)` members in canonical order.
    ///
    /// # Errors
    /// [`Error::Empty`] or [`Error::BadWeight`].
    pub fn new(members: &[(NexthopId, u32)]) -> Result<Group, Error> {
        check(members)?;
        let total: u64 = members.iter().map(|&(_, w)| w as u64).sum();
        let mut cum = 0u64;
        let upper: Box<[u32]> = members
            .iter()
            .map(|&(_, w)| {
                cum += w as u64;
                // Region end = floor(cum * 2^32 / total) - 1; the last is u32::MAX.
                (((cum << 32) / total) - 1) as u32
            })
            .collect();
        let mut lut = Box::new([0u8; 256]);
        if upper.len() <= 256 {
            for (b, e) in lut.iter_mut().enumerate() {
                // First member whose region end is at or above the byte's first hash.
                *e = upper.partition_point(|&end| end < (b as u32) << 24) as u8;
            }
        }
        Ok(Group {
            upper,
            lut,
            ..Group::base(Algorithm::HashThreshold, members)
        })
    }

    /// A modulo group.
    ///
    /// # Errors
    /// [`Error::Empty`] or [`Error::BadWeight`].
    pub fn modulo(members: &[(NexthopId, u32)]) -> Result<Group, Error> {
        check(members)?;
        let mut c = 0u64;
        let cum = members
            .iter()
            .map(|&(_, w)| {
                c += w as u64;
                c
            })
            .collect();
        Ok(Group {
            cum,
            ..Group::base(Algorithm::Modulo, members)
        })
    }

    /// A resilient group over `buckets` (from [`ResilientTable::buckets`]).
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::BadWeight`] or [`Error::BadBuckets`].
    pub fn resilient(
        members: &[(NexthopId, u32)],
        buckets: &[NexthopId],
        activity: Arc<[AtomicU8]>,
    ) -> Result<Group, Error> {
        check(members)?;
        if buckets.is_empty() || buckets.len() > MAX_BUCKETS || activity.len() != buckets.len() {
            return Err(Error::BadBuckets(buckets.len()));
        }
        Ok(Group {
            buckets: buckets.into(),
            activity: Some(activity),
            ..Group::base(Algorithm::Resilient, members)
        })
    }

    /// The member for `hash`, ignoring liveness, and the bucket used (resilient).
    #[inline(always)]
    fn pick(&self, hash: u32) -> (NexthopId, usize) {
        match self.algo {
            Algorithm::HashThreshold => {
                // A binary search is a chain of dependent loads and branches;
                // a table on the top byte is one load and (mostly) one compare.
                let i = if self.upper.len() <= 256 {
                    // The last bound is u32::MAX, so the walk stops in bounds;
                    // it takes more than one step only when several regions
                    // start within one 2^24 slice of the hash space.
                    let mut i = self.lut[(hash >> 24) as usize] as usize;
                    while self.upper.get(i).is_some_and(|&end| end < hash) {
                        i += 1;
                    }
                    i
                } else {
                    self.upper.partition_point(|&end| end < hash)
                };
                (self.members[i.min(self.members.len() - 1)], 0)
            }
            Algorithm::Modulo => {
                let total = self.cum.last().copied().unwrap_or(1);
                let pos = hash as u64 % total;
                let i = self.cum.partition_point(|&c| c <= pos);
                (self.members[i.min(self.members.len() - 1)], 0)
            }
            Algorithm::Resilient => {
                let b = ((hash as u64 * self.buckets.len() as u64) >> 32) as usize;
                (self.buckets[b], b)
            }
        }
    }

    /// The member for `hash`, ignoring liveness.
    #[inline]
    pub fn select(&self, hash: u32) -> NexthopId {
        self.pick(hash).0
    }

    /// The live member for `hash` and its MAC, or `None` when every member is down.
    #[inline(always)]
    pub fn select_live(&self, hash: u32, n: &Neighbors) -> Option<(NexthopId, MacAddr)> {
        self.select_live_u64(hash, n)
            .map(|(id, mac)| (id, MacAddr::from_u64(mac)))
    }

    /// [`Self::select_live`] with the MAC as [`MacAddr::to_u64`] gives it.
    #[inline(always)]
    pub fn select_live_u64(&self, hash: u32, n: &Neighbors) -> Option<(NexthopId, u64)> {
        // The first draw is inline; re-draws after a dead member are not.
        let (id, bucket) = self.pick(hash);
        match n.live_u64(id) {
            Some(mac) => {
                self.mark(bucket);
                Some((id, mac))
            }
            None => self.redraw(hash, n),
        }
    }

    #[inline(always)]
    fn mark(&self, bucket: usize) {
        if let Some(act) = &self.activity {
            // Load first: a busy bucket costs a read, not a cache-line write.
            if let Some(a) = act.get(bucket) {
                if a.load(Ordering::Relaxed) == 0 {
                    a.store(1, Ordering::Relaxed);
                }
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn redraw(&self, hash: u32, n: &Neighbors) -> Option<(NexthopId, u64)> {
        for draw in 1..=REPICKS {
            let h = fmix(hash ^ draw.wrapping_mul(0x9e37_79b9));
            let (id, bucket) = self.pick(h);
            if let Some(mac) = n.live_u64(id) {
                self.mark(bucket);
                return Some((id, mac));
            }
        }
        let start = hash as usize % self.members.len();
        (0..self.members.len())
            .map(|i| self.members[(start + i) % self.members.len()])
            .find_map(|id| n.live_u64(id).map(|mac| (id, mac)))
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algo
    }
    /// The members in canonical order.
    pub fn members(&self) -> &[NexthopId] {
        &self.members
    }
    /// The weights, parallel to [`Self::members`].
    pub fn weights(&self) -> &[u32] {
        &self.weights
    }
    /// The bucket owners (resilient only; empty otherwise).
    pub fn buckets(&self) -> &[NexthopId] {
        &self.buckets
    }
}

/// The control plane's bucket manager for one resilient group.
///
/// Semantics follow Linux resilient nexthop groups:
/// - buckets of a member that left (removed, or down) are reassigned at once;
/// - a member below its fair share takes buckets from members above theirs,
///   but only buckets idle for at least `idle_ms`;
/// - when the group has been unbalanced for `unbalanced_ms` (0 = never), busy
///   buckets are taken too.
///
/// Fair shares: member *i* wants `floor(n * w_i / W)` buckets, and the
/// remainder goes one each to the largest fractional parts (ties: member order).
/// Where buckets go is [`ResilientTable::target`]: a pure function of the
/// members (their stable keys and weights) and the bucket count. Orphans go
/// to their target owner at once; other buckets whose owner differs from
/// their target move when idle (or when forced by the unbalanced timer). So
/// once no bucket is held back, the table is the target, whatever the
/// history that led there: two routers with the same config and the same
/// live members have the same table (ARCHITECTURE.md invariant 5).
/// A member set (members, keys) and the table it converges to.
type Target = (Vec<(NexthopId, u32)>, Vec<u64>, Vec<NexthopId>);

/// SplitMix64's finalizer: a fixed, well-mixed 64-bit hash.
fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[derive(Debug)]
pub struct ResilientTable {
    buckets: Vec<Option<NexthopId>>,
    /// The target of the last member set, and that set.
    target: Option<Target>,
    last_active: Vec<Option<u64>>,
    activity: Arc<[AtomicU8]>,
    idle_ms: u64,
    unbalanced_ms: u64,
    unbalanced_since: Option<u64>,
}

impl ResilientTable {
    /// An empty table of `n` buckets.
    ///
    /// # Errors
    /// [`Error::BadBuckets`] for 0 or more than [`MAX_BUCKETS`].
    pub fn new(n: usize, idle_ms: u64, unbalanced_ms: u64) -> Result<Self, Error> {
        if n == 0 || n > MAX_BUCKETS {
            return Err(Error::BadBuckets(n));
        }
        Ok(ResilientTable {
            buckets: vec![None; n],
            target: None,
            last_active: vec![None; n],
            activity: (0..n).map(|_| AtomicU8::new(0)).collect(),
            idle_ms,
            unbalanced_ms,
            unbalanced_since: None,
        })
    }

    /// Fair bucket counts for `members` over `n` buckets.
    pub fn wants(n: usize, members: &[(NexthopId, u32)]) -> Vec<usize> {
        let total: u64 = members.iter().map(|m| m.1 as u64).sum();
        if total == 0 {
            return vec![0; members.len()];
        }
        let mut w: Vec<usize> = members
            .iter()
            .map(|m| (n as u64 * m.1 as u64 / total) as usize)
            .collect();
        let mut left = n - w.iter().sum::<usize>();
        let mut order: Vec<usize> = (0..members.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse((n as u64 * members[i].1 as u64) % total));
        for i in order {
            if left == 0 {
                break;
            }
            w[i] += 1;
            left -= 1;
        }
        w
    }

    /// The table `members` converge to over `n` buckets, as member indexes.
    /// `keys[i]` is member i's stable key (the same on every router: a hash
    /// of its address, not its nexthop id).
    ///
    /// Each bucket prefers members by a weighted rendezvous score of (key,
    /// bucket); every member gets exactly its fair share ([`Self::wants`]):
    /// 1. each bucket goes to its best-scoring member;
    /// 2. a member over its share keeps its best-scoring buckets and lets
    ///    the rest go (ties: bucket index);
    /// 3. those go, in bucket order, to their best-scoring member with room.
    ///
    /// When a member leaves, its buckets go to their next choice, and other
    /// buckets move only where shares force it. The result depends on the
    /// members, their weights and keys, and `n` only.
    pub fn target(n: usize, members: &[(NexthopId, u32)], keys: &[u64]) -> Vec<usize> {
        let m = members.len();
        if m == 0 {
            return Vec::new();
        }
        let wants = Self::wants(n, members);
        let score = |b: usize, i: usize| -> f64 {
            let h = splitmix(keys[i] ^ splitmix(b as u64 ^ 0x9e37_79b9_7f4a_7c15));
            // u in (0, 1]; weighted rendezvous: w / -ln(u), larger is better.
            let u = ((h >> 11) + 1) as f64 / (1u64 << 53) as f64;
            members[i].1 as f64 / -u.ln().min(-f64::MIN_POSITIVE)
        };
        let best = |b: usize, room: &dyn Fn(usize) -> bool| -> Option<usize> {
            (0..m)
                .filter(|&i| room(i))
                .max_by(|&x, &y| score(b, x).total_cmp(&score(b, y)).then(y.cmp(&x)))
        };
        let mut owner: Vec<usize> = (0..n).map(|b| best(b, &|_| true).unwrap_or(0)).collect();
        let mut counts = vec![0usize; m];
        for &o in &owner {
            counts[o] += 1;
        }
        let mut released = Vec::new();
        for i in 0..m {
            if counts[i] <= wants[i] {
                continue;
            }
            let mut mine: Vec<usize> = (0..n).filter(|&b| owner[b] == i).collect();
            mine.sort_by(|&x, &y| score(y, i).total_cmp(&score(x, i)).then(x.cmp(&y)));
            released.extend_from_slice(&mine[wants[i]..]);
            counts[i] = wants[i];
        }
        released.sort_unstable();
        for b in released {
            let room = |i: usize| counts[i] < wants[i];
            let i = best(b, &room).unwrap_or(owner[b]);
            owner[b] = i;
            counts[i] += 1;
        }
        owner
    }

    /// [`Self::update_keyed`] with each member's nexthop id as its key (for
    /// tests and benchmarks: ids are one router's own).
    pub fn update(&mut self, members: &[(NexthopId, u32)], now_ms: u64) -> bool {
        let keys: Vec<u64> = members.iter().map(|m| m.0 .0 as u64).collect();
        self.update_keyed(members, &keys, now_ms)
    }

    /// Brings the table towards the target of `members` (the live members,
    /// canonical order, with their stable `keys`) at time `now_ms`. Returns
    /// true when a bucket changed owner.
    pub fn update_keyed(
        &mut self,
        members: &[(NexthopId, u32)],
        keys: &[u64],
        now_ms: u64,
    ) -> bool {
        for (i, a) in self.activity.iter().enumerate() {
            if a.swap(0, Ordering::Relaxed) != 0 {
                self.last_active[i] = Some(now_ms);
            }
        }
        if members.is_empty() {
            return false;
        }
        let n = self.buckets.len();
        let fresh = self
            .target
            .as_ref()
            .is_none_or(|(m, k, _)| m.as_slice() != members || k.as_slice() != keys);
        if fresh {
            let t = Self::target(n, members, keys)
                .into_iter()
                .map(|i| members[i].0)
                .collect();
            self.target = Some((members.to_vec(), keys.to_vec(), t));
        }
        let target = &self.target.as_ref().expect("set above").2;
        let live = |id: NexthopId| members.iter().any(|m| m.0 == id);
        let mut changed = false;
        // Orphans first, at once: buckets whose owner left.
        for (slot, &want) in self.buckets.iter_mut().zip(target) {
            if !slot.is_some_and(live) {
                *slot = Some(want);
                changed = true;
            }
        }
        let force = self.unbalanced_ms > 0
            && self
                .unbalanced_since
                .is_some_and(|t| now_ms.saturating_sub(t) >= self.unbalanced_ms);
        let mut held = false;
        let idle_ms = self.idle_ms;
        for ((slot, last), &want) in self
            .buckets
            .iter_mut()
            .zip(&mut self.last_active)
            .zip(target)
        {
            if *slot == Some(want) {
                continue;
            }
            let idle = last.is_none_or(|t| now_ms.saturating_sub(t) >= idle_ms);
            if !idle && !force {
                held = true;
                continue;
            }
            *slot = Some(want);
            *last = None;
            changed = true;
        }
        if held {
            self.unbalanced_since.get_or_insert(now_ms);
        } else {
            self.unbalanced_since = None;
        }
        changed
    }

    /// The owners of every bucket, for [`Group::resilient`]. Buckets never
    /// assigned (no member was ever live) go to the first member.
    pub fn buckets(&self, members: &[(NexthopId, u32)]) -> Vec<NexthopId> {
        let first = members.first().map_or(NexthopId(0), |m| m.0);
        self.buckets.iter().map(|b| b.unwrap_or(first)).collect()
    }

    /// The activity flags workers set.
    pub fn activity(&self) -> Arc<[AtomicU8]> {
        self.activity.clone()
    }

    /// True while some bucket is held away from its target (busy).
    pub fn is_unbalanced(&self) -> bool {
        self.unbalanced_since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(ws: &[u32]) -> Vec<(NexthopId, u32)> {
        ws.iter()
            .enumerate()
            .map(|(i, &w)| (NexthopId(i as u32), w))
            .collect()
    }

    fn live_all(n: usize) -> Neighbors {
        let nb = Neighbors::new(n);
        for i in 0..n {
            nb.set(NexthopId(i as u32), MacAddr([2, 0, 0, 0, 0, i as u8]));
        }
        nb
    }

    fn resilient(ws: &[u32], n: usize) -> (Group, ResilientTable) {
        let m = ids(ws);
        let mut t = ResilientTable::new(n, 0, 0).unwrap();
        t.update(&m, 0);
        (
            Group::resilient(&m, &t.buckets(&m), t.activity()).unwrap(),
            t,
        )
    }

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
            Group::modulo(&[(NexthopId(1), 65536)]).unwrap_err(),
            Error::BadWeight(65536)
        );
        assert!(ResilientTable::new(0, 0, 0).is_err());
    }

    #[test]
    fn hash_threshold_share_is_exact_to_one_part_in_2_32() {
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

    #[test]
    fn wants_are_fair_and_sum_to_n() {
        assert_eq!(ResilientTable::wants(1024, &ids(&[1, 2])), [341, 683]);
        assert_eq!(
            ResilientTable::wants(1024, &ids(&[1, 1, 1, 1, 1])),
            [205, 205, 205, 205, 204]
        );
        assert_eq!(
            ResilientTable::wants(10, &ids(&[11, 45]))
                .iter()
                .sum::<usize>(),
            10
        );
    }

    #[test]
    fn down_member_only_moves_its_own_flows() {
        let nb = live_all(4);
        for g in [
            Group::new(&ids(&[1, 1, 1, 1])).unwrap(),
            Group::modulo(&ids(&[1, 1, 1, 1])).unwrap(),
            resilient(&[1, 1, 1, 1], 512).0,
        ] {
            let before: Vec<_> = (0..20000u32)
                .map(|i| g.select_live(fmix(i), &nb).unwrap().0)
                .collect();
            nb.set_down(NexthopId(2), crate::neighbor::DownFlag::Unreachable, true);
            let mut to = [0u32; 4];
            for (i, b) in before.iter().enumerate() {
                let a = g.select_live(fmix(i as u32), &nb).unwrap().0;
                if *b == NexthopId(2) {
                    assert_ne!(a, NexthopId(2));
                    to[a.index()] += 1;
                } else {
                    assert_eq!(a, *b, "{:?}: a flow on a live member moved", g.algorithm());
                }
            }
            // The dead member's flows spread over the others roughly evenly.
            for m in [0, 1, 3] {
                assert!(to[m] > 1400, "{:?}: {to:?}", g.algorithm());
            }
            for m in 0..4 {
                nb.set_down(NexthopId(m), crate::neighbor::DownFlag::Unreachable, true);
            }
            assert_eq!(g.select_live(7, &nb), None);
            nb.set_down(NexthopId(1), crate::neighbor::DownFlag::Unreachable, false);
            assert_eq!(
                g.select_live(7, &nb).unwrap().0,
                NexthopId(1),
                "a member that comes back is used again"
            );
            for m in 0..4 {
                nb.set_down(NexthopId(m), crate::neighbor::DownFlag::Unreachable, false);
            }
        }
    }

    #[test]
    fn resilient_idle_and_unbalanced_timers() {
        let m2 = ids(&[1, 1]);
        let mut t = ResilientTable::new(8, 1000, 5000).unwrap();
        t.update(&m2, 0);
        let g = Group::resilient(&m2, &t.buckets(&m2), t.activity()).unwrap();
        // Every bucket busy at t=0..: workers mark them.
        let nb = live_all(3);
        for h in 0..64u32 {
            g.select_live(h << 26, &nb);
        }
        t.update(&m2, 100);
        // A third member joins: busy buckets must not move before idle_timer.
        let m3 = ids(&[1, 1, 1]);
        assert!(!t.update(&m3, 200));
        assert!(t.is_unbalanced());
        // Still busy at 900 (marked again), still not moved.
        for h in 0..64u32 {
            g.select_live(h << 26, &nb);
        }
        assert!(!t.update(&m3, 900));
        // Idle for 1000 ms from 900: at 1900 they may move, and only enough to balance.
        assert!(t.update(&m3, 1900));
        let b = t.buckets(&m3);
        let c = |id| b.iter().filter(|&&x| x == NexthopId(id)).count();
        assert_eq!((c(0), c(1), c(2)), (3, 3, 2));
        assert!(!t.is_unbalanced());
        // Unbalanced timer: weights change while every bucket stays busy.
        let heavy = [(NexthopId(0), 1), (NexthopId(1), 1), (NexthopId(2), 6)];
        let g = Group::resilient(&m3, &b, t.activity()).unwrap();
        let mut now = 2000;
        let mut moved_at = None;
        while now <= 9000 {
            for h in 0..64u32 {
                g.select_live(h << 26, &nb);
            }
            if t.update(&heavy, now) && moved_at.is_none() {
                moved_at = Some(now);
            }
            now += 100;
        }
        assert_eq!(
            moved_at,
            Some(7000),
            "busy buckets move once unbalanced for 5000 ms (since 2000)"
        );
        assert_eq!(
            t.buckets(&heavy)
                .iter()
                .filter(|&&x| x == NexthopId(2))
                .count(),
            6
        );
    }

    fn share_error(g: &Group, ws: &[u32], flows: u32) -> f64 {
        let mut c = vec![0u32; ws.len()];
        let total: u32 = ws.iter().sum();
        let mut x = 0x1234_5678u64;
        for _ in 0..flows {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c[g.select(fmix(x as u32 ^ (x >> 32) as u32)).index()] += 1;
        }
        ws.iter()
            .zip(&c)
            .map(|(&w, &n)| ((n as f64 / flows as f64) / (w as f64 / total as f64) - 1.0).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn weighted_shares_within_2_percent_at_100k_flows() {
        for ws in [&[1u32, 2][..], &[11, 45], &[1, 1, 1, 1, 1]] {
            let e = share_error(&Group::new(&ids(ws)).unwrap(), ws, 100_000);
            assert!(e <= 0.02, "hash-threshold {ws:?}: {e}");
            let e = share_error(&resilient(ws, DEFAULT_BUCKETS).0, ws, 100_000);
            assert!(e <= 0.02, "resilient {ws:?}: {e}");
        }
    }

    /// Fractions of (all flows, flows whose old member survives) that change member.
    fn disruption(before: &Group, after: &Group, flows: u32) -> (f64, f64) {
        let (mut moved, mut surv, mut surv_moved) = (0u32, 0u32, 0u32);
        for i in 0..flows {
            let h = fmix(i.wrapping_mul(2654435761));
            let (a, b) = (before.select(h), after.select(h));
            let survives = after.members().contains(&a);
            moved += (a != b) as u32;
            surv += survives as u32;
            surv_moved += (survives && a != b) as u32;
        }
        (
            moved as f64 / flows as f64,
            surv_moved as f64 / surv.max(1) as f64,
        )
    }

    #[test]
    fn disruption_matches_theory() {
        for n in [2usize, 4, 8] {
            let all = ids(&vec![1; n]);
            let fewer = &all[..n - 1];
            // Modulo moves about (N-1)/N of the flows when one member goes.
            let (m, _) = disruption(
                &Group::modulo(&all).unwrap(),
                &Group::modulo(fewer).unwrap(),
                200_000,
            );
            let theory = (n as f64 - 1.0) / n as f64;
            assert!(
                (m - theory).abs() < 0.02,
                "modulo n={n}: moved {m}, theory {theory}"
            );
            // Resilient moves the removed member's share. With the idle timer
            // at 0 (every bucket idle, so none carries a flow that a move
            // would break), a few more buckets move so that the table is its
            // target (exact shares, a pure function of the members): under
            // 5% of the survivors' buckets (about 0.1% with 4 members, 3.7%
            // with 8). Busy buckets never move: see the next test.
            let mut t = ResilientTable::new(DEFAULT_BUCKETS, 0, 0).unwrap();
            t.update(&all, 0);
            let before = Group::resilient(&all, &t.buckets(&all), t.activity()).unwrap();
            t.update(fewer, 1);
            let after = Group::resilient(fewer, &t.buckets(fewer), t.activity()).unwrap();
            let removed_share = before
                .buckets()
                .iter()
                .filter(|&&b| b == all[n - 1].0)
                .count() as f64
                / DEFAULT_BUCKETS as f64;
            let (m, s) = disruption(&before, &after, 200_000);
            assert!(
                s < 0.05,
                "resilient n={n}: {s} of the surviving flows moved"
            );
            assert!(
                m >= removed_share - 0.01 && m < removed_share + 0.05,
                "resilient n={n}: moved {m}, share {removed_share}"
            );
            // Adding the member back restores the table exactly (the target
            // of the same members), so the member gets its own buckets back.
            t.update(&all, 2);
            assert_eq!(t.buckets(&all), before.buckets(), "resilient n={n}");
        }
    }

    #[test]
    fn busy_survivors_never_move_and_the_table_converges_to_its_target() {
        let all = ids(&[1, 2, 1, 1]);
        let fewer: Vec<_> = all
            .iter()
            .copied()
            .filter(|m| m.0 != NexthopId(1))
            .collect();
        let keys =
            |m: &[(NexthopId, u32)]| m.iter().map(|x| 1000 + x.0 .0 as u64).collect::<Vec<_>>();
        let mut t = ResilientTable::new(256, 1000, 0).unwrap();
        t.update_keyed(&all, &keys(&all), 0);
        let before = t.buckets(&all);
        let g = Group::resilient(&all, &before, t.activity()).unwrap();
        let nb = live_all(4);
        let busy = |g: &Group| {
            for h in 0..4096u32 {
                g.select_live(h << 20, &nb);
            }
        };
        busy(&g);
        // Member 1 dies: only its buckets move, busy as the rest are.
        t.update_keyed(&fewer, &keys(&fewer), 10);
        let after = t.buckets(&fewer);
        for (b, a) in before.iter().zip(&after) {
            if *b != NexthopId(1) {
                assert_eq!(a, b, "a busy survivor's bucket moved");
            } else {
                assert_ne!(a, b);
            }
        }
        // Once idle, the table is the target: the same as a table that
        // never saw member 1, built with other nexthop ids for the same keys.
        t.update_keyed(&fewer, &keys(&fewer), 5000);
        let settled = t.buckets(&fewer);
        let renumber = |id: NexthopId| NexthopId(id.0 + 50);
        let other: Vec<_> = fewer.iter().map(|m| (renumber(m.0), m.1)).collect();
        let mut fresh = ResilientTable::new(256, 1000, 0).unwrap();
        fresh.update_keyed(&other, &keys(&fewer), 0);
        let fresh: Vec<_> = fresh
            .buckets(&other)
            .iter()
            .map(|id| NexthopId(id.0 - 50))
            .collect();
        assert_eq!(settled, fresh, "the settled table depends on the history");
        assert!(!t.is_unbalanced());
        // Exact shares.
        let wants = ResilientTable::wants(256, &fewer);
        for (i, m) in fewer.iter().enumerate() {
            assert_eq!(settled.iter().filter(|&&b| b == m.0).count(), wants[i]);
        }
    }

    proptest! {
        #[test]
        fn order_independent(ws in proptest::collection::vec(1u32..=65535, 1..9), seed in any::<u64>()) {
            // The caller sorts members canonically; building from a shuffled input then sorting gives the same table.
            let m = ids(&ws);
            let mut shuffled = m.clone();
            let mut s = seed | 1;
            for i in (1..shuffled.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                shuffled.swap(i, (s % (i as u64 + 1)) as usize);
            }
            shuffled.sort_by_key(|x| x.0);
            prop_assert_eq!(Group::new(&m).unwrap().upper, Group::new(&shuffled).unwrap().upper);
            let mut a = ResilientTable::new(256, 0, 0).unwrap();
            let mut b = ResilientTable::new(256, 0, 0).unwrap();
            a.update(&m, 0);
            b.update(&shuffled, 0);
            prop_assert_eq!(a.buckets(&m), b.buckets(&shuffled));
        }

        #[test]
        fn select_is_total(ws in proptest::collection::vec(1u32..=65535, 1..16), h in any::<u32>()) {
            let m = ids(&ws);
            let nb = live_all(16);
            for g in [Group::new(&m).unwrap(), Group::modulo(&m).unwrap(), resilient(&ws, 64).0] {
                prop_assert!(g.select_live(h, &nb).is_some());
                prop_assert!((g.select(h).index()) < ws.len());
            }
        }

        #[test]
        fn hash_threshold_pick_is_the_region_holding_the_hash(
            ws in proptest::collection::vec(1u32..=65535, 1..300),
            hs in proptest::collection::vec(any::<u32>(), 64),
        ) {
            // The table walk equals the definition: the first region whose
            // end is at or above the hash (the binary search groups over 256
            // members use); also at every region's edges.
            let m = ids(&ws);
            let g = Group::new(&m).unwrap();
            let edges = g.upper.iter().flat_map(|&e| [e, e.wrapping_add(1)]);
            for h in hs.into_iter().chain(edges).chain([0, u32::MAX]) {
                let want = g.upper.partition_point(|&end| end < h).min(ws.len() - 1);
                prop_assert_eq!(g.select(h), m[want].0, "hash {:#x}", h);
            }
        }
    }
}
