//! The per-packet forwarding pipeline a worker runs to completion:
//!
//! ```text
//! Ethernet -> ARP? punt
//!          -> IPv4 (RFC 1812 5.2.2 checks) / IPv6 (RFC 8200) validation
//!          -> martian filters -> LPM -> local? echo reply / NDP punt
//!          -> TTL / hop limit -> flow hash -> group select -> neighbour
//!          -> MTU -> TTL decrement (RFC 1624 checksum) -> Ethernet rewrite
//! ```
//!
//! [`process`] counts every drop itself (exactly one reason per dropped
//! packet) and tells the caller what to do with the buffer. It does not
//! allocate, lock, log or make a system call.

mod burst;
mod hop;
mod local;
#[cfg(test)]
mod tests;

pub use burst::{process_burst, BURST_MAX};
pub use hop::pick_for;
use hop::*;
use local::*;

use crate::buf::PacketBuf;
use crate::drop::DropReason;
use crate::fib::{Fib, Hop, NoHop, PortInfo, Route, Target};
use crate::flow;
use crate::flowtable::FlowTable;
use crate::hash::flow_hash;
use crate::icmp_error::{ipv4_error, ipv6_error, reflect_l2};
use crate::nat::{self, NatKey, NatTable, OnDown, Untranslatable};
use crate::punt::{self, Peers, Policer, PuntClass};
use crate::stats::{bump, LcoreStats, Stage};
use crate::types::{MacAddr, NexthopId, PortId};
use crate::wire::{ethernet, icmp, icmpv6, ipv4, ipv6, proto, tcp};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the caller does with the buffer after [`process`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Rewritten for the next hop: transmit on this port.
    Forward(PortId),
    /// Rewritten for the next hop, but longer than `port`'s MTU and
    /// without DF: transmit as IPv4 fragments of at most `mtu` bytes
    /// ([`crate::frag`]).
    Fragment {
        /// The egress port.
        port: PortId,
        /// Its IP MTU.
        mtu: u16,
    },
    /// Turned into a reply (echo reply or ICMP error): transmit on the ingress port.
    Reply,
    /// Hand a copy to the control plane (ARP, NDP), then free.
    Punt,
    /// For the router, not consumed by it: hand the whole frame to the
    /// ingress port's kernel interface (policed and counted already).
    Kernel,
    /// Both: a copy to the control plane, and the frame to the kernel
    /// interface (ARP and NDP, echo replies, when the port has one).
    PuntKernel,
    /// Dropped (already counted): free.
    Drop(DropReason),
    /// An ICMP error from inside about a translated flow whose binding this
    /// worker does not hold (several workers only, [`Ctx::snat_peers`]):
    /// unchanged and not counted yet. The worker hands it to the next
    /// worker; the last one to try counts it as `snat_unsupported`.
    SnatElsewhere,
    /// The neighbour on `port` that is the packet's destination
    /// ([`resolve_addr`]) is not resolved: ask the control plane to resolve
    /// it, and hand it the packet to hold until then (the kernel's
    /// per-neighbour queue). Not counted yet: the worker counts
    /// `neighbor_unresolved` when it cannot hand the packet over.
    ///
    /// The address is read back from the packet, not carried here, so that a
    /// verdict is 4 bytes and travels in a register: with the address in it,
    /// every verdict was built in a stack temporary in pieces and copied
    /// whole, a store-forwarding stall perf put at 11-13 % of the worker.
    Resolve {
        /// Port the neighbour is on.
        port: PortId,
    },
}

// A verdict travels in a register (see `Verdict::Resolve`).
const _: () = assert!(std::mem::size_of::<Verdict>() <= 8);

/// The address a [`Verdict::Resolve`] is about: the destination of the
/// IPv4 or IPv6 packet in `frame` (Ethernet first). Only a connected route
/// gives that verdict, and its neighbour is the destination itself.
pub fn resolve_addr(frame: &[u8]) -> Option<IpAddr> {
    let at = |r: std::ops::Range<usize>| frame.get(r);
    match u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]) {
        ethernet::ethertype::IPV4 => {
            let d: [u8; 4] = at(30..34)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(d)))
        }
        ethernet::ethertype::IPV6 => {
            let d: [u8; 16] = at(38..54)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(d)))
        }
        _ => None,
    }
}

