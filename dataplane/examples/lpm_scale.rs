//! Full-table scale of the LPM: builds tables of 1k and of 1,000,000 IPv4 +
//! 250,000 IPv6 prefixes with an Internet-like prefix-length distribution,
//! and reports build time, memory, and lookup rates.
//!
//! Run: `cargo run --release -p dataplane --example lpm_scale`
//!
//! Prefix-length distribution (shares of prefixes), after the public BGP table
//! reports of 2024 (bgp.potaroo.net):
//! - IPv4: /24 60%, /23 10%, /22 12%, /21 5%, /20 4%, /19 3%, /16 2%, /17-/18 2.5%, /8-/15 1.5%.
//! - IPv6: /48 55%, /44 8%, /40 6%, /36 4%, /32 20%, /29 3%, /28 2%, /46-/47 2%.
//!
//! Addresses are drawn so that prefixes cluster the way real allocations do:
//! a random "allocation" /12 (IPv4) or /24 (IPv6) with many prefixes under it.

use dataplane::lpm::Lpm;
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick(&mut self, dist: &[(u8, u32)]) -> u8 {
        let total: u32 = dist.iter().map(|d| d.1).sum();
        let mut x = (self.next() % total as u64) as u32;
        for &(len, w) in dist {
            if x < w {
                return len;
            }
            x -= w;
        }
        dist[0].0
    }
}

const V4: &[(u8, u32)] = &[
    (24, 600),
    (23, 100),
    (22, 120),
    (21, 50),
    (20, 40),
    (19, 30),
    (16, 20),
    (17, 10),
    (18, 15),
    (8, 1),
    (12, 4),
    (14, 5),
    (15, 5),
];
const V6: &[(u8, u32)] = &[
    (48, 550),
    (44, 80),
    (40, 60),
    (36, 40),
    (32, 200),
    (29, 30),
    (28, 20),
    (46, 10),
    (47, 10),
];

fn table(n: usize, v6: bool, rng: &mut Rng) -> Vec<(u128, u8, u32)> {
    let mut out = Vec::with_capacity(n);
    let mut base = 0u128;
    for i in 0..n {
        if i % 64 == 0 {
            base = if v6 {
                ((0x2000u128 | (rng.next() as u128 & 0x1fff)) << 112)
                    | ((rng.next() as u128 & 0xff) << 104)
            } else {
                ((rng.next() as u128 & 0xfff) << 116) | (1u128 << 125)
            };
        }
        let len = rng.pick(if v6 { V6 } else { V4 });
        let lo = if v6 { 24 } else { 12 };
        let span = len.saturating_sub(lo) as u32;
        let sub = if span == 0 {
            0
        } else {
            (rng.next() as u128 & ((1u128 << span) - 1)) << (128 - len as u32)
        };
        let key = (base | sub) & (u128::MAX << (128 - len as u32));
        out.push((key, len, i as u32));
    }
    out
}

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

fn main() {
    let mut rng = Rng(0x5ca1_ab1e);
    for (name, n4, n6) in [
        ("1k (1000 IPv4 + 250 IPv6)", 1000, 250),
        ("full (1,000,000 IPv4 + 250,000 IPv6)", 1_000_000, 250_000),
    ] {
        let e4 = table(n4, false, &mut rng);
        let e6 = table(n6, true, &mut rng);
        // Lookup keys: half inside the table's prefixes (realistic traffic), half random.
        let mut k4: Vec<u128> = e4
            .iter()
            .step_by((n4 / 500_000).max(1))
            .take(500_000)
            .map(|e| e.0 | ((rng.next() as u128 & 0xff) << 96))
            .collect();
        k4.extend((0..500_000).map(|_| ((rng.next() as u32) as u128) << 96));
        let mut k6: Vec<u128> = e6
            .iter()
            .cycle()
            .take(500_000)
            .map(|e| e.0 | (rng.next() as u128 & 0xffff_ffff_ffff))
            .collect();
        k6.extend((0..500_000).map(|_| (0x2000u128 << 112) | ((rng.next() as u128) << 64)));
        // Shuffle so lookups do not walk the table in order.
        for v in [&mut k4, &mut k6] {
            for i in (1..v.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                v.swap(i, j);
            }
        }
        let t0 = Instant::now();
        let t4 = Lpm::build(e4);
        let b4 = t0.elapsed();
        let t0 = Instant::now();
        let t6 = Lpm::build(e6);
        let b6 = t0.elapsed();
        let (r4, r6) = (lookups(&t4, &k4), lookups(&t6, &k6));
        println!(
            "{name}: build IPv4 {:.3} s, IPv6 {:.3} s; memory IPv4 {:.1} MiB, IPv6 {:.1} MiB; lookups IPv4 {:.1} M/s ({:.1} ns), IPv6 {:.1} M/s ({:.1} ns)",
            b4.as_secs_f64(),
            b6.as_secs_f64(),
            t4.memory_bytes() as f64 / 1048576.0,
            t6.memory_bytes() as f64 / 1048576.0,
            r4 / 1e6,
            1e9 / r4,
            r6 / 1e6,
            1e9 / r6
        );
    }
}
