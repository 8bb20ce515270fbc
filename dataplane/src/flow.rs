//! Extracts the fields a flow hash may read from an IP packet: the outer
//! endpoints, the inner packet of a tunnel, and, for ICMP errors, the flow
//! the error is about.
//!
//! # What is parsed
//! - IPv4 (RFC 791) and IPv6 (RFC 8200). For IPv6 the extension headers
//!   hop-by-hop (0), routing (43), fragment (44), destination options (60) and
//!   AH (51) are walked to find the upper-layer header, at most
//!   [`MAX_EXT_HEADERS`] of them. Beyond that limit the walk stops: the packet
//!   is hashed without ports, with the last next-header value read as its
//!   protocol, and [`Notes::ext_limit`] is set (counted as
//!   `ecmp_router_hash_fallbacks_total{reason="ext_header_limit"}`).
//! - Ports for TCP, UDP and SCTP, unless the packet is a fragment (IPv4 MF or
//!   offset, IPv6 fragment header with M or offset): every fragment of a
//!   datagram then hashes alike.
//! - Inner packets: IPv4 or IPv6 in IPv4/IPv6 (protocols 4 and 41) and GRE
//!   (RFC 2784/2890, version 0, no routing) carrying IPv4 or IPv6. One level.
//! - ICMP errors: IPv4 Destination Unreachable (including Fragmentation
//!   Needed), Time Exceeded and Parameter Problem; ICMPv6 Destination
//!   Unreachable, Packet Too Big, Time Exceeded and Parameter Problem. The
//!   embedded packet is the reverse direction of the flow the error is about,
//!   so its endpoints are swapped back: the error hashes exactly like the
//!   flow's own packets, under every policy (RFC 7690).
//!
//! # Truncated embedded packets
//! When the embedded IP header is complete but fewer than 4 bytes of its
//! upper layer remain, the error is hashed on the embedded addresses without
//! ports. When the embedded IP header itself is incomplete, the error is
//! hashed on its own outer fields like any packet. Both set
//! [`Notes::icmp_truncated`].
//!
//! Nothing here allocates or panics on any input.

use crate::wire::{ipv4, proto};

/// Most IPv6 extension headers walked before giving up.
pub const MAX_EXT_HEADERS: usize = 8;

const IPIP: u8 = 4;
const IPV6_IN_IP: u8 = 41;
const GRE: u8 = 47;
const AH: u8 = 51;

/// One packet's hashable fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    /// Source address, IPv4 in the top 32 bits.
    pub src: u128,
    /// Destination address, IPv4 in the top 32 bits.
    pub dst: u128,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Source port (0 when absent).
    pub sport: u16,
    /// Destination port (0 when absent).
    pub dport: u16,
    /// IPv6 flow label (0 for IPv4).
    pub flow_label: u32,
    /// True when ports are present (TCP/UDP/SCTP, not a fragment).
    pub has_ports: bool,
    /// True for IPv6.
    pub v6: bool,
}

impl Endpoints {
    /// The reverse direction (a reply).
    pub fn reversed(self) -> Endpoints {
        Endpoints {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            ..self
        }
    }
}

/// Everything a hash policy may read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowKey {
    /// The packet's own fields (for an ICMP error: the flow it is about).
    pub outer: Endpoints,
    /// The tunnelled packet's fields, if any.
    pub inner: Option<Endpoints>,
}

/// Facts about how the key was extracted, for counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Notes {
    /// The IPv6 extension-header walk hit [`MAX_EXT_HEADERS`].
    pub ext_limit: bool,
    /// This is an ICMP error steered by its embedded packet.
    pub icmp_error: bool,
    /// The embedded packet was truncated (see the module docs).
    pub icmp_truncated: bool,
}

struct L3<'a> {
    ep: Endpoints,
    /// Upper-layer bytes available (may be short).
    l4: &'a [u8],
    fragment: bool,
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn addr_v4(b: &[u8], at: usize) -> Option<u128> {
    let s = b.get(at..at + 4)?;
    Some((u32::from_be_bytes([s[0], s[1], s[2], s[3]]) as u128) << 96)
}

fn addr_v6(b: &[u8], at: usize) -> Option<u128> {
    let s = b.get(at..at + 16)?;
    let mut o = [0u8; 16];
    o.copy_from_slice(s);
    Some(u128::from_be_bytes(o))
}

#[inline]
fn with_ports(mut ep: Endpoints, l4: &[u8], fragment: bool) -> Endpoints {
    if !fragment && matches!(ep.proto, proto::TCP | proto::UDP | proto::SCTP) {
        if let (Some(s), Some(d)) = (be16(l4, 0), be16(l4, 2)) {
            ep.sport = s;
            ep.dport = d;
            ep.has_ports = true;
        }
    }
    ep
}

