//! Publication of FIB generations with quiescent-state-based reclamation.
//!
//! Workers `load()` the current generation once per poll-loop iteration and
//! bump their quiescent counter after dropping it. The control thread swaps
//! in a new generation and keeps the old one until every worker's counter
//! has moved past the value it had at the swap; only then is the old
//! generation dropped, on the control thread. So a worker never frees a table
//! (its guard is never the last reference) and never sees a half-built one.

use arc_swap::ArcSwap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A worker's quiescent-state counter.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Quiescent {
    counter: AtomicU64,
    offline: AtomicBool,
}

impl Quiescent {
    /// Called by the worker after each iteration, once it holds no table.
    #[inline]
    pub fn pass(&self) {
        self.counter.store(
            self.counter.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Release,
        );
    }
    /// Called by a worker that stops reading tables for good.
    pub fn go_offline(&self) {
        self.offline.store(true, Ordering::Release);
    }
    fn snapshot(&self) -> u64 {
        self.counter.load(Ordering::Acquire)
    }
    fn passed(&self, since: u64) -> bool {
        self.offline.load(Ordering::Acquire) || self.counter.load(Ordering::Acquire) != since
    }
}

/// Publishes values of `T` to workers.
#[derive(Debug)]
pub struct Publisher<T> {
    current: Arc<ArcSwap<T>>,
    readers: Vec<Arc<Quiescent>>,
    retired: Vec<(Arc<T>, Vec<u64>)>,
}

impl<T> Publisher<T> {
    /// Starts publishing `initial` to `readers`.
    pub fn new(initial: T, readers: Vec<Arc<Quiescent>>) -> Self {
        Publisher {
            current: Arc::new(ArcSwap::from_pointee(initial)),
            readers,
            retired: Vec::new(),
        }
    }

    /// The handle workers load from.
    pub fn handle(&self) -> Arc<ArcSwap<T>> {
        self.current.clone()
    }

    /// The current value.
    pub fn current(&self) -> Arc<T> {
        self.current.load_full()
    }

    /// Makes `next` current; the previous value is retired until a grace period passes.
    pub fn publish(&mut self, next: T) {
        let old = self.current.swap(Arc::new(next));
        let snap = self.readers.iter().map(|r| r.snapshot()).collect();
        self.retired.push((old, snap));
        self.reclaim();
    }

    /// Drops retired values that no worker can still hold. Returns how many are left.
    pub fn reclaim(&mut self) -> usize {
        let readers = &self.readers;
        self.retired
            .retain(|(_, snap)| !readers.iter().zip(snap).all(|(r, &s)| r.passed(s)));
        self.retired.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_value_lives_until_every_reader_passes() {
        let a = Arc::new(Quiescent::default());
        let b = Arc::new(Quiescent::default());
        let mut p = Publisher::new(1u32, vec![a.clone(), b.clone()]);
        let h = p.handle();
        let held = h.load_full(); // a worker mid-burst on generation 1
        p.publish(2);
        assert_eq!(**h.load(), 2);
        assert_eq!(p.reclaim(), 1);
        a.pass();
        assert_eq!(p.reclaim(), 1, "b has not passed a quiescent state yet");
        b.go_offline();
        drop(held);
        assert_eq!(p.reclaim(), 0);
        assert_eq!(*p.current(), 2);
    }
}
