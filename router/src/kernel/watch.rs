//! The kernel's state the router mirrors: the RFC 5549 neighbours zebra
//! installs on kernel interfaces, and (`kernel-routes`) the main table.

use anyhow::{Context, Result};
use dataplane::MacAddr;
use futures_util::stream::TryStreamExt;

/// A kernel neighbour the router mirrors: the RFC 5549 gateway 169.254.0.1
/// that zebra installs (PERMANENT, with the BGP peer's MAC) on a kernel
/// interface for IPv4 routes over an IPv6 link-local nexthop. FPM does not
/// carry it, and nobody answers ARP for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelNeighbor {
    /// Config port of the kernel interface.
    pub port: usize,
    /// Its address.
    pub addr: std::net::IpAddr,
    /// Its MAC; `None`: gone (or no longer usable).
    pub mac: Option<MacAddr>,
}

/// Which kernel neighbours are mirrored (see [`KernelNeighbor`]).
pub fn mirrored(addr: std::net::IpAddr) -> bool {
    addr == std::net::IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 0, 1))
}

fn neighbor_of(
    msg: &rtnetlink::packet_route::neighbour::NeighbourMessage,
    del: bool,
    ports: &std::collections::HashMap<u32, usize>,
) -> Option<KernelNeighbor> {
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourState,
    };
    let port = *ports.get(&msg.header.ifindex)?;
    let mut addr = None;
    let mut mac = None;
    for a in &msg.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => addr = Some((*v).into()),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => addr = Some((*v).into()),
            NeighbourAttribute::LinkLayerAddress(l) if l.len() == 6 => {
                mac = Some(MacAddr([l[0], l[1], l[2], l[3], l[4], l[5]]))
            }
            _ => {}
        }
    }
    let addr = addr.filter(|a| mirrored(*a))?;
    let usable = !del
        && !matches!(
            msg.header.state,
            NeighbourState::Failed | NeighbourState::Incomplete | NeighbourState::None
        );
    Some(KernelNeighbor {
        port,
        addr,
        mac: mac.filter(|_| usable),
    })
}

/// Follows the kernel's neighbour table on the kernel interfaces (`ports`:
/// ifindex -> config port) on a thread of its own, from a dump and then its
/// notifications, and sends what [`mirrored`] selects to `tx`.
pub fn watch_neighbors(
    ports: std::collections::HashMap<u32, usize>,
    tx: std::sync::mpsc::Sender<KernelNeighbor>,
) -> Result<std::thread::JoinHandle<()>> {
    use futures_util::StreamExt;
    use rtnetlink::packet_core::NetlinkPayload;
    use rtnetlink::packet_route::RouteNetlinkMessage;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the neighbour watcher's runtime")?;
    let (conn, handle, mut messages) = rt
        .block_on(async {
            rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Neigh])
        })
        .context("subscribing to the kernel's neighbours")?;
    std::thread::Builder::new()
        .name("kernel-neigh".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::spawn(conn);
                let mut dump = handle.neighbours().get().execute();
                while let Ok(Some(m)) = dump.try_next().await {
                    if let Some(n) = neighbor_of(&m, false, &ports) {
                        let _ = tx.send(n);
                    }
                }
                while let Some((m, _)) = messages.next().await {
                    let n = match &m.payload {
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                            neighbor_of(n, false, &ports)
                        }
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(n)) => {
                            neighbor_of(n, true, &ports)
                        }
                        _ => None,
                    };
                    if let Some(n) = n {
                        if tx.send(n).is_err() {
                            return;
                        }
                    }
                }
            })
        })
        .context("starting the neighbour watcher")
}

const RTM_GETROUTE: u16 = 26;
const RTM_GETNEXTHOP: u16 = 106;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RTNLGRP_NEXTHOP: u32 = 32;
const RTPROT_KERNEL: u8 = 2;
const MAIN_TABLE: u32 = 254;

/// A netlink dump request: `kind`, with a zeroed family header of `body` bytes.
fn dump_request(kind: u16, body: usize, seq: u32) -> Vec<u8> {
    let len = 16 + body;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    // NLM_F_REQUEST | NLM_F_DUMP
    m.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.resize(len, 0);
    m
}