/// Parses an IPv4 header (possibly truncated after the header).
#[inline]
fn parse_v4(b: &[u8]) -> Option<L3<'_>> {
    let ihl = ipv4::header_len_of(b);
    if *b.first()? >> 4 != 4 || ihl < 20 || b.len() < ihl {
        return None;
    }
    let total = (be16(b, 2)? as usize).clamp(ihl, b.len());
    let fragment = be16(b, 6)? & 0x3fff != 0;
    let ep = Endpoints {
        src: addr_v4(b, 12)?,
        dst: addr_v4(b, 16)?,
        proto: b[9],
        v6: false,
        ..Default::default()
    };
    let l4 = &b[ihl..total];
    Some(L3 {
        ep: with_ports(ep, l4, fragment),
        l4,
        fragment,
    })
}

/// Parses an IPv6 header and walks its extension headers.
#[inline]
fn parse_v6<'a>(b: &'a [u8], notes: &mut Notes) -> Option<L3<'a>> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return None;
    }
    let end = (40 + be16(b, 4)? as usize).min(b.len());
    let flow_label = u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]]);
    let mut next = b[6];
    let mut at = 40;
    let mut fragment = false;
    let mut walked = 0;
    loop {
        let len = match next {
            0 | 43 | 60 => (*b.get(at + 1)? as usize + 1) * 8,
            AH => (*b.get(at + 1)? as usize + 2) * 4,
            proto::IPV6_FRAG => {
                fragment |= be16(b, at + 2)? & 0xfff9 != 0;
                8
            }
            _ => break,
        };
        if walked == MAX_EXT_HEADERS {
            notes.ext_limit = true;
            let ep = Endpoints {
                src: addr_v6(b, 8)?,
                dst: addr_v6(b, 24)?,
                proto: next,
                flow_label,
                v6: true,
                ..Default::default()
            };
            return Some(L3 {
                ep,
                l4: &[],
                fragment,
            });
        }
        next = *b.get(at)?;
        at += len;
        walked += 1;
        if at > end {
            return None;
        }
    }
    let ep = Endpoints {
        src: addr_v6(b, 8)?,
        dst: addr_v6(b, 24)?,
        proto: next,
        flow_label,
        v6: true,
        ..Default::default()
    };
    let l4 = b.get(at..end)?;
    Some(L3 {
        ep: with_ports(ep, l4, fragment),
        l4,
        fragment,
    })
}

#[inline]
fn parse_any<'a>(b: &'a [u8], notes: &mut Notes) -> Option<L3<'a>> {
    match *b.first()? >> 4 {
        4 => parse_v4(b),
        6 => parse_v6(b, notes),
        _ => None,
    }
}

/// The inner packet of IP-in-IP or GRE, if `l3` carries one.
#[inline]
fn inner_of(l3: &L3<'_>, notes: &mut Notes) -> Option<Endpoints> {
    if l3.fragment {
        return None;
    }
    let payload = match l3.ep.proto {
        IPIP | IPV6_IN_IP => l3.l4,
        GRE => {
            let flags = be16(l3.l4, 0)?;
            // Version 0 only; no source routing (RFC 1701 bit R).
            if flags & 0x0007 != 0 || flags & 0x4000 != 0 {
                return None;
            }
            let ptype = be16(l3.l4, 2)?;
            if ptype != 0x0800 && ptype != 0x86dd {
                return None;
            }
            let hl = 4 + 4
                * ((flags & 0x8000 != 0) as usize
                    + (flags & 0x2000 != 0) as usize
                    + (flags & 0x1000 != 0) as usize);
            l3.l4.get(hl..)?
        }
        _ => return None,
    };
    parse_any(payload, notes).map(|p| p.ep)
}

#[inline]
fn icmp_embedded<'a>(l3: &L3<'a>) -> Option<&'a [u8]> {
    if l3.fragment || l3.l4.len() < 8 {
        return None;
    }
    let t = l3.l4[0];
    let is_error = if l3.ep.v6 {
        l3.ep.proto == proto::ICMPV6 && (1..=4).contains(&t)
    } else {
        l3.ep.proto == proto::ICMP && matches!(t, 3 | 11 | 12)
    };
    is_error.then(|| &l3.l4[8..])
}

/// Extracts the flow key of the IP packet `ip` (starting at the IP header).
/// Returns `None` only for bytes that are not an IP header at all.
#[inline]
pub fn extract(ip: &[u8]) -> Option<(FlowKey, Notes)> {
    match fast(ip) {
        Some(outer) => Some((FlowKey { outer, inner: None }, Notes::default())),
        None => extract_general(ip),
    }
}

/// [`fast_v4`] or [`fast_v6`], whichever family `ip` is.
#[inline(always)]
pub fn fast(ip: &[u8]) -> Option<Endpoints> {
    match ip.first()? >> 4 {
        4 => fast_v4(ip),
        6 => fast_v6(ip),
        _ => None,
    }
}