/// A per-lcore token bucket for the ICMP errors a worker sends (RFC 1812 4.3.2.8).
#[derive(Clone, Copy, Debug)]
pub struct IcmpLimiter {
    tokens: u32,
    burst: u32,
}

impl IcmpLimiter {
    /// A full bucket of `burst` tokens.
    pub fn new(burst: u32) -> Self {
        IcmpLimiter {
            tokens: burst,
            burst,
        }
    }
    /// Adds `n` tokens, up to the burst size. The worker calls this as time passes.
    #[inline]
    pub fn refill(&mut self, n: u32) {
        self.tokens = self.tokens.saturating_add(n).min(self.burst);
    }
    #[inline]
    fn take(&mut self) -> bool {
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// What one worker carries from packet to packet.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The FIB generation for this burst.
    pub fib: &'a Fib,
    /// This worker's counters.
    pub stats: &'a LcoreStats,
    /// ICMP error budget.
    pub icmp: &'a mut IcmpLimiter,
    /// Per-packet counter for the `per-packet` hash policy.
    pub spray: u32,
    /// This worker's flow table (sticky routes), if it has one.
    pub flows: Option<&'a FlowTable>,
    /// Milliseconds on the worker's clock, for flow timeouts.
    pub now_ms: u32,
    /// The port of the packet being processed (set by [`process`]).
    pub in_port: PortId,
    /// This worker's SNAT bindings, when any uplink translates.
    pub nat: Option<&'a mut NatTable>,
    /// Other workers hold SNAT bindings too: an ICMP error from inside
    /// whose flow has no binding here is [`Verdict::SnatElsewhere`], not a drop.
    pub snat_peers: bool,
    /// This worker's punt policer (none: the kernel interfaces get every packet).
    pub policer: Option<&'a mut Policer>,
    /// The routing peers, for the policer's `routing` class.
    pub peers: Option<&'a Peers>,
}

impl<'a> Ctx<'a> {
    /// A context for `fib` with no flow table and the clock at 0 (tests,
    /// benchmarks); the worker sets `flows` and `now_ms` itself.
    pub fn new(fib: &'a Fib, stats: &'a LcoreStats, icmp: &'a mut IcmpLimiter) -> Self {
        Ctx {
            fib,
            stats,
            icmp,
            spray: 0,
            flows: None,
            now_ms: 0,
            in_port: PortId(0),
            nat: None,
            snat_peers: false,
            policer: None,
            peers: None,
        }
    }
}

#[inline]
fn dropped(stats: &LcoreStats, r: DropReason) -> Verdict {
    stats.count_drop(r);
    Verdict::Drop(r)
}

/// Runs one received frame through the pipeline.
pub fn process<B: PacketBuf>(ctx: &mut Ctx<'_>, in_port: PortId, pkt: &mut B) -> Verdict {
    ctx.stats.stage_start();
    ctx.in_port = in_port;
    let Some(port) = ctx.fib.port(in_port).copied() else {
        return dropped(ctx.stats, DropReason::NotForUs);
    };
    let (dst_mac, ethertype) = match ethernet::Frame::new_checked(pkt.data()) {
        Ok(f) if f.src().is_multicast() => {
            return dropped(ctx.stats, DropReason::L2MulticastSource)
        }
        Ok(f) => (f.dst(), f.ethertype()),
        Err(e) => return dropped(ctx.stats, e.into()),
    };
    let l2_multicast = dst_mac.is_multicast();
    if !l2_multicast && dst_mac != port.mac {
        return dropped(ctx.stats, DropReason::NotForUs);
    }
    match ethertype {
        ethernet::ethertype::ARP => to_kernel(ctx, &port, pkt, true),
        ethernet::ethertype::IPV4 => process_v4(ctx, &port, pkt, l2_multicast),
        ethernet::ethertype::IPV6 => process_v6(ctx, &port, pkt, l2_multicast),
        // The worker's loop strips the tags of the ports' sub-interfaces;
        // a priority-tagged frame (VID 0) is the port's own, here too.
        crate::vlan::TPID => {
            if crate::vlan::vid_of(pkt.data()) == Some(0)
                && crate::vlan::strip(pkt)
                && crate::vlan::vid_of(pkt.data()).is_none()
            {
                return process(ctx, in_port, pkt);
            }
            dropped(ctx.stats, DropReason::UnknownVlan)
        }
        _ => dropped(ctx.stats, DropReason::UnsupportedEthertype),
    }
}

/// The end of the staged path for a classified packet of `total` bytes
/// with TTL or hop limit `ttl` (above 1): egress MTU, TTL or hop limit
/// decrement (IPv4's checksum patched), MAC rewrite, count.
#[inline(always)]
fn rewrite<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &mut B,
    total: u16,
    ttl: u8,
    fam: Fam,
    hop: Hop,
) -> Verdict {
    ctx.stats.stage_end(Stage::Select);
    let eth_len = ethernet::HEADER_LEN;
    let Hop { nh, port: out, mac } = hop;
    let Some(o) = ctx.fib.port(out) else {
        return dropped(ctx.stats, DropReason::DanglingId);
    };
    let fragment = total > o.mtu;
    if fragment && !fam.may_fragment() {
        return too_big(ctx, pkt, port, fam, o.mtu, false);
    }
    let d = pkt.data_mut();
    match fam {
        Fam::V4 { .. } => ipv4::Packet::new_unchecked(&mut d[eth_len..]).decrement_ttl(),
        Fam::V6 => ipv6::Packet::new_unchecked(&mut d[eth_len..]).set_hop_limit(ttl - 1),
    }
    d[..6].copy_from_slice(&mac.to_be_bytes()[2..]);
    d[6..12].copy_from_slice(&o.mac.0);
    ctx.stats.nexthop(nh, eth_len + total as usize);
    ctx.stats.stage_end(Stage::Rewrite);
    egress(ctx, pkt, o, fragment)
}

