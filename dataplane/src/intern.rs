//! Values interned to dense `u32` ids, counted by use.
//!
//! A full table's million routes hold a handful of distinct values (the same
//! group, hash and stickiness), so a table keeps each value once and a 4-byte
//! id per prefix: the route tables' leaves, and the control plane's record of
//! what it installed.

use std::collections::HashMap;
use std::hash::Hash;

/// Distinct values by id; an id is freed when its last use is released, and
/// reused by the next new value.
#[derive(Clone, Debug)]
pub struct Interner<T> {
    /// The values by id; a free id holds `filler`.
    values: Vec<T>,
    /// Uses of each id.
    uses: Vec<u32>,
    /// The id of each value in use.
    ids: HashMap<T, u32>,
    free: Vec<u32>,
    filler: T,
}

impl<T: Copy + Eq + Hash> Interner<T> {
    /// An empty set; `filler` is what a free id reads as.
    pub fn new(filler: T) -> Interner<T> {
        Interner {
            values: Vec::new(),
            uses: Vec::new(),
            ids: HashMap::new(),
            free: Vec::new(),
            filler,
        }
    }

    /// The id of `v`, with one more use.
    pub fn intern(&mut self, v: T) -> u32 {
        let id = match self.ids.get(&v) {
            Some(&id) => id,
            None => {
                let id = match self.free.pop() {
                    Some(id) => {
                        self.values[id as usize] = v;
                        id
                    }
                    None => {
                        self.values.push(v);
                        self.uses.push(0);
                        (self.values.len() - 1) as u32
                    }
                };
                self.ids.insert(v, id);
                id
            }
        };
        self.uses[id as usize] += 1;
        id
    }

    /// One use fewer of `id`; freed at none. An id not in use is left alone.
    pub fn release(&mut self, id: u32) {
        let Some(u) = self.uses.get_mut(id as usize) else {
            return;
        };
        if *u == 0 {
            return;
        }
        *u -= 1;
        if *u == 0 {
            let v = std::mem::replace(&mut self.values[id as usize], self.filler);
            self.ids.remove(&v);
            self.free.push(id);
        }
    }

    /// The id of `v`, if it is in use.
    pub fn id(&self, v: &T) -> Option<u32> {
        self.ids.get(v).copied()
    }

    /// The value of `id` (the filler for a free one).
    #[inline]
    pub fn get(&self, id: u32) -> Option<&T> {
        self.values.get(id as usize)
    }

    /// Distinct values in use.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// No value in use.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Interner;

    #[test]
    fn ids_are_shared_counted_and_reused() {
        let mut i = Interner::new(0u64);
        let a = i.intern(7);
        assert_eq!(i.intern(7), a);
        let b = i.intern(9);
        assert_ne!(a, b);
        assert_eq!(i.len(), 2);
        i.release(a);
        assert_eq!(i.get(a), Some(&7), "one use is left");
        i.release(a);
        assert_eq!(i.get(a), Some(&0), "freed: the filler");
        assert_eq!(i.id(&7), None);
        i.release(a); // not in use: nothing happens
        assert_eq!(i.intern(11), a, "a freed id is reused");
        assert_eq!(i.get(b), Some(&9));
        assert_eq!(i.len(), 2);
    }
}