/// Whether a kernel route message is one `kernel-routes` mirrors: the main
/// table or a VRF's (`vrf_tables`), not the kernel's own (`proto kernel`: connected and link-local
/// routes), not link-local or multicast, and unicast or a reject type.
pub fn mirrors(vrf_tables: &[u32], m: &control::fpm::Message) -> bool {
    use control::fpm::{Message, Target};
    match m {
        Message::Route {
            table,
            prefix,
            protocol,
            target,
            ..
        } => {
            let addr = prefix.addr();
            let link_local = match addr {
                std::net::IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80 || a.is_multicast(),
                std::net::IpAddr::V4(a) => a.is_multicast() || a.is_link_local(),
            };
            let special_ok = match target {
                Some(Target::Special(t)) => matches!(t, 6..=8),
                _ => true,
            };
            (*table == MAIN_TABLE || vrf_tables.contains(table))
                && *protocol != RTPROT_KERNEL
                && !link_local
                && special_ok
        }
        Message::Nexthop { .. } => true,
        Message::Ignored(_) => false,
    }
}

/// Follows the kernel's main routing table and its nexthop objects
/// (`kernel-routes`) on a thread of its own: a dump, then notifications,
/// through a session like an FPM one, whose changes go to `tx`. When the
/// socket overruns (ENOBUFS), it dumps again.
pub fn watch_routes(
    tx: std::sync::mpsc::Sender<Vec<control::fpm::Change>>,
    vrf_tables: Vec<u32>,
) -> Result<std::thread::JoinHandle<()>> {
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
    let mut sock =
        Socket::new(NETLINK_ROUTE).context("opening rtnetlink for the kernel's routes")?;
    sock.bind_auto().context("binding rtnetlink")?;
    let _ = sock.set_rx_buf_sz(8usize << 20);
    for g in [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEXTHOP] {
        sock.add_membership(g)
            .context("subscribing to the kernel's routes")?;
    }
    std::thread::Builder::new()
        .name("kernel-routes".into())
        .spawn(move || {
            let mut session = control::fpm::Session::default();
            let mut seq = 1u32;
            let mut dump = true;
            loop {
                if dump {
                    dump = false;
                    // Nexthop objects first: routes name them.
                    for (kind, body) in [(RTM_GETNEXTHOP, 8), (RTM_GETROUTE, 12)] {
                        seq += 1;
                        if let Err(e) = sock.send(&dump_request(kind, body, seq), 0) {
                            control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("dump"); "kernel routes: dump request: {e}");
                        }
                    }
                }
                let buf = match sock.recv_from_full() {
                    Ok((b, _)) => b,
                    Err(e) if e.raw_os_error() == Some(105) => {
                        control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("enobufs");
                            "kernel routes: notifications overran (ENOBUFS): dumping again"
                        );
                        dump = true;
                        continue;
                    }
                    Err(e) => {
                        tracing::error!("kernel routes: {e}: no longer followed");
                        return;
                    }
                };
                let mut changes = Vec::new();
                let mut rest = buf.as_slice();
                while rest.len() >= 16 {
                    let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    if len < 16 || len > rest.len() {
                        break;
                    }
                    let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                    let msg = &rest[..len];
                    rest = &rest[((len + 3) & !3).min(rest.len())..];
                    if kind == NLMSG_DONE || kind == NLMSG_ERROR {
                        continue;
                    }
                    match control::fpm::decode(msg) {
                        Ok(m) if mirrors(&vrf_tables, &m) => match session.apply(m) {
                            Ok(c) => changes.extend(c),
                            Err(e) => control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("route"); "kernel routes: {e}"),
                        },
                        Ok(_) => {}
                        Err(e) => {
                            control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("unreadable"); "kernel routes: a message the router cannot read: {e}")
                        }
                    }
                }
                if !changes.is_empty() && tx.send(changes).is_err() {
                    return;
                }
            }
        })
        .context("starting the kernel routes' thread")
}

