//! The staged burst path: [`process_burst`] runs the common case stage by
//! stage over a whole burst (parse, route, select, rewrite).

use super::*;

/// The most packets [`process_burst`] takes at once.
pub const BURST_MAX: usize = 32;

/// What stage 1 of [`process_burst`] reads from a packet it may forward,
/// once: every later stage reads this record, not the headers (the route
/// stage the destination, the select stage the flow key and TCP flags, the
/// rewrite the length and TTL).
#[derive(Clone, Copy, Default)]
pub(super) struct Meta {
    /// The flow key, as [`flow::fast`] gives it. `has_ports` is false when
    /// the packet is not TCP or UDP with its ports (a fragment, another
    /// protocol, a cut header): such a packet takes the general tail.
    pub(super) ep: flow::Endpoints,
    /// IP total length (IPv6: header and payload).
    pub(super) total: u16,
    /// TTL or hop limit, above 1.
    pub(super) ttl: u8,
    /// IPv4's don't-fragment bit.
    pub(super) df: bool,
    /// TCP flags, 0 for UDP or when the header stops before them.
    pub(super) tcp_flags: u8,
}

impl Meta {
    fn fam(&self) -> Fam {
        match self.ep.v6 {
            true => Fam::V6,
            false => Fam::V4 { df: self.df },
        }
    }
    /// [`nat::key_out`] of the packet, for IPv4 TCP and UDP with ports;
    /// `None` for the rest, whose key SNAT reads from the packet.
    fn nat_key(&self) -> Option<Result<(NatKey, u8), Untranslatable>> {
        let e = &self.ep;
        if e.v6 || !e.has_ports {
            return None;
        }
        // key_out wants the whole TCP or UDP header.
        let l4 = self.total as usize - ipv4::MIN_HEADER_LEN;
        let whole = match e.proto {
            proto::TCP => l4 >= tcp::HEADER_LEN,
            _ => l4 >= crate::wire::udp::HEADER_LEN,
        };
        let key = NatKey {
            proto: e.proto,
            src: (e.src >> 96) as u32,
            dst: (e.dst >> 96) as u32,
            sport: e.sport,
            dport: e.dport,
        };
        Some(match whole {
            true => Ok((key, self.tcp_flags)),
            false => Err(Untranslatable::Unsupported),
        })
    }
    fn dst(&self) -> IpAddr {
        match self.ep.v6 {
            true => IpAddr::V6(Ipv6Addr::from(self.ep.dst)),
            false => IpAddr::V4(Ipv4Addr::from((self.ep.dst >> 96) as u32)),
        }
    }
}

