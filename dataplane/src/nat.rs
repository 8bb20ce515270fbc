//! Source NAT per uplink (NAPT, RFC 3022), IPv4.
//!
//! A flow leaving through a port with SNAT addresses gets one of them as its
//! source, and a source port (or ICMP echo identifier) of its own. The
//! binding is made once, on the flow's first packet, and it fixes the flow's
//! nexthop too: later packets leave through the same uplink whatever the
//! routes and weights do, until the flow expires or its uplink goes down.
//!
//! # Table layout (one per worker, owned by it)
//! - `entries`: a slab of bindings, with a free list.
//! - Outbound index: open addressing on the original 5-tuple, linear
//!   probing, backward-shift deletion (no tombstones).
//! - Inbound index: direct, `[address][protocol][port] -> entry`. A port is
//!   used by at most one flow per address and protocol, whatever the remote
//!   end, so each SNAT address carries 64,512 TCP and 64,512 UDP flows to any
//!   one destination (ports 1024 to 65535) and 56,320 ICMP echo flows
//!   (identifiers 1024 to 0xdfff; the control plane's uplink probes use
//!   0xe000 and up, so their replies are never taken for a translated flow).
//!
//! # Several workers
//! A reply carries the translated port, not the inside one, so RSS (even
//! with a symmetric key) may hand it to a worker other than the one holding
//! the binding. The port space is therefore split between the workers in
//! blocks of 64 ports (one bitmap word), dealt round-robin ([`owner`]): a
//! worker allocates only from its own blocks (see [`NatTable::shared`]), and
//! a worker that receives a packet for another worker's port hands it over
//! ([`steer`] says which). With one worker it owns every block.
//!
//! Inbound packets must come from the flow's remote address and port
//! (address- and port-dependent filtering, RFC 4787 REQ-8's strictest form);
//! anything else is not translated and meets the router's own rules for its
//! destination.
//!
//! # Ports
//! The inside source port is kept when it is 1024 or above and free
//! (RFC 4787 REQ-3 asks for port preservation where possible); otherwise the
//! next free port after a per-address cursor is taken, found in a bitmap a
//! word (64 ports) at a time. A flow that finds none on any of the uplink's
//! addresses is dropped and counted (`snat_exhausted`).
//!
//! # Checksums
//! Every change is applied to the IPv4 header checksum, the TCP/UDP checksum
//! (pseudo-header included) and the ICMP checksum incrementally (RFC 1624
//! eqn. 3); a UDP checksum of 0 (none) stays 0. Tests check each result
//! against a full recomputation.
//!
//! Nothing here allocates after [`NatTable::new`], locks, or panics on any
//! input.

use crate::flowtable::Timeouts;
use crate::stats::bump;
use crate::types::{NexthopId, PortId};
use crate::wire::{ipv4, proto, tcp, udp};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Lowest translated port or identifier.
pub const PORT_MIN: u16 = 1024;
/// Highest translated ICMP echo identifier (the probes use the range above).
pub const ICMP_ID_MAX: u16 = 0xdfff;

const EMPTY: u32 = u32::MAX;
const PROTOS: usize = 3;

/// What happens to a translated flow whose uplink went down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnDown {
    /// A new binding through a live uplink, made by the packet that found
    /// the old one dead (the connection breaks: the remote end sees a new
    /// source; counted as a repick).
    #[default]
    Repick,
    /// The binding is removed and the packet dropped (`flow_flushed`); the
    /// flow's next packet starts a new one.
    Flush,
}

/// SNAT configuration of one port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnatPort {
    /// Indexes into [`Snat::addrs`] of this port's addresses (empty: no SNAT).
    pub addrs: Box<[u16]>,
    /// The uplink's gateway: where packets already carrying one of these
    /// addresses as their source leave.
    pub gateway: Option<NexthopId>,
}

/// SNAT configuration of the whole router, part of each FIB generation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snat {
    /// Every SNAT address and the port it belongs to. The index of an
    /// address here is its index in every worker's [`NatTable`], so this
    /// list is fixed for the life of the process.
    pub addrs: Box<[(Ipv4Addr, PortId)]>,
    /// Per port, indexed by [`PortId`].
    pub ports: Box<[SnatPort]>,
    /// Flows whose uplink went down.
    pub on_down: OnDown,
}

impl Snat {
    /// True when no port translates.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
    /// The index of `a` if it is an SNAT address.
    #[inline]
    pub fn addr_index(&self, a: u32) -> Option<usize> {
        self.addrs.iter().position(|(x, _)| u32::from(*x) == a)
    }
    /// This port's SNAT configuration, if it translates.
    #[inline]
    pub fn port(&self, p: PortId) -> Option<&SnatPort> {
        self.ports.get(p.index()).filter(|s| !s.addrs.is_empty())
    }
}

/// The worker that owns translated port (or echo identifier) `port` when
/// `workers` workers share the port space: blocks of 64, dealt round-robin.
#[inline]
pub fn owner(port: u16, workers: u16) -> u16 {
    (port >> 6) % workers.max(1)
}

/// For a frame from outside (Ethernet header first): when it is addressed
/// to an SNAT address and refers to a port that translation hands out, the
/// worker of `workers` that owns that port ([`owner`]). The port is the
/// destination port of TCP and UDP, the identifier of an echo reply, and
/// the embedded packet's source port or identifier in an ICMP error (the
/// embedded packet is one the router translated). `None` for anything
/// else; whoever received it handles it.
pub fn steer(frame: &[u8], snat: &Snat, workers: u16) -> Option<u16> {
    // One 802.1Q tag is looked past: an uplink may be a VLAN sub-interface,
    // and steering comes before the trunk's tags are taken off.
    let eth = match frame.get(12..14) {
        Some([0x81, 0x00]) => 18,
        _ => 14,
    };
    if workers < 2 || frame.len() < eth + 20 || be16(frame, eth - 2) != 0x0800 {
        return None;
    }
    let ip = &frame[eth..];
    let hl = ipv4::header_len_of(ip);
    if ip[0] >> 4 != 4 || hl < 20 || be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    snat.addr_index(be32(ip, 16))?;
    let l4 = ip.get(hl..)?;
    let (port, max) = match ip[9] {
        proto::TCP | proto::UDP if l4.len() >= 4 => (be16(l4, 2), u16::MAX),
        proto::ICMP if l4.len() >= 8 && l4[0] == 0 => (be16(l4, 4), ICMP_ID_MAX),
        proto::ICMP if l4.len() >= 8 + 20 && matches!(l4[0], 3 | 11 | 12) => {
            let emb = &l4[8..];
            let ehl = ipv4::header_len_of(emb);
            let el4 = emb.get(ehl..).filter(|_| ehl >= 20)?;
            match emb[9] {
                proto::TCP | proto::UDP if el4.len() >= 2 => (be16(el4, 0), u16::MAX),
                proto::ICMP if el4.len() >= 6 && el4[0] == 8 => (be16(el4, 4), ICMP_ID_MAX),
                _ => return None,
            }
        }
        _ => return None,
    };
    (PORT_MIN..=max)
        .contains(&port)
        .then(|| owner(port, workers))
}

