//! The flow table of one worker: connection state for sticky routes.
//!
//! - **Ownership.** One table per worker, written only by its worker; the
//!   control thread reads it (API, metrics) through a per-entry sequence
//!   counter (a seqlock of atomics: no locks, safe Rust only, and on x86 the
//!   worker's stores are plain moves). Both directions of a connection must
//!   reach the same worker: the router configures a symmetric RSS key, and a
//!   port without RSS delivers everything to worker 0 (docs/architecture.md).
//! - **Key.** The 5-tuple in canonical order (the lower endpoint first), so a
//!   reply finds its connection's entry.
//! - **Layout.** Fixed capacity, allocated once: buckets of [`WAYS`] entries
//!   of one cache line each. A lookup reads one bucket. An insert takes a free
//!   or expired way, else evicts the bucket's least recently seen flow
//!   (counted). Nothing allocates after [`FlowTable::new`].
//! - **Timeouts** per protocol and TCP state: established, transitory (SYN
//!   seen and no more; or FIN from one side, as Linux's fin-wait and
//!   close-wait), closing (FIN both ways, or RST), UDP, ICMP, other. A flow
//!   sees only the packets that take a sticky route: when replies come back
//!   another way, a FIN from the tracked side ends the flow within the
//!   transitory timeout.

use crate::flow::Endpoints;
use crate::types::NexthopId;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};

/// Entries per bucket.
pub const WAYS: usize = 4;
const WORDS: usize = 8;

/// Idle timeouts in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP after the handshake.
    pub tcp_established_ms: u32,
    /// TCP before the handshake completes.
    pub tcp_transitory_ms: u32,
    /// TCP after FIN in both directions or an RST.
    pub tcp_closing_ms: u32,
    /// UDP.
    pub udp_ms: u32,
    /// ICMP echo (keyed by identifier).
    pub icmp_ms: u32,
    /// Anything else.
    pub other_ms: u32,
}

impl Default for Timeouts {
    /// Defaults after Linux conntrack's (established shortened from 5 days to
    /// 2 hours, RFC 5382's minimum for established TCP).
    fn default() -> Self {
        Timeouts {
            tcp_established_ms: 7_200_000,
            tcp_transitory_ms: 120_000,
            tcp_closing_ms: 10_000,
            udp_ms: 60_000,
            icmp_ms: 30_000,
            other_ms: 60_000,
        }
    }
}

/// TCP tracking state, stored in an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// Not TCP.
    None = 0,
    /// SYN seen, handshake not complete.
    Opening = 1,
    /// Traffic seen both ways.
    Established = 2,
    /// FIN from one side.
    HalfClosed = 3,
    /// FIN from both sides, or RST.
    Closing = 4,
}

impl TcpState {
    fn from_bits(b: u64) -> TcpState {
        match b & 7 {
            1 => TcpState::Opening,
            2 => TcpState::Established,
            3 => TcpState::HalfClosed,
            4 => TcpState::Closing,
            _ => TcpState::None,
        }
    }
    /// The API spelling.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::None => "-",
            TcpState::Opening => "opening",
            TcpState::Established => "established",
            TcpState::HalfClosed => "half-closed",
            TcpState::Closing => "closing",
        }
    }
}

/// Counters of one table (read by the control thread).
#[derive(Debug, Default)]
pub struct FlowCounters {
    /// Flows created.
    pub inserts: AtomicU64,
    /// Flows whose idle timeout passed before their slot was reused.
    pub expiries: AtomicU64,
    /// Live flows pushed out of a full bucket.
    pub evictions: AtomicU64,
    /// Stored choices whose nexthop went down, so the flow was picked again.
    pub repicks: AtomicU64,
    /// Stored choices whose nexthop went down, removed (`on-uplink-down: flush`).
    pub flushes: AtomicU64,
}

/// A flow as the control thread reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowView {
    /// The endpoints in canonical order (`a` is the lower).
    pub key: Endpoints,
    /// The chosen nexthop.
    pub nexthop: NexthopId,
    /// TCP state.
    pub tcp: TcpState,
    /// Milliseconds since the flow was last seen, as of `now_ms`.
    pub idle_ms: u32,
    /// Milliseconds until it expires if idle.
    pub expires_in_ms: u32,
    /// Packets seen (wraps at 2^24).
    pub packets: u32,
}