/// The verdict for a rewritten packet leaving by port `o`: tagged and sent
/// on its trunk when `o` is a VLAN sub-interface, as fragments when it is
/// longer than `o`'s MTU (the caller checked that it may be fragmented).
#[inline(always)]
fn egress<B: PacketBuf>(ctx: &mut Ctx<'_>, pkt: &mut B, o: &PortInfo, fragment: bool) -> Verdict {
    if o.vlan != 0 && !crate::vlan::tag(pkt, o.vlan) {
        return dropped(ctx.stats, DropReason::MbufAllocFailed);
    }
    if fragment {
        return Verdict::Fragment {
            port: o.parent,
            mtu: o.mtu,
        };
    }
    Verdict::Forward(o.parent)
}

fn martian_v4_src(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_multicast() || a.is_broadcast() || a.is_loopback() || o[0] == 0 || o[0] >= 240
}

fn process_v4<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &mut B,
    l2_multicast: bool,
) -> Verdict {
    let eth_len = ethernet::HEADER_LEN;
    let (src, dst, ttl, protocol, total, df) = {
        let ip = match ipv4::Packet::new_checked(&pkt.data()[eth_len..]) {
            Ok(p) => p,
            Err(e) => return dropped(ctx.stats, e.into()),
        };
        (
            ip.src(),
            ip.dst(),
            ip.ttl(),
            ip.protocol(),
            ip.total_len(),
            ip.dont_frag(),
        )
    };
    if martian_v4_src(src) {
        return dropped(ctx.stats, DropReason::MartianSource);
    }
    if dst.is_multicast() || dst.is_broadcast() || l2_multicast {
        // Link-local groups (OSPF, VRRP, ...) are for the kernel interface.
        if port.kernel && dst.octets()[..3] == [224, 0, 0] {
            return to_kernel(ctx, port, pkt, false);
        }
        return dropped(ctx.stats, DropReason::Multicast);
    }
    if dst.is_loopback() || dst.octets()[0] == 0 {
        return dropped(ctx.stats, DropReason::MartianDestination);
    }
    // Ethernet padding is not forwarded.
    pkt.truncate(eth_len + total);
    ctx.stats.stage_end(Stage::Parse);
    // A reply to a translated flow, or an ICMP error about one, goes back to
    // the inside host: translated here, then routed like any packet.
    let mut dst = dst;
    if !ctx.fib.snat.is_empty() && ctx.fib.snat.addr_index(u32::from(dst)).is_some() {
        let (snat, now) = (&*ctx.fib.snat, ctx.now_ms);
        if let Some(nat) = ctx.nat.as_deref_mut() {
            if let Some(inside) = nat.translate_in(&mut pkt.data_mut()[eth_len..], snat, now) {
                dst = inside;
            }
        }
    }

    let fib = ctx.fib;
    let unreachable = Fam::V4 { df: false }.unreachable();
    let found = fib.table(port).lookup_v4(dst);
    ctx.stats.stage_end(Stage::Route);
    let Some(route) = found else {
        return icmp_error(
            ctx,
            pkt,
            port,
            DropReason::NoRoute,
            unreachable,
            l2_multicast,
        );
    };
    if route.target == Target::Local {
        return local_v4(ctx, port, pkt, protocol);
    }
    let t = Tail {
        route,
        dst: IpAddr::V4(dst),
        ttl,
        total,
        fam: Fam::V4 { df },
        l2_multicast,
        nat_key: None,
    };
    forward_tail(ctx, port, pkt, t)
}

