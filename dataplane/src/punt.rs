//! The exception path's decisions, pure and lock-free for the workers:
//!
//! - [`PuntClass`]: what a packet for a port's kernel interface is (routing
//!   protocol, ARP/NDP, ICMP, anything else);
//! - [`Policer`]: a worker's token buckets, one per class (control-plane
//!   policing: a flood of one class cannot take another's budget);
//! - [`Peers`]: the routing peers. Only their packets count as routing
//!   protocol traffic; a SYN flood to port 179 from anyone else is "other".
//!   Peers come from the config and are learned from what the kernel sends
//!   ([`learned_peer`]): a BGP session the host's bgpd opens, a BFD session
//!   bfdd runs.

use crate::wire::{ethernet, icmpv6, ipv4, ipv6, proto};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

/// BGP (TCP).
pub const BGP_PORT: u16 = 179;
/// BFD single-hop control (UDP, RFC 5881).
pub const BFD_PORT: u16 = 3784;
/// BFD echo (UDP, RFC 5881).
pub const BFD_ECHO_PORT: u16 = 3785;
/// BFD multihop control (UDP, RFC 5883).
pub const BFD_MULTIHOP_PORT: u16 = 4784;
/// OSPF's IP protocol number.
pub const PROTO_OSPF: u8 = 89;
/// VRRP's IP protocol number.
pub const PROTO_VRRP: u8 = 112;

/// The policing class of a packet handed to a kernel interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PuntClass {
    /// BGP, BFD, OSPF, VRRP from a known peer.
    Routing = 0,
    /// ARP and NDP (RS, RA, NS, NA, redirect).
    ArpNd = 1,
    /// ICMP and ICMPv6 other than NDP.
    Icmp = 2,
    /// Everything else (SSH, SNMP, a SYN to 179 from a stranger).
    Other = 3,
}

impl PuntClass {
    /// Every class, in index order.
    pub const ALL: [PuntClass; 4] = [
        PuntClass::Routing,
        PuntClass::ArpNd,
        PuntClass::Icmp,
        PuntClass::Other,
    ];
    /// Number of classes.
    pub const COUNT: usize = 4;

    /// The metric label and config key (`routing`, `arp-nd`, ...).
    pub fn name(self) -> &'static str {
        match self {
            PuntClass::Routing => "routing",
            PuntClass::ArpNd => "arp-nd",
            PuntClass::Icmp => "icmp",
            PuntClass::Other => "other",
        }
    }
}

/// A class's budget: `rate` packets per second, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Packets per second (0: only the burst, never refilled).
    pub rate: u32,
    /// Bucket size, in packets.
    pub burst: u32,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: u32,
    burst: u32,
    ticks_per_token: u64,
    last: u64,
}

/// One worker's token buckets, one per [`PuntClass`]. Each worker polices
/// its own share of the configured rate (rate / workers), so the sum over
/// the workers is the configured rate and no worker touches another's state.
#[derive(Clone, Debug)]
pub struct Policer {
    buckets: [Bucket; PuntClass::COUNT],
}

impl Policer {
    /// Full buckets for `limits` (indexed by class), of which this worker
    /// takes a `1/share` part; `hz` clock ticks per second, `now` the clock.
    pub fn new(limits: [Limit; PuntClass::COUNT], share: u32, hz: u64, now: u64) -> Self {
        let share = share.max(1);
        let buckets = limits.map(|l| {
            let rate = l.rate.div_ceil(share);
            let burst = l.burst.div_ceil(share).max(u32::from(l.burst > 0));
            Bucket {
                tokens: burst,
                burst,
                ticks_per_token: if rate == 0 {
                    u64::MAX
                } else {
                    (hz / rate as u64).max(1)
                },
                last: now,
            }
        });
        Policer { buckets }
    }

