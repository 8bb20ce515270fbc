use super::*;
use crate::buf::VecBuf;
use crate::frames;
use crate::nhg::Group;
use crate::testkit::lab::*;
use crate::types::MacAddr;
use std::sync::Arc;

fn run(fib: &Fib, stats: &LcoreStats, port: u16, frame: &[u8]) -> (Verdict, VecBuf) {
    let mut icmp = IcmpLimiter::new(1000);
    let mut ctx = Ctx::new(fib, stats, &mut icmp);
    // The staged path, as a worker runs it (the burst proptest holds
    // it equal to `process`).
    let mut b = [VecBuf::new(frame)];
    let mut v = [Verdict::Reply];
    process_burst(&mut ctx, PortId(port), &mut b, &mut v);
    let [b] = b;
    (v[0], b)
}

fn syn4(sport: u16, ttl: u8) -> Vec<u8> {
    frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("10.0.0.2"),
        ip4("198.51.100.10"),
        proto::TCP,
        ttl,
        &frames::tcp_syn(sport, 8080),
    )
}
fn syn6(sport: u16, hl: u8) -> Vec<u8> {
    frames::ipv6(
        CLIENT_MAC,
        LAN_MAC,
        ip6("fd00::2"),
        ip6("2001:db8:100::10"),
        proto::TCP,
        hl,
        &frames::tcp_syn(sport, 8080),
    )
}

#[test]
fn forwards_ipv4_with_ttl_and_mac_rewrite() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let (v, b) = run(&fib, &st, 0, &syn4(40000, 64));
    let Verdict::Forward(out) = v else {
        panic!("{v:?}")
    };
    let d = b.data();
    let eth = ethernet::Frame::new_checked(d).unwrap();
    assert_eq!(eth.src(), fib.ports[out.index()].mac);
    assert_eq!(
        eth.dst(),
        if out == PortId(1) { SRV1_MAC } else { SRV2_MAC }
    );
    let ip = ipv4::Packet::new_checked(&d[14..]).expect("checksum still valid after TTL decrement");
    assert_eq!(ip.ttl(), 63);
    let nh = if out == PortId(1) { 0 } else { 1 };
    assert_eq!(
        st.nh_packets[nh].load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        st.nh_bytes[nh].load(std::sync::atomic::Ordering::Relaxed),
        54
    );
}

#[test]
fn weighted_split_follows_weights() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let (mut a, mut b) = (0u32, 0u32);
    for sp in 1024..31024u16 {
        match run(&fib, &st, 0, &syn4(sp, 64)).0 {
            Verdict::Forward(PortId(1)) => a += 1,
            Verdict::Forward(PortId(2)) => b += 1,
            v => panic!("{v:?}"),
        }
    }
    let ratio = b as f64 / a as f64;
    assert!((ratio - 2.0).abs() / 2.0 <= 0.05, "split {a}:{b}");
}

#[test]
fn same_flow_same_nexthop_and_reply_symmetric() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    for sp in 2000..2100 {
        assert_eq!(
            run(&fib, &st, 0, &syn4(sp, 64)).0,
            run(&fib, &st, 0, &syn4(sp, 9)).0
        );
    }
}

#[test]
fn ttl_one_gets_time_exceeded() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let orig = syn4(40000, 1);
    let (v, b) = run(&fib, &st, 0, &orig);
    assert_eq!(v, Verdict::Reply);
    assert_eq!(st.drops_of(DropReason::TtlExceeded), 1);
    let d = b.data();
    let eth = ethernet::Frame::new_checked(d).unwrap();
    assert_eq!((eth.dst(), eth.src()), (CLIENT_MAC, LAN_MAC));
    let ip = ipv4::Packet::new_checked(&d[14..]).unwrap();
    assert_eq!(
        (ip.src(), ip.dst(), ip.protocol()),
        (ip4("10.0.0.1"), ip4("10.0.0.2"), proto::ICMP)
    );
    let m = icmp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code()), (icmp::kind::TIME_EXCEEDED, 0));
    assert!(m.verify_checksum());
    // The whole original IP packet is quoted (it is under 548 bytes).
    assert_eq!(&ip.payload()[8..], &orig[14..]);
}

#[test]
fn hop_limit_one_gets_time_exceeded_v6() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let (v, b) = run(&fib, &st, 0, &syn6(40000, 1));
    assert_eq!(v, Verdict::Reply);
    let d = b.data();
    let ip = ipv6::Packet::new_checked(&d[14..]).unwrap();
    assert_eq!((ip.src(), ip.dst()), (ip6("fd00::1"), ip6("fd00::2")));
    let m = icmpv6::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(m.msg_type(), icmpv6::kind::TIME_EXCEEDED);
    assert!(m.verify_checksum(&ip.src(), &ip.dst()));
}

#[test]
fn a_dangling_group_or_nexthop_id_is_counted_as_such_not_as_no_route() {
    let mut fib = lab_fib();
    // Group 2's only member is nexthop 9, live but absent from this
    // generation's nexthops; 198.51.101.0/24 uses it, 198.51.102.0/24
    // points at group 7, which does not exist.
    let mut groups = fib.groups.to_vec();
    groups.push(Some(Arc::new(Group::new(&[(NexthopId(9), 1)]).unwrap())));
    fib.groups = groups.into();
    fib.neighbors.set(NexthopId(9), SRV1_MAC);
    for sticky in [false, true] {
        let mut t = crate::fib::RouteTable::default();
        for (p, g) in [("198.51.101.0/24", 2), ("198.51.102.0/24", 7)] {
            let target = Target::Group(crate::types::GroupId(g));
            let hash = crate::hash::HashConfig::default();
            t.apply(crate::fib::RouteOp::Set(
                p.parse().unwrap(),
                Route {
                    target,
                    hash,
                    sticky,
                },
                t.get(p.parse().unwrap()).copied(),
            ));
        }
        fib.routes = Arc::new(t);
        for dst in ["198.51.101.10", "198.51.102.10"] {
            let st = LcoreStats::new(16);
            let f = udp_from_client(ip4(dst));
            let flows = FlowTable::new(64, crate::flowtable::Timeouts::default());
            let mut icmp = IcmpLimiter::new(1000);
            let mut ctx = Ctx {
                flows: Some(&flows),
                ..Ctx::new(&fib, &st, &mut icmp)
            };
            let mut one = [VecBuf::new(&f)];
            let mut out = [Verdict::Reply];
            process_burst(&mut ctx, PortId(0), &mut one, &mut out);
            let v = process(&mut ctx, PortId(0), &mut VecBuf::new(&f));
            assert_eq!(
                (v, out[0]),
                (Verdict::Drop(DropReason::DanglingId), v),
                "{dst} sticky={sticky}"
            );
            assert_eq!(st.drops_of(DropReason::DanglingId), 2, "{dst}");
            assert_eq!(st.drops_of(DropReason::NoRoute), 0, "{dst}");
        }
    }
}

