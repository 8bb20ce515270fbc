//! VRFs through the control plane: an interface's VRF picks the table it
//! forwards with; connected and local routes, neighbours and FPM routes
//! are each VRF's own, and nothing leaks between them.

use super::fixture::*;
use crate::fpm::Resolved;

/// srv2 is in blue (table 10) with srv1's address and subnet; the service
/// prefix is in both VRFs, through srv1 in main and srv2 in blue.
const VRF_CFG: &str = "vrfs: { blue: { table: 10 } }
ports:
  - { name: lan, device: net_null0, addresses: [10.0.0.1/24] }
  - { name: srv1, device: net_null1, addresses: [10.1.0.1/24] }
  - { name: srv2, device: net_null2, addresses: [10.1.0.1/24], vrf: blue }
routes:
  - { prefix: 198.51.100.0/24, nexthops: [{ via: 10.1.0.2, port: srv1 }] }
  - { prefix: 198.51.100.0/24, vrf: blue, nexthops: [{ via: 10.1.0.2, port: srv2 }] }
neighbors:
  - { address: 10.1.0.2, mac: \"02:00:00:00:01:02\", port: srv1 }
  - { address: 10.1.0.2, mac: \"02:00:00:00:02:02\", port: srv2 }
";

fn vrf_plane() -> ControlPlane {
    let c = config::parse(VRF_CFG, "t").unwrap();
    ControlPlane::new(c, &MACS, vec![], Channels::default(), 64)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn each_interface_forwards_with_its_vrfs_table() {
    let cp = vrf_plane();
    let fib = cp.fib();
    assert_eq!(fib.vrfs.len(), 1);
    let (srv1, srv2) = (fib.ports[1], fib.ports[2]);
    assert_eq!((srv1.vrf, srv2.vrf), (0, 1));
    // The same subnet is each VRF's own connected route, the same address
    // each VRF's own local one.
    assert_eq!(
        fib.table(&srv1).lookup(ip("10.1.0.9")).map(|r| r.target),
        Some(Target::Connected(PortId(1)))
    );
    assert_eq!(
        fib.table(&srv2).lookup(ip("10.1.0.9")).map(|r| r.target),
        Some(Target::Connected(PortId(2)))
    );
    assert_eq!(
        fib.table(&srv2).lookup(ip("10.1.0.1")).map(|r| r.target),
        Some(Target::Local)
    );
    // Blue has none of main's: not lan's subnet, not its address.
    assert!(fib.table(&srv2).lookup(ip("10.0.0.5")).is_none());
    assert!(fib.table(&srv2).lookup(ip("10.0.0.1")).is_none());
    // The same neighbour address in both VRFs: two hosts.
    assert_ne!(
        fib.hosts.get(&(0, ip("10.1.0.2"))),
        fib.hosts.get(&(1, ip("10.1.0.2")))
    );
    assert!(fib.hosts.get(&(1, ip("10.1.0.2"))).is_some());
    // route get: the same prefix, each VRF's nexthop.
    let main = cp.route_get_from(ip("198.51.100.7"), ip("10.0.0.2"), 6, (1, 80), None, 0);
    let blue = cp.route_get_from(ip("198.51.100.7"), ip("10.0.0.2"), 6, (1, 80), None, 1);
    assert_eq!(main.nexthop, Some((ip("10.1.0.2"), "srv1".to_owned())));
    assert_eq!(blue.nexthop, Some((ip("10.1.0.2"), "srv2".to_owned())));
}

#[test]
fn a_packet_from_blue_goes_by_blues_route_and_finds_nothing_of_mains() {
    let cp = vrf_plane();
    let f = |dst: &str, port: usize| {
        frames::ipv4(
            CLIENT,
            MACS[port],
            "10.1.0.2".parse().unwrap(),
            dst.parse().unwrap(),
            17,
            64,
            &frames::udp(1, 2, b"x"),
        )
    };
    let (v, _, _) = forward(&cp, 2, &f("198.51.100.7", 2));
    assert!(matches!(v, Verdict::Forward(PortId(2))), "{v:?}");
    let (v, _, _) = forward(&cp, 1, &f("198.51.100.7", 1));
    assert!(matches!(v, Verdict::Forward(PortId(1))), "{v:?}");
    // lan's subnet is main's: from blue, no route.
    let (v, _, st) = forward(&cp, 2, &f("10.0.0.5", 2));
    assert!(!matches!(v, Verdict::Forward(_)), "{v:?}");
    assert_eq!(st.drops_of(dataplane::drop::DropReason::NoRoute), 1);
}

#[test]
fn fpm_routes_of_a_vrfs_table_land_in_it_through_its_interfaces_only() {
    let mut cp = vrf_plane();
    let r = |table: u32, pfx: &str, gw: &str| Resolved {
        members: vec![(ip(gw), 1u32).into()],
        protocol: 186,
        metric: 20,
        ..Resolved::withdrawn((table, pfx.parse().unwrap()))
    };
    cp.apply_fpm(vec![
        r(10, "203.0.113.0/24", "10.1.0.2"),
        // 10.0.0.0/24 is lan's, in main: no interface of blue's holds it.
        r(10, "192.0.2.0/24", "10.0.0.9"),
    ]);
    let fib = cp.fib();
    let blue = fib.table(&fib.ports[2]);
    assert!(blue.lookup(ip("203.0.113.1")).is_some(), "in blue");
    let g = cp.route_get_from(ip("203.0.113.1"), ip("10.1.0.2"), 6, (1, 80), None, 1);
    assert_eq!(
        g.nexthop,
        Some((ip("10.1.0.2"), "srv2".to_owned())),
        "through srv2"
    );
    assert!(
        fib.routes.lookup(ip("203.0.113.1")).is_none(),
        "not in main"
    );
    assert!(
        blue.lookup(ip("192.0.2.1")).is_none(),
        "no leak into main's lan"
    );
    assert!(cp
        .fpm_not_installed()
        .iter()
        .any(|v| v.table == 10 && v.prefix.to_string() == "192.0.2.0/24"));
}