    /// Adds the tokens earned since the last call; `now` in the clock of [`Policer::new`].
    #[inline]
    pub fn refill(&mut self, now: u64) {
        for b in &mut self.buckets {
            let n = now.wrapping_sub(b.last) / b.ticks_per_token;
            if n > 0 {
                b.tokens = (b.tokens as u64 + n).min(b.burst as u64) as u32;
                b.last = b.last.wrapping_add(n * b.ticks_per_token);
            }
        }
    }

    /// Takes a token of `class`; false when its bucket is empty.
    #[inline]
    pub fn admit(&mut self, class: PuntClass) -> bool {
        let b = &mut self.buckets[class as usize];
        if b.tokens == 0 {
            // An idle bucket starts counting from now, not from its last refill.
            return false;
        }
        b.tokens -= 1;
        true
    }
}

/// Capacity of [`Peers`].
pub const MAX_PEERS: usize = 1024;

const FLAG_USED: u8 = 1;
const FLAG_V6: u8 = 2;
const FLAG_GTSM: u8 = 4;

#[derive(Default, Debug)]
struct Slot {
    hi: AtomicU64,
    lo: AtomicU64,
    flags: AtomicU8,
}

/// The routing peers, read by every worker without a lock.
///
/// Append-only: a slot is written once, then published by raising `len`
/// (release); readers scan `..len` (acquire). Only the GTSM flag of a
/// published slot changes later, with a single atomic store. Writers (the
/// control thread) serialize on a mutex that workers never take.
#[derive(Debug)]
pub struct Peers {
    slots: Box<[Slot]>,
    len: AtomicUsize,
    write: Mutex<()>,
}

/// What [`Peers::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A new peer.
    Added,
    /// Known already (its GTSM flag may have changed).
    Known,
    /// The table is full: the peer's packets stay in class `other`.
    Full,
}

fn split(a: IpAddr) -> (u64, u64, u8) {
    match a {
        IpAddr::V4(v) => (0, u32::from(v) as u64, FLAG_USED),
        IpAddr::V6(v) => {
            let x = u128::from(v);
            ((x >> 64) as u64, x as u64, FLAG_USED | FLAG_V6)
        }
    }
}

impl Default for Peers {
    fn default() -> Self {
        Peers {
            slots: (0..MAX_PEERS).map(|_| Slot::default()).collect(),
            len: AtomicUsize::new(0),
            write: Mutex::new(()),
        }
    }
}

impl Peers {
    /// Is `a` a peer? `Some(gtsm)`: it is, and whether it uses GTSM (RFC
    /// 5082: its packets must arrive with TTL 255).
    #[inline]
    pub fn get(&self, a: IpAddr) -> Option<bool> {
        let (hi, lo, fam) = split(a);
        let n = self.len.load(Ordering::Acquire);
        self.slots[..n].iter().find_map(|s| {
            let f = s.flags.load(Ordering::Relaxed);
            (f & (FLAG_USED | FLAG_V6) == fam
                && s.lo.load(Ordering::Relaxed) == lo
                && s.hi.load(Ordering::Relaxed) == hi)
                .then_some(f & FLAG_GTSM != 0)
        })
    }