/// Runs a burst of frames received on `in_port` through the pipeline and
/// writes one verdict per frame into `out` (which must be at least as long).
///
/// The result is exactly that of calling [`process`] on each frame in
/// order (a test checks it, counters and flow table included), but the
/// common case is run stage by stage over the whole burst, so each stage's
/// code and data stay hot and independent packets overlap their memory
/// accesses:
/// 1. parse: IPv4 without options, a valid checksum and length, unicast
///    addresses and a TTL above 1, or IPv6 with a valid length, global
///    unicast addresses and a hop limit above 1, each read once into a
///    [`Meta`] record (addresses, protocol, ports, TCP flags, length, TTL);
/// 2. route: the LPM lookups of every parsed packet, IPv6's in lock step;
/// 3. select: for TCP and UDP on a group route, the flow hash of every
///    plain packet in one loop, then its member in another, so the picks'
///    dependent loads overlap. A sticky, per-packet or policy-routed packet
///    takes its side branch ([`group_hop`], which the general path runs
///    too) in packet order, since it reads or changes shared state;
/// 4. rewrite: MTU, TTL or hop limit, MACs, counters.
///
/// A packet the parse stage does not take (ARP, options, errors, local
/// delivery, bad headers) runs [`process`], which does every check again;
/// the stages change nothing before they are sure, so that is safe. With
/// SNAT on, a reply to an SNAT address runs [`process`] (it is translated
/// before routing), and other IPv4 packets take the forwarding tail after
/// stage 2, where SNAT picks the hop of a bound flow and translates, with
/// the NAT key from stage 1.
pub fn process_burst<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    in_port: PortId,
    pkts: &mut [B],
    out: &mut [Verdict],
) {
    let n = pkts.len().min(out.len());
    let fib = ctx.fib;
    let Some(port) = fib.port(in_port).copied() else {
        for (p, v) in pkts[..n].iter_mut().zip(out.iter_mut()) {
            *v = process(ctx, in_port, p);
        }
        return;
    };
    // SNAT: replies to its addresses are translated before routing, so they
    // take the general path; every other IPv4 packet takes the forwarding
    // tail, which asks SNAT for the hop first, with the NAT key read in
    // stage 1.
    let snat = &*fib.snat;
    let nat_on = !snat.is_empty() && ctx.nat.is_some();
    // Rules are the default VRF's; a VRF's interfaces forward with its table.
    let rules = !fib.policy.rules.is_empty() && port.vrf == 0;
    let table = fib.table(&port);
    for (chunk, outs) in pkts[..n]
        .chunks_mut(BURST_MAX)
        .zip(out.chunks_mut(BURST_MAX))
    {
        ctx.stats.stage_start();
        let mut metas = [Meta::default(); BURST_MAX];
        let (mut fast, mut v6) = (0u32, 0u32);
        for (i, (p, m)) in chunk.iter_mut().zip(metas.iter_mut()).enumerate() {
            // The record is written in place: returned, it went through a
            // stack temporary in pieces and was copied whole, a
            // store-forwarding stall (the parse stage cost 20-30 cycles more).
            if classify_v4(p.data(), port.mac, m) {
                if nat_on && snat.addr_index((m.ep.dst >> 96) as u32).is_some() {
                    continue;
                }
            } else if classify_v6(p.data(), port.mac, m) {
                v6 |= 1 << i;
            } else {
                continue;
            }
            p.truncate(ethernet::HEADER_LEN + m.total as usize);
            fast |= 1 << i;
        }
        ctx.stats.stage_end(Stage::Parse);
        let mut routes: [Option<&Route>; BURST_MAX] = [None; BURST_MAX];
        route_stage(table, &metas, (fast, v6), &mut routes);
        ctx.stats.stage_end(Stage::Route);
        // Stage 3a, hash: in one loop with no side effects. Stage 3b, pick:
        // in another. Side effects (the spray counter, the flow table, ICMP
        // errors, counters) stay in packet order, in the last loop.
        let (mut plain, mut side) = (0u32, 0u32);
        let mut groups: [Option<&crate::nhg::Group>; BURST_MAX] = [None; BURST_MAX];
        let mut hashes = [0u32; BURST_MAX];
        let mut bits = fast;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let m = &metas[i];
            let Some(r) = routes[i].filter(|_| m.ep.has_ports && (!nat_on || m.ep.v6)) else {
                continue;
            };
            let Target::Group(g) = r.target else { continue };
            // A dangling group id: the general tail counts it.
            let Some(group) = fib.group(g) else { continue };
            groups[i] = Some(group);
            if rules
                || (r.sticky && ctx.flows.is_some())
                || r.hash.policy == crate::hash::HashPolicy::PerPacket
            {
                side |= 1 << i;
            } else {
                let key = flow::FlowKey {
                    outer: m.ep,
                    inner: None,
                };
                hashes[i] = flow_hash(&r.hash, &key, 0);
                plain |= 1 << i;
            }
        }
        let mut hops: [Result<Hop, NoHop>; BURST_MAX] = [Err(NoHop::Down); BURST_MAX];
        let mut bits = plain;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(group) = groups[i] {
                hops[i] = fib.pick(group, hashes[i]);
            }
        }
        for (i, (p, v)) in chunk.iter_mut().zip(outs.iter_mut()).enumerate() {
            let bit = 1 << i;
            if fast & bit == 0 {
                *v = process(ctx, in_port, p);
                continue;
            }
            ctx.in_port = in_port;
            let m = &metas[i];
            let fam = m.fam();
            // Each arm stores its own verdict: one `*v = match ..` built the
            // verdict in a stack temporary in pieces and copied it whole, a
            // store-forwarding stall perf put at 13 % of the worker.
            match (routes[i], groups[i]) {
                (Some(_), Some(_)) if plain & bit != 0 => {
                    // The general code counts every group packet here.
                    ctx.spray = ctx.spray.wrapping_add(1);
                    match hops[i] {
                        Ok(hop) => *v = rewrite(ctx, &port, p, m.total, m.ttl, fam, hop),
                        Err(e) => *v = group_miss(ctx, &port, p, fam, e.into()),
                    }
                }
                (Some(route), Some(group)) if side & bit != 0 => {
                    ctx.spray = ctx.spray.wrapping_add(1);
                    let key = flow::FlowKey {
                        outer: m.ep,
                        inner: None,
                    };
                    match group_hop(ctx, route, group, &key, m.tcp_flags, false) {
                        Ok(hop) => *v = rewrite(ctx, &port, p, m.total, m.ttl, fam, hop),
                        Err(miss) => *v = group_miss(ctx, &port, p, fam, miss),
                    }
                }
                (None, _) => {
                    let e = fam.unreachable();
                    *v = icmp_error(ctx, p, &port, DropReason::NoRoute, e, false)
                }
                (Some(route), _) => match (route.target, fam) {
                    (Target::Local, Fam::V4 { .. }) => *v = local_v4(ctx, &port, p, m.ep.proto),
                    // IPv6 to the router itself: the general path, from the start.
                    (Target::Local, Fam::V6) => *v = process(ctx, in_port, p),
                    _ => {
                        let t = Tail {
                            route,
                            dst: m.dst(),
                            ttl: m.ttl,
                            total: m.total as usize,
                            fam,
                            l2_multicast: false,
                            nat_key: m.nat_key(),
                        };
                        *v = forward_tail(ctx, &port, p, t)
                    }
                },
            }
        }
    }
}

