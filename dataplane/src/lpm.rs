//! Longest-prefix match over left-aligned 128-bit keys (IPv4 uses the top
//! 32 bits), as a multibit trie with a wide root and fixed strides below
//! (controlled prefix expansion, Srinivasan & Varghese 1999).
//!
//! - IPv4 is DIR-24-8 (Gupta, Lin & McKeown 1998, as in DPDK's `rte_lpm`): a
//!   2^24-entry root and 256-entry nodes, so every lookup is one or two
//!   memory accesses whatever the table size.
//! - IPv6 has a 2^24-entry root and 16-entry (one cache line) nodes, so the
//!   /48s that make up half of an Internet table cost 6 small nodes each
//!   instead of 3 large ones.
//!
//! Every leaf stores the length of the prefix it came from, as DPDK's tables
//! do, so the table is updated in place: an insert overwrites only leaves of
//! shorter prefixes, a removal puts the covering prefix back where the removed
//! one was, and nodes left uniform are folded back into their parent. Cost is
//! proportional to the address span a prefix covers, not to the table size.
//!
//! A table is changed only while no worker can read it: the control plane
//! keeps two copies and changes the one the workers no longer see (see
//! `RouteTable` and docs/architecture.md, "Route updates").

/// Set on an entry that points at a node; the low bits are its index.
const CHILD: u32 = 1 << 31;
/// A leaf holds `(prefix length << LEN_SHIFT) | (value + 1)`; 0 is empty.
const LEN_SHIFT: u32 = 23;
const VALUE_MASK: u32 = (1 << LEN_SHIFT) - 1;

/// The largest value a table can hold.
pub const MAX_VALUE: u32 = VALUE_MASK - 1;

/// Prefixes in a table from which its bulk lookups prefetch
/// ([`Lpm::set_prefetch`]): about where the entries they touch outgrow the
/// last-level cache.
pub const PREFETCH_FROM: usize = 50_000;

/// Called with each table array's address and length in bytes as it is
/// allocated or grown (see [`advise_tables`]).
pub type Advice = fn(addr: usize, len: usize);

static ADVICE: std::sync::OnceLock<Advice> = std::sync::OnceLock::new();

/// Has `advice` called on the large arrays of every table made from now on:
/// each root as it is allocated (before it is touched), and the node array
/// whenever it grows. The router passes `dpdk::advise_hugepages`, so that a
/// full table is backed by huge pages: a full-table lookup misses the caches
/// on every read, and with 4 KiB pages the TLB too (this crate makes no
/// system call itself). The first call wins.
pub fn advise_tables(advice: Advice) {
    let _ = ADVICE.set(advice);
}

fn advise<T>(v: &Vec<T>) {
    if let Some(f) = ADVICE.get() {
        f(v.as_ptr() as usize, v.capacity() * std::mem::size_of::<T>());
    }
}

/// What one entry of a prefix's span says about that prefix.
enum Found {
    /// A leaf of a longer prefix (or a subtree of only those): look on.
    Longer,
    /// The prefix's own leaf, with its value.
    Exact(u32),
    /// Empty, or a shorter prefix's leaf: the prefix is not in the table.
    Absent,
}

/// A longest-prefix-match table, changed in place by the control plane.
#[derive(Clone, Debug)]
pub struct Lpm {
    root_bits: u32,
    stride: u32,
    root: Vec<u32>,
    nodes: Vec<u32>,
    free: Vec<u32>,
    /// `lookup_bulk` prefetches each round's entries before it reads them
    /// (see [`Lpm::set_prefetch`]).
    prefetch: bool,
}

impl Default for Lpm {
    fn default() -> Self {
        Lpm::ipv4()
    }
}

#[inline]
fn bits(key: u128, start: u32, width: u32) -> usize {
    ((key << start) >> (128 - width)) as usize
}

/// The root index of `key`: its top `root_bits` bits (at most 24, so a
/// 64-bit shift of the key's upper half does, cheaper than a 128-bit one).
#[inline(always)]
fn root_index(key: u128, root_bits: u32) -> usize {
    (((key >> 64) as u64) >> (64 - root_bits)) as usize
}

#[inline]
fn leaf(len: u32, value: u32) -> u32 {
    (len << LEN_SHIFT) | (value + 1)
}

#[inline]
fn leaf_len(e: u32) -> u32 {
    e >> LEN_SHIFT
}

