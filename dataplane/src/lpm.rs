//! Longest-prefix match over left-aligned 128-bit keys (IPv4 uses the top
//! 32 bits), as a multibit trie with a 16-bit root stride and 8-bit strides
//! below (controlled prefix expansion, Srinivasan & Varghese 1999).
//!
//! A lookup costs one memory access per level: at most 3 for IPv4
//! (16 + 8 + 8) and 15 for IPv6. A table is immutable once built; the control
//! plane builds a new one and publishes it (see ARCHITECTURE.md invariant 2).

/// Entry encoding: 0 is empty, `CHILD | n` points at node `n`, otherwise `value + 1`.
const CHILD: u32 = 1 << 31;
const ROOT_BITS: u32 = 16;
const STRIDE: u32 = 8;

/// The largest value a table can hold.
pub const MAX_VALUE: u32 = CHILD - 2;

/// An immutable longest-prefix-match table.
#[derive(Clone, Debug)]
pub struct Lpm {
    root: Box<[u32]>,
    nodes: Vec<u32>,
    prefixes: usize,
}

impl Default for Lpm {
    fn default() -> Self {
        Lpm {
            root: vec![0; 1 << ROOT_BITS].into_boxed_slice(),
            nodes: Vec::new(),
            prefixes: 0,
        }
    }
}

#[inline]
fn bits(key: u128, start: u32, width: u32) -> usize {
    ((key << start) >> (128 - width)) as usize
}

impl Lpm {
    /// Builds a table from `(key, prefix_len, value)` entries. Later entries
    /// win over earlier ones with the same prefix.
    ///
    /// # Panics
    /// When a value exceeds [`MAX_VALUE`] or a length exceeds 128.
    pub fn build(mut entries: Vec<(u128, u8, u32)>) -> Lpm {
        // Shorter prefixes first: a longer one then only ever overwrites or
        // refines what a shorter one wrote. Stable, so duplicates keep order.
        entries.sort_by_key(|e| e.1);
        let mut t = Lpm {
            prefixes: entries.len(),
            ..Lpm::default()
        };
        for (key, len, value) in entries {
            assert!(value <= MAX_VALUE && len <= 128, "lpm entry out of range");
            t.insert(key, len as u32, value + 1);
        }
        t
    }

    fn insert(&mut self, key: u128, len: u32, enc: u32) {
        let (mut start, mut width) = (0u32, ROOT_BITS);
        let mut node: Option<usize> = None;
        loop {
            let end = start + width;
            let idx = bits(key, start, width);
            if len <= end {
                let span = 1usize << (end - len);
                let base = idx & !(span - 1);
                for i in base..base + span {
                    let slot = self.slot(node, i);
                    if *slot & CHILD != 0 {
                        // Entries arrive shortest first, so a child below this
                        // slot holds only longer prefixes; fill its gaps.
                        let child = (*slot & !CHILD) as usize;
                        self.fill_under(child, enc);
                    } else {
                        *slot = enc;
                    }
                }
                return;
            }
            let cur = *self.slot(node, idx);
            let child = if cur & CHILD != 0 {
                (cur & !CHILD) as usize
            } else {
                let n = self.nodes.len() / (1 << STRIDE);
                self.nodes.extend(std::iter::repeat_n(cur, 1 << STRIDE));
                *self.slot(node, idx) = CHILD | n as u32;
                n
            };
            node = Some(child);
            start = end;
            width = STRIDE;
        }
    }

    /// Same-length duplicates reach here: overwrite every leaf below `node`
    /// that the earlier duplicate wrote.
    fn fill_under(&mut self, node: usize, enc: u32) {
        for i in 0..(1 << STRIDE) {
            let at = node * (1 << STRIDE) + i;
            let e = self.nodes[at];
            if e & CHILD != 0 {
                self.fill_under((e & !CHILD) as usize, enc);
            } else {
                self.nodes[at] = enc;
            }
        }
    }

    fn slot(&mut self, node: Option<usize>, i: usize) -> &mut u32 {
        match node {
            None => &mut self.root[i],
            Some(n) => &mut self.nodes[n * (1 << STRIDE) + i],
        }
    }

    /// The value of the longest prefix holding `key`.
    #[inline]
    pub fn lookup(&self, key: u128) -> Option<u32> {
        let mut e = self.root[bits(key, 0, ROOT_BITS)];
        let mut start = ROOT_BITS;
        while e & CHILD != 0 {
            let n = (e & !CHILD) as usize;
            e = self.nodes[n * (1 << STRIDE) + bits(key, start, STRIDE)];
            start += STRIDE;
        }
        e.checked_sub(1)
    }

