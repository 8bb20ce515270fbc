//! Criterion benchmarks of the fast path, in ns per packet (throughput is in
//! packets, so criterion's "elem/s" is packets per second):
//! - `parse`: Ethernet + IPv4/IPv6 header validation (with the IPv4 checksum);
//! - `hash`: the flow hash, for each policy;
//! - `select`: group selection for N = 2 to 64 members, for each algorithm;
//! - `lpm`: lookups at 1k, 100k and 1M routes;
//! - `pipeline`: `forward::process` per packet, alone and over a 32-packet burst,
//!   and `forward::process_burst` (the staged path the worker runs) on that burst;
//! - `flowtable`: lookups that hit and inserts, 64k flows in a 128k table;
//! - `select` (legacy names): hash plus selection for 8 members.
//!
//! Run: `cargo bench -p dataplane --bench forward`. Figures go to docs/performance.md.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use dataplane::drop::DropReason;
use dataplane::flow::{Endpoints, FlowKey};
use dataplane::forward::{process, process_burst, Ctx, IcmpLimiter, Verdict};
use dataplane::hash::{flow_hash, HashConfig};
use dataplane::lpm::Lpm;
use dataplane::neighbor::Neighbors;
use dataplane::nhg::{Group, ResilientTable};
use dataplane::stats::LcoreStats;
use dataplane::types::{MacAddr, NexthopId, PortId};
use dataplane::{frames, PacketBuf, VecBuf};

use dataplane::testkit::lab::{lab_fib_with_routes as fib, CLIENT_MAC as CLIENT, LAN_MAC as LAN};

fn bench_pipeline(c: &mut Criterion) {
    let fib = fib(100_000);
    let stats = LcoreStats::new(8);
    let mut icmp = IcmpLimiter::new(100);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in [
        (
            "ipv4_tcp_forward",
            frames::ipv4(
                CLIENT,
                LAN,
                [10, 0, 0, 2].into(),
                [198, 51, 100, 10].into(),
                6,
                64,
                &frames::tcp_syn(40000, 8080),
            ),
        ),
        (
            "ipv6_tcp_forward",
            frames::ipv6(
                CLIENT,
                LAN,
                "fd00::2".parse().unwrap(),
                "2001:db8:100::10".parse().unwrap(),
                6,
                64,
                &frames::tcp_syn(40000, 8080),
            ),
        ),
    ] {
        let mut buf = VecBuf::new(&frame);
        // Each iteration restores the frame (the pipeline rewrites it in place);
        // `..._frame_reset_only` measures that copy alone.
        g.bench_function(name, |b| {
            b.iter(|| {
                buf.reset(&frame, VecBuf::DEFAULT_HEADROOM);
                let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
                black_box(process(&mut ctx, PortId(0), &mut buf))
            })
        });
        g.bench_function(format!("{name}_frame_reset_only"), |b| {
            b.iter(|| buf.reset(black_box(&frame), VecBuf::DEFAULT_HEADROOM))
        });
        black_box(buf.data());
        // The staged pipeline over a burst of 32 copies (per packet: the
        // throughput is 32 elements), against `process` one by one above.
        let mut bufs: Vec<VecBuf> = (0..32).map(|_| VecBuf::new(&frame)).collect();
        let mut verdicts = [dataplane::Verdict::Reply; 32];
        g.throughput(Throughput::Elements(32));
        g.bench_function(format!("{name}_burst32"), |b| {
            b.iter(|| {
                for buf in bufs.iter_mut() {
                    buf.reset(&frame, VecBuf::DEFAULT_HEADROOM);
                }
                let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
                dataplane::forward::process_burst(&mut ctx, PortId(0), &mut bufs, &mut verdicts);
                black_box(&verdicts);
            })
        });
        g.throughput(Throughput::Elements(1));
    }
    g.finish();
}

/// LPM lookups at 1k, 100k and 1M IPv4 routes (tablegen's Internet-like
/// tables plus a default route), for two kinds of traffic: destinations
/// uniformly random over the address space, and destinations inside the
/// table's prefixes. One at a time and 32 at a time (`lookup_bulk`).
fn bench_lpm(c: &mut Criterion) {
    let mut r = dataplane::tablegen::Rng(7);
    let mut g = c.benchmark_group("lpm");
    for n in [1_000usize, 100_000, 1_000_000] {
        let mut entries = dataplane::tablegen::table(n, false, &mut r);
        let inside: Vec<u128> = (0..4096)
            .map(|_| entries[r.next() as usize % n].0 | ((r.next() as u128 & 0xff) << 96))
            .collect();
        entries.insert(0, (0, 0, n as u32));
        let t = Lpm::build(Lpm::ipv4(), entries);
        let random: Vec<u128> = (0..4096)
            .map(|_| ((r.next() as u32) as u128) << 96)
            .collect();
        g.throughput(Throughput::Elements(4096));
        for (name, keys) in [("random", &random), ("in_table", &inside)] {
            g.bench_function(format!("ipv4_{n}_{name}"), |b| {
                b.iter(|| {
                    keys.iter()
                        .map(|&k| t.lookup(k).unwrap_or(0) as u64)
                        .sum::<u64>()
                })
            });
            g.bench_function(format!("ipv4_{n}_{name}_bulk32"), |b| {
                let mut out = [None; 32];
                b.iter(|| {
                    let mut sum = 0u64;
                    for ks in keys.chunks(32) {
                        t.lookup_bulk(ks, &mut out);
                        sum += out.iter().map(|o| o.unwrap_or(0) as u64).sum::<u64>();
                    }
                    sum
                })
            });
        }
    }
    g.finish();
}