impl Lpm {
    /// An empty IPv4 table (DIR-24-8). The root is allocated zeroed, so pages
    /// no prefix covers cost no memory.
    pub fn ipv4() -> Lpm {
        Lpm::with_strides(24, 8)
    }

    /// An empty IPv6 table (24-bit root, 4-bit strides).
    pub fn ipv6() -> Lpm {
        Lpm::with_strides(24, 4)
    }

    /// An empty table with a `root_bits` root and `stride`-bit nodes.
    ///
    /// # Panics
    /// When `stride` is not 1..=8, `root_bits` not 1..=24, or the strides do
    /// not end exactly at bit 128.
    pub fn with_strides(root_bits: u32, stride: u32) -> Lpm {
        assert!(
            (1..=8).contains(&stride)
                && (1..=24).contains(&root_bits)
                && (128 - root_bits).is_multiple_of(stride)
        );
        let root = vec![0; 1 << root_bits];
        advise(&root);
        Lpm {
            root_bits,
            stride,
            root,
            nodes: Vec::new(),
            free: Vec::new(),
            prefetch: false,
        }
    }

    /// Whether [`Lpm::lookup_bulk`] prefetches. A table larger than the
    /// caches misses on nearly every read, and a burst whose reads are all
    /// prefetched first has their misses in flight together: a full IPv6
    /// table's bulk lookups went from 96–98 to 69–71 ns (IPv4's, one read
    /// deep, gain little: 21.5 to 18.5 ns on 4 KiB pages). A table that fits in
    /// the caches only pays for the extra pass over the burst (a 1k IPv6
    /// table's bulk lookups took twice as long), so the owner turns it on by
    /// size ([`crate::fib::RouteTable`] does, at [`PREFETCH_FROM`] prefixes).
    pub fn set_prefetch(&mut self, on: bool) {
        self.prefetch = on;
    }

    /// Builds a table from `(key, prefix_len, value)` entries into `empty`.
    /// Later entries win over earlier ones with the same prefix.
    ///
    /// # Panics
    /// When a value exceeds [`MAX_VALUE`] or a length exceeds 128.
    pub fn build(mut empty: Lpm, entries: Vec<(u128, u8, u32)>) -> Lpm {
        for (key, len, value) in entries {
            empty.insert(key, len, value);
        }
        empty
    }

    fn node_len(&self) -> usize {
        1 << self.stride
    }

    /// Where the level holding prefix length `len` starts and ends.
    fn levels(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        std::iter::once((0, self.root_bits)).chain(
            (0..)
                .map(move |i| self.root_bits + i * self.stride)
                .map(move |s| (s, s + self.stride))
                .take_while(|&(s, _)| s < 128),
        )
    }

    fn entry(&self, node: Option<u32>, i: usize) -> u32 {
        match node {
            None => self.root[i],
            Some(n) => self.nodes[n as usize * self.node_len() + i],
        }
    }

    fn set(&mut self, node: Option<u32>, i: usize, e: u32) {
        let nl = self.node_len();
        match node {
            None => self.root[i] = e,
            Some(n) => self.nodes[n as usize * nl + i] = e,
        }
    }

    fn alloc(&mut self, fill: u32) -> u32 {
        let nl = self.node_len();
        match self.free.pop() {
            Some(n) => {
                self.nodes[n as usize * nl..(n as usize + 1) * nl].fill(fill);
                n
            }
            None => {
                let n = (self.nodes.len() / nl) as u32;
                assert!(n < CHILD, "lpm node space exhausted");
                let grows = self.nodes.len() + nl > self.nodes.capacity();
                self.nodes.extend(std::iter::repeat_n(fill, nl));
                if grows {
                    advise(&self.nodes);
                }
                n
            }
        }
    }

    /// Adds `key/len` with `value`, replacing that prefix's old value.
    ///
    /// # Panics
    /// When `value` exceeds [`MAX_VALUE`] or `len` exceeds 128.
    pub fn insert(&mut self, key: u128, len: u8, value: u32) {
        assert!(value <= MAX_VALUE && len <= 128, "lpm entry out of range");
        let len = len as u32;
        let e = leaf(len, value);
        let mut node = None;
        let levels: Vec<(u32, u32)> = self.levels().collect();
        for (start, end) in levels {
            let width = end - start;
            let idx = bits(key, start, width);
            if len <= end {
                let span = 1usize << (end - len);
                let base = idx & !(span - 1);
                for i in base..base + span {
                    let cur = self.entry(node, i);
                    if cur & CHILD != 0 {
                        self.overwrite_under(cur & !CHILD, len, e);
                    } else if leaf_len(cur) <= len {
                        self.set(node, i, e);
                    }
                }
                return;
            }
            let cur = self.entry(node, idx);
            let child = if cur & CHILD != 0 {
                cur & !CHILD
            } else {
                let n = self.alloc(cur);
                self.set(node, idx, CHILD | n);
                n
            };
            node = Some(child);
        }
    }

