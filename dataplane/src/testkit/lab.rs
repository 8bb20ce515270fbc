//! The README's lab as a FIB, and frames of its client: what the unit
//! tests of the pipeline and of the poll loop, the no-allocation test and
//! the forwarding benchmark run on. The one lab FIB of the workspace.

use crate::fib::{Fib, Nexthop, PortInfo, RouteTableBuilder, Target};
use crate::frames;
use crate::neighbor::Neighbors;
use crate::nhg::Group;
use crate::types::{MacAddr, NexthopId, PortId, Prefix};
use crate::wire::proto;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The router's MAC on the LAN port.
pub const LAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa0]);
/// The client's MAC (10.0.0.2 and fd00::2 on the LAN).
pub const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc1]);
/// The MAC of srv1's gateway (10.1.0.2, fd01::2).
pub const SRV1_MAC: MacAddr = MacAddr([2, 0, 0, 0, 1, 2]);
/// The MAC of srv2's gateway (10.2.0.2, fd02::2).
pub const SRV2_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 2]);

/// An IPv4 address from its text (panics on a typo: for tests).
pub fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
/// An IPv6 address from its text (panics on a typo: for tests).
pub fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The lab of the README: lan 10.0.0.1/fd00::1, srv1 10.1.0.1, srv2 10.2.0.1,
/// 198.51.100.0/24 and 2001:db8:100::/64 over srv1:srv2 with weights 1:2.
pub fn lab_fib() -> Fib {
    lab_fib_with_routes(0)
}

/// `lab_fib` with `extra` more IPv4 routes over the IPv4 group: random
/// prefixes of /8 to /24 from a fixed seed (xorshift), as a table of that
/// size would shape the LPM. The lab's own routes are added after them and
/// win where they overlap.
pub fn lab_fib_with_routes(extra: usize) -> Fib {
    let ports: Arc<[PortInfo]> = Arc::new([
        PortInfo {
            mac: LAN_MAC,
            mtu: 1500,
            v4: Some(ip4("10.0.0.1")),
            v6: Some(ip6("fd00::1")),
            kernel: false,
            link_local: crate::punt::link_local(LAN_MAC),
            parent: PortId(0),
            vlan: 0,
            vrf: 0,
        },
        PortInfo {
            mac: MacAddr([2, 0, 0, 0, 0, 0xa1]),
            mtu: 1500,
            v4: Some(ip4("10.1.0.1")),
            v6: Some(ip6("fd01::1")),
            kernel: false,
            link_local: crate::punt::link_local(MacAddr([2, 0, 0, 0, 0, 0xa1])),
            parent: PortId(1),
            vlan: 0,
            vrf: 0,
        },
        PortInfo {
            mac: MacAddr([2, 0, 0, 0, 0, 0xa2]),
            mtu: 1400,
            v4: Some(ip4("10.2.0.1")),
            v6: Some(ip6("fd02::1")),
            kernel: false,
            link_local: crate::punt::link_local(MacAddr([2, 0, 0, 0, 0, 0xa2])),
            parent: PortId(2),
            vlan: 0,
            vrf: 0,
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
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..extra {
        let a = next() as u32;
        let len = 8 + (next() % 17) as u8;
        b.add_route(
            Prefix::new_truncating(Ipv4Addr::from(a).into(), len),
            Target::Group(g4),
        );
    }
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
    hosts.insert((0, "10.0.0.2".parse().unwrap()), NexthopId(4));
    hosts.insert((0, "fd00::2".parse().unwrap()), NexthopId(5));
    Fib {
        generation: 1,
        routes: Arc::new(b.build()),
        vrfs: Arc::new([]),
        groups,
        nexthops,
        hosts: Arc::new(hosts),
        ports,
        vlans: Default::default(),
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