#[test]
fn no_route_gets_unreachable_and_blackhole_is_silent() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let f = udp_from_client(ip4("203.0.113.1"));
    let (v, b) = run(&fib, &st, 0, &f);
    assert_eq!(v, Verdict::Reply);
    let ip = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
    let m = icmp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code()), (icmp::kind::DEST_UNREACHABLE, 0));
    assert_eq!(st.drops_of(DropReason::NoRoute), 1);
    let f = udp_from_client(ip4("192.0.2.1"));
    assert_eq!(
        run(&fib, &st, 0, &f).0,
        Verdict::Drop(DropReason::Blackhole)
    );
    let f = frames::ipv6(
        CLIENT_MAC,
        LAN_MAC,
        ip6("fd00::2"),
        ip6("2001:db8:ffff::1"),
        proto::UDP,
        64,
        &[0; 8],
    );
    assert_eq!(run(&fib, &st, 0, &f).0, Verdict::Reply);
}

#[test]
fn unreachable_and_prohibit_routes_send_the_kernels_errors() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    for (dst, code, reason) in [
        ("198.18.0.9", 1, DropReason::Unreachable),
        ("198.18.1.9", 13, DropReason::Prohibit),
    ] {
        let f = udp_from_client(ip4(dst));
        let (v, b) = run(&fib, &st, 0, &f);
        assert_eq!(v, Verdict::Reply, "{dst}");
        let ip = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
        let m = icmp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(
            (m.msg_type(), m.code()),
            (icmp::kind::DEST_UNREACHABLE, code),
            "{dst}"
        );
        assert_eq!(st.drops_of(reason), 1, "{dst}");
    }
    for (dst, code, reason) in [
        ("2001:db8:dead::9", 0, DropReason::Unreachable),
        ("2001:db8:beef::9", 1, DropReason::Prohibit),
    ] {
        let f = frames::ipv6(
            CLIENT_MAC,
            LAN_MAC,
            ip6("fd00::2"),
            ip6(dst),
            proto::UDP,
            64,
            &[0; 8],
        );
        let (v, b) = run(&fib, &st, 0, &f);
        assert_eq!(v, Verdict::Reply, "{dst}");
        let ip = ipv6::Packet::new_checked(&b.data()[14..]).unwrap();
        let m = icmpv6::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(
            (m.msg_type(), m.code()),
            (icmpv6::kind::DEST_UNREACHABLE, code),
            "{dst}"
        );
        assert!(m.verify_checksum(&ip.src(), &ip.dst()));
        assert_eq!(st.drops_of(reason), 2, "{dst}");
    }
    assert_eq!(st.drops_of(DropReason::NoRoute), 0);
}

#[test]
fn no_icmp_error_about_icmp_error() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let mut err = vec![icmp::kind::TIME_EXCEEDED, 0, 0, 0, 0, 0, 0, 0];
    err.extend_from_slice(&[0x45; 28]);
    let f = frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("10.0.0.2"),
        ip4("198.51.100.10"),
        proto::ICMP,
        1,
        &err,
    );
    assert_eq!(
        run(&fib, &st, 0, &f).0,
        Verdict::Drop(DropReason::TtlExceeded)
    );
}

#[test]
fn echo_replies_on_any_own_address() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    for dst in ["10.0.0.1", "10.2.0.1"] {
        let f = frames::ipv4(
            CLIENT_MAC,
            LAN_MAC,
            ip4("10.0.0.2"),
            ip4(dst),
            proto::ICMP,
            64,
            &frames::icmp_echo(7, 1, b"hello"),
        );
        let (v, b) = run(&fib, &st, 0, &f);
        assert_eq!(v, Verdict::Reply);
        let d = b.data();
        assert_eq!(ethernet::Frame::new_checked(d).unwrap().dst(), CLIENT_MAC);
        let ip = ipv4::Packet::new_checked(&d[14..]).unwrap();
        assert_eq!((ip.src(), ip.dst()), (ip4(dst), ip4("10.0.0.2")));
        let m = icmp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(m.msg_type(), icmp::kind::ECHO_REPLY);
        assert!(m.verify_checksum());
    }
    let f = frames::icmpv6_echo(
        CLIENT_MAC,
        LAN_MAC,
        ip6("fd00::2"),
        ip6("fd00::1"),
        64,
        b"hi",
    );
    let (v, b) = run(&fib, &st, 0, &f);
    assert_eq!(v, Verdict::Reply);
    let ip = ipv6::Packet::new_checked(&b.data()[14..]).unwrap();
    let m = icmpv6::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(m.msg_type(), icmpv6::kind::ECHO_REPLY);
    assert!(m.verify_checksum(&ip.src(), &ip.dst()));
}

