//! The README's lab as a FIB, and frames of its client: what the unit
//! tests of the pipeline and of the poll loop run on.

use crate::fib::{Fib, Nexthop, PortInfo, RouteTableBuilder, Target};
use crate::frames;
use crate::neighbor::Neighbors;
use crate::nhg::Group;
use crate::types::{MacAddr, NexthopId, PortId, Prefix};
use crate::wire::proto;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

pub const LAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa0]);
pub const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc1]);
pub const SRV1_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 2]);
pub const SRV2_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 2]);

pub fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
pub fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The lab of the README: lan 10.0.0.1/fd00::1, srv1 10.1.0.1, srv2 10.2.0.1,
/// 198.51.100.0/24 and 2001:db8:100::/64 over srv1:srv2 with weights 1:2.
pub fn lab_fib() -> Fib {
    let ports: Arc<[PortInfo]> = Arc::new([
        PortInfo {
            mac: LAN_MAC,
            mtu: 1500,
            v4: Some(ip4("10.0.0.1")),
            v6: Some(ip6("fd00::1")),
            kernel: false,
            link_local: crate::punt::link_local(LAN_MAC),
        },
        PortInfo {
            mac: MacAddr([2, 0, 0, 0, 0, 0xa1]),
            mtu: 1500,
            v4: Some(ip4("10.1.0.1")),
            v6: Some(ip6("fd01::1")),
            kernel: false,
            link_local: crate::punt::link_local(MacAddr([2, 0, 0, 0, 0, 0xa1])),
        },
        PortInfo {
            mac: MacAddr([2, 0, 0, 0, 0, 0xa2]),
            mtu: 1400,
            v4: Some(ip4("10.2.0.1")),
            v6: Some(ip6("fd02::1")),
            kernel: false,
            link_local: crate::punt::link_local(MacAddr([2, 0, 0, 0, 0, 0xa2])),
        },
    ]);
    let nexthops: Arc<[Nexthop]> = Arc::new([
        Nexthop {
            port: PortId(1),
            addr: "10.1.0.2".parse().unwrap(),
        },
        Nexthop {
            port: PortId(2),
            addr: "10.2.0.2".parse().unwrap(),
        },
        Nexthop {
            port: PortId(1),
            addr: "fd01::2".parse().unwrap(),
        },
        Nexthop {
            port: PortId(2),
            addr: "fd02::2".parse().unwrap(),
        },
        Nexthop {
            port: PortId(0),
            addr: "10.0.0.2".parse().unwrap(),
        },
        Nexthop {
            port: PortId(0),
            addr: "fd00::2".parse().unwrap(),
        },
    ]);
    let mut b = RouteTableBuilder::default();
    let groups: Arc<[Option<Arc<Group>>]> = Arc::new([
        Some(Arc::new(
            Group::new(&[(NexthopId(0), 1), (NexthopId(1), 2)]).unwrap(),
        )),
        Some(Arc::new(
            Group::new(&[(NexthopId(2), 1), (NexthopId(3), 2)]).unwrap(),
        )),
    ]);
    let (g4, g6) = (crate::types::GroupId(0), crate::types::GroupId(1));
    b.add_route("198.51.100.0/24".parse().unwrap(), Target::Group(g4));
    b.add_route("2001:db8:100::/64".parse().unwrap(), Target::Group(g6));
    b.add_route("192.0.2.0/24".parse().unwrap(), Target::Blackhole);
    b.add_route("198.18.0.0/24".parse().unwrap(), Target::Unreachable);
    b.add_route("198.18.1.0/24".parse().unwrap(), Target::Prohibit);
    b.add_route("2001:db8:dead::/48".parse().unwrap(), Target::Unreachable);
    b.add_route("2001:db8:beef::/48".parse().unwrap(), Target::Prohibit);
    for (i, (a4, a6)) in [
        ("10.0.0.1", "fd00::1"),
        ("10.1.0.1", "fd01::1"),
        ("10.2.0.1", "fd02::1"),
    ]
    .iter()
    .enumerate()
    {
        b.add_route(
            Prefix::new_truncating(a4.parse().unwrap(), 24),
            Target::Connected(PortId(i as u16)),
        );
        b.add_route(
            Prefix::new_truncating(a6.parse().unwrap(), 64),
            Target::Connected(PortId(i as u16)),
        );
        b.add_route(Prefix::host(a4.parse().unwrap()), Target::Local);
        b.add_route(Prefix::host(a6.parse().unwrap()), Target::Local);
    }
    let neighbors = Arc::new(Neighbors::new(16));
    for (i, m) in [
        SRV1_MAC, SRV2_MAC, SRV1_MAC, SRV2_MAC, CLIENT_MAC, CLIENT_MAC,
    ]
    .iter()
    .enumerate()
    {
        neighbors.set(NexthopId(i as u32), *m);
    }
    let mut hosts = HashMap::new();
    hosts.insert("10.0.0.2".parse().unwrap(), NexthopId(4));
    hosts.insert("fd00::2".parse().unwrap(), NexthopId(5));
    Fib {
        generation: 1,
        routes: Arc::new(b.build()),
        groups,
        nexthops,
        hosts: Arc::new(hosts),
        ports,
        neighbors,
        policy: Default::default(),
        snat: Default::default(),
    }
}

/// A small UDP datagram from the client (10.0.0.2, on the LAN port) to `dst`.
pub fn udp_from_client(dst: Ipv4Addr) -> Vec<u8> {
    frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("10.0.0.2"),
        dst,
        proto::UDP,
        64,
        &[0; 8],
    )
}

/// `lab_fib` with a kernel interface on every port.
pub fn kernel_fib() -> Fib {
    let mut fib = lab_fib();
    fib.ports = fib
        .ports
        .iter()
        .map(|p| PortInfo { kernel: true, ..*p })
        .collect();
    fib
}
