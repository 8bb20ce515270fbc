//! VLAN sub-interfaces through the control plane and a worker's loop: the
//! config's sub-interfaces become FIB ports, tagged frames run as received
//! on them, what leaves by them is tagged, and the control plane's own
//! frames (ARP answers) go out of the trunk with the tag.

use super::fixture::*;
use dataplane::poll::Poller;
use dataplane::testkit::mem::{Frame, MemIo};
use dataplane::types::PortId;
use dataplane::vlan;
use dataplane::wire::{ethernet, ipv4, proto};

const TRUNK_CFG: &str = "ports:
  - { name: lan, device: net_null0, addresses: [10.0.0.1/24] }
  - name: trunk
    device: net_null1
    addresses: [192.0.2.1/24]
    vlans:
      - { id: 100, addresses: [10.100.0.1/24, \"fd64::1/64\"] }
      - { id: 200, name: guest, addresses: [10.200.0.1/24], mtu: 1400 }
routes:
  - prefix: 198.51.100.0/24
    nexthops: [{ via: 10.100.0.2, port: trunk.100 }, { via: 10.200.0.2, port: guest }]
neighbors:
  - { address: 10.100.0.2, port: trunk.100, mac: \"02:00:00:00:64:02\" }
  - { address: 10.200.0.2, port: guest, mac: \"02:00:00:00:c8:02\" }
";

const TRUNK_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa1]);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x64, 2]);

fn trunk_plane() -> (ControlPlane, Channels) {
    let c = config::parse(TRUNK_CFG, "t").unwrap();
    let ch = Channels::default();
    (ControlPlane::new(c, &MACS[..2], vec![], ch.clone(), 64), ch)
}

fn tagged(vid: u16, f: &[u8]) -> Vec<u8> {
    let mut b = VecBuf::new(f);
    assert!(vlan::tag(&mut b, vid));
    b.data().to_vec()
}

/// Every frame of `rx[port]` through one worker; the loop's queues after.
fn run(cp: &ControlPlane, input: &[(usize, Vec<u8>)]) -> (MemIo, LcoreStats) {
    let fib = cp.fib();
    let stats = LcoreStats::new(64);
    let mut io = MemIo::new(2);
    for (p, f) in input {
        io.rx[*p].push_back(Frame::new(*p as u16, f));
    }
    let mut p = Poller::new(io, 0, 2, None, None);
    let mut icmp = IcmpLimiter::new(100);
    for _ in 0..8 {
        let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
        p.poll(&mut ctx);
    }
    let io = std::mem::replace(p.io(), MemIo::new(0));
    (io, stats)
}

#[test]
fn sub_interfaces_are_ports_after_the_devices_with_the_trunks_mac() {
    let (cp, _) = trunk_plane();
    let c = cp.config();
    assert_eq!(c.devices(), 2);
    let names: Vec<&str> = c.ports.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["lan", "trunk", "trunk.100", "guest"]);
    let fib = cp.fib();
    let guest = fib.ports[3];
    assert_eq!(
        (guest.parent, guest.vlan, guest.mtu, guest.mac),
        (PortId(1), 200, 1400, TRUNK_MAC)
    );
    assert_eq!(fib.vlans.lookup(PortId(1), 100), Some(PortId(2)));
}

#[test]
fn ecmp_over_two_vlans_of_a_trunk_leaves_tagged_by_each_nexthop() {
    let (cp, _) = trunk_plane();
    let input: Vec<(usize, Vec<u8>)> = (0..64u16)
        .map(|sp| {
            let f = frames::ipv4(
                CLIENT,
                MACS[0],
                "10.0.0.2".parse().unwrap(),
                "198.51.100.7".parse().unwrap(),
                proto::UDP,
                64,
                &frames::udp(1000 + sp, 53, &[0; 8]),
            );
            (0, f)
        })
        .collect();
    let (io, _) = run(&cp, &input);
    assert_eq!(io.sent[1].len(), 64, "every packet leaves by the trunk");
    let mut by_vid = std::collections::BTreeMap::new();
    for f in &io.sent[1] {
        let d = f.data();
        let vid = vlan::vid_of(d).expect("tagged");
        let dst = ethernet::Frame::new_checked(d).unwrap().dst();
        let want = if vid == 100 {
            PEER_MAC
        } else {
            MacAddr([2, 0, 0, 0, 0xc8, 2])
        };
        assert_eq!(dst, want, "VID {vid}'s nexthop");
        assert_eq!(d[6..12], TRUNK_MAC.0);
        assert_eq!(d[16..18], [0x08, 0x00]);
        assert_eq!(ipv4::Packet::new_checked(&d[18..]).unwrap().ttl(), 63);
        *by_vid.entry(vid).or_insert(0) += 1;
    }
    assert_eq!(
        by_vid.keys().copied().collect::<Vec<_>>(),
        [100, 200],
        "{by_vid:?}"
    );
}