#[test]
fn arp_and_ndp_are_punted() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let a = frames::arp(
        crate::wire::arp::OP_REQUEST,
        CLIENT_MAC,
        MacAddr::BROADCAST,
        CLIENT_MAC,
        ip4("10.0.0.2"),
        MacAddr::ZERO,
        ip4("10.0.0.1"),
    );
    assert_eq!(run(&fib, &st, 0, &a).0, Verdict::Punt);
    let ns = frames::neighbor_solicit(CLIENT_MAC, ip6("fd00::2"), ip6("fd00::1"));
    assert_eq!(run(&fib, &st, 0, &ns).0, Verdict::Punt);
}

#[test]
fn what_the_router_does_not_consume_goes_to_the_kernel_interface_by_class() {
    let (plain, fib) = (lab_fib(), kernel_fib());
    let st = LcoreStats::new(16);
    let to_us = |dport: u16, src: &str| {
        frames::ipv4(
            CLIENT_MAC,
            LAN_MAC,
            ip4(src),
            ip4("10.0.0.1"),
            proto::TCP,
            64,
            &frames::tcp_syn(40000, dport),
        )
    };
    // Without a kernel interface: dropped as before.
    assert_eq!(
        run(&plain, &st, 0, &to_us(179, "10.0.0.2")).0,
        Verdict::Drop(DropReason::LocalUnhandled)
    );
    let peers = Peers::default();
    peers.learn(IpAddr::V4(ip4("10.0.0.2")), Some(false));
    peers.learn(IpAddr::V6(ip6("fe80::2")), Some(false));
    let lim = punt::Limit { rate: 0, burst: 3 };
    let mut pol = Policer::new([lim; PuntClass::COUNT], 1, 1_000_000, 0);
    let mut icmp = IcmpLimiter::new(10);
    let mut go = |f: &[u8], pol: &mut Policer| {
        let mut ctx = Ctx {
            policer: Some(pol),
            peers: Some(&peers),
            ..Ctx::new(&fib, &st, &mut icmp)
        };
        process(&mut ctx, PortId(0), &mut VecBuf::new(f))
    };
    // BGP from the peer: routing; from a stranger: other, and the
    // stranger's flood spends only "other".
    for _ in 0..5 {
        go(&to_us(179, "10.0.0.9"), &mut pol);
    }
    assert_eq!(go(&to_us(179, "10.0.0.2"), &mut pol), Verdict::Kernel);
    assert_eq!(
        go(&to_us(22, "10.0.0.2"), &mut pol),
        Verdict::Drop(DropReason::PuntPoliced)
    );
    let at = |c: &[std::sync::atomic::AtomicU64; PuntClass::COUNT], k: PuntClass| {
        c[k as usize].load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(at(&st.kernel_punted, PuntClass::Other), 3);
    assert_eq!(at(&st.kernel_policed, PuntClass::Other), 3);
    assert_eq!(at(&st.kernel_punted, PuntClass::Routing), 1);
    assert_eq!(st.drops_of(DropReason::PuntPoliced), 3);
    // ARP: the control plane reads it, the kernel gets it too; once
    // the class is spent, only the control plane.
    let a = frames::arp(
        crate::wire::arp::OP_REQUEST,
        CLIENT_MAC,
        MacAddr::BROADCAST,
        CLIENT_MAC,
        ip4("10.0.0.2"),
        MacAddr::ZERO,
        ip4("10.0.0.1"),
    );
    for _ in 0..3 {
        assert_eq!(go(&a, &mut pol), Verdict::PuntKernel);
    }
    assert_eq!(go(&a, &mut pol), Verdict::Punt);
    // Echo requests are still answered by the router itself; OSPF to
    // 224.0.0.5 and BGP to the port's link-local address go to the kernel.
    let ping = frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("10.0.0.2"),
        ip4("10.0.0.1"),
        proto::ICMP,
        64,
        &frames::icmp_echo(1, 1, b"x"),
    );
    assert_eq!(go(&ping, &mut pol), Verdict::Reply);
    let ospf = frames::ipv4(
        CLIENT_MAC,
        MacAddr([1, 0, 0x5e, 0, 0, 5]),
        ip4("10.0.0.2"),
        "224.0.0.5".parse().unwrap(),
        punt::PROTO_OSPF,
        1,
        &[0; 24],
    );
    assert_eq!(go(&ospf, &mut pol), Verdict::Kernel);
    let ll = fib.ports[0].link_local;
    let mut bgp6 = frames::ipv6(
        CLIENT_MAC,
        LAN_MAC,
        ip6("fe80::2"),
        ll,
        proto::TCP,
        64,
        &frames::tcp_syn(40000, 179),
    );
    assert_eq!(go(&bgp6, &mut pol), Verdict::Kernel);
    // Another link-local address is not ours.
    bgp6[14 + 24 + 15] ^= 1;
    assert_eq!(
        go(&bgp6, &mut pol),
        Verdict::Drop(DropReason::MartianDestination)
    );
}

#[test]
fn bad_packets_are_counted_once() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let mut f = syn4(1, 64);
    f[14 + 10] ^= 1;
    assert_eq!(
        run(&fib, &st, 0, &f).0,
        Verdict::Drop(DropReason::Ipv4BadChecksum)
    );
    assert_eq!(
        run(&fib, &st, 0, &f[..30]).0,
        Verdict::Drop(DropReason::Ipv4Truncated)
    );
    assert_eq!(
        run(&fib, &st, 0, &f[..10]).0,
        Verdict::Drop(DropReason::EthTruncated)
    );
    let mut g = syn4(1, 64);
    g[0] = 0x04; // unicast to another MAC
    assert_eq!(run(&fib, &st, 0, &g).0, Verdict::Drop(DropReason::NotForUs));
    let mut h = syn4(1, 64);
    h[12] = 0x81; // 802.1Q, on a port without sub-interfaces
    h[13] = 0x00;
    assert_eq!(
        run(&fib, &st, 0, &h).0,
        Verdict::Drop(DropReason::UnknownVlan)
    );
    let mut p = VecBuf::new(&syn4(1, 64));
    assert!(crate::vlan::tag(&mut p, 0)); // priority tagging: the port's own
    let forwarded = run(&fib, &st, 0, p.data()).0;
    assert!(matches!(forwarded, Verdict::Forward(_)), "{forwarded:?}");
    h[12] = 0x88; // 802.1ad (QinQ)
    h[13] = 0xa8;
    assert_eq!(
        run(&fib, &st, 0, &h).0,
        Verdict::Drop(DropReason::UnsupportedEthertype)
    );
    let m = frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("127.0.0.1"),
        ip4("198.51.100.1"),
        proto::UDP,
        64,
        &[0; 8],
    );
    assert_eq!(
        run(&fib, &st, 0, &m).0,
        Verdict::Drop(DropReason::MartianSource)
    );
    let total: u64 = DropReason::ALL.iter().map(|r| st.drops_of(*r)).sum();
    assert_eq!(total, 7);
}

