//! The bounded pool of hosts learned or resolved on connected subnets
//! (`neighbor-table`), kept apart from nexthops (config, API, FPM, uplinks),
//! which are never evicted. In the spirit of the kernel's neighbour GC
//! (`gc_thresh3` as a hard cap), but with LRU eviction at the cap instead of
//! refusing new entries:
//! - at most `max-hosts` hosts; a new one past that takes the slot of the
//!   least recently used host (a slot index is re-keyed, so the nexthop table
//!   never grows past the pool and gateways always find room);
//! - at most `max-incomplete` being resolved at once;
//! - host solicitations go through a token bucket of `solicit-rate` per second;
//! - a host that leaves `retries` solicitations unanswered is FAILED for
//!   [`FAILED_HOLD`] and not asked again meanwhile.
//!
//! The pool holds ids only; the entries live in the control plane.

use crate::config::NeighborTable;
use dataplane::types::NexthopId;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// How long a FAILED host is left alone.
pub const FAILED_HOLD: Duration = Duration::from_secs(20);

/// See the module documentation.
#[derive(Debug)]
pub struct HostPool {
    cfg: NeighborTable,
    /// At most half the nexthop table: the other half is for nexthops.
    table_half: u32,
    /// (id, stamp) in use order, oldest first; stale stamps are skipped.
    lru: VecDeque<(NexthopId, u64)>,
    /// Pooled ids and their latest stamp.
    stamp: HashMap<NexthopId, u64>,
    next: u64,
    /// Slots of hosts that were flushed, for reuse.
    free: Vec<NexthopId>,
    incomplete: HashSet<NexthopId>,
    tries: HashMap<NexthopId, u32>,
    failed_until: HashMap<NexthopId, Instant>,
    tokens: f64,
    refilled: Option<Instant>,
}

impl HostPool {
    /// An empty pool with `cfg`'s bounds, in a nexthop table of `capacity`
    /// slots (the pool takes at most half of them).
    pub fn new(cfg: NeighborTable, capacity: usize) -> HostPool {
        HostPool {
            cfg,
            table_half: (capacity / 2) as u32,
            lru: VecDeque::new(),
            stamp: HashMap::new(),
            next: 0,
            free: Vec::new(),
            incomplete: HashSet::new(),
            tries: HashMap::new(),
            failed_until: HashMap::new(),
            tokens: cfg.solicit_rate as f64,
            refilled: None,
        }
    }

    /// New bounds (a reload); the hosts stay.
    pub fn set_config(&mut self, cfg: NeighborTable) {
        self.cfg = cfg;
    }

    /// Hosts in the pool.
    pub fn len(&self) -> usize {
        self.stamp.len()
    }