/// The address family of a packet being forwarded, with what differs between them.
#[derive(Clone, Copy)]
enum Fam {
    V4 { df: bool },
    V6,
}

impl Fam {
    fn error(self, (k4, c4): (u8, u8), (k6, c6): (u8, u8), rest: u32) -> ErrorKind {
        match self {
            Fam::V4 { .. } => ErrorKind::V4 {
                kind: k4,
                code: c4,
                rest,
            },
            Fam::V6 => ErrorKind::V6 {
                kind: k6,
                code: c6,
                rest,
            },
        }
    }
    /// IPv4 without DF: a router may fragment it (IPv6 routers never do).
    #[inline(always)]
    fn may_fragment(self) -> bool {
        matches!(self, Fam::V4 { df: false })
    }
    fn unreachable(self) -> ErrorKind {
        self.error(
            (icmp::kind::DEST_UNREACHABLE, 0),
            (icmpv6::kind::DEST_UNREACHABLE, 0),
            0,
        )
    }
}

/// A packet known to be forwarded, as [`forward_tail`] reads it.
struct Tail<'r> {
    route: &'r Route,
    dst: IpAddr,
    /// TTL or hop limit.
    ttl: u8,
    /// IP total length.
    total: usize,
    fam: Fam,
    /// Sent to an Ethernet multicast address (no ICMP errors about it).
    l2_multicast: bool,
    /// Its NAT key when the caller has it already (the staged path's
    /// [`Meta`]); `None`: [`snat_hop`] reads it from the packet.
    nat_key: Option<Result<(NatKey, u8), Untranslatable>>,
}