#[test]
fn padding_is_trimmed() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let mut f = syn4(5, 64);
    let n = f.len();
    f.extend_from_slice(&[0xee; 6]);
    let (v, b) = run(&fib, &st, 0, &f);
    assert!(matches!(v, Verdict::Forward(_)));
    assert_eq!(b.data().len(), n);
}

#[test]
fn unresolved_and_connected() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    // Unresolved gateways are not live: a group of them is unreachable.
    fib.neighbors.clear(NexthopId(0));
    fib.neighbors.clear(NexthopId(1));
    let (v, _) = run(&fib, &st, 0, &syn4(5, 64));
    assert_eq!(v, Verdict::Reply, "ICMP unreachable");
    assert_eq!(st.drops_of(DropReason::AllNexthopsDown), 1);
    // Reply traffic to the client uses the learned host adjacency.
    let f = frames::ipv4(
        SRV1_MAC,
        fib.ports[1].mac,
        ip4("198.51.100.10"),
        ip4("10.0.0.2"),
        proto::TCP,
        64,
        &frames::tcp_syn(8080, 5),
    );
    let (v, b) = run(&fib, &st, 1, &f);
    assert_eq!(v, Verdict::Forward(PortId(0)));
    assert_eq!(
        ethernet::Frame::new_checked(b.data()).unwrap().dst(),
        CLIENT_MAC
    );
    // Unknown host on a connected subnet asks for resolution.
    let f = frames::ipv4(
        SRV1_MAC,
        fib.ports[1].mac,
        ip4("198.51.100.10"),
        ip4("10.0.0.77"),
        proto::TCP,
        64,
        &frames::tcp_syn(8080, 5),
    );
    let (v, b) = run(&fib, &st, 1, &f);
    assert_eq!(v, Verdict::Resolve { port: PortId(0) });
    assert_eq!(resolve_addr(b.data()), Some("10.0.0.77".parse().unwrap()));
}

#[test]
fn mtu_exceeded_with_df_gets_frag_needed() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let mut found = false;
    for sp in 0..64u16 {
        let f = frames::ipv4(
            CLIENT_MAC,
            LAN_MAC,
            ip4("10.0.0.2"),
            ip4("198.51.100.10"),
            proto::UDP,
            64,
            &{
                let mut u = vec![0u8; 1450];
                u[0..2].copy_from_slice(&sp.to_be_bytes());
                u
            },
        );
        let mut f = f;
        f[14 + 6] = 0x40; // DF
        ipv4::Packet::new_unchecked(&mut f[14..]).fill_checksum();
        let (v, b) = run(&fib, &st, 0, &f);
        if v == Verdict::Reply {
            let ip = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
            let m = &ip.payload()[..8];
            assert_eq!((m[0], m[1]), (icmp::kind::DEST_UNREACHABLE, 4));
            assert_eq!(u16::from_be_bytes([m[6], m[7]]), 1400);
            assert!(ip.total_len() <= 576);
            found = true;
        } else {
            assert_eq!(v, Verdict::Forward(PortId(1)), "only srv2 has MTU 1400");
        }
    }
    assert!(found);
}

#[test]
fn mtu_exceeded_without_df_is_forwarded_to_be_fragmented_rewritten() {
    let fib = lab_fib();
    let st = LcoreStats::new(16);
    let (mut frag, mut whole) = (0, 0);
    for sp in 0..64u16 {
        let mut u = vec![0u8; 1450];
        u[0..2].copy_from_slice(&sp.to_be_bytes());
        let f = frames::ipv4(
            CLIENT_MAC,
            LAN_MAC,
            ip4("10.0.0.2"),
            ip4("198.51.100.10"),
            proto::UDP,
            64,
            &u,
        );
        let (v, b) = run(&fib, &st, 0, &f);
        match v {
            Verdict::Fragment { port, mtu } => {
                assert_eq!((port, mtu), (PortId(2), 1400), "only srv2 has MTU 1400");
                // Rewritten like any forwarded packet: the fragmenter copies it.
                let ip = ipv4::Packet::new_checked(&b.data()[14..]).unwrap();
                assert_eq!(ip.ttl(), 63);
                assert_eq!(b.data()[6..12], fib.ports[2].mac.0);
                frag += 1;
            }
            v => {
                assert_eq!(v, Verdict::Forward(PortId(1)));
                whole += 1;
            }
        }
    }
    assert!(frag > 0 && whole > 0, "{frag} fragmented, {whole} whole");
    assert_eq!(st.drops_of(DropReason::MtuExceeded), 0);
}