/// The flow key of most IPv6 traffic, with no general parse: no extension
/// headers, TCP or UDP with both ports inside the payload. `None` for
/// anything else. It gives the same key as [`extract_general`] (a test
/// checks), with no inner packet and no notes.
#[inline(always)]
pub fn fast_v6(ip: &[u8]) -> Option<Endpoints> {
    let h: &[u8; 44] = ip.get(..44)?.try_into().ok()?;
    let next = h[6];
    if h[0] >> 4 != 6 || (next != proto::TCP && next != proto::UDP) {
        return None;
    }
    if u16::from_be_bytes([h[4], h[5]]) < 4 {
        return None;
    }
    Some(Endpoints {
        src: addr_v6(h, 8)?,
        dst: addr_v6(h, 24)?,
        proto: next,
        sport: u16::from_be_bytes([h[40], h[41]]),
        dport: u16::from_be_bytes([h[42], h[43]]),
        flow_label: u32::from_be_bytes([0, h[1] & 0x0f, h[2], h[3]]),
        has_ports: true,
        v6: true,
    })
}

/// The flow key of most traffic, with no general parse: IPv4 without options,
/// not a fragment, TCP or UDP with its ports. `None` for anything else. It
/// gives the same key as [`extract_general`] (a test checks), with no inner
/// packet and no notes.
#[inline(always)]
pub fn fast_v4(ip: &[u8]) -> Option<Endpoints> {
    if let [0x45, _, tl0, tl1, _, _, f0, f1, _, p, _, _, s0, s1, s2, s3, d0, d1, d2, d3, rest @ ..] =
        ip
    {
        let total = u16::from_be_bytes([*tl0, *tl1]) as usize;
        if (*p == proto::TCP || *p == proto::UDP)
            && u16::from_be_bytes([*f0, *f1]) & 0x3fff == 0
            && total >= 24
            && rest.len() >= 4
        {
            return Some(Endpoints {
                src: (u32::from_be_bytes([*s0, *s1, *s2, *s3]) as u128) << 96,
                dst: (u32::from_be_bytes([*d0, *d1, *d2, *d3]) as u128) << 96,
                proto: *p,
                sport: u16::from_be_bytes([rest[0], rest[1]]),
                dport: u16::from_be_bytes([rest[2], rest[3]]),
                flow_label: 0,
                has_ports: true,
                v6: false,
            });
        }
    }
    None
}

