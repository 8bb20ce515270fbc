//! The fast path makes no heap allocation: `allocation-counter`'s global
//! allocator counts this thread's allocations while bursts of every kind of packet go through
//! `forward::process` and the staged `forward::process_burst` (forwarded IPv4 and IPv6 over a group, to a connected
//! host, TTL exceeded with an ICMP error, an echo to the router, ARP to punt,
//! no route, garbage).

use dataplane::drop::DropReason;
use dataplane::forward::{process, process_burst, Ctx, IcmpLimiter};
use dataplane::stats::LcoreStats;
use dataplane::types::{MacAddr, PortId};
use dataplane::{frames, VecBuf};

use dataplane::testkit::lab::{lab_fib as fib, CLIENT_MAC as CLIENT, LAN_MAC as LAN};

#[test]
fn a_burst_of_every_kind_allocates_nothing() {
    let fib = fib();
    let stats = LcoreStats::new(8);
    let mut icmp = IcmpLimiter::new(1000);
    let v4 = |dst: [u8; 4], ttl: u8, i: u16| {
        frames::ipv4(
            CLIENT,
            LAN,
            [10, 0, 0, 2].into(),
            dst.into(),
            17,
            ttl,
            &frames::udp(40000 + i, 9000, &[0; 18]),
        )
    };
    let mut burst: Vec<Vec<u8>> = Vec::new();
    for i in 0..16 {
        burst.push(v4([198, 51, 100, 10], 64, i));
    }
    burst.push(frames::ipv6(
        CLIENT,
        LAN,
        "fd00::2".parse().unwrap(),
        "2001:db8:100::10".parse().unwrap(),
        6,
        64,
        &frames::tcp_syn(40000, 80),
    ));
    burst.push(frames::ipv4(
        MacAddr([2, 0, 0, 0, 9, 0]),
        LAN,
        [198, 51, 100, 10].into(),
        [10, 0, 0, 2].into(),
        17,
        64,
        &frames::udp(9000, 40000, &[0; 18]),
    ));
    burst.push(v4([198, 51, 100, 10], 1, 0)); // TTL exceeded: ICMP error built in place
    burst.push(v4([203, 0, 113, 1], 64, 0)); // no route: ICMP unreachable
    burst.push(frames::ipv4(
        CLIENT,
        LAN,
        [10, 0, 0, 2].into(),
        [10, 0, 0, 1].into(),
        1,
        64,
        &frames::icmp_echo(1, 1, &[0; 32]),
    ));
    burst.push(frames::arp(
        1,
        CLIENT,
        MacAddr::BROADCAST,
        CLIENT,
        [10, 0, 0, 2].into(),
        MacAddr::ZERO,
        [10, 0, 0, 1].into(),
    ));
    burst.push(vec![0xff; 20]); // garbage
    let mut bufs: Vec<VecBuf> = burst.iter().map(|f| VecBuf::new(f)).collect();
    let mut verdicts = [dataplane::forward::Verdict::Drop(DropReason::NoRoute); 32];
    // Both entry points: `process` one frame at a time, and the staged
    // `process_burst` the worker runs.
    let mut run = |icmp: &mut IcmpLimiter, staged: bool| {
        let mut ctx = Ctx::new(&fib, &stats, icmp);
        for (b, f) in bufs.iter_mut().zip(&burst) {
            b.reset(f, VecBuf::DEFAULT_HEADROOM);
        }
        let n = bufs.len();
        if staged {
            process_burst(&mut ctx, PortId(0), &mut bufs, &mut verdicts[..n]);
        } else {
            for (b, v) in bufs.iter_mut().zip(verdicts.iter_mut()) {
                *v = process(&mut ctx, PortId(0), b);
            }
        }
        verdicts[..n]
            .iter()
            .filter(|v| matches!(v, dataplane::forward::Verdict::Forward(_)))
            .count()
    };
    for staged in [false, true] {
        // Warm up once (lazy statics, if any), then count.
        run(&mut icmp, staged);
        let mut forwarded = 0;
        let info = allocation_counter::measure(|| {
            for _ in 0..100 {
                forwarded += run(&mut icmp, staged);
            }
        });
        assert_eq!(
            forwarded,
            100 * 18,
            "the burst forwarded what it should (so the test exercised the path)"
        );
        assert_eq!(
            info.count_total, 0,
            "heap allocations on the fast path (staged: {staged})"
        );
    }
}