    /// Adds `a`, or updates its GTSM flag. `gtsm: None` leaves a known
    /// peer's flag as it is (a new one gets none).
    pub fn learn(&self, a: IpAddr, gtsm: Option<bool>) -> Learned {
        let _w = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let (hi, lo, fam) = split(a);
        let g = if gtsm == Some(true) { FLAG_GTSM } else { 0 };
        let n = self.len.load(Ordering::Relaxed);
        for s in &self.slots[..n] {
            let f = s.flags.load(Ordering::Relaxed);
            if f & (FLAG_USED | FLAG_V6) == fam
                && s.lo.load(Ordering::Relaxed) == lo
                && s.hi.load(Ordering::Relaxed) == hi
            {
                if gtsm.is_some() {
                    s.flags.store(fam | g, Ordering::Relaxed);
                }
                return Learned::Known;
            }
        }
        let Some(s) = self.slots.get(n) else {
            return Learned::Full;
        };
        s.hi.store(hi, Ordering::Relaxed);
        s.lo.store(lo, Ordering::Relaxed);
        s.flags.store(fam | g, Ordering::Relaxed);
        self.len.store(n + 1, Ordering::Release);
        Learned::Added
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// No peers at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every peer with its GTSM flag.
    pub fn list(&self) -> Vec<(IpAddr, bool)> {
        let n = self.len.load(Ordering::Acquire);
        self.slots[..n]
            .iter()
            .map(|s| {
                let f = s.flags.load(Ordering::Relaxed);
                let (hi, lo) = (s.hi.load(Ordering::Relaxed), s.lo.load(Ordering::Relaxed));
                let a = if f & FLAG_V6 != 0 {
                    IpAddr::V6(((hi as u128) << 64 | lo as u128).into())
                } else {
                    IpAddr::V4((lo as u32).into())
                };
                (a, f & FLAG_GTSM != 0)
            })
            .collect()
    }
}

/// The IPv6 link-local address the kernel gives an interface with `mac`
/// (modified EUI-64, RFC 4291 appendix A), which the router answers on too.
pub fn link_local(mac: crate::MacAddr) -> std::net::Ipv6Addr {
    let m = mac.0;
    std::net::Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        m[0] ^ 2,
        m[1],
        m[2],
        0xff,
        0xfe,
        m[3],
        m[4],
        m[5],
    ])
}

/// The L4 facts [`classify`] needs, read from an IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L4 {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL or hop limit.
    pub ttl: u8,
    /// IP protocol (IPv6: the first next header).
    pub proto: u8,
    /// TCP/UDP ports (0 when not TCP/UDP, or a non-first fragment).
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP flags (0 when not TCP).
    pub tcp_flags: u8,
    /// ICMP or ICMPv6 type (0 otherwise).
    pub icmp_type: u8,
}

const TCP_SYN: u8 = 0x02;
const TCP_ACK: u8 = 0x10;

fn ports(l4: &[u8], protocol: u8) -> (u16, u16, u8) {
    match (protocol, l4) {
        (proto::TCP, [a, b, c, d, rest @ ..]) => (
            u16::from_be_bytes([*a, *b]),
            u16::from_be_bytes([*c, *d]),
            rest.get(9).copied().unwrap_or(0),
        ),
        (proto::UDP, [a, b, c, d, ..]) => (
            u16::from_be_bytes([*a, *b]),
            u16::from_be_bytes([*c, *d]),
            0,
        ),
        _ => (0, 0, 0),
    }
}

/// The facts of an IP packet (from its IP header; `ip` starts there).
pub fn l4_of(ip: &[u8]) -> Option<L4> {
    match ip.first()? >> 4 {
        4 => {
            let p = ipv4::Packet::new_checked(ip).ok()?;
            let hl = p.header_len();
            let protocol = p.protocol();
            let first = !p.is_fragment() || p.frag_offset() == 0;
            let payload = ip.get(hl..).filter(|_| first).unwrap_or(&[]);
            let (sport, dport, tcp_flags) = ports(payload, protocol);
            Some(L4 {
                src: p.src().into(),
                dst: p.dst().into(),
                ttl: p.ttl(),
                proto: protocol,
                sport,
                dport,
                tcp_flags,
                icmp_type: if protocol == proto::ICMP {
                    payload.first().copied().unwrap_or(0)
                } else {
                    0
                },
            })
        }
        6 => {
            let p = ipv6::Packet::new_checked(ip).ok()?;
            let next = p.next_header();
            let payload = p.payload();
            let (sport, dport, tcp_flags) = ports(payload, next);
            Some(L4 {
                src: p.src().into(),
                dst: p.dst().into(),
                ttl: p.hop_limit(),
                proto: next,
                sport,
                dport,
                tcp_flags,
                icmp_type: if next == proto::ICMPV6 {
                    payload.first().copied().unwrap_or(0)
                } else {
                    0
                },
            })
        }
        _ => None,
    }
}