/// One frame of the burst-equivalence test: a template, then an
/// optional corruption of one byte.
fn burst_frame(kind: u8, a: u8, b: u16, flip: Option<(usize, u8)>) -> Vec<u8> {
    let ip = |dst: Ipv4Addr, proto: u8, ttl: u8, l4: &[u8]| {
        frames::ipv4(CLIENT_MAC, LAN_MAC, ip4("10.0.0.2"), dst, proto, ttl, l4)
    };
    let net = Ipv4Addr::new(198, 51, 100, a);
    let sticky = Ipv4Addr::new(203, 0, 113, a);
    let ip6f = |dst: &str, next: u8, hop: u8, l4: &[u8]| {
        frames::ipv6(CLIENT_MAC, LAN_MAC, ip6("fd00::2"), ip6(dst), next, hop, l4)
    };
    let net6 = format!("2001:db8:100::{a:x}");
    let sticky6 = format!("2001:db8:5::{a:x}");
    let spray = Ipv4Addr::new(198, 51, 101, a);
    let mut f = match kind % 25 {
        0 => ip(net, proto::UDP, 64, &frames::udp(b, 53, &[1, 2, 3])),
        1 => ip(net, proto::TCP, 64, &frames::tcp_syn(b, 80)),
        2 => ip(sticky, proto::TCP, 64, &frames::tcp_syn(b, 443)),
        3 => ip(sticky, proto::UDP, 9, &frames::udp(b, 4789, &[0; 40])),
        4 => ip(net, proto::UDP, 1, &frames::udp(b, 53, &[])),
        5 => ip(
            ip4("10.0.0.1"),
            proto::ICMP,
            64,
            &frames::icmp_echo(b, 1, &[7; 8]),
        ),
        6 => ip(ip4("100.64.0.1"), proto::UDP, 64, &frames::udp(b, 53, &[])),
        7 => ip(ip4("192.0.2.9"), proto::TCP, 64, &frames::tcp_syn(b, 22)),
        8 => ip(ip4("10.2.0.7"), proto::UDP, 64, &frames::udp(b, 53, &[])),
        9 => ip(net, proto::ICMP, 64, &frames::icmp_echo(b, 1, &[])),
        10 => {
            // Bigger than port 2's MTU of 1400, with DF.
            let mut f = ip(
                Ipv4Addr::new(198, 51, 100, 200),
                proto::UDP,
                64,
                &frames::udp(b, 9, &[0; 1420]),
            );
            f[20] |= 0x40;
            crate::wire::ipv4::Packet::new_unchecked(&mut f[14..]).fill_checksum();
            f
        }
        11 => frames::ipv6(
            CLIENT_MAC,
            LAN_MAC,
            ip6("fd00::2"),
            ip6("2001:db8:100::9"),
            proto::UDP,
            64,
            &frames::udp(b, 53, &[]),
        ),
        12 => frames::arp(
            1,
            CLIENT_MAC,
            MacAddr::BROADCAST,
            CLIENT_MAC,
            ip4("10.0.0.2"),
            MacAddr([0; 6]),
            ip4("10.0.0.1"),
        ),
        13 => {
            // Ethernet padding after a short packet.
            let mut f = ip(net, proto::UDP, 64, &frames::udp(b, 53, &[]));
            f.extend_from_slice(&[0; 18]);
            f
        }
        14 => ip6f(&net6, proto::TCP, 64, &frames::tcp_syn(b, 443)),
        15 => ip6f(&net6, proto::UDP, 1, &frames::udp(b, 53, &[])),
        16 => frames::icmpv6_echo(
            CLIENT_MAC,
            LAN_MAC,
            ip6("fd00::2"),
            ip6("fd00::1"),
            64,
            &[7; 8],
        ),
        17 => ip6f("2001:db8:ffff::1", proto::UDP, 64, &frames::udp(b, 53, &[])),
        18 => ip6f("fe80::1", proto::UDP, 64, &frames::udp(b, 53, &[])),
        19 => ip6f("2001:db8:dead::1", proto::TCP, 64, &frames::tcp_syn(b, 22)),
        // Bigger than port 2's MTU of 1400.
        20 => ip6f(&net6, proto::UDP, 64, &frames::udp(b, 9, &[0; 1400])),
        21 => ip6f("fd02::7", proto::UDP, 64, &frames::udp(b, 53, &[])),
        22 => ip6f(&sticky6, proto::TCP, 64, &frames::tcp_syn(b, 443)),
        23 => ip6f(&sticky6, proto::UDP, 9, &frames::udp(b, 53, &[1])),
        _ => ip(spray, proto::UDP, 64, &frames::udp(b, 53, &[])),
    };
    if let Some((at, x)) = flip {
        let i = at % f.len();
        f[i] ^= x;
    }
    f
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// `process_burst` gives exactly what `process` gives frame by frame:
    /// verdicts, bytes, every counter and the flow table.
    #[test]
    fn burst_equals_one_by_one(
        frames_in in proptest::collection::vec(
            (0u8..25, proptest::prelude::any::<u8>(), proptest::prelude::any::<u16>(),
             proptest::option::weighted(0.3, (0usize..1500, 1u8..=255))),
            1..70),
        down in proptest::prelude::any::<bool>(),
        snat in proptest::prelude::any::<bool>(),
        rules in proptest::prelude::any::<bool>(),
        big in proptest::prelude::any::<bool>(),
    ) {
        use crate::flowtable::{FlowTable, Timeouts};
        let mut fib = lab_fib();
        if snat {
            fib.snat = Arc::new(crate::nat::tests::two_uplinks(
                ip4("10.1.0.1"),
                ip4("10.2.0.1"),
                crate::nat::OnDown::Repick,
            ));
        }
        let mut rt = (*fib.routes).clone();
        rt.apply(crate::fib::RouteOp::Set(
            "203.0.113.0/24".parse().unwrap(),
            Route { target: Target::Group(crate::types::GroupId(0)), hash: Default::default(), sticky: true }, rt.get("203.0.113.0/24".parse().unwrap()).copied()));
        rt.apply(crate::fib::RouteOp::Set(
            "2001:db8:5::/64".parse().unwrap(),
            Route { target: Target::Group(crate::types::GroupId(1)), hash: Default::default(), sticky: true }, rt.get("2001:db8:5::/64".parse().unwrap()).copied()));
        let per_packet = crate::hash::HashConfig {
            policy: crate::hash::HashPolicy::PerPacket,
            ..Default::default()
        };
        rt.apply(crate::fib::RouteOp::Set(
            "198.51.101.0/24".parse().unwrap(),
            Route { target: Target::Group(crate::types::GroupId(0)), hash: per_packet, sticky: false }, rt.get("198.51.101.0/24".parse().unwrap()).copied()));
        if big {
            // A table past PREFETCH_FROM in both families (/32s in
            // 100.64.0.0/10, /128s in 3fff::/20, which no frame is sent
            // to): the IPv6 lanes' walk then prefetches.
            let hole = Route { target: Target::Blackhole, hash: Default::default(), sticky: false };
            for i in 0..crate::lpm::PREFETCH_FROM as u32 {
                let v4 = Ipv4Addr::from(0x6440_0000 + i * 7);
                rt.apply(crate::fib::RouteOp::Set(crate::types::Prefix::new_truncating(v4.into(), 32), hole, None));
                let v6 = Ipv6Addr::from((0x3fffu128 << 112) | (i as u128 * 0x1_0001));
                rt.apply(crate::fib::RouteOp::Set(crate::types::Prefix::new_truncating(v6.into(), 128), hole, None));
            }
        }
        fib.routes = Arc::new(rt);
        if rules {
            fib.policy = Arc::new(policy_rules());
        }
        if down {
            fib.neighbors.set_down(NexthopId(0), crate::neighbor::DownFlag::Admin, true);
        }
        let frames: Vec<Vec<u8>> = frames_in
            .iter()
            .map(|&(k, a, b, flip)| burst_frame(k, a, b, flip))
            .collect();
        let run = |burst: bool| {
            let stats = LcoreStats::new(16);
            let ft = FlowTable::new(64, Timeouts::default());
            let mut icmp = IcmpLimiter::new(1000);
            let mut nat = crate::nat::NatTable::new(64, 2, Default::default());
            let mut ctx = Ctx { flows: Some(&ft), now_ms: 5, ..Ctx::new(&fib, &stats, &mut icmp) };
            if snat {
                ctx.nat = Some(&mut nat);
            }
            let mut bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::new(f)).collect();
            let mut verdicts = vec![Verdict::Drop(DropReason::NoRoute); bufs.len()];
            if burst {
                process_burst(&mut ctx, PortId(0), &mut bufs, &mut verdicts);
            } else {
                for (b, v) in bufs.iter_mut().zip(verdicts.iter_mut()) {
                    *v = process(&mut ctx, PortId(0), b);
                }
            }
            let spray = ctx.spray;
            let nat_state = format!("{:?} {:?}", nat.counters, nat.len());
            // Every frame is accounted for exactly once: forwarded (per
            // nexthop), punted, held for a neighbour, answered, or dropped
            // under one reason.
            let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            let accounted = stats.nh_packets.iter().map(load).sum::<u64>()
                + verdicts.iter().filter(|v| matches!(v, Verdict::Punt | Verdict::Resolve { .. })).count() as u64
                + load(&stats.echo_replies)
                + DropReason::ALL.iter().map(|&r| stats.drops_of(r)).sum::<u64>();
            assert_eq!(accounted, bufs.len() as u64, "{verdicts:?}");
            let out: Vec<Vec<u8>> = bufs.iter().map(|b| b.data().to_vec()).collect();
            let flows: Vec<_> = ft.flows(5).map(|f| format!("{f:?}")).collect();
            (verdicts, out, format!("{stats:?}"), format!("{:?}", ft.counters), flows, spray, nat_state)
        };
        let one = run(false);
        let burst = run(true);
        proptest::prop_assert_eq!(one, burst);
    }
}

