//! Builds ICMP and ICMPv6 errors in place of the packet that caused them.
//!
//! The offending packet stays in its buffer as the quoted original; new
//! Ethernet, IP and ICMP headers are prepended into the headroom, and the
//! frame goes back to the previous hop (the original Ethernet source).
//!
//! What is quoted:
//! - IPv4: as much of the original as fits in 576 bytes (RFC 1812 section 4.3.2.3).
//! - IPv6: as much as fits in 1280 bytes (RFC 4443 section 2.4 (c)).
//!
//! When no error is sent (RFC 1812 section 4.3.2.7, RFC 4443 section 2.4 (e)):
//! the original is itself an ICMP error, a non-initial fragment, or its
//! source is not a unicast host address; or the port has no address of that
//! family to send from. The packet is then dropped under its reason only.

use crate::buf::PacketBuf;
use crate::checksum;
use crate::fib::PortInfo;
use crate::types::MacAddr;
use crate::wire::{ethernet, icmp, icmpv6, ipv4, ipv6, proto};

const V4_MAX: usize = 576;
const V6_MAX: usize = 1280;

/// Replaces the IPv4 packet in `pkt` by an ICMP error of `kind`/`code` with
/// the 4-byte `rest` field (next-hop MTU for Fragmentation Needed).
/// Returns false, leaving the packet unusable for forwarding, when no error may be sent.
pub fn ipv4_error<B: PacketBuf>(
    pkt: &mut B,
    port: &PortInfo,
    kind: u8,
    code: u8,
    rest: u32,
) -> bool {
    let Some(router) = port.v4 else { return false };
    let d = pkt.data();
    let Ok(eth) = ethernet::Frame::new_checked(d) else {
        return false;
    };
    let prev_hop = eth.src();
    let Ok(ip) = ipv4::Packet::new_checked(&d[ethernet::HEADER_LEN..]) else {
        return false;
    };
    let src = ip.src();
    if src.is_unspecified()
        || src.is_multicast()
        || src.is_broadcast()
        || src.is_loopback()
        || ip.frag_offset() != 0
    {
        return false;
    }
    if ip.protocol() == proto::ICMP {
        match icmp::Packet::new_checked(ip.payload()) {
            Ok(m) if !icmp::is_error(m.msg_type()) => {}
            _ => return false,
        }
    }
    let quote = ip
        .total_len()
        .min(V4_MAX - ipv4::MIN_HEADER_LEN - icmp::HEADER_LEN);
    pkt.truncate(ethernet::HEADER_LEN + quote);
    let extra = ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN;
    if !pkt.prepend(extra) {
        return false;
    }
    let d = pkt.data_mut();
    ethernet::write_header_unchecked(d, prev_hop, port.mac, ethernet::ethertype::IPV4);
    let ip_at = ethernet::HEADER_LEN;
    let icmp_at = ip_at + ipv4::MIN_HEADER_LEN;
    ipv4::write_header_unchecked(
        &mut d[ip_at..],
        router,
        src,
        proto::ICMP,
        64,
        (extra + quote) as u16,
    );
    let m = &mut d[icmp_at..];
    m[0] = kind;
    m[1] = code;
    m[2..4].fill(0);
    m[4..8].copy_from_slice(&rest.to_be_bytes());
    let c = checksum::checksum(m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    true
}

/// Replaces the IPv6 packet in `pkt` by an ICMPv6 error (RFC 4443) of
/// `kind`/`code` with the 4-byte `rest` field (MTU for Packet Too Big).
/// `l2_multicast` says the original arrived as a link-layer multicast.
/// Returns false when no error may be sent.
pub fn ipv6_error<B: PacketBuf>(
    pkt: &mut B,
    port: &PortInfo,
    kind: u8,
    code: u8,
    rest: u32,
    l2_multicast: bool,
) -> bool {
    let Some(router) = port.v6 else { return false };
    let d = pkt.data();
    let Ok(eth) = ethernet::Frame::new_checked(d) else {
        return false;
    };
    let prev_hop = eth.src();
    let Ok(ip) = ipv6::Packet::new_checked(&d[ethernet::HEADER_LEN..]) else {
        return false;
    };
    let src = ip.src();
    let dst = ip.dst();
    if src.is_unspecified() || src.is_multicast() || src.is_loopback() {
        return false;
    }
    if (dst.is_multicast() || l2_multicast) && kind != icmpv6::kind::PACKET_TOO_BIG {
        return false;
    }
    if ip.next_header() == proto::ICMPV6 {
        match icmpv6::Packet::new_checked(ip.payload()) {
            Ok(m) if !icmpv6::is_error(m.msg_type()) => {}
            _ => return false,
        }
    }
    let quote = ip
        .total_len()
        .min(V6_MAX - ipv6::HEADER_LEN - icmpv6::HEADER_LEN);
    pkt.truncate(ethernet::HEADER_LEN + quote);
    let extra = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
    if !pkt.prepend(extra) {
        return false;
    }
    let d = pkt.data_mut();
    ethernet::write_header_unchecked(d, prev_hop, port.mac, ethernet::ethertype::IPV6);
    let ip_at = ethernet::HEADER_LEN;
    let icmp_at = ip_at + ipv6::HEADER_LEN;
    let plen = icmpv6::HEADER_LEN + quote;
    ipv6::write_header_unchecked(&mut d[ip_at..], router, src, proto::ICMPV6, 64, plen as u16);
    let m = &mut d[icmp_at..];
    m[0] = kind;
    m[1] = code;
    m[2..4].fill(0);
    m[4..8].copy_from_slice(&rest.to_be_bytes());
    let mut p = icmpv6::Packet::new_checked(&mut m[..plen]).expect("plen >= 8");
    p.fill_checksum(&router, &src);
    true
}

/// Swaps the Ethernet addresses so the frame goes back to its sender from `mac`.
pub fn reflect_l2(d: &mut [u8], mac: MacAddr) {
    if let Ok(eth) = ethernet::Frame::new_checked(&*d) {
        let prev = eth.src();
        ethernet::write_header_unchecked(d, prev, mac, eth.ethertype());
    }
}