/// Counters of one worker's table, read by the control thread. The worker
/// is their only writer, so they are bumped with a load and a store, not a
/// locked read-modify-write ([`bump`]).
#[derive(Debug, Default)]
pub struct NatCounters {
    /// Bindings in use.
    pub entries: AtomicU64,
    /// Bindings made.
    pub created: AtomicU64,
    /// Bindings removed after their idle timeout.
    pub expired: AtomicU64,
    /// Bindings whose uplink went down and that were made again elsewhere.
    pub repicks: AtomicU64,
    /// Bindings whose uplink went down and that were removed (`on-down: flush`).
    pub flushed: AtomicU64,
    /// Packets translated on the way out.
    pub out_packets: AtomicU64,
    /// Packets translated on the way in (ICMP errors included).
    pub in_packets: AtomicU64,
    /// ICMP errors about translated flows, translated (embedded header too).
    pub in_icmp_errors: AtomicU64,
    /// ICMP errors from inside about packets that came in translated,
    /// translated on their way out (embedded header too).
    pub out_icmp_errors: AtomicU64,
    /// Packets this worker received for another worker's port and handed
    /// to it (several workers only).
    pub steered: AtomicU64,
    /// ICMP errors from inside about a flow this worker holds no binding
    /// for, handed to the next worker (several workers only).
    pub handed_on: AtomicU64,
}

/// A binding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    used: bool,
    proto: u8,
    /// TCP: bit 0 SYN seen, 1 established, 2 FIN out, 3 FIN in, 4 RST.
    tcp: u8,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
    xaddr: u16,
    xport: u16,
    nh: NexthopId,
    out: PortId,
    last_ms: u32,
}

/// The 5-tuple of an outbound packet, as NAT sees it (ICMP echo: the
/// identifier is `sport`, `dport` is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatKey {
    /// Protocol (TCP, UDP or ICMP).
    pub proto: u8,
    /// Inside source.
    pub src: u32,
    /// Remote destination.
    pub dst: u32,
    /// Source port or echo identifier.
    pub sport: u16,
    /// Destination port (0 for ICMP).
    pub dport: u16,
}

/// A binding as [`NatTable::lookup_out`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Slab index (for [`NatTable::remove`] and [`NatTable::translate_out`]).
    pub id: u32,
    /// The nexthop the flow is bound to.
    pub nh: NexthopId,
    /// Its port.
    pub out: PortId,
}

/// Why a packet cannot be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Untranslatable {
    /// Not TCP, UDP or ICMP echo, a fragment, or truncated.
    Unsupported,
    /// No free port on the uplink's addresses.
    Exhausted,
}

