//! Builders for whole frames: the ARP and NDP messages the control plane
//! sends, and the test and benchmark traffic. These allocate, so they are
//! never called on the fast path.

use crate::checksum;
use crate::types::MacAddr;
use crate::wire::{arp, ethernet, icmp, icmpv6, ipv4, ipv6, proto};
use std::net::{Ipv4Addr, Ipv6Addr};

/// An ARP request or reply frame (padded to the 60-byte Ethernet minimum).
pub fn arp(
    op: u16,
    src_mac: MacAddr,
    dst_mac: MacAddr,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    ethernet::write_header_unchecked(&mut f, dst_mac, src_mac, ethernet::ethertype::ARP);
    arp::write_unchecked(&mut f[ethernet::HEADER_LEN..], op, sha, spa, tha, tpa);
    f
}

/// An IPv6 frame carrying the ICMPv6 message `msg`, its checksum filled in.
pub fn ipv6_icmp(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    msg: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + msg.len()];
    ethernet::write_header_unchecked(&mut f, dst_mac, src_mac, ethernet::ethertype::IPV6);
    ipv6::write_header_unchecked(
        &mut f[ethernet::HEADER_LEN..],
        src,
        dst,
        proto::ICMPV6,
        hop_limit,
        msg.len() as u16,
    );
    let at = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
    f[at..].copy_from_slice(msg);
    if let Ok(mut m) = icmpv6::Packet::new_checked(&mut f[at..]) {
        m.fill_checksum(&src, &dst);
    }
    f
}

/// A multicast Neighbor Solicitation for `target` from `src` (RFC 4861 section 7.2.2).
pub fn neighbor_solicit(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    neighbor_solicit_to(src_mac, src, target, None)
}

/// A Neighbor Solicitation for `target`: to its solicited-node multicast
/// address, or unicast to `known` (a reachability probe, RFC 4861 section 7.3.1).
pub fn neighbor_solicit_to(
    src_mac: MacAddr,
    src: Ipv6Addr,
    target: Ipv6Addr,
    known: Option<MacAddr>,
) -> Vec<u8> {
    let mut m = [0u8; 32];
    icmpv6::write_ns_unchecked(&mut m, target, src_mac);
    match known {
        Some(mac) => ipv6_icmp(src_mac, mac, src, target, 255, &m),
        None => {
            let dst = icmpv6::solicited_node(target);
            ipv6_icmp(src_mac, MacAddr::ipv6_multicast(dst), src, dst, 255, &m)
        }
    }
}

/// A Neighbor Advertisement for `target` sent to `dst` at `dst_mac`.
pub fn neighbor_advert(
    src_mac: MacAddr,
    target: Ipv6Addr,
    dst_mac: MacAddr,
    dst: Ipv6Addr,
    solicited: bool,
) -> Vec<u8> {
    let mut m = [0u8; 32];
    icmpv6::write_na_unchecked(&mut m, target, src_mac, solicited);
    ipv6_icmp(src_mac, dst_mac, target, dst, 255, &m)
}

/// An IPv4 packet with `l4` as payload (checksums of TCP/UDP are not filled).
pub fn ipv4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ttl: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + l4.len()];
    ethernet::write_header_unchecked(&mut f, dst_mac, src_mac, ethernet::ethertype::IPV4);
    let total = (ipv4::MIN_HEADER_LEN + l4.len()) as u16;
    ipv4::write_header_unchecked(
        &mut f[ethernet::HEADER_LEN..],
        src,
        dst,
        protocol,
        ttl,
        total,
    );
    f[ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN..].copy_from_slice(l4);
    f
}

/// An IPv6 packet with `l4` as payload.
pub fn ipv6(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next: u8,
    hop_limit: u8,
    l4: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + l4.len()];
    ethernet::write_header_unchecked(&mut f, dst_mac, src_mac, ethernet::ethertype::IPV6);
    ipv6::write_header_unchecked(
        &mut f[ethernet::HEADER_LEN..],
        src,
        dst,
        next,
        hop_limit,
        l4.len() as u16,
    );
    f[ethernet::HEADER_LEN + ipv6::HEADER_LEN..].copy_from_slice(l4);
    f
}

/// A 20-byte TCP SYN header from `sport` to `dport` (checksum left zero).
pub fn tcp_syn(sport: u16, dport: u16) -> [u8; 20] {
    let mut t = [0u8; 20];
    t[0..2].copy_from_slice(&sport.to_be_bytes());
    t[2..4].copy_from_slice(&dport.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = 0x02;
    t[14..16].copy_from_slice(&64240u16.to_be_bytes());
    t
}

/// A UDP datagram from `sport` to `dport` carrying `payload` (checksum left zero).
pub fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An ICMP echo request message with a valid checksum.
pub fn icmp_echo(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![icmp::kind::ECHO_REQUEST, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    let c = checksum::checksum(&m);
    m[2..4].copy_from_slice(&c.to_be_bytes());
    m
}

/// An ICMPv6 echo request message (no checksum: [`ipv6_icmp`] fills it)
/// with identifier `id` and sequence `seq`.
pub fn icmpv6_echo_message(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut m = vec![icmpv6::kind::ECHO_REQUEST, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(payload);
    m
}

/// An ICMPv6 echo request frame with a valid checksum.
pub fn icmpv6_echo(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop_limit: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut m = vec![icmpv6::kind::ECHO_REQUEST, 0, 0, 0, 0, 1, 0, 1];
    m.extend_from_slice(payload);
    ipv6_icmp(src_mac, dst_mac, src, dst, hop_limit, &m)
}