fn is_routing_protocol(l: &L4) -> bool {
    match l.proto {
        proto::TCP => l.sport == BGP_PORT || l.dport == BGP_PORT,
        proto::UDP => matches!(l.dport, BFD_PORT | BFD_ECHO_PORT | BFD_MULTIHOP_PORT),
        PROTO_OSPF | PROTO_VRRP => true,
        _ => false,
    }
}

fn link_local_multicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => v.octets()[..3] == [224, 0, 0],
        IpAddr::V6(v) => v.segments()[0] == 0xff02,
    }
}

/// The class of a packet for the router that goes to a kernel interface.
///
/// Routing protocols count as `routing` only from a peer ([`Peers`]):
/// BGP from a GTSM peer only with TTL 255 (RFC 5082), single-hop BFD only
/// with TTL 255 (RFC 5881 section 5: the peer's bfdd discards anything
/// else); OSPF and VRRP also when sent to a link-local group (they cannot
/// come from off the link). Anything else that looks like a routing
/// protocol is `other`, so a flood of SYNs to port 179 spends the `other`
/// budget, not BGP's.
#[inline]
pub fn classify(l: &L4, peers: Option<&Peers>) -> PuntClass {
    if is_routing_protocol(l) {
        let peer = peers.and_then(|p| p.get(l.src));
        let from_peer = match (l.proto, l.dport) {
            (proto::TCP, _) => peer.is_some_and(|gtsm| !gtsm || l.ttl == 255),
            (proto::UDP, BFD_PORT | BFD_ECHO_PORT) => peer.is_some() && l.ttl == 255,
            _ => peer.is_some(),
        };
        let on_link = matches!(l.proto, PROTO_OSPF | PROTO_VRRP) && link_local_multicast(l.dst);
        return if from_peer || on_link {
            PuntClass::Routing
        } else {
            PuntClass::Other
        };
    }
    match l.proto {
        proto::ICMPV6 if icmpv6::is_ndp(l.icmp_type) => PuntClass::ArpNd,
        proto::ICMP | proto::ICMPV6 => PuntClass::Icmp,
        _ => PuntClass::Other,
    }
}