/// Rules for the burst proptest: a sticky rule to a group for IPv4 DNS
/// to the lower half of 198.51.100.0/24, and IPv6 TCP looked up in a
/// table with one default route.
fn policy_rules() -> crate::policy::Policy {
    use crate::policy::{Action, KeyPrefix, Policy, Rule, Table};
    use crate::types::GroupId;
    let any = (0, u16::MAX);
    let dns = Rule {
        in_port: None,
        src: None,
        dst: Some(KeyPrefix {
            key: 0xc633_6400u128 << 96,
            len: 25,
            v6: false,
        }),
        proto: Some(proto::UDP),
        sport: any,
        dport: (53, 53),
        action: Action::Group(GroupId(0)),
        sticky: true,
    };
    let tcp6 = Rule {
        dst: None,
        proto: Some(proto::TCP),
        dport: any,
        action: Action::Table(7),
        sticky: false,
        ..dns
    };
    let default6 = KeyPrefix {
        key: 0,
        len: 0,
        v6: true,
    };
    let route = Route {
        target: Target::Group(GroupId(1)),
        hash: Default::default(),
        sticky: false,
    };
    Policy {
        rules: vec![dns, tcp6].into(),
        last_resort: Default::default(),
        tables: vec![Table::new(7, vec![(default6, route)])].into(),
    }
}

fn snat_fib(on_down: crate::nat::OnDown) -> Fib {
    let mut fib = lab_fib();
    fib.snat = Arc::new(crate::nat::tests::two_uplinks(
        ip4("10.1.0.1"),
        ip4("10.2.0.1"),
        on_down,
    ));
    fib
}

fn nat_run(
    fib: &Fib,
    nat: &mut crate::nat::NatTable,
    stats: &LcoreStats,
    port: u16,
    frame: &[u8],
) -> (Verdict, VecBuf) {
    let mut icmp = IcmpLimiter::new(1000);
    let mut ctx = Ctx {
        nat: Some(nat),
        ..Ctx::new(fib, stats, &mut icmp)
    };
    // The staged path, as a worker runs it (the burst proptest holds
    // it equal to `process`, but sends nothing in on an uplink).
    let mut b = [VecBuf::new(frame)];
    let mut v = [Verdict::Reply];
    process_burst(&mut ctx, PortId(port), &mut b, &mut v);
    let [b] = b;
    (v[0], b)
}