#[cfg(test)]
mod tests {
    use super::*;
    use control::fpm::{Message, Path, Target};
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
    };

    fn neighbour(
        ifindex: u32,
        addr: std::net::Ipv4Addr,
        state: NeighbourState,
    ) -> NeighbourMessage {
        let mut m = NeighbourMessage::default();
        m.header.ifindex = ifindex;
        m.header.state = state;
        m.attributes = vec![
            NeighbourAttribute::Destination(NeighbourAddress::Inet(addr)),
            NeighbourAttribute::LinkLayerAddress(vec![2, 0, 0, 0, 7, 7]),
        ];
        m
    }

    /// Only the RFC 5549 gateway on a kernel interface is mirrored; a
    /// delete, or a state without a usable MAC, hands it back (no MAC).
    #[test]
    fn the_rfc5549_neighbour_is_mirrored_with_its_mac() {
        let ports = std::collections::HashMap::from([(7u32, 2usize)]);
        let gw = std::net::Ipv4Addr::new(169, 254, 0, 1);
        let n = neighbor_of(&neighbour(7, gw, NeighbourState::Permanent), false, &ports)
            .expect("mirrored");
        assert_eq!(
            n,
            KernelNeighbor {
                port: 2,
                addr: gw.into(),
                mac: Some(MacAddr([2, 0, 0, 0, 7, 7]))
            }
        );
        let gone = neighbor_of(&neighbour(7, gw, NeighbourState::Permanent), true, &ports);
        assert_eq!(gone.and_then(|n| n.mac), None);
        let failed = neighbor_of(&neighbour(7, gw, NeighbourState::Failed), false, &ports);
        assert_eq!(failed.and_then(|n| n.mac), None);
        assert!(
            neighbor_of(&neighbour(8, gw, NeighbourState::Permanent), false, &ports).is_none(),
            "not a kernel interface"
        );
        let other = std::net::Ipv4Addr::new(10, 1, 0, 2);
        assert!(
            neighbor_of(
                &neighbour(7, other, NeighbourState::Reachable),
                false,
                &ports
            )
            .is_none(),
            "not mirrored"
        );
    }

    /// A dump request is a netlink header (length, type, REQUEST|DUMP, seq)
    /// and a zeroed family header.
    #[test]
    fn a_dump_request_is_a_request_and_a_dump() {
        let m = dump_request(RTM_GETROUTE, 12, 9);
        assert_eq!(m.len(), 28);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 28);
        assert_eq!(
            u16::from_ne_bytes(m[4..6].try_into().unwrap()),
            RTM_GETROUTE
        );
        assert_eq!(u16::from_ne_bytes(m[6..8].try_into().unwrap()), 0x301);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 9);
        assert!(m[12..].iter().all(|&b| b == 0));
    }

    fn route(table: u32, prefix: &str, protocol: u8, target: Option<Target>) -> Message {
        Message::Route {
            table,
            prefix: prefix.parse().unwrap(),
            priority: 20,
            protocol,
            target,
        }
    }

    /// `kernel-routes` mirrors the main table's unicast and reject routes,
    /// not the kernel's own, link-local or multicast ones, nor other tables.
    #[test]
    fn kernel_routes_mirror_what_the_main_table_routes() {
        let via = Some(Target::Paths(vec![Path {
            gateway: Some("10.1.0.2".parse().unwrap()),
            ifindex: 3,
            weight: 1,
        }]));
        assert!(mirrors(
            &[],
            &route(MAIN_TABLE, "198.51.100.0/24", 4, via.clone())
        ));
        assert!(
            mirrors(&[], &route(MAIN_TABLE, "198.51.100.0/24", 4, None)),
            "a delete"
        );
        assert!(
            mirrors(
                &[],
                &route(MAIN_TABLE, "192.0.2.0/24", 4, Some(Target::Special(6)))
            ),
            "blackhole"
        );
        assert!(
            !mirrors(
                &[],
                &route(MAIN_TABLE, "192.0.2.0/24", 4, Some(Target::Special(3)))
            ),
            "broadcast"
        );
        assert!(
            !mirrors(
                &[],
                &route(MAIN_TABLE, "10.1.0.0/24", RTPROT_KERNEL, via.clone())
            ),
            "proto kernel"
        );
        assert!(
            !mirrors(&[], &route(100, "198.51.100.0/24", 4, via.clone())),
            "another table"
        );
        assert!(
            mirrors(&[100], &route(100, "198.51.100.0/24", 4, via.clone())),
            "a VRF's table"
        );
        assert!(
            !mirrors(&[], &route(MAIN_TABLE, "fe80::/64", 4, via.clone())),
            "link-local"
        );
        assert!(
            !mirrors(&[], &route(MAIN_TABLE, "224.0.0.0/4", 4, via)),
            "multicast"
        );
        assert!(mirrored("169.254.0.1".parse().unwrap()));
        assert!(!mirrored("169.254.0.2".parse().unwrap()));
    }
}