    /// Below a slot covered by a new prefix of length `len`: every leaf from
    /// a prefix no longer than `len` becomes `e`.
    fn overwrite_under(&mut self, n: u32, len: u32, e: u32) {
        for i in 0..self.node_len() {
            let cur = self.entry(Some(n), i);
            if cur & CHILD != 0 {
                self.overwrite_under(cur & !CHILD, len, e);
            } else if leaf_len(cur) <= len {
                self.set(Some(n), i, e);
            }
        }
    }

    /// Removes `key/len`. `cover` is the longest remaining prefix that holds
    /// it, as `(length, value)`; its value takes the removed one's place.
    /// Removing a prefix that is not there changes nothing.
    pub fn remove(&mut self, key: u128, len: u8, cover: Option<(u8, u32)>) {
        let len = len as u32;
        let with = cover.map_or(0, |(l, v)| leaf(l as u32, v));
        let levels: Vec<(u32, u32)> = self.levels().collect();
        let mut path: Vec<(Option<u32>, usize)> = Vec::new();
        let mut node = None;
        for (start, end) in levels {
            let idx = bits(key, start, end - start);
            if len <= end {
                let span = 1usize << (end - len);
                let base = idx & !(span - 1);
                for i in base..base + span {
                    let cur = self.entry(node, i);
                    if cur & CHILD != 0 {
                        self.replace_under(cur & !CHILD, len, with);
                        self.fold(node, i);
                    } else if cur != 0 && leaf_len(cur) == len {
                        self.set(node, i, with);
                    }
                }
                break;
            }
            let cur = self.entry(node, idx);
            if cur & CHILD == 0 {
                return;
            }
            path.push((node, idx));
            node = Some(cur & !CHILD);
        }
        // Fold nodes the removal left uniform, deepest first.
        while let Some((parent, idx)) = path.pop() {
            if !self.fold(parent, idx) {
                break;
            }
        }
    }

    fn replace_under(&mut self, n: u32, len: u32, with: u32) {
        for i in 0..self.node_len() {
            let cur = self.entry(Some(n), i);
            if cur & CHILD != 0 {
                self.replace_under(cur & !CHILD, len, with);
                self.fold(Some(n), i);
            } else if cur != 0 && leaf_len(cur) == len {
                self.set(Some(n), i, with);
            }
        }
    }

    /// When the node under `parent[idx]` holds one leaf value everywhere,
    /// puts that leaf in the parent and frees the node. True when folded.
    fn fold(&mut self, parent: Option<u32>, idx: usize) -> bool {
        let cur = self.entry(parent, idx);
        if cur & CHILD == 0 {
            return false;
        }
        let n = cur & !CHILD;
        let nl = self.node_len();
        let s = &self.nodes[n as usize * nl..(n as usize + 1) * nl];
        let first = s[0];
        if first & CHILD != 0 || s.iter().any(|&e| e != first) {
            return false;
        }
        self.set(parent, idx, first);
        self.free.push(n);
        true
    }

    /// The value of exactly `key/len`, if the table holds that prefix.
    ///
    /// A prefix's leaves fill its span except where longer prefixes cover
    /// it, and nothing shorter shows through: so the first entry in the span
    /// that is not from a longer prefix answers (a leaf of `len`: there;
    /// shorter or empty: absent). Usually the first entry read.
    pub fn get(&self, key: u128, len: u8) -> Option<u32> {
        let len = len as u32;
        let mut node = None;
        for (start, end) in self.levels() {
            let idx = bits(key, start, end - start);
            if len <= end {
                let span = 1usize << (end - len);
                let base = idx & !(span - 1);
                for i in base..base + span {
                    match self.find_len(self.entry(node, i), len) {
                        Found::Longer => continue,
                        Found::Exact(v) => return Some(v),
                        Found::Absent => return None,
                    }
                }
                return None;
            }
            let cur = self.entry(node, idx);
            if cur & CHILD == 0 {
                return None;
            }
            node = Some(cur & !CHILD);
        }
        None
    }