/// What both families share once a packet is known to be forwarded: TTL /
/// hop limit, nexthop selection, MTU, SNAT, and the rewrite. Always inlined:
/// called, its `Tail` and its verdict went through memory in pieces and
/// were read back whole, a store-forwarding stall that perf put at a third
/// of an SNAT worker's time.
#[inline(always)]
fn forward_tail<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &mut B,
    t: Tail<'_>,
) -> Verdict {
    let Tail {
        route,
        dst,
        ttl,
        total,
        fam,
        l2_multicast,
        nat_key,
    } = t;
    let eth_len = ethernet::HEADER_LEN;
    if ttl <= 1 {
        let e = fam.error(
            (icmp::kind::TIME_EXCEEDED, 0),
            (icmpv6::kind::TIME_EXCEEDED, 0),
            0,
        );
        return icmp_error(ctx, pkt, port, DropReason::TtlExceeded, e, l2_multicast);
    }
    let nat_on = matches!(fam, Fam::V4 { .. }) && !ctx.fib.snat.is_empty() && ctx.nat.is_some();
    let mut st = SnatState {
        key: nat_key,
        ..Default::default()
    };
    let hop = if nat_on {
        match snat_hop(ctx, &pkt.data()[eth_len..], &mut st) {
            Some(h) => h,
            None => next_hop(ctx, route, dst, &pkt.data()[eth_len..]),
        }
    } else {
        next_hop(ctx, route, dst, &pkt.data()[eth_len..])
    };
    ctx.stats.stage_end(Stage::Select);
    let Hop { nh, port: out, mac } = match hop {
        Ok(x) => x,
        Err(Miss::Verdict(v)) => return v,
        Err(Miss::Dangling) => return dropped(ctx.stats, DropReason::DanglingId),
        Err(Miss::AllDown) => {
            return icmp_error(
                ctx,
                pkt,
                port,
                DropReason::AllNexthopsDown,
                fam.unreachable(),
                l2_multicast,
            )
        }
        Err(Miss::Reject(r)) => {
            return icmp_error(ctx, pkt, port, r, miss_error(fam, r), l2_multicast)
        }
    };
    let Some(out_info) = ctx.fib.port(out) else {
        return dropped(ctx.stats, DropReason::DanglingId);
    };
    let fragment = total > out_info.mtu as usize;
    if fragment && !fam.may_fragment() {
        return too_big(ctx, pkt, port, fam, out_info.mtu, l2_multicast);
    }
    if nat_on {
        if let Err(r) = snat_out(ctx, &mut pkt.data_mut()[eth_len..], nh, out, &st) {
            if st.orphan_error && ctx.snat_peers {
                // Perhaps another worker's flow: the packet is still as received.
                return Verdict::SnatElsewhere;
            }
            return dropped(ctx.stats, r);
        }
    }
    let d = pkt.data_mut();
    let ethertype = match fam {
        Fam::V4 { .. } => {
            ipv4::Packet::new_unchecked(&mut d[eth_len..]).decrement_ttl();
            ethernet::ethertype::IPV4
        }
        Fam::V6 => {
            if let Ok(mut ip) = ipv6::Packet::new_checked(&mut d[eth_len..]) {
                ip.set_hop_limit(ttl - 1);
            }
            ethernet::ethertype::IPV6
        }
    };
    ethernet::write_header_unchecked(d, MacAddr::from_u64(mac), out_info.mac, ethertype);
    ctx.stats.nexthop(nh, eth_len + total);
    ctx.stats.stage_end(Stage::Rewrite);
    egress(ctx, pkt, out_info, fragment)
}

/// A packet larger than the egress MTU that may not be fragmented:
/// dropped, with Fragmentation Needed (IPv4 with DF) or Packet Too Big
/// (IPv6) carrying the egress MTU.
#[cold]
fn too_big<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    pkt: &mut B,
    port: &PortInfo,
    fam: Fam,
    mtu: u16,
    l2_multicast: bool,
) -> Verdict {
    let e = fam.error(
        (icmp::kind::DEST_UNREACHABLE, 4),
        (icmpv6::kind::PACKET_TOO_BIG, 0),
        mtu as u32,
    );
    icmp_error(ctx, pkt, port, DropReason::MtuExceeded, e, l2_multicast)
}

/// Why a packet whose IP header passed validation gave no flow key: its
/// header, read again by the flow parser, is cut short.
#[cold]
fn unparsable(ip: &[u8]) -> DropReason {
    match ip.first().map(|b| b >> 4) {
        Some(6) => DropReason::Ipv6Truncated,
        _ => DropReason::Ipv4Truncated,
    }
}