fn proto_slot(p: u8) -> Option<usize> {
    match p {
        proto::TCP => Some(0),
        proto::UDP => Some(1),
        proto::ICMP => Some(2),
        _ => None,
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
#[inline]
fn set16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A running RFC 1624 adjustment: the sum of `~old + new` over changed words.
#[derive(Clone, Copy, Default)]
struct Delta(u32);

impl Delta {
    #[inline]
    fn word(&mut self, old: u16, new: u16) {
        self.0 += (!old as u32 & 0xffff) + new as u32;
        self.0 = (self.0 & 0xffff) + (self.0 >> 16);
    }
    #[inline]
    fn addr(&mut self, old: u32, new: u32) {
        self.word((old >> 16) as u16, (new >> 16) as u16);
        self.word(old as u16, new as u16);
    }
    /// The checksum `check` after the changes (eqn. 3: ~(~HC + sum)).
    #[inline]
    fn apply(self, check: u16) -> u16 {
        let mut acc = (!check as u32 & 0xffff) + self.0;
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }
    /// Applies the change to the checksum at `at` in `b`.
    #[inline]
    fn apply_at(self, b: &mut [u8], at: usize) {
        let c = self.apply(be16(b, at));
        set16(b, at, c);
    }
    /// For UDP: 0 means "no checksum" and stays 0; a computed 0 is sent as 0xffff.
    #[inline]
    fn apply_udp_at(self, b: &mut [u8], at: usize) {
        let old = be16(b, at);
        if old != 0 {
            let c = self.apply(old);
            set16(b, at, if c == 0 { 0xffff } else { c });
        }
    }
}

/// Offset of the transport checksum for `p`, if the protocol has one we update.
fn l4_check_at(p: u8) -> Option<usize> {
    match p {
        proto::TCP => Some(tcp::field::CHECKSUM.start),
        proto::UDP => Some(udp::field::CHECKSUM.start),
        proto::ICMP => Some(2),
        _ => None,
    }
}

/// Rewrites the packet an ICMP error quotes. `icmp` is the ICMP message,
/// with the quoted IPv4 header at 8 (header length `ehl`, transport `proto`).
/// One side of the quoted flow changes: its address from `old` to `new`
/// (the source when `source`, else the destination) and its port, or the
/// echo identifier, to `port`. The quoted IPv4 checksum, the quoted
/// transport checksum (when the quote holds it) and the ICMP checksum follow.
fn rewrite_quote(
    icmp: &mut [u8],
    ehl: usize,
    proto: u8,
    source: bool,
    old: u32,
    new: u32,
    port: u16,
) {
    // Everything here changes the ICMP message, so its checksum too.
    let mut icd = Delta::default();
    let emb = &mut icmp[8..];
    let at_addr = if source { 12 } else { 16 };
    let mut ed = Delta::default();
    ed.addr(old, new);
    icd.addr(old, new);
    emb[at_addr..at_addr + 4].copy_from_slice(&new.to_be_bytes());
    let old_ec = be16(emb, 10);
    ed.apply_at(emb, 10);
    icd.word(old_ec, be16(emb, 10));
    let el4 = &mut emb[ehl..];
    let (at_port, at_check) = match proto {
        proto::TCP | proto::UDP => (if source { 0 } else { 2 }, l4_check_at(proto).unwrap_or(0)),
        _ => (4, 2),
    };
    let old_port = be16(el4, at_port);
    let mut ld = Delta::default();
    if proto != proto::ICMP {
        ld.addr(old, new); // the pseudo-header
    }
    ld.word(old_port, port);
    icd.word(old_port, port);
    set16(el4, at_port, port);
    if el4.len() >= at_check + 2 {
        let before = be16(el4, at_check);
        if proto == proto::UDP {
            ld.apply_udp_at(el4, at_check);
        } else {
            ld.apply_at(el4, at_check);
        }
        icd.word(before, be16(el4, at_check));
    }
    icd.apply_at(icmp, 2);
}

/// The NAT key of an outbound IPv4 packet `ip` (header first), and the
/// TCP flags (0 otherwise).
pub fn key_out(ip: &[u8]) -> Result<(NatKey, u8), Untranslatable> {
    let u = Untranslatable::Unsupported;
    if ip.len() < 20 || ip[0] >> 4 != 4 {
        return Err(u);
    }
    let hl = ipv4::header_len_of(ip);
    if be16(ip, 6) & 0x3fff != 0 {
        return Err(u); // a fragment: only the first has ports, and no reassembly
    }
    let l4 = ip.get(hl..).ok_or(u)?;
    let (src, dst, p) = (be32(ip, 12), be32(ip, 16), ip[9]);
    let (sport, dport, flags) = match p {
        proto::TCP if l4.len() >= tcp::HEADER_LEN => (be16(l4, 0), be16(l4, 2), tcp::flags_of(l4)),
        proto::UDP if l4.len() >= 8 => (be16(l4, 0), be16(l4, 2), 0),
        // Echo request: the identifier is the "port".
        proto::ICMP if l4.len() >= 8 && l4[0] == 8 => (be16(l4, 4), 0, 0),
        _ => return Err(u),
    };
    Ok((
        NatKey {
            proto: p,
            src,
            dst,
            sport,
            dport,
        },
        flags,
    ))
}

/// For an ICMP error an inside host sends out (Destination Unreachable,
/// Time Exceeded, Parameter Problem) about a packet that came in translated:
/// the NAT key of the flow it is about. The embedded packet went from the
/// remote end to the inside host, so the key is its reverse. `None` for
/// anything else, or when the embedded header is cut short.
pub fn error_key_out(ip: &[u8]) -> Option<NatKey> {
    if ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != proto::ICMP || be16(ip, 6) & 0x3fff != 0 {
        return None;
    }
    let hl = ipv4::header_len_of(ip);
    let icmp = ip.get(hl..).filter(|_| hl >= 20)?;
    if icmp.len() < 8 + 20 || !matches!(icmp[0], 3 | 11 | 12) {
        return None;
    }
    let emb = &icmp[8..];
    let ehl = ipv4::header_len_of(emb);
    if emb[0] >> 4 != 4 || ehl < 20 || emb.len() < ehl + 8 {
        return None;
    }
    let (remote, inside, ep) = (be32(emb, 12), be32(emb, 16), emb[9]);
    let el4 = &emb[ehl..];
    let (sport, dport) = match ep {
        proto::TCP | proto::UDP => (be16(el4, 2), be16(el4, 0)),
        // An echo reply the router delivered inside: its identifier.
        proto::ICMP if el4[0] == 0 => (be16(el4, 4), 0),
        _ => return None,
    };
    Some(NatKey {
        proto: ep,
        src: inside,
        dst: remote,
        sport,
        dport,
    })
}

/// Every worker's NAT state (see the module docs).
#[derive(Debug)]
pub struct NatTable {
    entries: Box<[Entry]>,
    free: Vec<u32>,
    out_idx: Box<[u32]>,
    out_mask: usize,
    in_slots: Box<[u32]>,
    /// Ports in use, one bit each, per address and protocol: a free port is
    /// found by scanning words, so a nearly full address still finds its
    /// last ports.
    used: Box<[u64]>,
    cursor: Box<[u16]>,
    /// This table's share of the port space: blocks whose [`owner`] is
    /// `share` out of `shares`.
    share: u16,
    shares: u16,
    hand: usize,
    timeouts: Timeouts,
    /// Counters, shared with the control thread.
    pub counters: Arc<NatCounters>,
}

impl NatTable {
    /// A table for `capacity` bindings over `addrs` SNAT addresses.
    pub fn new(capacity: usize, addrs: usize, timeouts: Timeouts) -> NatTable {
        let capacity = capacity.max(1);
        let idx = (capacity * 2).next_power_of_two();
        NatTable {
            entries: vec![Entry::default(); capacity].into(),
            free: (0..capacity as u32).rev().collect(),
            out_idx: vec![EMPTY; idx].into(),
            out_mask: idx - 1,
            in_slots: vec![EMPTY; addrs * PROTOS * 65536].into(),
            used: vec![0; addrs * PROTOS * 1024].into(),
            cursor: vec![PORT_MIN; addrs * PROTOS].into(),
            share: 0,
            shares: 1,
            hand: 0,
            timeouts,
            counters: Arc::default(),
        }
    }

    /// The table of worker `me` out of `of`: it hands out only the ports
    /// [`owner`] gives to `me`, so replies can be steered back to it.
    pub fn shared(mut self, me: u16, of: u16) -> NatTable {
        self.shares = of.max(1);
        self.share = me % self.shares;
        for c in self.cursor.iter_mut() {
            // Start in the first block this worker owns.
            *c = PORT_MIN + self.share * 64;
        }
        self
    }

    /// Bindings in use.
    pub fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }
    /// True when no binding is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn hash(k: &NatKey) -> usize {
        let a = ((k.src as u64) << 32 | k.dst as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let b = ((k.sport as u64) << 24 | (k.dport as u64) << 8 | k.proto as u64)
            .wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        let h = a ^ b.rotate_left(29);
        (h ^ (h >> 31)) as usize
    }

    fn matches(e: &Entry, k: &NatKey) -> bool {
        e.used
            && e.proto == k.proto
            && e.src == k.src
            && e.dst == k.dst
            && e.sport == k.sport
            && e.dport == k.dport
    }

    fn find_out(&self, k: &NatKey) -> Option<(usize, u32)> {
        let mut i = Self::hash(k) & self.out_mask;
        loop {
            let id = self.out_idx[i];
            if id == EMPTY {
                return None;
            }
            if Self::matches(&self.entries[id as usize], k) {
                return Some((i, id));
            }
            i = (i + 1) & self.out_mask;
        }
    }

    fn timeout(&self, e: &Entry) -> u32 {
        let t = &self.timeouts;
        match e.proto {
            proto::TCP if e.tcp & 16 != 0 || e.tcp & 12 == 12 => t.tcp_closing_ms,
            proto::TCP if e.tcp & 2 != 0 => t.tcp_established_ms,
            proto::TCP => t.tcp_transitory_ms,
            proto::UDP => t.udp_ms,
            _ => t.icmp_ms,
        }
    }

    fn expired(&self, e: &Entry, now_ms: u32) -> bool {
        now_ms.wrapping_sub(e.last_ms) > self.timeout(e)
    }

    fn track(e: &mut Entry, flags: u8, inbound: bool, now_ms: u32) {
        e.last_ms = now_ms;
        if e.proto != proto::TCP {
            return;
        }
        const SYN: u8 = 0x02;
        const RST: u8 = 0x04;
        const FIN: u8 = 0x01;
        const ACK: u8 = 0x10;
        if flags & RST != 0 {
            e.tcp |= 16;
        }
        if flags & FIN != 0 {
            e.tcp |= if inbound { 8 } else { 4 };
        }
        if flags & SYN != 0 {
            e.tcp |= 1;
        } else if flags & ACK != 0 && e.tcp & 1 != 0 {
            e.tcp |= 2;
        }
    }

    /// The live binding of an outbound packet, refreshed; `None` when there is
    /// none or it expired (an expired one is removed).
    #[inline]
    pub fn lookup_out(&mut self, k: &NatKey, tcp_flags: u8, now_ms: u32) -> Option<Binding> {
        let (_, id) = self.find_out(k)?;
        let e = self.entries[id as usize];
        if self.expired(&e, now_ms) {
            self.remove(id);
            bump(&self.counters.expired, 1);
            return None;
        }
        Self::track(&mut self.entries[id as usize], tcp_flags, false, now_ms);
        Some(Binding {
            id,
            nh: e.nh,
            out: e.out,
        })
    }

    fn slot(&self, xaddr: usize, p: usize, port: u16) -> usize {
        (xaddr * PROTOS + p) * 65536 + port as usize
    }

    /// Makes a binding for `k` through nexthop `nh` on port `out`, with one
    /// of `addrs` (indexes into [`Snat::addrs`]); the address is chosen by
    /// the inside source, so one host keeps one address (RFC 4787 REQ-2).
    pub fn create(
        &mut self,
        k: &NatKey,
        tcp_flags: u8,
        addrs: &[u16],
        nh: NexthopId,
        out: PortId,
        now_ms: u32,
    ) -> Result<Binding, Untranslatable> {
        let p = proto_slot(k.proto).ok_or(Untranslatable::Unsupported)?;
        if addrs.is_empty() {
            return Err(Untranslatable::Unsupported);
        }
        if self.free.is_empty() {
            // Full: reclaim expired bindings before giving up.
            self.sweep(now_ms, self.entries.len());
        }
        let Some(&id) = self.free.last() else {
            return Err(Untranslatable::Exhausted);
        };
        let max = if k.proto == proto::ICMP {
            ICMP_ID_MAX
        } else {
            u16::MAX
        };
        let first = (k.src.wrapping_mul(0x9e37_79b9) >> 16) as usize % addrs.len();
        for a in 0..addrs.len() {
            let xa = addrs[(first + a) % addrs.len()] as usize;
            if self.cursor.get(xa * PROTOS + p).is_none() {
                continue; // an address this table was not built for
            }
            let base = (xa * PROTOS + p) * 1024;
            let free_bit =
                |used: &[u64], port: u16| used[base + port as usize / 64] >> (port % 64) & 1 == 0;
            let mine = |port: u16| owner(port, self.shares) == self.share;
            let port = if (PORT_MIN..=max).contains(&k.sport)
                && mine(k.sport)
                && free_bit(&self.used, k.sport)
            {
                Some(k.sport)
            } else {
                // From the cursor's word on, the first word with a free bit in
                // range, wrapping once.
                let start = self.cursor[xa * PROTOS + p].clamp(PORT_MIN, max);
                let (lo_w, hi_w) = (PORT_MIN as usize / 64, max as usize / 64);
                let words = hi_w - lo_w + 1;
                let mut found = None;
                for i in 0..=words {
                    let w = lo_w + (start as usize / 64 - lo_w + i) % words;
                    if !mine((w * 64) as u16) {
                        continue; // another worker's block
                    }
                    let mut bits = self.used[base + w];
                    if i == 0 {
                        // The first word only from the cursor on (its start is
                        // looked at again at the end of the wrap).
                        bits |= (1u64 << (start % 64)) - 1;
                    }
                    if bits != u64::MAX {
                        let cand = (w * 64 + (!bits).trailing_zeros() as usize) as u16;
                        if (PORT_MIN..=max).contains(&cand) {
                            found = Some(cand);
                            break;
                        }
                        // Free bits only outside the range (the edges): look on.
                        let mut b = !bits;
                        while b != 0 {
                            let c = (w * 64 + b.trailing_zeros() as usize) as u16;
                            if (PORT_MIN..=max).contains(&c) {
                                found = Some(c);
                                break;
                            }
                            b &= b - 1;
                        }
                        if found.is_some() {
                            break;
                        }
                    }
                }
                if let Some(c) = found {
                    self.cursor[xa * PROTOS + p] = if c >= max { PORT_MIN } else { c + 1 };
                }
                found
            };
            let Some(xport) = port else { continue };
            self.free.pop();
            let mut e = Entry {
                used: true,
                proto: k.proto,
                tcp: 0,
                src: k.src,
                dst: k.dst,
                sport: k.sport,
                dport: k.dport,
                xaddr: xa as u16,
                xport,
                nh,
                out,
                last_ms: now_ms,
            };
            Self::track(&mut e, tcp_flags, false, now_ms);
            self.entries[id as usize] = e;
            let s = self.slot(xa, p, xport);
            self.in_slots[s] = id;
            self.used[base + xport as usize / 64] |= 1 << (xport % 64);
            let mut i = Self::hash(k) & self.out_mask;
            while self.out_idx[i] != EMPTY {
                i = (i + 1) & self.out_mask;
            }
            self.out_idx[i] = id;
            bump(&self.counters.created, 1);
            self.counters.entries.store(self.len() as u64, Relaxed);
            return Ok(Binding { id, nh, out });
        }
        Err(Untranslatable::Exhausted)
    }

    /// Removes binding `id`.
    pub fn remove(&mut self, id: u32) {
        let Some(e) = self.entries.get(id as usize).copied() else {
            return;
        };
        if !e.used {
            return;
        }
        let k = NatKey {
            proto: e.proto,
            src: e.src,
            dst: e.dst,
            sport: e.sport,
            dport: e.dport,
        };
        if let Some((mut i, _)) = self.find_out(&k) {
            // Backward-shift deletion: pull later members of the probe run
            // into the hole when their home slot allows it.
            self.out_idx[i] = EMPTY;
            let mut j = i;
            loop {
                j = (j + 1) & self.out_mask;
                let id2 = self.out_idx[j];
                if id2 == EMPTY {
                    break;
                }
                let e2 = &self.entries[id2 as usize];
                let home = Self::hash(&NatKey {
                    proto: e2.proto,
                    src: e2.src,
                    dst: e2.dst,
                    sport: e2.sport,
                    dport: e2.dport,
                }) & self.out_mask;
                // Move when home is not cyclically within (i, j].
                let within = if i <= j {
                    i < home && home <= j
                } else {
                    i < home || home <= j
                };
                if !within {
                    self.out_idx[i] = id2;
                    self.out_idx[j] = EMPTY;
                    i = j;
                }
            }
        }
        if let Some(p) = proto_slot(e.proto) {
            let s = self.slot(e.xaddr as usize, p, e.xport);
            if self.in_slots.get(s) == Some(&id) {
                self.in_slots[s] = EMPTY;
                let w = (e.xaddr as usize * PROTOS + p) * 1024 + e.xport as usize / 64;
                self.used[w] &= !(1 << (e.xport % 64));
            }
        }
        self.entries[id as usize].used = false;
        self.free.push(id);
        self.counters.entries.store(self.len() as u64, Relaxed);
    }

    /// Checks up to `budget` bindings from a clock hand and removes the
    /// expired ones. The worker calls it once a millisecond, 64 bindings per millisecond.
    pub fn sweep(&mut self, now_ms: u32, budget: usize) {
        let n = self.entries.len();
        for _ in 0..budget.min(n) {
            // The hand wraps by a compare, not `%`: a division per binding
            // was 9 % of an SNAT worker's time (perf, issue 15).
            self.hand += 1;
            if self.hand >= n {
                self.hand = 0;
            }
            let e = &self.entries[self.hand];
            if e.used && self.expired(e, now_ms) {
                self.remove(self.hand as u32);
                bump(&self.counters.expired, 1);
            }
        }
    }

    /// Rewrites an outbound packet `ip` (IPv4 header first) by binding `id`:
    /// the source address and port (or echo identifier), with its checksums.
    pub fn translate_out(&self, ip: &mut [u8], id: u32, snat: &Snat) -> bool {
        let Some(e) = self.entries.get(id as usize).filter(|e| e.used) else {
            return false;
        };
        let Some(&(xaddr, _)) = snat.addrs.get(e.xaddr as usize) else {
            return false;
        };
        let hl = ipv4::header_len_of(ip);
        let need = match e.proto {
            proto::TCP => 20,
            _ => 8,
        };
        if ip.len() < 20 || hl < 20 || ip.len() < hl + need {
            return false;
        }
        let (old_src, new_src) = (be32(ip, 12), u32::from(xaddr));
        let mut ipd = Delta::default();
        ipd.addr(old_src, new_src);
        let (l4h, l4) = ip.split_at_mut(hl);
        l4h[12..16].copy_from_slice(&new_src.to_be_bytes());
        ipd.apply_at(l4h, 10);
        let mut d = Delta::default();
        match e.proto {
            proto::TCP | proto::UDP => {
                d.addr(old_src, new_src);
                d.word(be16(l4, 0), e.xport);
                set16(l4, 0, e.xport);
            }
            _ => {
                d.word(be16(l4, 4), e.xport);
                set16(l4, 4, e.xport);
            }
        }
        match e.proto {
            proto::UDP => d.apply_udp_at(l4, udp::field::CHECKSUM.start),
            p => {
                if let Some(at) = l4_check_at(p) {
                    d.apply_at(l4, at)
                }
            }
        }
        bump(&self.counters.out_packets, 1);
        true
    }

    /// The live binding of `k` without refreshing it (an ICMP error about a
    /// flow does not keep the flow alive).
    pub fn find(&self, k: &NatKey, now_ms: u32) -> Option<Binding> {
        let (_, id) = self.find_out(k)?;
        let e = &self.entries[id as usize];
        (!self.expired(e, now_ms)).then_some(Binding {
            id,
            nh: e.nh,
            out: e.out,
        })
    }

    /// Rewrites an outbound ICMP error `ip` ([`error_key_out`]) about a
    /// packet of binding `id` that came in translated: the outer source
    /// becomes the SNAT address (whoever inside sent it), and the embedded
    /// packet's destination and port go back to the SNAT address and port
    /// the remote end knows, with every checksum (RFC 5508 REQ-3).
    pub fn translate_error_out(&self, ip: &mut [u8], id: u32, snat: &Snat) -> bool {
        let Some(e) = self.entries.get(id as usize).filter(|e| e.used) else {
            return false;
        };
        let Some(&(xaddr, _)) = snat.addrs.get(e.xaddr as usize) else {
            return false;
        };
        let x = u32::from(xaddr);
        let hl = ipv4::header_len_of(ip);
        if ip.len() < hl + 8 + 20 {
            return false;
        }
        let (hdr, icmp) = ip.split_at_mut(hl);
        let ehl = ipv4::header_len_of(&icmp[8..]);
        if icmp.len() < 8 + ehl + 8 || be32(icmp, 8 + 16) != e.src {
            return false;
        }
        // Outer header: the source.
        let mut od = Delta::default();
        od.addr(be32(hdr, 12), x);
        hdr[12..16].copy_from_slice(&x.to_be_bytes());
        od.apply_at(hdr, 10);
        rewrite_quote(icmp, ehl, e.proto, false, e.src, x, e.xport);
        bump(&self.counters.out_packets, 1);
        bump(&self.counters.out_icmp_errors, 1);
        true
    }

    /// Translates an inbound packet `ip` (IPv4 header first) addressed to an
    /// SNAT address: a reply of a bound flow, or an ICMP error about one.
    /// Returns the inside address it now goes to, or `None` (nothing
    /// changed) when it belongs to no binding.
    pub fn translate_in(&mut self, ip: &mut [u8], snat: &Snat, now_ms: u32) -> Option<Ipv4Addr> {
        if ip.len() < 20 || be16(ip, 6) & 0x3fff != 0 {
            return None;
        }
        let hl = ipv4::header_len_of(ip);
        if hl < 20 || ip.len() < hl {
            return None;
        }
        let (src, dst, p) = (be32(ip, 12), be32(ip, 16), ip[9]);
        let xa = snat.addr_index(dst)?;
        let (hdr, l4) = ip.split_at_mut(hl);
        let ps = proto_slot(p)?;
        let (port, remote_port, flags) = match p {
            proto::TCP if l4.len() >= 20 => (be16(l4, 2), be16(l4, 0), l4[13]),
            proto::UDP if l4.len() >= 8 => (be16(l4, 2), be16(l4, 0), 0),
            proto::ICMP if l4.len() >= 8 && l4[0] == 0 => (be16(l4, 4), 0, 0),
            proto::ICMP if l4.len() >= 8 + 20 && matches!(l4[0], 3 | 11 | 12) => {
                return self.translate_icmp_error(hdr, l4, xa, now_ms);
            }
            _ => return None,
        };
        let id = *self.in_slots.get(self.slot(xa, ps, port))?;
        let e = *self.entries.get(id as usize)?;
        if !e.used || e.dst != src || e.dport != remote_port || e.xaddr as usize != xa {
            return None;
        }
        if self.expired(&e, now_ms) {
            self.remove(id);
            bump(&self.counters.expired, 1);
            return None;
        }
        Self::track(&mut self.entries[id as usize], flags, true, now_ms);
        let mut ipd = Delta::default();
        ipd.addr(dst, e.src);
        hdr[16..20].copy_from_slice(&e.src.to_be_bytes());
        ipd.apply_at(hdr, 10);
        let mut d = Delta::default();
        match p {
            proto::TCP | proto::UDP => {
                d.addr(dst, e.src);
                d.word(port, e.sport);
                set16(l4, 2, e.sport);
                if p == proto::UDP {
                    d.apply_udp_at(l4, udp::field::CHECKSUM.start);
                } else {
                    d.apply_at(l4, 16);
                }
            }
            _ => {
                d.word(port, e.sport);
                set16(l4, 4, e.sport);
                d.apply_at(l4, 2);
            }
        }
        bump(&self.counters.in_packets, 1);
        Some(Ipv4Addr::from(e.src))
    }

    /// An ICMP error (`icmp`, after the outer header `hdr`) about a
    /// translated flow: its embedded packet is one the router sent, from
    /// the SNAT address. The outer destination, the embedded source and
    /// source port go back to the inside host's, with every checksum.
    fn translate_icmp_error(
        &mut self,
        hdr: &mut [u8],
        icmp: &mut [u8],
        xa: usize,
        now_ms: u32,
    ) -> Option<Ipv4Addr> {
        let emb = &icmp[8..];
        if emb[0] >> 4 != 4 {
            return None;
        }
        let ehl = ipv4::header_len_of(emb);
        if ehl < 20 || emb.len() < ehl + 8 {
            return None;
        }
        let (esrc, edst, ep) = (be32(emb, 12), be32(emb, 16), emb[9]);
        let ps = proto_slot(ep)?;
        let el4 = &emb[ehl..];
        let (port, remote_port) = match ep {
            proto::TCP | proto::UDP => (be16(el4, 0), be16(el4, 2)),
            // The embedded packet is our echo request: its identifier.
            proto::ICMP if el4[0] == 8 => (be16(el4, 4), 0),
            _ => return None,
        };
        // The embedded packet left from the address the error came back to.
        if esrc != be32(hdr, 16) {
            return None;
        }
        let id = *self.in_slots.get(self.slot(xa, ps, port))?;
        let e = *self.entries.get(id as usize)?;
        if !e.used || e.dst != edst || e.dport != remote_port || self.expired(&e, now_ms) {
            return None;
        }
        let outer_dst = be32(hdr, 16);
        // Outer IPv4 header: destination.
        let mut od = Delta::default();
        od.addr(outer_dst, e.src);
        hdr[16..20].copy_from_slice(&e.src.to_be_bytes());
        od.apply_at(hdr, 10);
        rewrite_quote(icmp, ehl, ep, true, esrc, e.src, e.sport);
        bump(&self.counters.in_packets, 1);
        bump(&self.counters.in_icmp_errors, 1);
        Some(Ipv4Addr::from(e.src))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::checksum;
    use crate::frames;
    use crate::types::MacAddr;
    use proptest::prelude::*;

    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const INSIDE: [u8; 4] = [10, 0, 0, 2];
    const REMOTE: [u8; 4] = [198, 18, 0, 10];
    const X1: [u8; 4] = [100, 64, 1, 2];
    const X2: [u8; 4] = [100, 64, 2, 2];

    fn snat() -> Snat {
        two_uplinks(X1.into(), X2.into(), OnDown::Repick)
    }

    /// Two SNAT uplinks, on ports 1 and 2 with gateways nexthop 0 and 1, one
    /// address each (a fixture for this module's and `forward`'s tests).
    pub(crate) fn two_uplinks(a1: Ipv4Addr, a2: Ipv4Addr, on_down: OnDown) -> Snat {
        Snat {
            addrs: vec![(a1, PortId(1)), (a2, PortId(2))].into(),
            ports: vec![
                SnatPort::default(),
                SnatPort {
                    addrs: vec![0].into(),
                    gateway: Some(NexthopId(0)),
                },
                SnatPort {
                    addrs: vec![1].into(),
                    gateway: Some(NexthopId(1)),
                },
            ]
            .into(),
            on_down,
        }
    }

    fn table(cap: usize) -> NatTable {
        NatTable::new(cap, 2, Timeouts::default())
    }

    /// Fills every checksum of an IPv4 packet from scratch (RFC 1071).
    fn fill(ip: &mut [u8]) {
        let hl = ipv4::header_len_of(ip);
        ip[10..12].fill(0);
        let c = checksum::checksum(&ip[..hl]);
        set16(ip, 10, c);
        let (p, src, dst) = (ip[9], be32(ip, 12), be32(ip, 16));
        let l4 = &mut ip[hl..];
        match p {
            proto::TCP | proto::UDP => {
                let at = l4_check_at(p).unwrap();
                l4[at..at + 2].fill(0);
                let mut acc = checksum::sum(0, &src.to_be_bytes());
                acc = checksum::sum(acc, &dst.to_be_bytes());
                acc = checksum::sum(acc, &[0, p]);
                acc = checksum::sum(acc, &(l4.len() as u16).to_be_bytes());
                acc = checksum::sum(acc, l4);
                let c = checksum::finish(acc);
                set16(l4, at, if c == 0 && p == proto::UDP { 0xffff } else { c });
            }
            proto::ICMP => {
                l4[2..4].fill(0);
                let c = checksum::checksum(l4);
                set16(l4, 2, c);
            }
            _ => {}
        }
    }

    /// True when every checksum of `ip` equals a full recomputation.
    fn checksums_ok(ip: &[u8]) -> bool {
        let mut copy = ip.to_vec();
        fill(&mut copy);
        copy == ip
    }

    fn packet(
        p: u8,
        src: [u8; 4],
        dst: [u8; 4],
        sport: u16,
        dport: u16,
        payload: &[u8],
    ) -> Vec<u8> {
        let l4 = match p {
            proto::TCP => {
                let mut t = frames::tcp_syn(sport, dport).to_vec();
                t.extend_from_slice(payload);
                t
            }
            proto::UDP => frames::udp(sport, dport, payload),
            _ => frames::icmp_echo(sport, 7, payload),
        };
        let mut f = frames::ipv4(M, M, src.into(), dst.into(), p, 64, &l4);
        let mut ip = f.split_off(14);
        fill(&mut ip);
        ip
    }

    fn out_and_back(
        t: &mut NatTable,
        s: &Snat,
        p: u8,
        sport: u16,
        payload: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        let mut ip = packet(p, INSIDE, REMOTE, sport, 80, payload);
        let (k, flags) = key_out(&ip).unwrap();
        let b = match t.lookup_out(&k, flags, 0) {
            Some(b) => b,
            None => t
                .create(&k, flags, &s.ports[1].addrs, NexthopId(0), PortId(1), 0)
                .unwrap(),
        };
        assert!(t.translate_out(&mut ip, b.id, s));
        let out = ip.clone();
        // The reply: swap addresses and ports (an echo reply for ICMP).
        let (xs, xp) = (
            be32(&out, 12),
            match p {
                proto::ICMP => be16(&out[20..], 4),
                _ => be16(&out[20..], 0),
            },
        );
        let mut reply = match p {
            proto::ICMP => {
                let mut r = packet(p, REMOTE, xs.to_be_bytes(), xp, 0, payload);
                r[20] = 0; // echo reply
                r
            }
            _ => packet(p, REMOTE, xs.to_be_bytes(), 80, xp, payload),
        };
        fill(&mut reply);
        let to = t.translate_in(&mut reply, s, 1).expect("reply translated");
        assert_eq!(to, Ipv4Addr::from(INSIDE));
        (out, reply)
    }

    #[test]
    fn tcp_udp_icmp_round_trip_with_exact_checksums() {
        let s = snat();
        let mut t = table(64);
        for (p, payload) in [
            (proto::TCP, &b"hello"[..]),
            (proto::UDP, &b"odd-length"[..]),
            (proto::UDP, &[0xff; 33][..]),
            (proto::ICMP, &b"ping"[..]),
        ] {
            let (out, back) = out_and_back(&mut t, &s, p, 40000, payload);
            assert_eq!(
                be32(&out, 12),
                u32::from_be_bytes(X1),
                "source is the SNAT address"
            );
            assert!(checksums_ok(&out), "outbound {p}: {out:02x?}");
            assert!(checksums_ok(&back), "inbound {p}: {back:02x?}");
            assert_eq!(be32(&back, 16), u32::from_be_bytes(INSIDE));
            let port = if p == proto::ICMP {
                be16(&back[20..], 4)
            } else {
                be16(&back[20..], 2)
            };
            assert_eq!(port, 40000, "the inside port comes back");
        }
    }

    #[test]
    fn udp_without_checksum_stays_without() {
        let s = snat();
        let mut t = table(8);
        let mut ip = packet(proto::UDP, INSIDE, REMOTE, 5000, 53, b"q");
        set16(&mut ip, 26, 0);
        let (k, f) = key_out(&ip).unwrap();
        let b = t
            .create(&k, f, &s.ports[1].addrs, NexthopId(0), PortId(1), 0)
            .unwrap();
        t.translate_out(&mut ip, b.id, &s);
        assert_eq!(be16(&ip, 26), 0);
    }

    #[test]
    fn icmp_errors_about_translated_flows_come_back_translated() {
        let s = snat();
        for p in [proto::UDP, proto::TCP, proto::ICMP] {
            let mut t = table(8);
            let mut ip = packet(p, INSIDE, REMOTE, 1000, 9, b"data");
            let (k, f) = key_out(&ip).unwrap();
            let b = t
                .create(&k, f, &s.ports[1].addrs, NexthopId(0), PortId(1), 0)
                .unwrap();
            t.translate_out(&mut ip, b.id, &s);
            // A router beyond sends Destination Unreachable / port unreachable,
            // quoting the translated packet (whole, as RFC 1812 allows).
            let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&ip);
            let mut err = frames::ipv4(
                M,
                M,
                [203, 0, 113, 1].into(),
                X1.into(),
                proto::ICMP,
                60,
                &icmp,
            )
            .split_off(14);
            fill(&mut err);
            assert_eq!(
                t.translate_in(&mut err, &s, 1),
                Some(INSIDE.into()),
                "proto {p}"
            );
            assert!(checksums_ok(&err), "outer checksums, proto {p}");
            let emb = &err[28..];
            assert!(checksums_ok(emb), "embedded checksums, proto {p}");
            assert_eq!(be32(emb, 12), u32::from_be_bytes(INSIDE));
            let port = if p == proto::ICMP {
                be16(&emb[20..], 4)
            } else {
                be16(&emb[20..], 0)
            };
            assert_eq!(port, 1000);
            assert_eq!(t.counters.in_icmp_errors.load(Relaxed), 1);
        }
    }

    #[test]
    fn icmp_errors_from_inside_about_translated_replies_go_out_translated() {
        let s = snat();
        for p in [proto::UDP, proto::TCP, proto::ICMP] {
            let mut t = table(8);
            // A flow out and its reply back in, translated.
            let (out, reply) = out_and_back(&mut t, &s, p, 40_000, b"data");
            let xport = be16(&out[20..], if p == proto::ICMP { 4 } else { 0 });
            // The inside host answers the reply with port unreachable, quoting it.
            let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&reply);
            let mut err = frames::ipv4(M, M, INSIDE.into(), REMOTE.into(), proto::ICMP, 64, &icmp)
                .split_off(14);
            fill(&mut err);
            let k = error_key_out(&err).expect("an error key");
            let b = t.find(&k, 2).expect("the flow's binding");
            assert!(t.translate_error_out(&mut err, b.id, &s), "proto {p}");
            assert!(checksums_ok(&err), "outer checksums, proto {p}: {err:02x?}");
            let emb = &err[28..];
            assert!(
                checksums_ok(emb),
                "embedded checksums, proto {p}: {emb:02x?}"
            );
            assert_eq!(be32(&err, 12), u32::from_be_bytes(X1), "outer source");
            assert_eq!(
                be32(emb, 16),
                u32::from_be_bytes(X1),
                "embedded destination"
            );
            let port = be16(&emb[20..], if p == proto::ICMP { 4 } else { 2 });
            assert_eq!(port, xport, "embedded port, proto {p}");
            // The embedded packet is now exactly the reply as the remote sent it.
            assert_eq!(
                &emb[..20],
                &{
                    let mut r = reply.clone();
                    r[16..20].copy_from_slice(&X1);
                    set16(&mut r, 20 + if p == proto::ICMP { 4 } else { 2 }, xport);
                    fill(&mut r);
                    r
                }[..20]
            );
            assert_eq!(t.counters.out_icmp_errors.load(Relaxed), 1);
        }
        // No key: not an error, an error about an unknown protocol, a runt.
        let ping = packet(proto::ICMP, INSIDE, REMOTE, 7, 0, b"");
        assert_eq!(error_key_out(&ping), None);
        let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
        let mut gre = packet(proto::UDP, REMOTE, INSIDE, 1, 2, b"");
        gre[9] = 47;
        icmp.extend_from_slice(&gre);
        let e =
            frames::ipv4(M, M, INSIDE.into(), REMOTE.into(), proto::ICMP, 64, &icmp).split_off(14);
        assert_eq!(error_key_out(&e), None);
        for n in 0..e.len() {
            let _ = error_key_out(&e[..n]);
        }
    }

    #[test]
    fn replies_from_elsewhere_are_not_translated() {
        let s = snat();
        let mut t = table(8);
        let mut ip = packet(proto::UDP, INSIDE, REMOTE, 40000, 53, b"");
        let (k, f) = key_out(&ip).unwrap();
        let b = t
            .create(&k, f, &s.ports[1].addrs, NexthopId(0), PortId(1), 0)
            .unwrap();
        t.translate_out(&mut ip, b.id, &s);
        let xp = be16(&ip[20..], 0);
        for (from, sport) in [([198, 18, 0, 11], 53), (REMOTE, 54)] {
            let mut r = packet(proto::UDP, from, X1, sport, xp, b"");
            let before = r.clone();
            assert_eq!(t.translate_in(&mut r, &s, 1), None);
            assert_eq!(r, before, "untouched");
        }
        // And nothing for an address that is not an SNAT address.
        let mut r = packet(proto::UDP, REMOTE, [100, 64, 9, 9], 53, xp, b"");
        assert_eq!(t.translate_in(&mut r, &s, 1), None);
    }

    #[test]
    fn a_hundred_thousand_flows_get_distinct_ports() {
        let mut t = NatTable::new(100_000, 2, Timeouts::default());
        let both: Vec<u16> = vec![0, 1];
        let mut seen = std::collections::HashSet::new();
        for i in 0..100_000u32 {
            // Many inside hosts and ports, all to one destination and port.
            let src = u32::from_be_bytes([10, 0, 0, 0]) | (i % 250 + 1);
            let k = NatKey {
                proto: proto::TCP,
                src,
                dst: u32::from_be_bytes(REMOTE),
                sport: (i / 250) as u16 + 1000,
                dport: 443,
            };
            let b = t
                .create(&k, 0x02, &both, NexthopId(0), PortId(1), 0)
                .expect("a port");
            let e = t.entries[b.id as usize];
            assert!(e.xport >= PORT_MIN);
            assert!(seen.insert((e.xaddr, e.xport)), "collision at flow {i}");
            assert_eq!(t.lookup_out(&k, 0x10, 0).map(|x| x.id), Some(b.id));
        }
        assert_eq!(t.len(), 100_000);
    }

    #[test]
    fn ports_run_out_as_a_counted_error() {
        let s = snat();
        let mut t = NatTable::new(70_000, 2, Timeouts::default());
        let one = &s.ports[1].addrs;
        let k = |i: u32| NatKey {
            proto: proto::UDP,
            src: 0x0a00_0000 | i,
            dst: u32::from_be_bytes(REMOTE),
            sport: 53,
            dport: 53,
        };
        let span = (u16::MAX - PORT_MIN) as u32 + 1;
        for i in 0..span {
            t.create(&k(i), 0, one, NexthopId(0), PortId(1), 0)
                .expect("room");
        }
        assert_eq!(
            t.create(&k(span), 0, one, NexthopId(0), PortId(1), 0),
            Err(Untranslatable::Exhausted)
        );
        // A binding that expires frees its port for the next flow.
        t.remove(5);
        assert!(t
            .create(&k(span), 0, one, NexthopId(0), PortId(1), 0)
            .is_ok());
    }

    #[test]
    fn shared_tables_split_the_ports_and_each_runs_out_of_its_own() {
        let s = snat();
        let one = &s.ports[1].addrs;
        let k = |i: u32, sport: u16| NatKey {
            proto: proto::UDP,
            src: 0x0a00_0000 | i,
            dst: u32::from_be_bytes(REMOTE),
            sport,
            dport: 53,
        };
        // Blocks of 64 from port 1024 (block 16) to 65535 (block 1023):
        // 1008 blocks, 504 for each of two workers.
        let per_worker = 504 * 64;
        let mut all = std::collections::HashSet::new();
        for me in 0..2u16 {
            let mut t = NatTable::new(40_000, 2, Timeouts::default()).shared(me, 2);
            for i in 0..per_worker {
                // Inside ports that belong to both workers: only its own are kept.
                let b = t
                    .create(&k(i, 20_000 + i as u16), 0, one, NexthopId(0), PortId(1), 0)
                    .expect("room");
                let x = t.entries[b.id as usize].xport;
                assert_eq!(owner(x, 2), me, "port {x} given out by worker {me}");
                assert!(all.insert(x), "port {x} given out twice");
            }
            assert_eq!(
                t.create(&k(per_worker, 53), 0, one, NexthopId(0), PortId(1), 0),
                Err(Untranslatable::Exhausted),
                "worker {me} has exactly its share"
            );
        }
        assert_eq!(
            all.len(),
            (u16::MAX - PORT_MIN) as usize + 1,
            "together: every port"
        );
        // A kept inside port is one the worker owns.
        let mut t = NatTable::new(8, 2, Timeouts::default()).shared(1, 2);
        for sport in [1100u16, 1030, 40_000, 40_064] {
            let b = t
                .create(&k(1, sport), 0, one, NexthopId(0), PortId(1), 0)
                .unwrap();
            let x = t.entries[b.id as usize].xport;
            assert_eq!(
                x == sport,
                owner(sport, 2) == 1,
                "inside port {sport} -> {x}"
            );
        }
    }

    #[test]
    fn replies_and_errors_are_steered_to_the_worker_that_bound_them() {
        let s = snat();
        let eth = |ip: &[u8]| {
            let mut f = vec![0u8; 12];
            f.extend_from_slice(&[0x08, 0x00]);
            f.extend_from_slice(ip);
            f
        };
        for workers in [2u16, 3, 7] {
            for me in 0..workers {
                let mut t = NatTable::new(64, 2, Timeouts::default()).shared(me, workers);
                for p in [proto::TCP, proto::UDP, proto::ICMP] {
                    let mut ip = packet(p, INSIDE, REMOTE, 40_000 + me, 80, b"x");
                    let (k, f) = key_out(&ip).unwrap();
                    let b = t
                        .create(&k, f, &s.ports[1].addrs, NexthopId(0), PortId(1), 0)
                        .unwrap();
                    assert!(t.translate_out(&mut ip, b.id, &s));
                    let xp = be16(&ip[20..], if p == proto::ICMP { 4 } else { 0 });
                    let mut reply = if p == proto::ICMP {
                        let mut r = packet(p, REMOTE, X1, xp, 0, b"x");
                        r[20] = 0;
                        r
                    } else {
                        packet(p, REMOTE, X1, 80, xp, b"x")
                    };
                    fill(&mut reply);
                    assert_eq!(
                        steer(&eth(&reply), &s, workers),
                        Some(me),
                        "reply, proto {p}"
                    );
                    let mut icmp = vec![3, 3, 0, 0, 0, 0, 0, 0];
                    icmp.extend_from_slice(&ip);
                    let err = frames::ipv4(
                        M,
                        M,
                        [203, 0, 113, 1].into(),
                        X1.into(),
                        proto::ICMP,
                        60,
                        &icmp,
                    );
                    assert_eq!(steer(&err, &s, workers), Some(me), "ICMP error, proto {p}");
                    // The owner's table translates what it is steered.
                    assert_eq!(t.translate_in(&mut reply, &s, 1), Some(INSIDE.into()));
                }
            }
        }
        // Not steered: one worker, another address, ports below 1024, probe
        // identifiers, fragments, IPv6, runts.
        let udp = |dst: [u8; 4], dport: u16| eth(&packet(proto::UDP, REMOTE, dst, 53, dport, b""));
        assert_eq!(steer(&udp(X1, 40_000), &s, 1), None);
        assert_eq!(steer(&udp([100, 64, 9, 9], 40_000), &s, 2), None);
        assert_eq!(steer(&udp(X1, 1023), &s, 2), None);
        assert_eq!(steer(&udp(X2, 1024), &s, 2), Some(0));
        let mut probe = packet(proto::ICMP, REMOTE, X1, 0xe001, 0, b"");
        probe[20] = 0;
        assert_eq!(steer(&eth(&probe), &s, 2), None);
        let mut frag = udp(X1, 40_000);
        frag[14 + 6] = 0x20; // more fragments
        assert_eq!(steer(&frag, &s, 2), None);
        let mut v6 = udp(X1, 40_000);
        v6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(steer(&v6, &s, 2), None);
        for n in 0..40 {
            let f = udp(X1, 40_000);
            let _ = steer(&f[..n], &s, 2);
        }
        // An uplink that is a VLAN sub-interface: its trunk's frames carry
        // one 802.1Q tag, looked past; two tags are not looked into.
        let tagged = |f: &[u8], tags: usize| {
            let mut t = f[..12].to_vec();
            for _ in 0..tags {
                t.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
            }
            t.extend_from_slice(&f[12..]);
            t
        };
        let f = udp(X2, 1024 + 64);
        assert_eq!(steer(&f, &s, 2), Some(1));
        assert_eq!(steer(&tagged(&f, 1), &s, 2), Some(1), "one tag");
        assert_eq!(steer(&tagged(&f, 2), &s, 2), None, "QinQ");
        for n in 0..44 {
            let _ = steer(&tagged(&f, 1)[..n], &s, 2);
        }
    }

    proptest! {
        #[test]
        fn steer_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..120), workers in 0u16..9) {
            let s = snat();
            let mut f = frame;
            if f.len() > 34 {
                f[12] = 8;
                f[13] = 0;
                f[30..34].copy_from_slice(&X1);
            }
            if let Some(w) = steer(&f, &s, workers) {
                prop_assert!(w < workers);
            }
        }
    }

    #[test]
    fn idle_bindings_expire_and_are_swept() {
        let s = snat();
        let to = Timeouts {
            udp_ms: 1000,
            ..Default::default()
        };
        let mut t = NatTable::new(16, 2, to);
        let ip = packet(proto::UDP, INSIDE, REMOTE, 4000, 53, b"");
        let (k, f) = key_out(&ip).unwrap();
        t.create(&k, f, &s.ports[1].addrs, NexthopId(0), PortId(1), 0)
            .unwrap();
        assert!(t.lookup_out(&k, 0, 900).is_some(), "refreshed at 900");
        assert!(
            t.lookup_out(&k, 0, 1800).is_some(),
            "still alive 900 ms later"
        );
        t.sweep(2900, 16);
        assert!(t.is_empty(), "swept after its timeout");
        assert_eq!(t.counters.expired.load(Relaxed), 1);
        assert_eq!(t.lookup_out(&k, 0, 3000), None);
    }

    #[test]
    fn closed_tcp_expires_quickly() {
        let to = Timeouts {
            tcp_closing_ms: 10,
            ..Default::default()
        };
        let s = snat();
        let mut t = NatTable::new(16, 2, to);
        let k = NatKey {
            proto: proto::TCP,
            src: 1,
            dst: 2,
            sport: 3000,
            dport: 80,
        };
        t.create(&k, 0x02, &s.ports[1].addrs, NexthopId(0), PortId(1), 0)
            .unwrap();
        t.lookup_out(&k, 0x10, 1).unwrap();
        t.lookup_out(&k, 0x04, 2).unwrap(); // RST
        assert_eq!(
            t.lookup_out(&k, 0x10, 100),
            None,
            "closing timeout, not established"
        );
    }

    proptest! {
        /// Random creates and removes keep both indexes exact: every live
        /// binding is found from both sides, no removed one is.
        #[test]
        fn indexes_stay_exact(ops in proptest::collection::vec((any::<bool>(), 0u32..300), 1..400)) {
            let mut t = NatTable::new(128, 2, Timeouts::default());
            let mut live: std::collections::HashMap<u32, u32> = Default::default();
            let k = |i: u32| NatKey { proto: proto::UDP, src: i % 7, dst: i / 7, sport: (i % 3) as u16 + 1, dport: 9 };
            for (add, i) in ops {
                if add && !live.contains_key(&i) {
                    if let Ok(b) = t.create(&k(i), 0, &[0, 1], NexthopId(0), PortId(1), 0) {
                        live.insert(i, b.id);
                    }
                } else if let Some(id) = live.remove(&i) {
                    t.remove(id);
                }
                for (&j, &id) in &live {
                    prop_assert_eq!(t.lookup_out(&k(j), 0, 0).map(|b| b.id), Some(id));
                    let e = t.entries[id as usize];
                    prop_assert_eq!(t.in_slots[t.slot(e.xaddr as usize, 1, e.xport)], id);
                }
                prop_assert_eq!(t.len(), live.len());
            }
        }
    }
}