/// [`extract`] for every packet: options, fragments, ICMP errors, tunnels, IPv6.
pub fn extract_general(ip: &[u8]) -> Option<(FlowKey, Notes)> {
    let mut notes = Notes::default();
    let l3 = parse_any(ip, &mut notes)?;
    if let Some(emb) = icmp_embedded(&l3) {
        notes.icmp_error = true;
        let mut inner_notes = Notes::default();
        match parse_any(emb, &mut inner_notes) {
            Some(e) => {
                if !e.ep.has_ports
                    && matches!(e.ep.proto, proto::TCP | proto::UDP | proto::SCTP)
                    && !e.fragment
                {
                    notes.icmp_truncated = true;
                }
                let inner = inner_of(&e, &mut inner_notes).map(Endpoints::reversed);
                notes.ext_limit |= inner_notes.ext_limit;
                return Some((
                    FlowKey {
                        outer: e.ep.reversed(),
                        inner,
                    },
                    notes,
                ));
            }
            None => notes.icmp_truncated = true,
        }
    }
    let inner = inner_of(&l3, &mut notes);
    Some((
        FlowKey {
            outer: l3.ep,
            inner,
        },
        notes,
    ))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn fast_path_gives_the_general_key() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(
                &(
                    any::<[u8; 4]>(),
                    any::<[u8; 4]>(),
                    prop_oneof![Just(6u8), Just(17), Just(1), Just(47)],
                    any::<u16>(),
                    any::<u16>(),
                    prop_oneof![Just(0u16), Just(0x4000), 0u16..0x4000],
                    0usize..60,
                    20usize..48,
                ),
                |(src, dst, p, sp, dp, frag, total, len)| {
                    let mut b = vec![0u8; len];
                    b[0] = 0x45;
                    b[2..4].copy_from_slice(&(total as u16).to_be_bytes());
                    b[6..8].copy_from_slice(&frag.to_be_bytes());
                    b[9] = p;
                    b[12..16].copy_from_slice(&src);
                    b[16..20].copy_from_slice(&dst);
                    if b.len() >= 24 {
                        b[20..22].copy_from_slice(&sp.to_be_bytes());
                        b[22..24].copy_from_slice(&dp.to_be_bytes());
                    }
                    prop_assert_eq!(extract(&b), extract_general(&b));
                    Ok(())
                },
            )
            .unwrap();
    }
    #[test]
    fn fast_v6_gives_the_general_key() {
        use proptest::prelude::*;
        let mut runner = proptest::test_runner::TestRunner::default();
        runner
            .run(
                &(
                    any::<[u8; 16]>(),
                    any::<[u8; 16]>(),
                    prop_oneof![Just(6u8), Just(17), Just(58), Just(0), Just(44), Just(4)],
                    any::<[u8; 4]>(),
                    any::<[u8; 4]>(),
                    prop_oneof![0u16..8, 0u16..60],
                    prop_oneof![38usize..50, 38usize..90],
                    prop_oneof![Just(6u8), Just(5)],
                ),
                |(src, dst, next, ports, vtcfl, plen, len, ver)| {
                    let mut b = vec![0u8; len];
                    b[0] = (ver << 4) | (vtcfl[0] & 0x0f);
                    b[1..4].copy_from_slice(&vtcfl[1..]);
                    b[4..6].copy_from_slice(&plen.to_be_bytes());
                    b[6] = next;
                    b[8..24].copy_from_slice(&src[..len.min(24) - 8]);
                    if len >= 40 {
                        b[24..40].copy_from_slice(&dst);
                    }
                    let n = b.len().saturating_sub(40).min(4);
                    if n > 0 {
                        b[40..40 + n].copy_from_slice(&ports[..n]);
                    }
                    // Extension headers of 8 bytes (hop-by-hop, fragment).
                    if len >= 48 {
                        b[41] = 0;
                    }
                    prop_assert_eq!(extract(&b), extract_general(&b));
                    if let Some(k) = fast_v6(&b) {
                        prop_assert_eq!(Some(k), extract_general(&b).map(|(k, _)| k.outer));
                    }
                    Ok(())
                },
            )
            .unwrap();
    }

    use crate::frames;
    use crate::types::MacAddr;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

    pub fn ip_of(frame: &[u8]) -> &[u8] {
        &frame[14..]
    }

    #[test]
    fn tcp_v4_ports() {
        let f = frames::ipv4(
            M,
            M,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(198, 51, 100, 10),
            6,
            64,
            &frames::tcp_syn(40000, 8080),
        );
        let (k, n) = extract(ip_of(&f)).unwrap();
        assert_eq!(
            (k.outer.sport, k.outer.dport, k.outer.has_ports, k.inner),
            (40000, 8080, true, None)
        );
        assert_eq!(n, Notes::default());
    }

    #[test]
    fn ext_headers_walked_and_limited() {
        let src: Ipv6Addr = "fd00::2".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:100::10".parse().unwrap();
        // Hop-by-hop (8 bytes, next = dstopts), dstopts (8 bytes, next = TCP), TCP.
        let mut l4 = vec![60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
        l4.extend_from_slice(&frames::tcp_syn(1234, 80));
        let f = frames::ipv6(M, M, src, dst, 0, 64, &l4);
        let (k, n) = extract(ip_of(&f)).unwrap();
        assert_eq!((k.outer.proto, k.outer.sport, k.outer.dport), (6, 1234, 80));
        assert!(!n.ext_limit);
        // Nine destination-options headers: beyond the limit.
        let mut l4 = Vec::new();
        for _ in 0..9 {
            l4.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
        }
        let n9 = l4.len();
        l4[n9 - 8] = 6;
        l4.extend_from_slice(&frames::tcp_syn(1234, 80));
        let f = frames::ipv6(M, M, src, dst, 60, 64, &l4);
        let (k, n) = extract(ip_of(&f)).unwrap();
        assert!(n.ext_limit);
        assert!(!k.outer.has_ports);
    }

    #[test]
    fn gre_inner() {
        let inner = frames::ipv4(
            M,
            M,
            Ipv4Addr::new(192, 168, 1, 1),
            Ipv4Addr::new(192, 168, 2, 2),
            17,
            64,
            &[0x13, 0x88, 0x00, 0x35, 0, 8, 0, 0],
        );
        let mut gre = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 42]; // K bit, key 42
        gre.extend_from_slice(ip_of(&inner));
        let f = frames::ipv4(
            M,
            M,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 9, 9, 9),
            GRE,
            64,
            &gre,
        );
        let (k, _) = extract(ip_of(&f)).unwrap();
        let i = k.inner.unwrap();
        assert_eq!((i.sport, i.dport, i.proto), (5000, 53, 17));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..80 {
            let b: Vec<u8> = (0..len).map(|i| (i * 37 + 0x45) as u8).collect();
            let _ = extract(&b);
            let mut c = b.clone();
            if !c.is_empty() {
                c[0] = 0x60;
            }
            let _ = extract(&c);
        }
    }
}