    /// Number of prefixes the table was built from.
    pub fn len(&self) -> usize {
        self.prefixes
    }

    /// True when built from no prefixes.
    pub fn is_empty(&self) -> bool {
        self.prefixes == 0
    }

    /// Bytes of table memory.
    pub fn memory_bytes(&self) -> usize {
        (self.root.len() + self.nodes.len()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Prefix;
    use proptest::prelude::*;

    fn e(p: &str, v: u32) -> (u128, u8, u32) {
        let p: Prefix = p.parse().unwrap();
        (p.key(), p.len(), v)
    }
    fn k(a: &str) -> u128 {
        crate::types::key_of(a.parse().unwrap())
    }

    #[test]
    fn longest_wins() {
        let t = Lpm::build(vec![
            e("10.1.2.0/24", 3),
            e("0.0.0.0/0", 0),
            e("10.0.0.0/8", 1),
            e("10.1.0.0/16", 2),
            e("10.1.2.128/25", 4),
            e("10.1.2.200/32", 5),
        ]);
        assert_eq!(t.lookup(k("192.0.2.1")), Some(0));
        assert_eq!(t.lookup(k("10.200.0.1")), Some(1));
        assert_eq!(t.lookup(k("10.1.9.1")), Some(2));
        assert_eq!(t.lookup(k("10.1.2.1")), Some(3));
        assert_eq!(t.lookup(k("10.1.2.129")), Some(4));
        assert_eq!(t.lookup(k("10.1.2.200")), Some(5));
        assert_eq!(t.lookup(k("10.1.2.201")), Some(4));
    }

    #[test]
    fn ipv6_and_miss() {
        let t = Lpm::build(vec![
            e("2001:db8::/32", 7),
            e("2001:db8:100::/48", 8),
            e("2001:db8:100::10/128", 9),
        ]);
        assert_eq!(t.lookup(k("2001:db8:1::1")), Some(7));
        assert_eq!(t.lookup(k("2001:db8:100::1")), Some(8));
        assert_eq!(t.lookup(k("2001:db8:100::10")), Some(9));
        assert_eq!(t.lookup(k("2001:db9::1")), None);
        assert_eq!(Lpm::build(vec![]).lookup(k("::")), None);
    }

    #[test]
    fn duplicate_prefix_last_wins() {
        let t = Lpm::build(vec![
            e("10.0.0.0/8", 1),
            e("10.1.1.0/24", 2),
            e("10.0.0.0/8", 3),
        ]);
        assert_eq!(t.lookup(k("10.9.9.9")), Some(3));
        assert_eq!(t.lookup(k("10.1.1.1")), Some(2));
    }

    fn naive(entries: &[(u128, u8, u32)], key: u128) -> Option<u32> {
        let mut best: Option<(u8, u32)> = None;
        for &(p, l, v) in entries {
            let m = if l == 0 { 0 } else { u128::MAX << (128 - l) };
            if key & m == p & m && best.is_none_or(|(bl, _)| l >= bl) {
                best = Some((l, v));
            }
        }
        best.map(|b| b.1)
    }

    proptest! {
        #[test]
        fn matches_naive_ipv4(raw in proptest::collection::vec((any::<u32>(), 0u8..=32), 1..40), probes in proptest::collection::vec(any::<u32>(), 50)) {
            let entries: Vec<_> = raw.iter().enumerate().map(|(i, &(a, l))| {
                let m = if l == 0 { 0 } else { u32::MAX << (32 - l) };
                (((a & m) as u128) << 96, l, i as u32)
            }).collect();
            let t = Lpm::build(entries.clone());
            for &(p, _, _) in &entries {
                prop_assert_eq!(t.lookup(p), naive(&entries, p));
            }
            for p in probes {
                let key = (p as u128) << 96;
                prop_assert_eq!(t.lookup(key), naive(&entries, key));
            }
        }

        #[test]
        fn matches_naive_ipv6(raw in proptest::collection::vec((any::<u128>(), 0u8..=128), 1..30), probes in proptest::collection::vec(any::<u128>(), 30)) {
            let entries: Vec<_> = raw.iter().enumerate().map(|(i, &(a, l))| {
                let m = if l == 0 { 0 } else { u128::MAX << (128 - l) };
                (a & m, l, i as u32)
            }).collect();
            let t = Lpm::build(entries.clone());
            for &(p, _, _) in &entries {
                prop_assert_eq!(t.lookup(p), naive(&entries, p));
            }
            for key in probes {
                prop_assert_eq!(t.lookup(key), naive(&entries, key));
            }
        }
    }
}
