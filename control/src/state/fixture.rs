//! What the control plane's tests share: a three-port router, its MACs,
//! and frames its neighbours send.

pub(super) use super::*;
pub(super) use crate::config;
pub(super) use dataplane::forward::{process, Ctx, IcmpLimiter, Verdict};
pub(super) use dataplane::stats::LcoreStats;
pub(super) use dataplane::{PacketBuf, VecBuf};
pub(super) use std::net::Ipv4Addr;

pub(super) const CFG: &str = "ports:
  - { name: lan, device: net_null0, addresses: [10.0.0.1/24, fd00::1/64] }
  - { name: srv1, device: net_null1, addresses: [10.1.0.1/24, fd01::1/64] }
  - { name: srv2, device: net_null2, addresses: [10.2.0.1/24, fd02::1/64] }
routes:
  - prefix: 198.51.100.0/24
    nexthops: [{ via: 10.2.0.2, port: srv2, weight: 2 }, { via: 10.1.0.2, port: srv1 }]
neighbors: [{ address: 10.1.0.2, mac: \"02:00:00:00:01:02\", port: srv1 }]
";
pub(super) const MACS: [MacAddr; 3] = [
    MacAddr([2, 0, 0, 0, 0, 0xa0]),
    MacAddr([2, 0, 0, 0, 0, 0xa1]),
    MacAddr([2, 0, 0, 0, 0, 0xa2]),
];
pub(super) const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc1]);

/// The MAC of 10.2.0.2, srv2's gateway.
pub(super) const SRV2_GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 2]);

/// 10.2.0.2 (srv2's gateway) answers the router's ARP request on port 2.
pub(super) fn srv2_answers(ch: &Channels) {
    let srv2 = SRV2_GW_MAC;
    let reply = frames::arp(
        arp::OP_REPLY,
        srv2,
        MACS[2],
        srv2,
        "10.2.0.2".parse().unwrap(),
        MACS[2],
        "10.2.0.1".parse().unwrap(),
    );
    ch.punt
        .push(PuntFrame::copy_from(PortId(2), &reply))
        .unwrap();
}

pub(super) fn plane() -> (ControlPlane, Channels) {
    let c = config::parse(CFG, "t").unwrap();
    let ch = Channels::default();
    (ControlPlane::new(c, &MACS, vec![], ch.clone(), 64), ch)
}

/// A plane whose two gateways both have static MACs.
pub(super) fn plane_resolved() -> ControlPlane {
    let cfg = CFG.replace(
        "neighbors: [",
        "neighbors: [{ address: 10.2.0.2, mac: \"02:00:00:00:02:02\", port: srv2 }, ",
    );
    let c = config::parse(&cfg, "t").unwrap();
    ControlPlane::new(c, &MACS, vec![], Channels::default(), 64)
}

/// Group 0's bucket table as addresses (NexthopIds are one router's own).
pub(super) fn bucket_addrs(cp: &ControlPlane) -> Vec<IpAddr> {
    let fib = cp.fib();
    fib.group(GroupId(0))
        .unwrap()
        .buckets()
        .iter()
        .map(|id| fib.nexthop(*id).unwrap().addr)
        .collect()
}

/// Queues, as punted on `port`, the ARP reply of neighbour `ip` with `mac`
/// to the router's `router` address there.
pub(super) fn arp_reply(ch: &Channels, port: u16, mac: MacAddr, ip: Ipv4Addr, router: &str) {
    let r = MACS[port as usize];
    let reply = frames::arp(arp::OP_REPLY, mac, r, mac, ip, r, router.parse().unwrap());
    ch.punt
        .push(PuntFrame::copy_from(PortId(port), &reply))
        .unwrap();
}

/// Runs `pkt`, received on `port`, through the dataplane with `cp`'s FIB.
pub(super) fn forward(cp: &ControlPlane, port: u16, pkt: &[u8]) -> (Verdict, VecBuf, LcoreStats) {
    let fib = cp.fib();
    let stats = LcoreStats::new(64);
    let mut icmp = IcmpLimiter::new(10);
    let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
    let mut buf = VecBuf::new(pkt);
    let v = process(&mut ctx, PortId(port), &mut buf);
    (v, buf, stats)
}

pub(super) fn drain(ch: &Channels) -> Vec<InjectFrame> {
    std::iter::from_fn(|| ch.inject.pop()).collect()
}