fn tcp4(
    src_mac: MacAddr,
    dst_mac: MacAddr,
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
) -> Vec<u8> {
    frames::ipv4(
        src_mac,
        dst_mac,
        ip4(src),
        ip4(dst),
        proto::TCP,
        64,
        &frames::tcp_syn(sport, dport),
    )
}

fn src_of(b: &VecBuf) -> (Ipv4Addr, u16) {
    let d = b.data();
    (
        Ipv4Addr::new(d[26], d[27], d[28], d[29]),
        u16::from_be_bytes([d[34], d[35]]),
    )
}

#[test]
fn snat_translates_out_and_back_and_keeps_the_uplink() {
    let fib = snat_fib(crate::nat::OnDown::Repick);
    let stats = LcoreStats::new(16);
    let mut nat = crate::nat::NatTable::new(64, 2, Default::default());
    let syn = tcp4(CLIENT_MAC, LAN_MAC, "10.0.0.2", "198.51.100.9", 40000, 80);
    let (v, b) = nat_run(&fib, &mut nat, &stats, 0, &syn);
    let Verdict::Forward(out) = v else {
        panic!("{v:?}")
    };
    let xaddr = fib.ports[out.index()].v4.unwrap();
    assert_eq!(
        src_of(&b),
        (xaddr, 40000),
        "the uplink's address, the port kept"
    );
    assert!(
        crate::wire::ipv4::Packet::new_checked(&b.data()[14..]).is_ok(),
        "IP checksum"
    );
    // The reply comes back on that uplink, to the SNAT address.
    let up_mac = fib.ports[out.index()].mac;
    let reply = tcp4(
        SRV1_MAC,
        up_mac,
        "198.51.100.9",
        &xaddr.to_string(),
        80,
        40000,
    );
    let (v, b) = nat_run(&fib, &mut nat, &stats, out.0, &reply);
    assert_eq!(v, Verdict::Forward(PortId(0)));
    let d = b.data();
    assert_eq!(
        (
            Ipv4Addr::new(d[30], d[31], d[32], d[33]),
            u16::from_be_bytes([d[36], d[37]])
        ),
        (ip4("10.0.0.2"), 40000)
    );
    // The flow's uplink goes down: re-picked onto the other, with its address.
    let bound = if out == PortId(1) {
        NexthopId(0)
    } else {
        NexthopId(1)
    };
    fib.neighbors
        .set_down(bound, crate::neighbor::DownFlag::Uplink, true);
    let (v, b) = nat_run(&fib, &mut nat, &stats, 0, &syn);
    let Verdict::Forward(out2) = v else {
        panic!("{v:?}")
    };
    assert_ne!(out2, out);
    assert_eq!(src_of(&b).0, fib.ports[out2.index()].v4.unwrap());
    assert_eq!(
        nat.counters
            .repicks
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // It stays there when the first comes back.
    fib.neighbors
        .set_down(bound, crate::neighbor::DownFlag::Uplink, false);
    let (v, _) = nat_run(&fib, &mut nat, &stats, 0, &syn);
    assert_eq!(v, Verdict::Forward(out2));
}

#[test]
fn snat_flush_drops_the_flow_whose_uplink_died() {
    let fib = snat_fib(crate::nat::OnDown::Flush);
    let stats = LcoreStats::new(16);
    let mut nat = crate::nat::NatTable::new(64, 2, Default::default());
    let syn = tcp4(CLIENT_MAC, LAN_MAC, "10.0.0.2", "198.51.100.9", 40001, 80);
    let (v, _) = nat_run(&fib, &mut nat, &stats, 0, &syn);
    let Verdict::Forward(out) = v else {
        panic!("{v:?}")
    };
    let bound = if out == PortId(1) {
        NexthopId(0)
    } else {
        NexthopId(1)
    };
    fib.neighbors
        .set_down(bound, crate::neighbor::DownFlag::Uplink, true);
    let (v, _) = nat_run(&fib, &mut nat, &stats, 0, &syn);
    assert_eq!(v, Verdict::Drop(DropReason::FlowFlushed));
    assert_eq!(stats.drops_of(DropReason::FlowFlushed), 1);
    // The next packet starts a new binding on the live uplink.
    let (v, _) = nat_run(&fib, &mut nat, &stats, 0, &syn);
    assert!(matches!(v, Verdict::Forward(o) if o != out), "{v:?}");
}

#[test]
fn a_source_that_is_an_snat_address_keeps_its_uplink_untranslated() {
    let fib = snat_fib(crate::nat::OnDown::Repick);
    let stats = LcoreStats::new(16);
    let mut nat = crate::nat::NatTable::new(64, 2, Default::default());
    for sport in 1000..1040 {
        let f = tcp4(CLIENT_MAC, LAN_MAC, "10.2.0.1", "198.51.100.9", sport, 80);
        let (v, b) = nat_run(&fib, &mut nat, &stats, 0, &f);
        assert_eq!(v, Verdict::Forward(PortId(2)), "always uplink 2");
        assert_eq!(src_of(&b), (ip4("10.2.0.1"), sport), "not translated");
    }
    assert!(nat.is_empty());
}

#[test]
fn snat_refuses_what_it_cannot_translate() {
    let fib = snat_fib(crate::nat::OnDown::Repick);
    let stats = LcoreStats::new(16);
    let mut nat = crate::nat::NatTable::new(64, 2, Default::default());
    // GRE to the Internet through an SNAT uplink: counted, not leaked untranslated.
    let f = frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("10.0.0.2"),
        ip4("198.51.100.9"),
        47,
        64,
        &[0; 8],
    );
    let (v, _) = nat_run(&fib, &mut nat, &stats, 0, &f);
    assert_eq!(v, Verdict::Drop(DropReason::SnatUnsupported));
}