/// What a lookup found for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// A live flow with its stored nexthop.
    Hit(NexthopId),
    /// No flow.
    Miss,
}

/// One worker's flow table.
#[derive(Debug)]
pub struct FlowTable {
    entries: Box<[AtomicU64]>,
    mask: usize,
    timeouts: Timeouts,
    /// Counters.
    pub counters: FlowCounters,
}

// Word layout of an entry:
// 0: sequence (odd while the worker writes it; 0 = never used)
// 1, 2: endpoint a (high, low 64 bits of the left-aligned address)
// 3, 4: endpoint b
// 5: a port << 48 | b port << 32 | proto << 24 | v6 << 23 | ports present << 22 | tcp state << 16 | fin-a << 15 | fin-b << 14
// 6: nexthop id (low 32) | packets (high 24)
// 7: last seen ms (low 32) | timeout ms (high 32)
const FIN_A: u64 = 1 << 15;
const FIN_B: u64 = 1 << 14;

/// The canonical key of a packet's endpoints, and whether the packet goes
/// from `b` to `a` (the reverse of the canonical order).
#[inline]
fn canonical(e: &Endpoints) -> (Endpoints, bool) {
    if (e.src, e.sport) <= (e.dst, e.dport) {
        (*e, false)
    } else {
        (e.reversed(), true)
    }
}

#[inline]
fn key_words(k: &Endpoints) -> [u64; 5] {
    [
        (k.src >> 64) as u64,
        k.src as u64,
        (k.dst >> 64) as u64,
        k.dst as u64,
        (k.sport as u64) << 48
            | (k.dport as u64) << 32
            | (k.proto as u64) << 24
            | (k.v6 as u64) << 23
            | (k.has_ports as u64) << 22,
    ]
}

/// The key bits of word 5 (ports, protocol, family, ports-present).
const KEY5_MASK: u64 = !((1u64 << 22) - 1);