    /// True when the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.stamp.is_empty()
    }

    /// True when the pool is at `max-hosts`.
    pub fn full(&self) -> bool {
        self.stamp.len() >= self.cfg.max_hosts.min(self.table_half) as usize
    }

    /// True when `max-incomplete` hosts are being resolved.
    pub fn incomplete_full(&self) -> bool {
        self.incomplete.len() >= self.cfg.max_incomplete as usize
    }

    /// Whether `id` is a pooled host.
    pub fn contains(&self, id: NexthopId) -> bool {
        self.stamp.contains_key(&id)
    }

    /// Takes `id` into the pool as a host being resolved.
    pub fn adopt(&mut self, id: NexthopId) {
        self.touch(id);
        self.incomplete.insert(id);
    }

    /// Marks `id` as just used.
    pub fn touch(&mut self, id: NexthopId) {
        self.next += 1;
        self.stamp.insert(id, self.next);
        self.lru.push_back((id, self.next));
        // Keep the queue from growing without bound under churn of the same hosts.
        if self.lru.len() > 4 * self.stamp.len() + 64 {
            let stamp = &self.stamp;
            self.lru.retain(|(i, s)| stamp.get(i) == Some(s));
        }
    }

    /// `id` answered.
    pub fn resolved(&mut self, id: NexthopId) {
        if self.contains(id) {
            self.touch(id);
        }
        self.incomplete.remove(&id);
        self.tries.remove(&id);
        self.failed_until.remove(&id);
    }

    /// Leaves the pool (upgraded to a nexthop, or evicted and re-keyed).
    pub fn forget(&mut self, id: NexthopId) {
        self.stamp.remove(&id);
        self.incomplete.remove(&id);
        self.tries.remove(&id);
        self.failed_until.remove(&id);
    }

    /// Leaves the pool and frees its slot for another host (a flush).
    pub fn release(&mut self, id: NexthopId) {
        if self.stamp.contains_key(&id) {
            self.forget(id);
            self.free.push(id);
        }
    }

    /// A freed slot to reuse, if any.
    pub fn free_slot(&mut self) -> Option<NexthopId> {
        self.free.pop()
    }

    /// The least recently used pooled host that `evictable` allows, taken out of the pool.
    pub fn victim(&mut self, evictable: impl Fn(NexthopId) -> bool) -> Option<NexthopId> {
        while let Some((id, s)) = self.lru.pop_front() {
            if self.stamp.get(&id) == Some(&s) && evictable(id) {
                self.forget(id);
                return Some(id);
            }
        }
        None
    }

    /// One more solicitation for `id`: false when it has had `retries`
    /// unanswered ones, and it is FAILED from `now`.
    pub fn try_solicit(&mut self, id: NexthopId, now: Instant) -> bool {
        let t = self.tries.entry(id).or_insert(0);
        if *t >= self.cfg.retries {
            self.tries.remove(&id);
            self.incomplete.remove(&id);
            self.failed_until.insert(id, now + FAILED_HOLD);
            return false;
        }
        *t += 1;
        true
    }

    /// `id`, which had been resolved, answered none of its unicast probes:
    /// FAILED from `now`.
    pub fn mark_failed(&mut self, id: NexthopId, now: Instant) {
        self.tries.remove(&id);
        self.failed_until.insert(id, now + FAILED_HOLD);
    }

    /// Whether `id` is FAILED at `now`.
    pub fn failed(&self, id: NexthopId, now: Instant) -> bool {
        self.failed_until.get(&id).is_some_and(|t| now < *t)
    }

    /// A token for one host solicitation, from the `solicit-rate` bucket.
    pub fn take_token(&mut self, now: Instant) -> bool {
        let rate = self.cfg.solicit_rate as f64;
        if let Some(t) = self.refilled {
            self.tokens = (self.tokens + now.duration_since(t).as_secs_f64() * rate).min(rate);
        }
        self.refilled = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> NeighborTable {
        NeighborTable {
            max_hosts: 3,
            max_incomplete: 2,
            solicit_rate: 10,
            retries: 2,
            ..NeighborTable::default()
        }
    }

    #[test]
    fn lru_victim_skips_touched_and_protected() {
        let mut p = HostPool::new(cfg(), 1024);
        for i in 0..3 {
            p.adopt(NexthopId(i));
        }
        assert!(p.full());
        p.touch(NexthopId(0));
        // 1 is the least recently used, but protected: 2 goes.
        assert_eq!(p.victim(|id| id != NexthopId(1)), Some(NexthopId(2)));
        assert_eq!(p.len(), 2);
        p.release(NexthopId(0));
        assert_eq!(p.free_slot(), Some(NexthopId(0)));
    }

    #[test]
    fn retries_then_failed_and_the_bucket() {
        let mut p = HostPool::new(cfg(), 1024);
        let t0 = Instant::now();
        p.adopt(NexthopId(5));
        assert!(p.try_solicit(NexthopId(5), t0));
        assert!(p.try_solicit(NexthopId(5), t0));
        assert!(!p.try_solicit(NexthopId(5), t0));
        assert!(p.failed(NexthopId(5), t0 + Duration::from_secs(1)));
        assert!(!p.failed(NexthopId(5), t0 + FAILED_HOLD));
        let n = (0..100).filter(|_| p.take_token(t0)).count();
        assert_eq!(n, 10, "a burst of solicit-rate");
        assert!(
            p.take_token(t0 + Duration::from_millis(150)),
            "refilled at 10/s"
        );
    }
}