fn bench_hash_select(c: &mut Criterion) {
    let cfg = HashConfig::default();
    let members: Vec<_> = (0..8).map(|i| (NexthopId(i), 1 + i)).collect();
    let nb = Neighbors::new(8);
    for i in 0..8 {
        nb.set(NexthopId(i), MacAddr([2, 0, 0, 0, 0, i as u8]));
    }
    let mut t = ResilientTable::new(1024, 0, 0).unwrap();
    t.update(&members, 0);
    let mut k = FlowKey {
        outer: Endpoints {
            src: 0x0a00_0002u128 << 96,
            dst: 0xc633_640au128 << 96,
            proto: 6,
            sport: 1,
            dport: 8080,
            flow_label: 0,
            has_ports: true,
            v6: false,
        },
        inner: None,
    };
    let mut g = c.benchmark_group("select");
    g.throughput(Throughput::Elements(1));
    for (name, grp) in [
        (
            "l4_hash_and_hash_threshold_8_members",
            Group::new(&members).unwrap(),
        ),
        (
            "l4_hash_and_modulo_8_members",
            Group::modulo(&members).unwrap(),
        ),
        (
            "l4_hash_and_resilient_1024_buckets",
            Group::resilient(&members, &t.buckets(&members), t.activity()).unwrap(),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                k.outer.sport = k.outer.sport.wrapping_add(1);
                black_box(grp.select_live(flow_hash(&cfg, black_box(&k), 0), &nb))
            })
        });
    }
    g.finish();
}

fn bench_parse(c: &mut Criterion) {
    let v4 = frames::ipv4(
        CLIENT,
        LAN,
        [10, 0, 0, 2].into(),
        [198, 51, 100, 10].into(),
        17,
        64,
        &frames::udp(40000, 9000, &[0; 18]),
    );
    let v6 = frames::ipv6(
        CLIENT,
        LAN,
        "fd00::2".parse().unwrap(),
        "2001:db8:100::10".parse().unwrap(),
        17,
        64,
        &frames::udp(40000, 9000, &[0; 18]),
    );
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ethernet_ipv4_validate", |b| {
        b.iter(|| {
            let f = dataplane::wire::ethernet::Frame::new_checked(black_box(&v4[..])).unwrap();
            let ip = dataplane::wire::ipv4::Packet::new_checked(f.payload()).unwrap();
            black_box((ip.src(), ip.dst(), ip.ttl()))
        })
    });
    g.bench_function("ethernet_ipv6_validate", |b| {
        b.iter(|| {
            let f = dataplane::wire::ethernet::Frame::new_checked(black_box(&v6[..])).unwrap();
            let ip = dataplane::wire::ipv6::Packet::new_checked(f.payload()).unwrap();
            black_box((ip.src(), ip.dst(), ip.hop_limit()))
        })
    });
    g.bench_function("flow_key_ipv4_udp", |b| {
        b.iter(|| black_box(dataplane::flow::extract(black_box(&v4[14..]))))
    });
    g.bench_function("flow_key_ipv6_udp", |b| {
        b.iter(|| black_box(dataplane::flow::extract(black_box(&v6[14..]))))
    });
    g.finish();
}

fn bench_hash_policies(c: &mut Criterion) {
    use dataplane::hash::{Field, FieldSet, HashPolicy};
    let v4 = FlowKey {
        outer: Endpoints {
            src: 0x0a00_0002u128 << 96,
            dst: 0xc633_640au128 << 96,
            proto: 6,
            sport: 40000,
            dport: 8080,
            flow_label: 0,
            has_ports: true,
            v6: false,
        },
        inner: None,
    };
    let v6 = FlowKey {
        outer: Endpoints {
            src: 0xfd00_0000_0000_0000_0000_0000_0000_0002,
            dst: 0x2001_0db8_0100_0000_0000_0000_0000_0010,
            proto: 6,
            sport: 40000,
            dport: 8080,
            flow_label: 0x12345,
            has_ports: true,
            v6: true,
        },
        inner: None,
    };
    let tunnel = FlowKey {
        inner: Some(v4.outer),
        outer: Endpoints {
            proto: 4,
            has_ports: false,
            sport: 0,
            dport: 0,
            ..v4.outer
        },
    };
    let fields = FieldSet(Field::SrcIp as u16 | Field::DstIp as u16 | Field::DstPort as u16);
    let mut g = c.benchmark_group("hash");
    g.throughput(Throughput::Elements(1));
    for (name, policy, key) in [
        ("l3_ipv4", HashPolicy::L3, &v4),
        ("l4_ipv4", HashPolicy::L4, &v4),
        ("l4_ipv6", HashPolicy::L4, &v6),
        ("l3_inner_ipip", HashPolicy::L3Inner, &tunnel),
        ("l4_inner_ipip", HashPolicy::L4Inner, &tunnel),
        ("fields_src_dst_dport_ipv4", HashPolicy::Fields(fields), &v4),
        ("flowlabel_ipv6", HashPolicy::FlowLabel, &v6),
        ("per_packet", HashPolicy::PerPacket, &v4),
    ] {
        let cfg = HashConfig { policy, seed: 7 };
        let mut n = 0u32;
        g.bench_function(name, |b| {
            b.iter(|| {
                n = n.wrapping_add(1);
                black_box(flow_hash(&cfg, black_box(key), n))
            })
        });
    }
    g.finish();
}