/// Bucket hash of a key: every bit of every word reaches the low bits (a
/// multiply only carries upwards, so the words are folded in and the result
/// finished with MurmurHash3's fmix64).
#[inline]
fn mix(w: &[u64; 5]) -> u64 {
    let mut h = 0x9e37_79b9_7f4a_7c15u64;
    for x in w {
        h = (h ^ x ^ (x >> 32)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
    }
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

impl FlowTable {
    /// A table of at least `capacity` flows (rounded up to a power of two).
    pub fn new(capacity: usize, timeouts: Timeouts) -> FlowTable {
        let buckets = (capacity.max(WAYS) / WAYS).next_power_of_two();
        FlowTable {
            entries: (0..buckets * WAYS * WORDS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            mask: buckets - 1,
            timeouts,
            counters: FlowCounters::default(),
        }
    }

    /// Flows the table holds at most.
    pub fn capacity(&self) -> usize {
        (self.mask + 1) * WAYS
    }

    #[inline]
    fn word(&self, slot: usize, w: usize) -> &AtomicU64 {
        &self.entries[slot * WORDS + w]
    }

    fn timeout_for(&self, proto: u8, tcp: TcpState) -> u32 {
        let t = &self.timeouts;
        match (proto, tcp) {
            (6, TcpState::Established) => t.tcp_established_ms,
            (6, TcpState::Closing) => t.tcp_closing_ms,
            (6, _) => t.tcp_transitory_ms,
            (17, _) => t.udp_ms,
            (1 | 58, _) => t.icmp_ms,
            _ => t.other_ms,
        }
    }

    #[inline]
    fn expired(&self, slot: usize, now_ms: u32) -> bool {
        let w7 = self.word(slot, 7).load(Relaxed);
        let (seen, timeout) = (w7 as u32, (w7 >> 32) as u32);
        now_ms.wrapping_sub(seen) > timeout
    }

    /// Finds the flow of a packet with endpoints `e` and TCP flags `tcp_flags`
    /// (0 when not TCP), refreshing it (worker only). A flow found expired
    /// counts as a miss.
    #[inline]
    pub fn lookup(&self, e: &Endpoints, tcp_flags: u8, now_ms: u32) -> Found {
        let (k, reverse) = canonical(e);
        let Some((slot, w5)) = self.find(&key_words(&k)) else {
            return Found::Miss;
        };
        if self.expired(slot, now_ms) {
            return Found::Miss;
        }
        self.touch(slot, w5, reverse, tcp_flags, now_ms);
        Found::Hit(NexthopId(self.word(slot, 6).load(Relaxed) as u32))
    }

    /// The slot holding key `kw` in its bucket, and its word 5.
    #[inline]
    fn find(&self, kw: &[u64; 5]) -> Option<(usize, u64)> {
        let base = (mix(kw) as usize & self.mask) * WAYS;
        (base..base + WAYS).find_map(|slot| {
            if self.word(slot, 0).load(Relaxed) == 0 {
                return None;
            }
            let w5 = self.word(slot, 5).load(Relaxed);
            let same = (1..5).all(|i| self.word(slot, i).load(Relaxed) == kw[i - 1])
                && w5 & KEY5_MASK == kw[4];
            same.then_some((slot, w5))
        })
    }

    /// Updates TCP state, the packet count and the idle timer of `slot`.
    #[inline]
    fn touch(&self, slot: usize, w5: u64, reverse: bool, flags: u8, now_ms: u32) {
        let proto = (w5 >> 24) as u8;
        let mut state = TcpState::from_bits(w5 >> 16);
        let mut fins = w5 & (FIN_A | FIN_B);
        if proto == 6 {
            const FIN: u8 = 0x01;
            const RST: u8 = 0x04;
            const ACK: u8 = 0x10;
            if flags & RST != 0 {
                state = TcpState::Closing;
            } else if flags & FIN != 0 {
                fins |= if reverse { FIN_B } else { FIN_A };
                state = if fins == FIN_A | FIN_B {
                    TcpState::Closing
                } else {
                    TcpState::HalfClosed
                };
            } else if state == TcpState::Opening && flags & ACK != 0 {
                state = TcpState::Established;
            }
        }
        let w5n = (w5 & !(0x7 << 16) & !(FIN_A | FIN_B)) | (state as u64) << 16 | fins;
        let w6 = self.word(slot, 6).load(Relaxed);
        let w6n = (w6 & 0xffff_ffff) | ((w6 >> 40).wrapping_add(1) & 0xff_ffff) << 40;
        let w7n = now_ms as u64 | (self.timeout_for(proto, state) as u64) << 32;
        let seq = self.word(slot, 0).load(Relaxed);
        self.word(slot, 0).store(seq.wrapping_add(1), Relaxed);
        std::sync::atomic::fence(Release);
        self.word(slot, 5).store(w5n, Relaxed);
        self.word(slot, 6).store(w6n, Relaxed);
        self.word(slot, 7).store(w7n, Relaxed);
        self.word(slot, 0).store(seq.wrapping_add(2), Release);
    }

    /// Ends the flow of `e`, if stored (worker only): its slot counts as
    /// expired from now on.
    pub fn expire(&self, e: &Endpoints, now_ms: u32) {
        let (k, _) = canonical(e);
        if let Some((slot, _)) = self.find(&key_words(&k)) {
            // Seen a millisecond ago with a timeout of 0: expired.
            let seq = self.word(slot, 0).load(Relaxed);
            self.word(slot, 0).store(seq.wrapping_add(1), Relaxed);
            std::sync::atomic::fence(Release);
            self.word(slot, 7)
                .store(now_ms.wrapping_sub(1) as u64, Relaxed);
            self.word(slot, 0).store(seq.wrapping_add(2), Release);
        }
    }

    /// Stores the choice `nh` for the flow of `e` (worker only): a new flow,
    /// or a re-pick of an existing one.
    pub fn insert(&self, e: &Endpoints, tcp_flags: u8, nh: NexthopId, now_ms: u32) {
        let (k, _) = canonical(e);
        let kw = key_words(&k);
        let base = (mix(&kw) as usize & self.mask) * WAYS;
        // Same flow (a re-pick), else a free or expired way, else the oldest.
        let mut pick = None;
        let mut oldest = (0u32, base);
        for slot in base..base + WAYS {
            let seq = self.word(slot, 0).load(Relaxed);
            if seq == 0 {
                pick = pick.or(Some(slot));
                continue;
            }
            let same = (1..5).all(|i| self.word(slot, i).load(Relaxed) == kw[i - 1])
                && self.word(slot, 5).load(Relaxed) & KEY5_MASK == kw[4];
            if same {
                pick = Some(slot);
                break;
            }
            if self.expired(slot, now_ms) {
                if pick.is_none() {
                    crate::stats::bump(&self.counters.expiries, 1);
                    pick = Some(slot);
                }
                continue;
            }
            let idle = now_ms.wrapping_sub(self.word(slot, 7).load(Relaxed) as u32);
            if idle >= oldest.0 {
                oldest = (idle, slot);
            }
        }
        let slot = match pick {
            Some(s) => s,
            None => {
                crate::stats::bump(&self.counters.evictions, 1);
                oldest.1
            }
        };
        let state = if k.proto == 6 {
            if tcp_flags & 0x04 != 0 {
                TcpState::Closing
            } else if tcp_flags & 0x02 != 0 && tcp_flags & 0x10 == 0 {
                TcpState::Opening
            } else {
                // Joined mid-connection (the router restarted, or the flow expired).
                TcpState::Established
            }
        } else {
            TcpState::None
        };
        let seq = self.word(slot, 0).load(Relaxed);
        let seq = if seq % 2 == 1 { seq + 1 } else { seq };
        self.word(slot, 0).store(seq + 1, Relaxed);
        std::sync::atomic::fence(Release);
        for (i, w) in kw[..4].iter().enumerate() {
            self.word(slot, i + 1).store(*w, Relaxed);
        }
        self.word(slot, 5)
            .store(kw[4] | (state as u64) << 16, Relaxed);
        self.word(slot, 6).store(nh.0 as u64 | 1 << 40, Relaxed);
        self.word(slot, 7).store(
            now_ms as u64 | (self.timeout_for(k.proto, state) as u64) << 32,
            Relaxed,
        );
        self.word(slot, 0).store(seq + 2, Release);
        crate::stats::bump(&self.counters.inserts, 1);
    }

    /// Reads slot `slot` consistently (control thread): `None` when empty,
    /// expired, or being written at every try.
    fn read(&self, slot: usize, now_ms: u32) -> Option<FlowView> {
        for _ in 0..4 {
            let s1 = self.word(slot, 0).load(Acquire);
            if s1 == 0 {
                return None;
            }
            if s1 % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let w: [u64; WORDS] = std::array::from_fn(|i| self.word(slot, i).load(Relaxed));
            std::sync::atomic::fence(Acquire);
            if self.word(slot, 0).load(Relaxed) != s1 {
                continue;
            }
            let (seen, timeout) = (w[7] as u32, (w[7] >> 32) as u32);
            let idle = now_ms.wrapping_sub(seen);
            if idle > timeout {
                return None;
            }
            let key = Endpoints {
                src: (w[1] as u128) << 64 | w[2] as u128,
                dst: (w[3] as u128) << 64 | w[4] as u128,
                sport: (w[5] >> 48) as u16,
                dport: (w[5] >> 32) as u16,
                proto: (w[5] >> 24) as u8,
                v6: w[5] & 1 << 23 != 0,
                has_ports: w[5] & 1 << 22 != 0,
                flow_label: 0,
            };
            return Some(FlowView {
                key,
                nexthop: NexthopId(w[6] as u32),
                tcp: TcpState::from_bits(w[5] >> 16),
                idle_ms: idle,
                expires_in_ms: timeout - idle,
                packets: (w[6] >> 40) as u32,
            });
        }
        None
    }

    /// Every live flow (control thread), in table order.
    pub fn flows(&self, now_ms: u32) -> impl Iterator<Item = FlowView> + '_ {
        (0..self.capacity()).filter_map(move |s| self.read(s, now_ms))
    }

    /// The live flows of slots `from..` (control thread), with their slot,
    /// in table order: a cursor for paging through a table.
    pub fn flows_from(
        &self,
        from: usize,
        now_ms: u32,
    ) -> impl Iterator<Item = (usize, Option<FlowView>)> + '_ {
        (from..self.capacity()).map(move |s| (s, self.read(s, now_ms)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(s: u32, d: u32, sp: u16, dp: u16, proto: u8) -> Endpoints {
        Endpoints {
            src: (s as u128) << 96,
            dst: (d as u128) << 96,
            proto,
            sport: sp,
            dport: dp,
            flow_label: 0,
            has_ports: true,
            v6: false,
        }
    }

    #[test]
    fn both_directions_find_the_flow_and_tcp_state_follows() {
        let t = FlowTable::new(64, Timeouts::default());
        let fwd = ep(1, 2, 40000, 80, 6);
        assert_eq!(t.lookup(&fwd, 0x02, 0), Found::Miss);
        t.insert(&fwd, 0x02, NexthopId(7), 0);
        assert_eq!(t.lookup(&fwd.reversed(), 0x12, 1), Found::Hit(NexthopId(7)));
        assert_eq!(t.lookup(&fwd, 0x10, 2), Found::Hit(NexthopId(7)));
        let v: Vec<_> = t.flows(3).collect();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].tcp, TcpState::Established);
        assert_eq!(v[0].packets, 3);
        assert!(v[0].expires_in_ms > 3_600_000);
        // FIN both ways: closing, with the short timeout.
        t.lookup(&fwd, 0x11, 4);
        t.lookup(&fwd.reversed(), 0x11, 5);
        let v: Vec<_> = t.flows(6).collect();
        assert_eq!(v[0].tcp, TcpState::Closing);
        assert!(v[0].expires_in_ms <= 10_000);
        assert_eq!(
            t.flows(5 + 10_001).count(),
            0,
            "closed connections expire quickly"
        );
        assert_eq!(t.lookup(&fwd, 0x10, 5 + 10_001), Found::Miss);
    }

    #[test]
    fn udp_and_icmp_expire_on_their_timeouts() {
        let to = Timeouts {
            udp_ms: 100,
            icmp_ms: 50,
            ..Timeouts::default()
        };
        let t = FlowTable::new(64, to);
        let u = ep(1, 2, 1000, 53, 17);
        let i = Endpoints {
            has_ports: false,
            sport: 9,
            dport: 0,
            proto: 1,
            ..ep(1, 2, 0, 0, 1)
        };
        t.insert(&u, 0, NexthopId(1), 0);
        t.insert(&i, 0, NexthopId(2), 0);
        assert_eq!(t.lookup(&u, 0, 60), Found::Hit(NexthopId(1)));
        assert_eq!(t.lookup(&i, 0, 60), Found::Miss);
        assert_eq!(
            t.lookup(&u, 0, 150),
            Found::Hit(NexthopId(1)),
            "refreshed at 60"
        );
        assert_eq!(t.lookup(&u, 0, 300), Found::Miss);
    }

    #[test]
    fn full_bucket_evicts_the_least_recently_seen_and_counts_it() {
        // One bucket: every flow collides.
        let t = FlowTable::new(WAYS, Timeouts::default());
        for n in 0..WAYS as u32 {
            t.insert(&ep(1, 2, 1000 + n as u16, 80, 17), 0, NexthopId(n), n);
        }
        t.lookup(&ep(1, 2, 1000, 80, 17), 0, 10); // flow 0 is fresh again
        t.insert(&ep(1, 2, 2000, 80, 17), 0, NexthopId(9), 11);
        assert_eq!(t.counters.evictions.load(Relaxed), 1);
        assert_eq!(
            t.lookup(&ep(1, 2, 1001, 80, 17), 0, 12),
            Found::Miss,
            "flow 1 was the oldest"
        );
        assert_eq!(
            t.lookup(&ep(1, 2, 1000, 80, 17), 0, 12),
            Found::Hit(NexthopId(0))
        );
        assert_eq!(t.flows(12).count(), WAYS);
    }

    #[test]
    fn flows_differing_only_in_ports_spread_over_buckets() {
        // The connections of one client to one server: only the source port
        // differs. They must not all land in one bucket.
        let t = FlowTable::new(1024, Timeouts::default());
        for p in 0..200u16 {
            t.insert(&ep(1, 2, 40000 + p, 80, 6), 0x02, NexthopId(p as u32), 0);
        }
        assert_eq!(t.counters.evictions.load(Relaxed), 0);
        assert_eq!(t.flows(1).count(), 200);
    }

    #[test]
    fn reinsert_replaces_the_choice() {
        let t = FlowTable::new(64, Timeouts::default());
        let f = ep(5, 6, 1, 2, 17);
        t.insert(&f, 0, NexthopId(1), 0);
        t.insert(&f, 0, NexthopId(2), 1);
        assert_eq!(t.lookup(&f, 0, 2), Found::Hit(NexthopId(2)));
        assert_eq!(t.flows(2).count(), 1);
    }
}