/// Stage 2 of [`process_burst`]: the LPM lookups of the lanes in `fast`;
/// those in `v6` walk IPv6's trie in lock step.
#[inline(always)]
fn route_stage<'f>(
    table: &'f crate::fib::RouteTable,
    metas: &[Meta; BURST_MAX],
    (fast, v6): (u32, u32),
    routes: &mut [Option<&'f Route>; BURST_MAX],
) {
    let mut bits = fast & !v6;
    while bits != 0 {
        let i = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        routes[i] = table.lookup_v4(Ipv4Addr::from((metas[i].ep.dst >> 96) as u32));
    }
    if v6 != 0 {
        // IPv6's trie is several reads deep: all lanes walk it in lock step.
        let (mut keys, mut at, mut n6) = ([0u128; BURST_MAX], [0u8; BURST_MAX], 0);
        let mut bits = v6;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            (keys[n6], at[n6]) = (metas[i].ep.dst, i as u8);
            n6 += 1;
        }
        let mut found: [Option<&Route>; BURST_MAX] = [None; BURST_MAX];
        table.lookup_v6_bulk(&keys[..n6], &mut found[..n6]);
        for (&i, r) in at[..n6].iter().zip(found) {
            routes[i as usize] = r;
        }
    }
}

/// Stage 1 of [`process_burst`]: the checks of [`process`] and
/// `process_v4` for a packet that passes them all without a side road,
/// and its [`Meta`] record.
#[inline(always)]
pub(super) fn classify_v4(d: &[u8], mac: MacAddr, m: &mut Meta) -> bool {
    let Some(h) = d.get(..34).and_then(|h| <&[u8; 34]>::try_from(h).ok()) else {
        return false;
    };
    if h[..6] != mac.0 || h[6] & 1 != 0 || h[12] != 0x08 || h[13] != 0x00 || h[14] != 0x45 {
        return false;
    }
    let ip = &h[14..];
    if crate::checksum::checksum(ip) != 0 {
        return false;
    }
    let total = u16::from_be_bytes([ip[2], ip[3]]);
    let (ttl, s0, d0, p) = (ip[8], ip[12], ip[16], ip[9]);
    // Sources the general path calls martian (0/8, 127/8, 224/3 and the
    // broadcast address all have these first octets), destinations it
    // drops or delivers specially (0/8, 127/8, multicast, broadcast, 240/4).
    let odd = |o: u8| o == 0 || o == 127 || o >= 224;
    if total < 20 || total as usize > d.len() - 14 || ttl <= 1 || odd(s0) || odd(d0) {
        return false;
    }
    // flow::fast_v4's key: TCP or UDP, not a fragment, both ports inside.
    let first = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff == 0;
    let has = (p == proto::TCP || p == proto::UDP) && first && total >= 24;
    let (ports, sport, dport, tcp_flags) = l4_of(d, 34, total as usize, p, has);
    *m = Meta {
        ep: flow::Endpoints {
            src: (u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]) as u128) << 96,
            dst: (u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]) as u128) << 96,
            proto: p,
            sport,
            dport,
            flow_label: 0,
            has_ports: ports,
            v6: false,
        },
        total,
        ttl,
        df: ip[6] & 0x40 != 0,
        tcp_flags,
    };
    true
}