fn bench_select_sizes(c: &mut Criterion) {
    let nb = Neighbors::new(64);
    for i in 0..64 {
        nb.set(NexthopId(i), MacAddr([2, 0, 0, 0, 0, i as u8]));
    }
    let mut g = c.benchmark_group("select");
    g.throughput(Throughput::Elements(1));
    for n in [2u32, 4, 8, 16, 32, 64] {
        let members: Vec<_> = (0..n).map(|i| (NexthopId(i), 1 + i % 5)).collect();
        let mut t = ResilientTable::new(1024, 0, 0).unwrap();
        t.update(&members, 0);
        for (algo, grp) in [
            ("hash_threshold", Group::new(&members).unwrap()),
            ("modulo", Group::modulo(&members).unwrap()),
            (
                "resilient_1024",
                Group::resilient(&members, &t.buckets(&members), t.activity()).unwrap(),
            ),
        ] {
            let mut h = 0x9e37_79b9u32;
            g.bench_function(format!("{algo}_{n}"), |b| {
                b.iter(|| {
                    h = h.wrapping_mul(0x0019_660d).wrapping_add(0x3c6e_f35f);
                    black_box(grp.select_live(black_box(h), &nb))
                })
            });
        }
    }
    g.finish();
}

fn bench_burst(c: &mut Criterion) {
    let fib = fib(100_000);
    let stats = LcoreStats::new(8);
    let mut icmp = IcmpLimiter::new(100);
    // 32 frames of different flows, as one rx burst.
    let frames: Vec<Vec<u8>> = (0..32u16)
        .map(|i| {
            frames::ipv4(
                CLIENT,
                LAN,
                [10, 0, (i >> 8) as u8, i as u8 + 2].into(),
                [198, 51, 100, 10].into(),
                17,
                64,
                &frames::udp(40000 + i, 9000, &[0; 18]),
            )
        })
        .collect();
    let mut bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::new(f)).collect();
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(32));
    g.bench_function("ipv4_udp_burst32_per_packet", |b| {
        b.iter(|| {
            let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
            for (buf, f) in bufs.iter_mut().zip(&frames) {
                buf.reset(f, VecBuf::DEFAULT_HEADROOM);
                black_box(process(&mut ctx, PortId(0), buf));
            }
        })
    });
    let mut verdicts = [Verdict::Drop(DropReason::NoRoute); 32];
    g.bench_function("ipv4_udp_burst32_staged_per_packet", |b| {
        b.iter(|| {
            let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
            for (buf, f) in bufs.iter_mut().zip(&frames) {
                buf.reset(f, VecBuf::DEFAULT_HEADROOM);
            }
            process_burst(&mut ctx, PortId(0), &mut bufs, &mut verdicts);
            black_box(&verdicts);
        })
    });
    g.finish();
}

fn bench_flowtable(c: &mut Criterion) {
    use dataplane::flowtable::{FlowTable, Found, Timeouts};
    // 64k flows in a table of 128k entries: lookups hit, inserts replace.
    let ft = FlowTable::new(1 << 17, Timeouts::default());
    let keys: Vec<Endpoints> = (0..65536u32)
        .map(|i| {
            let f = frames::ipv4(
                CLIENT,
                LAN,
                (0x0a00_0000 | i).into(),
                [198, 51, 100, 10].into(),
                17,
                64,
                &frames::udp(40000 + (i as u16 & 0xfff), 9000, &[]),
            );
            dataplane::flow::fast_v4(&f[14..]).unwrap()
        })
        .collect();
    for k in &keys {
        ft.insert(k, 0, NexthopId(1), 0);
    }
    let mut g = c.benchmark_group("flowtable");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("lookup_hit_64k", |b| {
        b.iter(|| {
            let mut hits = 0;
            for k in &keys {
                hits += matches!(ft.lookup(k, 0, 1), Found::Hit(_)) as u32;
            }
            black_box(hits)
        })
    });
    g.bench_function("insert_64k", |b| {
        b.iter(|| {
            for k in &keys {
                ft.insert(k, 0, NexthopId(2), 1);
            }
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_hash_policies,
    bench_select_sizes,
    bench_pipeline,
    bench_burst,
    bench_flowtable,
    bench_lpm,
    bench_hash_select
);
criterion_main!(benches);
