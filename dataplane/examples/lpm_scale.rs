//! Full-table scale of the LPM: builds tables of 1k and of 1,000,000 IPv4 +
//! 250,000 IPv6 prefixes with an Internet-like prefix-length distribution,
//! and reports build time, memory, and lookup rates.
//!
//! Run: `cargo run --release -p dataplane --example lpm_scale`
//!
//! With `-- --routes FILE --ips FILE [--v6]` it builds one table from
//! `FILE`'s `prefix/len nexthop` lines and looks up the addresses of the
//! other file, one per line: the formats DPDK's `dpdk-test-fib` reads (`-f`,
//! `-t`), so both run on the same data (`bench/fulltable/lookups.sh`).
//!
//! Note: the churn column removes a prefix that may already be gone, so
//! some removals are no-ops; it still walks the table to find out.
//!
//! The tables come from [`dataplane::tablegen`] (its docs give the
//! prefix-length distribution).

use dataplane::lpm::Lpm;
use dataplane::tablegen::{rss_mib, table, Rng};
use std::time::Instant;

/// Lookups per second, one at a time.
fn lookups(t: &Lpm, keys: &[u128]) -> f64 {
    let start = Instant::now();
    let mut hits = 0u64;
    for _ in 0..5 {
        for &k in keys {
            hits += t.lookup(k).is_some() as u64;
        }
    }
    let el = start.elapsed().as_secs_f64();
    std::hint::black_box(hits);
    (keys.len() * 5) as f64 / el
}

/// Lookups per second, 32 at a time (as a worker does for a burst).
fn bulk(t: &Lpm, keys: &[u128]) -> f64 {
    let start = Instant::now();
    let mut hits = 0u64;
    let mut out = [None; 32];
    for _ in 0..5 {
        for ks in keys.chunks(32) {
            t.lookup_bulk(ks, &mut out);
            hits += out.iter().filter(|o| o.is_some()).count() as u64;
        }
    }
    let el = start.elapsed().as_secs_f64();
    std::hint::black_box(hits);
    (keys.len() * 5) as f64 / el
}

/// The memory floor under an IPv4 lookup: one independent read per key from
/// a 2^24-entry (64 MiB) array, 32 keys at a time, for the same keys. A
/// DIR-24-8 lookup of a destination with no longer prefix is exactly this
/// read, so a lookup at this figure is at the floor of this machine's DRAM
/// and TLB, and no layout of the root does better.
fn floor(keys: &[u128]) -> f64 {
    let table: Vec<u32> = (0..1u32 << 24)
        .map(|i| i.wrapping_mul(0x9e37_79b9))
        .collect();
    let start = Instant::now();
    let mut sum = 0u64;
    for _ in 0..5 {
        for ks in keys.chunks(32) {
            let mut got = [0u32; 32];
            for (g, &k) in got.iter_mut().zip(ks) {
                *g = table[(k >> 104) as usize];
            }
            sum += got.iter().map(|&g| g as u64).sum::<u64>();
        }
    }
    let el = start.elapsed().as_secs_f64();
    std::hint::black_box(sum);
    (keys.len() * 5) as f64 / el
}