/// What stage 1 reads of the TCP or UDP header at `at` in frame `d`, whose
/// IP packet is `total` bytes: whether the ports are there (`has`, the
/// caller's check), the ports, and the TCP flags (0 when the header stops
/// before them, as `tcp::flags_of` gives on the truncated packet).
#[inline(always)]
pub(super) fn l4_of(
    d: &[u8],
    at: usize,
    total: usize,
    proto: u8,
    has: bool,
) -> (bool, u16, u16, u8) {
    let ports = if has { d.get(at..at + 4) } else { None };
    let Some(b) = ports else {
        return (false, 0, 0, 0);
    };
    let flags_at = at + tcp::field::FLAGS;
    let flags = match proto == proto::TCP && total > flags_at - ethernet::HEADER_LEN {
        true => d.get(flags_at).copied().unwrap_or(0),
        false => 0,
    };
    let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    (true, be(0), be(2), flags)
}

/// Stage 1 of [`process_burst`] for IPv6: the checks of [`process`] and
/// `process_v6` for a packet to forward that passes them all, and its
/// [`Meta`] record.
#[inline(always)]
pub(super) fn classify_v6(d: &[u8], mac: MacAddr, m: &mut Meta) -> bool {
    let Some(h) = d.get(..54).and_then(|h| <&[u8; 54]>::try_from(h).ok()) else {
        return false;
    };
    if h[..6] != mac.0 || h[6] & 1 != 0 || h[12] != 0x86 || h[13] != 0xdd || h[14] >> 4 != 6 {
        return false;
    }
    let ip = &h[14..];
    let payload = u16::from_be_bytes([ip[4], ip[5]]) as usize;
    let total = ipv6::HEADER_LEN + payload;
    let (next, hop_limit) = (ip[6], ip[7]);
    let addr = |at: usize| {
        ip[at..at + 16]
            .iter()
            .fold(0u128, |a, &b| a << 8 | b as u128)
    };
    let (src, dst) = (addr(8), addr(24));
    // Sources the general path calls martian (multicast, loopback, and the
    // unspecified address, which only NDP may use), destinations it drops
    // or delivers specially (multicast, link-local, loopback, unspecified).
    let (s8, d8, d10) = ((src >> 120) as u8, (dst >> 120) as u8, (dst >> 118) as u16);
    let odd_src = s8 == 0xff || src <= 1;
    let odd_dst = d8 == 0xff || d10 == 0xfe80 >> 6 || dst <= 1;
    if total > d.len() - 14 || hop_limit <= 1 || odd_src || odd_dst {
        return false;
    }
    // flow::fast_v6's key: no extension header, both ports inside.
    let has = (next == proto::TCP || next == proto::UDP) && payload >= 4;
    let (ports, sport, dport, tcp_flags) = l4_of(d, 54, total, next, has);
    *m = Meta {
        ep: flow::Endpoints {
            src,
            dst,
            proto: next,
            sport,
            dport,
            flow_label: u32::from_be_bytes([0, ip[1] & 0x0f, ip[2], ip[3]]),
            has_ports: ports,
            v6: true,
        },
        total: total as u16,
        ttl: hop_limit,
        df: false,
        tcp_flags,
    };
    true
}

/// What the staged path does when a group route gives no hop.
#[inline(never)]
pub(super) fn group_miss<B: PacketBuf>(
    ctx: &mut Ctx<'_>,
    port: &PortInfo,
    pkt: &mut B,
    fam: Fam,
    miss: Miss,
) -> Verdict {
    match miss {
        Miss::Verdict(v) => v,
        Miss::Dangling => dropped(ctx.stats, DropReason::DanglingId),
        Miss::AllDown => {
            let e = fam.unreachable();
            icmp_error(ctx, pkt, port, DropReason::AllNexthopsDown, e, false)
        }
        Miss::Reject(r) => icmp_error(ctx, pkt, port, r, miss_error(fam, r), false),
    }
}