#[test]
fn between_vlans_echo_unknown_vids_and_arp_on_a_sub_interface() {
    let (mut cp, ch) = trunk_plane();
    let from100 = |dst: &str, l4: &[u8], p: u8| {
        tagged(
            100,
            &frames::ipv4(
                PEER_MAC,
                TRUNK_MAC,
                "10.100.0.2".parse().unwrap(),
                dst.parse().unwrap(),
                p,
                64,
                l4,
            ),
        )
    };
    let arp = tagged(
        100,
        &frames::arp(
            arp::OP_REQUEST,
            PEER_MAC,
            MacAddr::BROADCAST,
            PEER_MAC,
            "10.100.0.2".parse().unwrap(),
            MacAddr::ZERO,
            "10.100.0.1".parse().unwrap(),
        ),
    );
    let ping = frames::icmp_echo(1, 1, &[0; 16]);
    let input = vec![
        (
            1,
            from100("10.200.0.2", &frames::udp(5, 6, &[1]), proto::UDP),
        ),
        (1, from100("10.100.0.1", &ping, proto::ICMP)),
        (1, {
            let mut f = from100("10.200.0.2", &frames::udp(5, 6, &[1]), proto::UDP);
            f[14..16].copy_from_slice(&300u16.to_be_bytes());
            f
        }),
        (0, {
            let mut f = from100("10.200.0.2", &frames::udp(5, 6, &[1]), proto::UDP);
            f[..6].copy_from_slice(&MACS[0].0);
            f
        }),
        (1, arp),
    ];
    let (mut io, stats) = run(&cp, &input);
    let sent: Vec<Vec<u8>> = io.sent[1].iter().map(|f| f.data().to_vec()).collect();
    assert_eq!(sent.len(), 2, "the routed packet and the echo reply");
    // VLAN 100 to VLAN 200: out of the same trunk with tag 200.
    assert_eq!(vlan::vid_of(&sent[0]), Some(200));
    assert_eq!(sent[0][..6], [2, 0, 0, 0, 0xc8, 2]);
    // The echo reply goes back tagged 100, from 10.100.0.1.
    assert_eq!(vlan::vid_of(&sent[1]), Some(100));
    let ip = ipv4::Packet::new_checked(&sent[1][18..]).unwrap();
    assert_eq!(
        (ip.src(), ip.payload()[0]),
        ("10.100.0.1".parse().unwrap(), 0)
    );
    // VID 300 on the trunk, and any tag on the lan port (no sub-interfaces).
    assert_eq!(stats.drops_of(dataplane::drop::DropReason::UnknownVlan), 2);
    // The ARP request reached the control plane as from trunk.100, untagged...
    let (port, frame) = io.punted.items.pop_front().expect("punted");
    assert_eq!(port, PortId(2));
    assert_eq!(frame[12..14], [0x08, 0x06]);
    ch.punt
        .push(crate::punt::PuntFrame::copy_from(port, &frame))
        .unwrap();
    cp.poll(std::time::Instant::now());
    // ...and its answer leaves by the trunk, tagged 100.
    let out = drain(&ch);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].port, PortId(1));
    let reply = out[0].bytes();
    assert_eq!(vlan::vid_of(reply), Some(100));
    assert_eq!(reply[16..18], [0x08, 0x06]);
    assert_eq!(reply[..6], PEER_MAC.0);
}

#[test]
fn a_trunk_going_down_takes_its_sub_interfaces_nexthops_down() {
    let c = config::parse(
        &TRUNK_CFG.replace("net_null1", "\"net_af_packet1,iface=x\""),
        "t",
    )
    .unwrap();
    let mut cp = ControlPlane::new(c, &MACS[..2], vec![], Channels::default(), 64);
    let id = cp
        .nexthop_id(PortId(2), "10.100.0.2".parse().unwrap())
        .unwrap();
    assert!(cp.fib().neighbors.live(id).is_some());
    cp.set_link(PortId(1), false);
    assert!(cp.fib().neighbors.live(id).is_none());
    cp.set_link(PortId(1), true);
    assert!(cp.fib().neighbors.live(id).is_some());
}

#[test]
fn a_reload_that_changes_a_vlan_is_refused_as_needing_a_restart() {
    let (cp, _) = trunk_plane();
    let new = config::parse(
        &TRUNK_CFG.replace("id: 200, name: guest", "id: 201, name: guest"),
        "t",
    )
    .unwrap();
    let keys = restart_keys(cp.config(), &new);
    assert_eq!(
        keys,
        ["ports (names, devices, addresses, MTU, VLANs or VRFs)"]
    );
    let same = config::parse(TRUNK_CFG, "t").unwrap();
    assert!(restart_keys(cp.config(), &same).is_empty());
}