fn shuffle(v: &mut [u128], rng: &mut Rng) {
    for i in (1..v.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
}

/// `--routes FILE --ips FILE [--v6]`: ns per lookup on those files, one
/// by one and in bulk, and with the bulk's prefetch.
fn from_files(routes: &str, ips: &str, v6: bool) {
    let key = |a: &str| -> u128 {
        let a: std::net::IpAddr = a.parse().unwrap_or_else(|e| panic!("{a}: {e}"));
        match a {
            std::net::IpAddr::V4(a) => (u32::from(a) as u128) << 96,
            std::net::IpAddr::V6(a) => u128::from(a),
        }
    };
    let text = std::fs::read_to_string(routes).expect("read the routes");
    let mut t = if v6 { Lpm::ipv6() } else { Lpm::ipv4() };
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f = line.split_whitespace();
        let (p, nh) = (f.next().expect("prefix"), f.next().expect("nexthop"));
        let (a, l) = p.split_once('/').expect("prefix/len");
        t.insert(
            key(a),
            l.parse().expect("length"),
            nh.parse().expect("nexthop"),
        );
        n += 1;
    }
    let keys: Vec<u128> = std::fs::read_to_string(ips)
        .expect("read the addresses")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| key(l.trim()))
        .collect();
    let ns = |r: f64| 1e9 / r;
    let (one, bulk_plain) = (lookups(&t, &keys), bulk(&t, &keys));
    t.set_prefetch(true);
    let bulk_pre = bulk(&t, &keys);
    println!(
        "{n} routes, {} addresses: ns per lookup: one by one {:.1}, bulk {:.1}, bulk with prefetch {:.1}",
        keys.len(),
        ns(one),
        ns(bulk_plain),
        ns(bulk_pre)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    if let (Some(r), Some(i)) = (arg("--routes"), arg("--ips")) {
        from_files(&r, &i, args.iter().any(|a| a == "--v6"));
        return;
    }
    let mut rng = Rng(0x5ca1_ab1e);
    let mut base: Option<[f64; 8]> = None;
    println!("table | build v4 s | build v6 s | RSS MiB | v4 random ns (bulk) | v4 in-table ns (bulk) | v6 random ns (bulk) | v6 in-table ns (bulk) | churn v4 ops/s");
    for (name, n4, n6) in [
        ("1k (1000 IPv4 + 250 IPv6)", 1000, 250),
        ("full (1,000,000 IPv4 + 250,000 IPv6)", 1_000_000, 250_000),
    ] {
        let mut e4 = table(n4, false, &mut rng);
        let mut e6 = table(n6, true, &mut rng);
        // Both tables have default routes, as a router's tables do.
        e4.insert(0, (0, 0, n4 as u32));
        e6.insert(0, (0, 0, n6 as u32));
        // The same two kinds of traffic at both sizes: destinations uniformly
        // random over the address space (IPv6: over 2000::/3), and destinations
        // inside the table's prefixes.
        let mut r4: Vec<u128> = (0..1_000_000)
            .map(|_| ((rng.next() as u32) as u128) << 96)
            .collect();
        let mut r6: Vec<u128> = (0..1_000_000)
            .map(|_| (0x2000u128 << 112) | (((rng.next() as u128) << 64) & !(0xe000u128 << 112)))
            .collect();
        let mut i4: Vec<u128> = e4[1..]
            .iter()
            .cycle()
            .take(1_000_000)
            .map(|e| e.0 | ((rng.next() as u128 & 0xff) << 96))
            .collect();
        let mut i6: Vec<u128> = e6[1..]
            .iter()
            .cycle()
            .take(1_000_000)
            .map(|e| e.0 | (rng.next() as u128 & 0xffff_ffff_ffff))
            .collect();
        for v in [&mut r4, &mut r6, &mut i4, &mut i6] {
            shuffle(v, &mut rng);
        }
        let rss0 = rss_mib();
        let t0 = Instant::now();
        let mut t4 = Lpm::build(Lpm::ipv4(), e4.clone());
        let b4 = t0.elapsed();
        let t0 = Instant::now();
        let mut t6 = Lpm::build(Lpm::ipv6(), e6);
        let b6 = t0.elapsed();
        let rss = rss_mib() - rss0;
        eprintln!(
            "memory: v4 {:.1} MiB ({} nodes), v6 {:.1} MiB ({} nodes)",
            t4.memory_bytes() as f64 / 1048576.0,
            t4.nodes_used(),
            t6.memory_bytes() as f64 / 1048576.0,
            t6.nodes_used()
        );
        let f = [
            lookups(&t4, &r4),
            bulk(&t4, &r4),
            lookups(&t4, &i4),
            bulk(&t4, &i4),
            lookups(&t6, &r6),
            bulk(&t6, &r6),
            lookups(&t6, &i6),
            bulk(&t6, &i6),
        ];
        // Bulk lookups with prefetch, whatever the size (a RouteTable turns
        // it on from PREFETCH_FROM prefixes).
        t4.set_prefetch(true);
        t6.set_prefetch(true);
        eprintln!(
            "{name}: bulk with prefetch: v4 random {:.1}, v4 in-table {:.1}, v6 random {:.1}, v6 in-table {:.1} ns",
            1e9 / bulk(&t4, &r4),
            1e9 / bulk(&t4, &i4),
            1e9 / bulk(&t6, &r6),
            1e9 / bulk(&t6, &i6)
        );
        t4.set_prefetch(false);
        eprintln!(
            "{name}: memory floor for the IPv4 in-table keys (one random read of a 64 MiB array, 32 at a time): {:.1} ns",
            1e9 / floor(&i4)
        );
        // Churn: remove and re-add random /24-and-longer prefixes of the table.
        let ops = 200_000.min(e4.len() - 1);
        let t0 = Instant::now();
        for i in 0..ops {
            let (k, l, v) = e4[1 + (rng.next() as usize % (e4.len() - 1))];
            if i % 2 == 0 {
                t4.remove(k, l, Some((0, n4 as u32)));
            } else {
                t4.insert(k, l, v);
            }
        }
        let churn = ops as f64 / t0.elapsed().as_secs_f64();
        let ns = |r: f64| 1e9 / r;
        println!(
            "{name} | {:.3} | {:.3} | {:.0} | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.1} ({:.1}) | {:.0}",
            b4.as_secs_f64(),
            b6.as_secs_f64(),
            rss,
            ns(f[0]), ns(f[1]), ns(f[2]), ns(f[3]), ns(f[4]), ns(f[5]), ns(f[6]), ns(f[7]),
            churn
        );
        match base {
            None => base = Some(f),
            Some(b) => {
                let names = [
                    "v4 random",
                    "v4 random bulk",
                    "v4 in-table",
                    "v4 in-table bulk",
                    "v6 random",
                    "v6 random bulk",
                    "v6 in-table",
                    "v6 in-table bulk",
                ];
                println!("rate at full size / rate at 1k (target >= 0.67):");
                for (i, n) in names.iter().enumerate() {
                    println!("  {n}: {:.2}", f[i] / b[i]);
                }
            }
        }
    }
}