#[test]
fn snat_udp_round_trip() {
    let fib = snat_fib(crate::nat::OnDown::Repick);
    let stats = LcoreStats::new(16);
    let mut nat = crate::nat::NatTable::new(64, 2, Default::default());
    let f = frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("10.0.0.2"),
        ip4("198.51.100.9"),
        proto::UDP,
        64,
        &frames::udp(44529, 5060, b"u1"),
    );
    let (v, b) = nat_run(&fib, &mut nat, &stats, 0, &f);
    let Verdict::Forward(out) = v else {
        panic!("{v:?}")
    };
    let (xaddr, xport) = src_of(&b);
    let up_mac = fib.ports[out.index()].mac;
    let r = frames::ipv4(
        SRV1_MAC,
        up_mac,
        ip4("198.51.100.9"),
        xaddr,
        proto::UDP,
        64,
        &frames::udp(5060, xport, b"10.2.0.100"),
    );
    let (v, back) = nat_run(&fib, &mut nat, &stats, out.0, &r);
    assert_eq!(v, Verdict::Forward(PortId(0)));
    // The inside host has closed its socket: its port unreachable about
    // the reply leaves by the flow's uplink, translated.
    let mut quote = vec![3, 3, 0, 0, 0, 0, 0, 0];
    quote.extend_from_slice(&back.data()[14..]);
    let mut e = frames::ipv4(
        CLIENT_MAC,
        LAN_MAC,
        ip4("10.0.0.2"),
        ip4("198.51.100.9"),
        proto::ICMP,
        64,
        &quote,
    );
    let c = crate::checksum::checksum(&e[34..]);
    e[36..38].copy_from_slice(&c.to_be_bytes());
    let (v, sent) = nat_run(&fib, &mut nat, &stats, 0, &e);
    let sent = sent.data();
    assert_eq!(v, Verdict::Forward(out), "by the flow's uplink");
    assert_eq!(&sent[26..30], &xaddr.octets(), "outer source translated");
    assert_eq!(
        &sent[42 + 16..42 + 20],
        &xaddr.octets(),
        "quoted destination"
    );
    assert_eq!(&sent[42 + 22..42 + 24], &xport.to_be_bytes(), "quoted port");
    assert_eq!(crate::checksum::checksum(&sent[34..]), 0, "ICMP checksum");
    // Without a binding it is not translatable.
    let mut other = e.clone();
    other[42 + 20..42 + 22].copy_from_slice(&9999u16.to_be_bytes());
    let unsupported = || {
        stats.drops[DropReason::SnatUnsupported as usize].load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = unsupported();
    let (v, _) = nat_run(&fib, &mut nat, &stats, 0, &other);
    assert_eq!(v, Verdict::Drop(DropReason::SnatUnsupported));
    assert_eq!(unsupported(), before + 1);
    // With other workers holding bindings, it is handed on, unchanged and
    // not counted.
    let mut icmp = IcmpLimiter::new(1000);
    let mut ctx = Ctx {
        nat: Some(&mut nat),
        snat_peers: true,
        ..Ctx::new(&fib, &stats, &mut icmp)
    };
    let mut b = VecBuf::new(&other);
    assert_eq!(process(&mut ctx, PortId(0), &mut b), Verdict::SnatElsewhere);
    assert_eq!(b.data(), &other[..], "unchanged");
    assert_eq!(unsupported(), before + 1, "not counted");
    // An error about a flow this worker holds is still translated here.
    let mut b = VecBuf::new(&e);
    assert_eq!(process(&mut ctx, PortId(0), &mut b), Verdict::Forward(out));
}

#[test]
fn sticky_flows_repick_or_flush_when_their_nexthop_dies() {
    use crate::flowtable::{FlowTable, Timeouts};
    for flush in [false, true] {
        let mut fib = lab_fib();
        let mut rt = (*fib.routes).clone();
        rt.apply(crate::fib::RouteOp::Set(
            "198.51.100.0/24".parse().unwrap(),
            Route {
                target: Target::Group(crate::types::GroupId(0)),
                hash: Default::default(),
                sticky: true,
            },
            rt.get("198.51.100.0/24".parse().unwrap()).copied(),
        ));
        fib.routes = Arc::new(rt);
        if flush {
            fib.snat = Arc::new(crate::nat::Snat {
                on_down: crate::nat::OnDown::Flush,
                ..Default::default()
            });
        }
        let stats = LcoreStats::new(16);
        let ft = FlowTable::new(64, Timeouts::default());
        let mut icmp = IcmpLimiter::new(100);
        let f = frames::ipv4(
            CLIENT_MAC,
            LAN_MAC,
            ip4("10.0.0.2"),
            ip4("198.51.100.9"),
            proto::UDP,
            64,
            &frames::udp(5000, 53, &[]),
        );
        let mut go = |now: u32| {
            let mut ctx = Ctx {
                flows: Some(&ft),
                now_ms: now,
                ..Ctx::new(&fib, &stats, &mut icmp)
            };
            process(&mut ctx, PortId(0), &mut VecBuf::new(&f))
        };
        let Verdict::Forward(first) = go(1) else {
            panic!()
        };
        let nh = if first == PortId(1) {
            NexthopId(0)
        } else {
            NexthopId(1)
        };
        fib.neighbors
            .set_down(nh, crate::neighbor::DownFlag::Admin, true);
        let v = go(2);
        if flush {
            assert_eq!(v, Verdict::Drop(DropReason::FlowFlushed));
            assert_eq!(
                ft.counters
                    .flushes
                    .load(std::sync::atomic::Ordering::Relaxed),
                1
            );
            // The next packet is a new flow on the live member.
            assert!(matches!(go(3), Verdict::Forward(p) if p != first));
        } else {
            assert!(matches!(v, Verdict::Forward(p) if p != first));
            assert_eq!(
                ft.counters
                    .repicks
                    .load(std::sync::atomic::Ordering::Relaxed),
                1
            );
        }
    }
}