    /// What entry `e` (a whole subtree for a child) says of a prefix of
    /// length `len` whose span holds it.
    fn find_len(&self, e: u32, len: u32) -> Found {
        if e & CHILD != 0 {
            let n = (e & !CHILD) as usize;
            for i in 0..self.node_len() {
                match self.find_len(self.nodes[(n << self.stride) + i], len) {
                    Found::Longer => continue,
                    f => return f,
                }
            }
            return Found::Longer;
        }
        match e {
            0 => Found::Absent,
            e if leaf_len(e) < len => Found::Absent,
            e if leaf_len(e) == len => Found::Exact((e & VALUE_MASK) - 1),
            _ => Found::Longer,
        }
    }

    /// The value of the longest prefix holding `key`.
    #[inline]
    pub fn lookup(&self, key: u128) -> Option<u32> {
        let mut e = self.root[root_index(key, self.root_bits)];
        let mut start = self.root_bits;
        while e & CHILD != 0 {
            let n = (e & !CHILD) as usize;
            e = self.nodes[(n << self.stride) + bits(key, start, self.stride)];
            start += self.stride;
        }
        (e & VALUE_MASK).checked_sub(1)
    }

    /// Looks up many keys at once, in lock step: every key reads its root
    /// entry, then every key that has a child reads its next level, and so
    /// on. The reads of one round are independent, so their cache misses
    /// overlap instead of following one another (an IPv6 /48 is 7 reads).
    /// `out` gets one answer per key; extra slots of the longer slice are left alone.
    #[inline]
    pub fn lookup_bulk(&self, keys: &[u128], out: &mut [Option<u32>]) {
        if self.prefetch {
            self.walk_bulk::<true>(keys, out)
        } else {
            self.walk_bulk::<false>(keys, out)
        }
    }