/// Counts what the flow parser noticed (ICMP steering and hash fallbacks).
#[inline]
fn count_notes(stats: &LcoreStats, notes: &flow::Notes) {
    if notes.icmp_error {
        bump(&stats.hash_icmp_steered, 1);
    }
    if notes.icmp_truncated {
        bump(&stats.hash_icmp_truncated, 1);
    }
    if notes.ext_limit {
        bump(&stats.hash_ext_limit, 1);
    }
}

/// TCP flags of an IPv4 packet, or of an IPv6 packet with no extension
/// headers; 0 otherwise (a flow then keeps the transitory or UDP-like timeout).
fn tcp_flags(ip: &[u8]) -> u8 {
    let l4 = match ip.first().map(|b| b >> 4) {
        Some(4) if ip.get(9) == Some(&proto::TCP) => ip.get(ipv4::header_len_of(ip)..),
        Some(6) if ip.get(6) == Some(&proto::TCP) => ip.get(ipv6::HEADER_LEN..),
        _ => None,
    };
    l4.map_or(0, tcp::flags_of)
}

fn process_v6<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &mut B,
    l2_multicast: bool,
) -> Verdict {
    let eth_len = ethernet::HEADER_LEN;
    let (src, dst, hop_limit, next, total, icmp_type) = {
        let ip = match ipv6::Packet::new_checked(&pkt.data()[eth_len..]) {
            Ok(p) => p,
            Err(e) => return dropped(ctx.stats, e.into()),
        };
        let icmp_type = if ip.next_header() == proto::ICMPV6 {
            ip.payload().first().copied()
        } else {
            None
        };
        (
            ip.src(),
            ip.dst(),
            ip.hop_limit(),
            ip.next_header(),
            ip.total_len(),
            icmp_type,
        )
    };
    let is_ndp = icmp_type.is_some_and(icmpv6::is_ndp);
    if src.is_multicast() || src.is_loopback() {
        return dropped(ctx.stats, DropReason::MartianSource);
    }
    pkt.truncate(eth_len + total);
    // Multicast first: hosts send MLD reports from :: while their address is tentative.
    if dst.is_multicast() {
        return if is_ndp {
            to_kernel(ctx, port, pkt, true)
        } else if port.kernel && dst.segments()[0] == 0xff02 {
            // Link-local groups: OSPFv3, VRRP, MLD, ...
            to_kernel(ctx, port, pkt, false)
        } else {
            dropped(ctx.stats, DropReason::Multicast)
        };
    }
    if src.is_unspecified() && !is_ndp {
        return dropped(ctx.stats, DropReason::MartianSource);
    }
    if is_link_local(dst) {
        return if is_ndp {
            to_kernel(ctx, port, pkt, true)
        } else if port.kernel && dst == port.link_local {
            // BGP over link-local addresses (unnumbered), pings to it.
            local_v6(ctx, port, pkt, next, src, dst)
        } else {
            dropped(ctx.stats, DropReason::MartianDestination)
        };
    }
    if dst.is_loopback() || dst.is_unspecified() {
        return dropped(ctx.stats, DropReason::MartianDestination);
    }
    ctx.stats.stage_end(Stage::Parse);
    let fib = ctx.fib;
    let unreachable = Fam::V6.unreachable();
    let found = fib.table(port).lookup_v6(dst);
    ctx.stats.stage_end(Stage::Route);
    let Some(route) = found else {
        return icmp_error(
            ctx,
            pkt,
            port,
            DropReason::NoRoute,
            unreachable,
            l2_multicast,
        );
    };
    if route.target == Target::Local {
        if is_ndp {
            return to_kernel(ctx, port, pkt, true);
        }
        return local_v6(ctx, port, pkt, next, src, dst);
    }
    let t = Tail {
        route,
        dst: IpAddr::V6(dst),
        ttl: hop_limit,
        total,
        fam: Fam::V6,
        l2_multicast,
        nat_key: None,
    };
    forward_tail(ctx, port, pkt, t)
}

fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}
