//! Software flow hashing for nexthop selection.
//!
//! The hash never uses the NIC's RSS value (virtual devices give none, and
//! hardware differs between routers). It is MurmurHash3's 32-bit mixing over
//! the chosen fields, seeded, so every router with the same seed picks the same
//! nexthop for a flow (ARCHITECTURE.md invariant 5).
//!
//! Hashing is symmetric: before mixing, the (address, port) endpoints are put
//! in a canonical order, so a flow and its reply hash alike.
//!
//! Policies:
//! - `l3`: source and destination address (IPv6 also the flow label and next header).
//! - `l4`: addresses, protocol and ports for TCP, UDP and SCTP. Other
//!   protocols, and every IPv4 fragment, fall back to `l3` so that all
//!   fragments of one datagram hash alike.

/// Default seed when the config gives none.
pub const DEFAULT_SEED: u32 = 0x0ec3_9a17;

/// Which packet fields feed the flow hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HashPolicy {
    /// Addresses only (IPv6 adds flow label and next header).
    L3,
    /// Addresses, protocol and ports.
    #[default]
    L4,
}

impl HashPolicy {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            HashPolicy::L3 => "l3",
            HashPolicy::L4 => "l4",
        }
    }
}

/// Hash policy and seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashConfig {
    /// Field selection.
    pub policy: HashPolicy,
    /// Seed mixed into every hash.
    pub seed: u32,
}

impl Default for HashConfig {
    fn default() -> Self {
        HashConfig {
            policy: HashPolicy::L4,
            seed: DEFAULT_SEED,
        }
    }
}

/// The fields of a packet that a hash may read, already extracted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowKey {
    /// Source address, IPv4 in the top 32 bits.
    pub src: u128,
    /// Destination address, IPv4 in the top 32 bits.
    pub dst: u128,
    /// IP protocol / IPv6 next header.
    pub proto: u8,
    /// Source port (0 when absent).
    pub sport: u16,
    /// Destination port (0 when absent).
    pub dport: u16,
    /// IPv6 flow label (0 for IPv4).
    pub flow_label: u32,
    /// True when ports are present (TCP/UDP/SCTP, not a fragment).
    pub has_ports: bool,
    /// True for IPv6 (L3 then also hashes next header and flow label).
    pub v6: bool,
}

#[inline]
fn mix(h: u32, k: u32) -> u32 {
    let k = k
        .wrapping_mul(0xcc9e_2d51)
        .rotate_left(15)
        .wrapping_mul(0x1b87_3593);
    (h ^ k)
        .rotate_left(13)
        .wrapping_mul(5)
        .wrapping_add(0xe654_6b64)
}

#[inline]
fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[inline]
fn mix128(mut h: u32, v: u128) -> u32 {
    h = mix(h, (v >> 96) as u32);
    if v as u64 != 0 || (v >> 64) as u32 != 0 {
        h = mix(h, (v >> 64) as u32);
        h = mix(h, (v >> 32) as u32);
        h = mix(h, v as u32);
    }
    h
}

/// The flow hash of `key` under `cfg`.
#[inline]
pub fn flow_hash(cfg: &HashConfig, key: &FlowKey) -> u32 {
    let use_ports = cfg.policy == HashPolicy::L4 && key.has_ports;
    let (sp, dp) = if use_ports {
        (key.sport, key.dport)
    } else {
        (0, 0)
    };
    // Canonical endpoint order makes the hash symmetric.
    let ((a, ap), (b, bp)) = if (key.src, sp) <= (key.dst, dp) {
        ((key.src, sp), (key.dst, dp))
    } else {
        ((key.dst, dp), (key.src, sp))
    };
    let mut h = cfg.seed;
    h = mix128(h, a);
    h = mix128(h, b);
    if use_ports {
        h = mix(h, key.proto as u32);
        h = mix(h, ((ap as u32) << 16) | bp as u32);
    } else if key.v6 {
        h = mix(h, key.proto as u32);
        h = mix(h, key.flow_label);
    }
    fmix(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(src: u32, dst: u32, sport: u16, dport: u16) -> FlowKey {
        FlowKey {
            src: (src as u128) << 96,
            dst: (dst as u128) << 96,
            proto: 6,
            sport,
            dport,
            flow_label: 0,
            has_ports: true,
            v6: false,
        }
    }

    #[test]
    fn l3_ignores_ports() {
        let c = HashConfig {
            policy: HashPolicy::L3,
            seed: 1,
        };
        assert_eq!(
            flow_hash(&c, &key(1, 2, 10, 20)),
            flow_hash(&c, &key(1, 2, 11, 21))
        );
        let c4 = HashConfig {
            policy: HashPolicy::L4,
            seed: 1,
        };
        assert_ne!(
            flow_hash(&c4, &key(1, 2, 10, 20)),
            flow_hash(&c4, &key(1, 2, 11, 20))
        );
    }

    #[test]
    fn seed_changes_hash() {
        let k = key(0x0a000002, 0xc633640a, 40000, 8080);
        let a = flow_hash(
            &HashConfig {
                policy: HashPolicy::L4,
                seed: 1,
            },
            &k,
        );
        let b = flow_hash(
            &HashConfig {
                policy: HashPolicy::L4,
                seed: 2,
            },
            &k,
        );
        assert_ne!(a, b);
    }

    #[test]
    fn source_ports_spread_evenly() {
        // 64k source ports into 16 bins by the top 4 bits (as hash-threshold uses them).
        let c = HashConfig::default();
        let mut bins = [0u32; 16];
        for sp in 0..65536u32 {
            bins[(flow_hash(&c, &key(0x0a000002, 0xc633640a, sp as u16, 8080)) >> 28) as usize] +=
                1;
        }
        for b in bins {
            assert!(
                (3686..=4506).contains(&b),
                "bin {b} outside 4096 +/- 10%: {bins:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn symmetric(src in any::<u128>(), dst in any::<u128>(), sp in any::<u16>(), dp in any::<u16>(), l4 in any::<bool>(), seed in any::<u32>()) {
            let c = HashConfig { policy: if l4 { HashPolicy::L4 } else { HashPolicy::L3 }, seed };
            let f = FlowKey { src, dst, proto: 17, sport: sp, dport: dp, flow_label: 0, has_ports: true, v6: true };
            let r = FlowKey { src: dst, dst: src, sport: dp, dport: sp, ..f };
            prop_assert_eq!(flow_hash(&c, &f), flow_hash(&c, &r));
        }
    }
}