    /// [`Lpm::lookup_bulk`], with each round's reads prefetched first when
    /// `PREFETCH`.
    #[inline(always)]
    fn walk_bulk<const PREFETCH: bool>(&self, keys: &[u128], out: &mut [Option<u32>]) {
        const CHUNK: usize = 32;
        for (ks, os) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let n = ks.len().min(os.len());
            let mut at = [0usize; CHUNK];
            for (a, &k) in at.iter_mut().zip(&ks[..n]) {
                *a = root_index(k, self.root_bits);
                if PREFETCH {
                    crate::arch::prefetch(&self.root[*a]);
                }
            }
            let mut es = [0u32; CHUNK];
            for (e, &a) in es[..n].iter_mut().zip(&at) {
                *e = self.root[a];
            }
            let mut start = self.root_bits;
            let mut deeper = es[..n].iter().fold(0, |a, e| a | e) & CHILD != 0;
            while deeper {
                deeper = false;
                for ((a, e), &k) in at.iter_mut().zip(&es[..n]).zip(ks) {
                    if *e & CHILD != 0 {
                        *a =
                            (((*e & !CHILD) as usize) << self.stride) + bits(k, start, self.stride);
                        if PREFETCH {
                            crate::arch::prefetch(&self.nodes[*a]);
                        }
                    }
                }
                for (e, &a) in es[..n].iter_mut().zip(&at) {
                    if *e & CHILD != 0 {
                        *e = self.nodes[a];
                        deeper |= *e & CHILD != 0;
                    }
                }
                start += self.stride;
            }
            for (o, e) in os[..n].iter_mut().zip(es) {
                *o = (e & VALUE_MASK).checked_sub(1);
            }
        }
    }

    /// Bytes of table memory allocated (the root counts in full, although
    /// pages no prefix covers are never touched).
    pub fn memory_bytes(&self) -> usize {
        (self.root.len() + self.nodes.len()) * 4
    }

    /// Nodes in use.
    pub fn nodes_used(&self) -> usize {
        self.nodes.len() / self.node_len() - self.free.len()
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
        let t = Lpm::build(
            Lpm::ipv4(),
            vec![
                e("10.1.2.0/24", 3),
                e("0.0.0.0/0", 0),
                e("10.0.0.0/8", 1),
                e("10.1.0.0/16", 2),
                e("10.1.2.128/25", 4),
                e("10.1.2.200/32", 5),
            ],
        );
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
        let t = Lpm::build(
            Lpm::ipv6(),
            vec![
                e("2001:db8::/32", 7),
                e("2001:db8:100::/48", 8),
                e("2001:db8:100::10/128", 9),
            ],
        );
        assert_eq!(t.lookup(k("2001:db8:1::1")), Some(7));
        assert_eq!(t.lookup(k("2001:db8:100::1")), Some(8));
        assert_eq!(t.lookup(k("2001:db8:100::10")), Some(9));
        assert_eq!(t.lookup(k("2001:db9::1")), None);
        assert_eq!(Lpm::ipv6().lookup(k("::")), None);
    }

    #[test]
    fn duplicate_prefix_last_wins() {
        let t = Lpm::build(
            Lpm::ipv4(),
            vec![e("10.0.0.0/8", 1), e("10.1.1.0/24", 2), e("10.0.0.0/8", 3)],
        );
        assert_eq!(t.lookup(k("10.9.9.9")), Some(3));
        assert_eq!(t.lookup(k("10.1.1.1")), Some(2));
    }

    #[test]
    fn shorter_insert_after_longer_keeps_the_longer() {
        // The /8 arrives after a /25 split the /24's slot: the /24's leaves
        // inside the node must survive (the depth is stored per leaf).
        let mut t = Lpm::ipv4();
        for (p, v) in [("10.1.2.0/24", 1), ("10.1.2.128/25", 2), ("10.0.0.0/8", 3)] {
            let (key, len, _) = e(p, 0);
            t.insert(key, len, v);
        }
        assert_eq!(t.lookup(k("10.1.2.1")), Some(1));
        assert_eq!(t.lookup(k("10.1.2.129")), Some(2));
        assert_eq!(t.lookup(k("10.9.0.1")), Some(3));
    }

    #[test]
    fn remove_restores_cover_and_frees_nodes() {
        let mut t = Lpm::ipv4();
        let (k8, l8, _) = e("10.0.0.0/8", 0);
        let (k25, l25, _) = e("10.1.2.128/25", 0);
        let (k32, l32, _) = e("10.1.2.200/32", 0);
        t.insert(k8, l8, 1);
        t.insert(k25, l25, 2);
        t.insert(k32, l32, 3);
        assert_eq!(t.nodes_used(), 1);
        t.remove(k32, l32, Some((25, 2)));
        assert_eq!(t.lookup(k("10.1.2.200")), Some(2));
        t.remove(k25, l25, Some((8, 1)));
        assert_eq!(t.lookup(k("10.1.2.200")), Some(1));
        assert_eq!(t.nodes_used(), 0, "the node folded back into the root");
        t.remove(k8, l8, None);
        assert_eq!(t.lookup(k("10.1.2.200")), None);
        // Removing what is not there is a no-op.
        t.remove(k25, l25, None);
        assert_eq!(t.lookup(k("10.1.2.200")), None);
    }

    #[test]
    fn bulk_matches_single() {
        let t = Lpm::build(
            Lpm::ipv4(),
            vec![e("10.0.0.0/8", 1), e("10.1.2.128/25", 2), e("0.0.0.0/0", 0)],
        );
        let keys: Vec<u128> = (0..100u32)
            .map(|i| ((0x0a01_0200 + i * 3) as u128) << 96)
            .collect();
        let mut t = t;
        for prefetch in [false, true] {
            t.set_prefetch(prefetch);
            let mut out = vec![None; keys.len()];
            t.lookup_bulk(&keys, &mut out);
            for (k, o) in keys.iter().zip(&out) {
                assert_eq!(*o, t.lookup(*k));
            }
        }
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

    fn mask(a: u128, l: u8) -> u128 {
        if l == 0 {
            0
        } else {
            a & (u128::MAX << (128 - l))
        }
    }

    /// Applies inserts and removals to a table and to a plain list, then
    /// compares lookups at every prefix and at random keys.
    fn churn(mut t: Lpm, ops: &[(bool, u128, u8)], probes: &[u128]) -> Result<(), TestCaseError> {
        let mut live: Vec<(u128, u8, u32)> = Vec::new();
        for (i, &(add, a, l)) in ops.iter().enumerate() {
            let key = mask(a, l);
            live.retain(|x| !(x.0 == key && x.1 == l));
            if add {
                live.push((key, l, i as u32));
                t.insert(key, l, i as u32);
            } else {
                let cover = live
                    .iter()
                    .filter(|x| x.1 < l && mask(key, x.1) == x.0)
                    .max_by_key(|x| x.1)
                    .map(|x| (x.1, x.2));
                t.remove(key, l, cover);
            }
        }
        for &(p, _, _) in &live {
            prop_assert_eq!(t.lookup(p), naive(&live, p));
        }
        // Exact match: a live prefix with its value where its own leaf
        // shows at its first address (else it may be covered entirely by
        // longer ones, and the answer is absent), every other prefix absent.
        for &(_, a, l) in ops {
            let key = mask(a, l);
            let want = live.iter().find(|x| x.0 == key && x.1 == l).map(|x| x.2);
            let got = t.get(key, l);
            if want.is_some() && t.lookup(key) == want {
                prop_assert_eq!(got, want);
            } else if want.is_none() {
                prop_assert_eq!(got, None);
            } else {
                prop_assert!(got.is_none() || got == want);
            }
        }
        for &(p, _, _) in ops
            .iter()
            .map(|o| (mask(o.1, o.2), 0, 0))
            .collect::<Vec<_>>()
            .iter()
        {
            prop_assert_eq!(t.lookup(p), naive(&live, p));
        }
        for &key in probes {
            prop_assert_eq!(t.lookup(key), naive(&live, key));
        }
        // The lock-step walk agrees, key by key, with and without prefetch.
        for prefetch in [false, true] {
            t.set_prefetch(prefetch);
            let mut bulk = vec![None; probes.len()];
            t.lookup_bulk(probes, &mut bulk);
            for (&key, got) in probes.iter().zip(&bulk) {
                prop_assert_eq!(*got, naive(&live, key));
            }
        }
        if live.is_empty() {
            prop_assert_eq!(t.nodes_used(), 0);
        }
        Ok(())
    }

    proptest! {
        // The real roots are 2^24 entries; a few cases on them, many on smaller
        // roots (same code, parameterised) to keep the suite fast.
        #![proptest_config(ProptestConfig::with_cases(8))]
        #[test]
        fn real_roots_churn_matches_naive(
            raw in proptest::collection::vec((any::<bool>(), any::<u16>(), 8u8..=32), 1..40),
        ) {
            let ops: Vec<_> = raw.iter().map(|&(add, a, l)| (add, ((0x0a00_0000u32 | (a as u32) << 4) as u128) << 96, l)).collect();
            churn(Lpm::ipv4(), &ops, &[])?;
            let ops6: Vec<_> = raw.iter().map(|&(add, a, l)| (add, (0x2001_0db8u128 << 96) | ((a as u128) << 72), l + 24)).collect();
            churn(Lpm::ipv6(), &ops6, &[])?;
        }
    }

    proptest! {
        #[test]
        fn ipv4_churn_matches_naive(
            raw in proptest::collection::vec((any::<bool>(), any::<u8>(), any::<u8>(), 0u8..=32), 1..60),
            probes in proptest::collection::vec(any::<u32>(), 50),
        ) {
            // Addresses from a small space so that prefixes nest and collide.
            let ops: Vec<_> = raw.iter().map(|&(add, a, b, l)| {
                (add, ((0x0a00_0000u32 | (a as u32) << 8 | b as u32) as u128) << 96, l)
            }).collect();
            let probes: Vec<u128> = probes.iter().map(|&p| ((0x0a00_0000 | (p & 0xffff)) as u128) << 96).collect();
            churn(Lpm::with_strides(16, 8), &ops, &probes)?;
        }

        #[test]
        fn ipv6_churn_matches_naive(
            raw in proptest::collection::vec((any::<bool>(), any::<u16>(), any::<u64>(), 0u8..=128), 1..40),
            probes in proptest::collection::vec((any::<u16>(), any::<u64>()), 30),
        ) {
            let addr = |a: u16, b: u64| (0x2001_0db8u128 << 96) | ((a as u128) << 80) | ((b as u128) << 16) | (b as u128 & 0xffff);
            let ops: Vec<_> = raw.iter().map(|&(add, a, b, l)| (add, addr(a % 4, b), l)).collect();
            let probes: Vec<u128> = probes.iter().map(|&(a, b)| addr(a % 4, b)).collect();
            churn(Lpm::with_strides(16, 4), &ops, &probes)?;
        }

        #[test]
        fn small_strides_match_naive(
            raw in proptest::collection::vec((any::<bool>(), any::<u32>(), 0u8..=32), 1..40),
            probes in proptest::collection::vec(any::<u32>(), 40),
        ) {
            let ops: Vec<_> = raw.iter().map(|&(add, a, l)| (add, ((a & 0xff0f_00ff) as u128) << 96, l)).collect();
            let probes: Vec<u128> = probes.iter().map(|&p| ((p & 0xff0f_00ff) as u128) << 96).collect();
            churn(Lpm::with_strides(5, 3), &ops, &probes)?;
        }
    }
}
