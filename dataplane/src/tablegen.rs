//! Synthetic Internet-like route tables for benchmarks and scale tests.
//!
//! Prefix-length distribution (shares of prefixes), after the public BGP table
//! reports of 2024 (bgp.potaroo.net):
//! - IPv4: /24 60%, /23 10%, /22 12%, /21 5%, /20 4%, /19 3%, /16 2%, /17-/18 2.5%, /8-/15 1.5%.
//! - IPv6: /48 55%, /44 8%, /40 6%, /36 4%, /32 20%, /29 3%, /28 2%, /46-/47 2%.
//!
//! Addresses are drawn so that prefixes cluster the way real allocations do:
//! every 64 prefixes share a random "allocation" /12 (IPv4, in unicast space
//! a BGP speaker accepts: first octet 1-223, not 10 or 127) or /24 (IPv6,
//! inside 2000::/3). Duplicates are possible and
//! rare; a table keeps the last.
//!
//! Used by `cargo run --release -p dataplane --example lpm_scale` and
//! `cargo run --release -p control --example table_scale` (which can also write
//! the table as a router config: see docs/performance.md).

/// A xorshift generator: fast, seeded, reproducible.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);
impl Rng {
    /// The next value.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A prefix length drawn from `dist` (length, weight).
    pub fn pick(&mut self, dist: &[(u8, u32)]) -> u8 {
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

/// IPv4 prefix lengths and their weights (per mille).
pub const V4: &[(u8, u32)] = &[
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
/// IPv6 prefix lengths and their weights (per mille).
pub const V6: &[(u8, u32)] = &[
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

/// `n` prefixes as `(left-aligned key, length, index)`.
pub fn table(n: usize, v6: bool, rng: &mut Rng) -> Vec<(u128, u8, u32)> {
    let mut out = Vec::with_capacity(n);
    let mut base = 0u128;
    for i in 0..n {
        if i % 64 == 0 {
            base = if v6 {
                ((0x2000u128 | (rng.next() as u128 & 0x1fff)) << 112)
                    | ((rng.next() as u128 & 0xff) << 104)
            } else {
                // A first octet BGP speakers accept (1-223, not 10 or 127:
                // no 0/8, loopback, private 10/8, multicast or class E),
                // then four random bits.
                let octet = loop {
                    let o = 1 + rng.next() % 223;
                    if o != 10 && o != 127 {
                        break o as u128;
                    }
                };
                (octet << 120) | ((rng.next() as u128 & 0xf) << 116)
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

/// The resident set size of this process in MiB (Linux), for memory figures.
pub fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}