/// A peer to learn from a frame the kernel sends (from the Ethernet header):
/// the destination of BGP the host opens or carries (a SYN without ACK, or
/// any segment without SYN: not the SYN-ACK a spoofed SYN would draw), of
/// BFD control packets, or of unicast OSPF. `Some((peer, gtsm))`, where
/// `gtsm` is what BGP's TTL says (RFC 5082: the kernel sends with TTL 255)
/// and `None` for the other protocols: single-hop BFD always goes out with
/// TTL 255 (RFC 5881), which says nothing about the BGP session beside it.
/// (It did once: every BFD packet the host sent marked the peer GTSM, and
/// the peer's BGP, sent with TTL 1, fell into `other` and was policed
/// under a flood until the host's next keepalive cleared the flag.)
pub fn learned_peer(frame: &[u8]) -> Option<(IpAddr, Option<bool>)> {
    // A VLAN device's frames carry their tag.
    let l2 = crate::vlan::l2_len(frame);
    let t = u16::from_be_bytes([*frame.get(l2 - 2)?, *frame.get(l2 - 1)?]);
    if t != ethernet::ethertype::IPV4 && t != ethernet::ethertype::IPV6 {
        return None;
    }
    let l = l4_of(frame.get(l2..)?)?;
    match l.proto {
        proto::TCP if l.sport == BGP_PORT || l.dport == BGP_PORT => {
            let syn = l.tcp_flags & TCP_SYN != 0;
            let ack = l.tcp_flags & TCP_ACK != 0;
            (!syn || !ack).then_some((l.dst, Some(l.ttl == 255)))
        }
        proto::UDP if matches!(l.dport, BFD_PORT | BFD_MULTIHOP_PORT) => Some((l.dst, None)),
        PROTO_OSPF if !link_local_multicast(l.dst) && !l.dst.is_multicast() => Some((l.dst, None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frames;
    use crate::PacketBuf;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn l4(src: &str, proto: u8, sport: u16, dport: u16, ttl: u8) -> L4 {
        L4 {
            src: src.parse().unwrap(),
            dst: "10.1.0.1".parse().unwrap(),
            ttl,
            proto,
            sport,
            dport,
            tcp_flags: TCP_SYN,
            icmp_type: 0,
        }
    }

    #[test]
    fn bgp_is_routing_only_from_a_peer_and_with_ttl_255_from_a_gtsm_peer() {
        let peers = Peers::default();
        let syn = l4("10.1.0.2", proto::TCP, 40000, 179, 64);
        assert_eq!(classify(&syn, Some(&peers)), PuntClass::Other);
        assert_eq!(
            peers.learn("10.1.0.2".parse().unwrap(), Some(false)),
            Learned::Added
        );
        assert_eq!(classify(&syn, Some(&peers)), PuntClass::Routing);
        // A stranger's SYN to 179 stays in "other".
        let stranger = l4("10.1.0.99", proto::TCP, 40000, 179, 64);
        assert_eq!(classify(&stranger, Some(&peers)), PuntClass::Other);
        // GTSM: only TTL 255 counts.
        assert_eq!(
            peers.learn("10.1.0.2".parse().unwrap(), Some(true)),
            Learned::Known
        );
        assert_eq!(classify(&syn, Some(&peers)), PuntClass::Other);
        let hop1 = l4("10.1.0.2", proto::TCP, 40000, 179, 255);
        assert_eq!(classify(&hop1, Some(&peers)), PuntClass::Routing);
        // SSH from the peer is "other"; BFD from it is routing.
        let ssh = l4("10.1.0.2", proto::TCP, 40000, 22, 255);
        assert_eq!(classify(&ssh, Some(&peers)), PuntClass::Other);
        let bfd = l4("10.1.0.2", proto::UDP, 49152, 3784, 255);
        assert_eq!(classify(&bfd, Some(&peers)), PuntClass::Routing);
        assert_eq!(peers.list(), vec![("10.1.0.2".parse().unwrap(), true)]);
    }

    #[test]
    fn single_hop_bfd_is_routing_only_with_ttl_255_and_multihop_from_any_ttl() {
        let peers = Peers::default();
        peers.learn("10.1.0.2".parse().unwrap(), None);
        let bfd = |port, ttl| l4("10.1.0.2", proto::UDP, 49152, port, ttl);
        assert_eq!(classify(&bfd(3784, 255), Some(&peers)), PuntClass::Routing);
        assert_eq!(classify(&bfd(3784, 254), Some(&peers)), PuntClass::Other);
        assert_eq!(classify(&bfd(4784, 250), Some(&peers)), PuntClass::Routing);
    }

    #[test]
    fn what_the_hosts_bfd_sends_leaves_the_bgp_sessions_gtsm_flag_alone() {
        // bfdd sends with TTL 255 and bgpd (eBGP, no ttl-security) with
        // TTL 1, to the same peer: the BFD packets must not make the peer
        // GTSM, or its BGP (TTL 1) is `other`, policed under a flood.
        let mac = crate::MacAddr([2, 0, 0, 0, 0, 1]);
        let (me, peer) = (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 2));
        let bfd = frames::ipv4(
            mac,
            mac,
            me,
            peer,
            proto::UDP,
            255,
            &frames::udp(49152, 3784, &[0; 24]),
        );
        let mut ka = frames::tcp_syn(179, 40000);
        ka[13] = TCP_ACK;
        let bgp = frames::ipv4(mac, mac, me, peer, proto::TCP, 1, &ka);
        let peers = Peers::default();
        for f in [&bgp, &bfd, &bfd] {
            let (a, gtsm) = learned_peer(f).unwrap();
            peers.learn(a, gtsm);
        }
        assert_eq!(peers.get(IpAddr::V4(peer)), Some(false));
        let from_peer = l4("10.1.0.2", proto::TCP, 40000, 179, 1);
        assert_eq!(classify(&from_peer, Some(&peers)), PuntClass::Routing);
    }

    #[test]
    fn ospf_to_its_link_group_is_routing_and_icmp_and_ndp_have_their_classes() {
        let mut o = l4("10.1.0.7", PROTO_OSPF, 0, 0, 1);
        o.dst = "224.0.0.5".parse().unwrap();
        assert_eq!(classify(&o, None), PuntClass::Routing);
        let mut icmp = l4("10.1.0.7", proto::ICMP, 0, 0, 64);
        icmp.icmp_type = 3;
        assert_eq!(classify(&icmp, None), PuntClass::Icmp);
        let mut ra = l4("fe80::1", proto::ICMPV6, 0, 0, 255);
        ra.icmp_type = icmpv6::kind::ROUTER_ADVERT;
        assert_eq!(classify(&ra, None), PuntClass::ArpNd);
    }

    #[test]
    fn peers_of_both_families_do_not_mix() {
        let p = Peers::default();
        p.learn(IpAddr::V6(Ipv6Addr::from(0x0a01_0002u128)), Some(false));
        assert_eq!(p.get(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2))), None);
        p.learn(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2)), Some(false));
        assert_eq!(p.get(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 2))), Some(false));
        assert_eq!(p.len(), 2);
        for i in 2..MAX_PEERS {
            assert_eq!(
                p.learn(IpAddr::V4(Ipv4Addr::from(i as u32)), Some(false)),
                Learned::Added
            );
        }
        assert_eq!(p.learn("192.0.2.1".parse().unwrap(), None), Learned::Full);
    }

    #[test]
    fn link_local_is_the_kernels_eui64() {
        let a = link_local(crate::MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]));
        assert_eq!(a, "fe80::5054:ff:fe12:3456".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn policer_admits_the_burst_then_the_rate() {
        let lim = Limit {
            rate: 1000,
            burst: 10,
        };
        // 1 GHz clock, two workers: each gets 500/s and a burst of 5.
        let mut p = Policer::new([lim; 4], 2, 1_000_000_000, 0);
        let n = (0..100).filter(|_| p.admit(PuntClass::Other)).count();
        assert_eq!(n, 5);
        // 10 ms later: 5 more tokens (500/s), capped at the burst.
        p.refill(10_000_000);
        assert_eq!((0..100).filter(|_| p.admit(PuntClass::Other)).count(), 5);
        // The other classes kept their own buckets.
        assert_eq!((0..100).filter(|_| p.admit(PuntClass::Routing)).count(), 5);
        p.refill(12_000_000);
        assert_eq!((0..100).filter(|_| p.admit(PuntClass::Other)).count(), 1);
    }

    #[test]
    fn peers_are_learned_from_what_the_kernel_opens_not_from_syn_acks() {
        let mac = crate::MacAddr([2, 0, 0, 0, 0, 1]);
        let tcp = |flags: u8, ttl: u8| {
            let mut t = frames::tcp_syn(40000, 179);
            t[13] = flags;
            frames::ipv4(
                mac,
                mac,
                Ipv4Addr::new(10, 1, 0, 1),
                Ipv4Addr::new(10, 1, 0, 2),
                proto::TCP,
                ttl,
                &t,
            )
        };
        let peer: IpAddr = "10.1.0.2".parse().unwrap();
        assert_eq!(learned_peer(&tcp(TCP_SYN, 64)), Some((peer, Some(false))));
        assert_eq!(learned_peer(&tcp(TCP_ACK, 255)), Some((peer, Some(true))));
        assert_eq!(learned_peer(&tcp(TCP_SYN | TCP_ACK, 64)), None);
        // From a VLAN device on a kernel interface: behind the tag.
        let mut tagged = crate::VecBuf::new(&tcp(TCP_ACK, 1));
        assert!(crate::vlan::tag(&mut tagged, 100));
        assert_eq!(learned_peer(tagged.data()), Some((peer, Some(false))));
    }
}
