//! Software flow hashing for nexthop selection.
//!
//! The hash never uses the NIC's RSS value (virtual devices give none, and
//! hardware differs between routers). It is MurmurHash3's 32-bit mixing over
//! the fields the policy chooses, seeded, so every router with the same seed
//! picks the same nexthop for a flow (ARCHITECTURE.md invariant 5).
//!
//! # Policies
//! - `l3`: IPv4 {src, dst}; IPv6 {src, dst, flow label, next header}.
//! - `l4`: {src, dst, protocol, src port, dst port} for TCP, UDP and SCTP;
//!   other protocols and every fragment fall back to `l3`.
//! - `l3-inner` / `l4-inner`: the same over the inner packet of IP-in-IP or
//!   GRE; the outer fields when there is no inner packet.
//! - `fields`: exactly the chosen set (see [`Field`]); absent fields read as 0.
//! - `flowlabel`: IPv6 {src, dst, flow label} (RFC 6438); it never reads past
//!   the fixed header. A zero label, and IPv4, fall back to `l4`.
//! - `per-packet`: a per-packet counter (a Weyl sequence over the hash space)
//!   instead of packet fields: packets of one flow are sprayed evenly over
//!   all members and will be reordered.
//!
//! # Symmetry
//! Before mixing, the endpoints (address with port) are put in a canonical
//! order, so a flow and its reply hash alike. This holds for every built-in
//! policy and for a `fields` set that chooses src and dst (and src-port and
//! dst-port) together; a `fields` set that chooses only one side is
//! direction-sensitive by the operator's choice. The flow label is each
//! end's own choice (RFC 6437), so policies that read it are symmetric only
//! when servers reflect the label (Linux `net.ipv6.flowlabel_reflect`).
//!
//! ICMP errors are hashed on the flow they are about (see [`crate::flow`]).

use crate::flow::{Endpoints, FlowKey};

/// Default seed when the config gives none.
pub const DEFAULT_SEED: u32 = 0x0ec3_9a17;

/// A field a `fields` policy may choose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Field {
    /// Outer source address.
    SrcIp = 1 << 0,
    /// Outer destination address.
    DstIp = 1 << 1,
    /// Outer protocol / next header.
    Protocol = 1 << 2,
    /// Outer IPv6 flow label.
    FlowLabel = 1 << 3,
    /// Outer source port.
    SrcPort = 1 << 4,
    /// Outer destination port.
    DstPort = 1 << 5,
    /// Inner source address.
    InnerSrcIp = 1 << 8,
    /// Inner destination address.
    InnerDstIp = 1 << 9,
    /// Inner protocol.
    InnerProtocol = 1 << 10,
    /// Inner flow label.
    InnerFlowLabel = 1 << 11,
    /// Inner source port.
    InnerSrcPort = 1 << 12,
    /// Inner destination port.
    InnerDstPort = 1 << 13,
}

impl Field {
    /// Every field with its config spelling.
    pub const ALL: [(Field, &'static str); 12] = [
        (Field::SrcIp, "src-ip"),
        (Field::DstIp, "dst-ip"),
        (Field::Protocol, "protocol"),
        (Field::FlowLabel, "flowlabel"),
        (Field::SrcPort, "src-port"),
        (Field::DstPort, "dst-port"),
        (Field::InnerSrcIp, "inner-src-ip"),
        (Field::InnerDstIp, "inner-dst-ip"),
        (Field::InnerProtocol, "inner-protocol"),
        (Field::InnerFlowLabel, "inner-flowlabel"),
        (Field::InnerSrcPort, "inner-src-port"),
        (Field::InnerDstPort, "inner-dst-port"),
    ];

    /// Parses a config spelling.
    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.iter().find(|(_, n)| *n == s).map(|(f, _)| *f)
    }
}

/// A set of [`Field`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct FieldSet(pub u16);

impl FieldSet {
    /// Adds a field.
    pub fn with(self, f: Field) -> FieldSet {
        FieldSet(self.0 | f as u16)
    }
    /// True when `f` is chosen.
    pub fn has(self, f: Field) -> bool {
        self.0 & f as u16 != 0
    }
    /// The config spellings of the chosen fields.
    pub fn names(self) -> Vec<&'static str> {
        Field::ALL
            .iter()
            .filter(|(f, _)| self.has(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Which packet fields feed the flow hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum HashPolicy {
    /// Addresses (IPv6 adds flow label and next header).
    L3,
    /// Addresses, protocol and ports.
    #[default]
    L4,
    /// `l3` over the inner packet.
    L3Inner,
    /// `l4` over the inner packet.
    L4Inner,
    /// A chosen field set.
    Fields(FieldSet),
    /// IPv6 {src, dst, flow label}.
    FlowLabel,
    /// No flow affinity: spray packets.
    PerPacket,
}

impl HashPolicy {
    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            HashPolicy::L3 => "l3",
            HashPolicy::L4 => "l4",
            HashPolicy::L3Inner => "l3-inner",
            HashPolicy::L4Inner => "l4-inner",
            HashPolicy::Fields(_) => "fields",
            HashPolicy::FlowLabel => "flowlabel",
            HashPolicy::PerPacket => "per-packet",
        }
    }
}

/// Hash policy and seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// One MurmurHash3 (x64) block step.
#[inline]
fn mix(h: u64, k: u64) -> u64 {
    let k = k
        .wrapping_mul(0x87c3_7b91_1142_53d5)
        .rotate_left(31)
        .wrapping_mul(0x4cf5_ad43_2745_937f);
    (h ^ k)
        .rotate_left(27)
        .wrapping_mul(5)
        .wrapping_add(0x52dc_e729)
}

/// MurmurHash3's 64-bit finaliser: full avalanche.
#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// MurmurHash3's 32-bit finaliser: full avalanche of a 32-bit value.
#[inline]
pub fn fmix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

// Per-endpoint-set field mask (low byte of a FieldSet).
const SRC: u16 = Field::SrcIp as u16;
const DST: u16 = Field::DstIp as u16;
const PROTO: u16 = Field::Protocol as u16;
const LABEL: u16 = Field::FlowLabel as u16;
const SPORT: u16 = Field::SrcPort as u16;
const DPORT: u16 = Field::DstPort as u16;
const L3_V4: u16 = SRC | DST;
const L3_V6: u16 = SRC | DST | LABEL | PROTO;
const L4: u16 = SRC | DST | PROTO | SPORT | DPORT;

fn l3_mask(e: &Endpoints) -> u16 {
    if e.v6 {
        L3_V6
    } else {
        L3_V4
    }
}

fn l4_mask(e: &Endpoints) -> u16 {
    if e.has_ports {
        L4
    } else {
        l3_mask(e)
    }
}

/// Mixes the fields of `e` chosen by `mask` into `h`, endpoints in canonical
/// order when the mask chooses both sides alike. IPv4 costs two independent
/// multiplies, IPv6 six rounds; the caller finishes with fmix64.
#[inline(always)]
fn mix_endpoints(mut h: u64, e: &Endpoints, mask: u16) -> u64 {
    let pick = |bit: u16, v: u128| if mask & bit != 0 { v } else { 0 };
    let (mut a, mut ap) = (pick(SRC, e.src), pick(SPORT, e.sport as u128) as u16);
    let (mut b, mut bp) = (pick(DST, e.dst), pick(DPORT, e.dport as u128) as u16);
    let symmetric =
        (mask & SRC != 0) == (mask & DST != 0) && (mask & SPORT != 0) == (mask & DPORT != 0);
    if symmetric && (a, ap) > (b, bp) {
        std::mem::swap(&mut a, &mut b);
        std::mem::swap(&mut ap, &mut bp);
    }
    let proto = if mask & PROTO != 0 { e.proto as u64 } else { 0 };
    let label = if mask & LABEL != 0 {
        e.flow_label as u64
    } else {
        0
    };
    let tail = (ap as u64) << 48 | (bp as u64) << 32 | proto << 24 | label;
    if !e.v6 {
        // IPv4 addresses sit in the top 32 bits of the key. Two independent
        // multiplies (they run in parallel) instead of a chain of rounds; the
        // caller's fmix64 gives the avalanche.
        let k1 = ((a >> 96) as u64) << 32 | (b >> 96) as u64;
        let x = (k1 ^ h).wrapping_mul(0x87c3_7b91_1142_53d5);
        let y = (tail ^ h.rotate_left(32)).wrapping_mul(0x4cf5_ad43_2745_937f);
        return x ^ y.rotate_left(31);
    }
    h = mix(h, (a >> 64) as u64);
    h = mix(h, a as u64);
    h = mix(h, (b >> 64) as u64);
    h = mix(h, b as u64);
    h = mix(h, tail);
    mix(h, 1)
}

/// The flow hash of `key` under `cfg`. `per_packet` is the caller's
/// per-packet counter, read only by [`HashPolicy::PerPacket`].
#[inline(always)]
pub fn flow_hash(cfg: &HashConfig, key: &FlowKey, per_packet: u32) -> u32 {
    let o = &key.outer;
    let h = cfg.seed as u64 | (cfg.seed as u64) << 32;
    let h = match cfg.policy {
        HashPolicy::L3 => mix_endpoints(h, o, l3_mask(o)),
        HashPolicy::L4 => mix_endpoints(h, o, l4_mask(o)),
        HashPolicy::L3Inner => match &key.inner {
            Some(i) => mix_endpoints(mix(h, 1), i, l3_mask(i)),
            None => mix_endpoints(h, o, l3_mask(o)),
        },
        HashPolicy::L4Inner => match &key.inner {
            Some(i) => mix_endpoints(mix(h, 1), i, l4_mask(i)),
            None => mix_endpoints(h, o, l4_mask(o)),
        },
        HashPolicy::FlowLabel if o.v6 && o.flow_label != 0 => {
            mix_endpoints(mix(h, 2), o, SRC | DST | LABEL)
        }
        HashPolicy::FlowLabel => mix_endpoints(h, o, l4_mask(o)),
        HashPolicy::Fields(set) => {
            let h = mix_endpoints(h, o, set.0 & 0xff);
            let inner = set.0 >> 8;
            if inner == 0 {
                h
            } else {
                mix_endpoints(h, &key.inner.unwrap_or_default(), inner)
            }
        }
        // A Weyl sequence, not a hash: consecutive packets walk the hash space
        // evenly, so spraying is balanced to within a packet or two.
        HashPolicy::PerPacket => {
            return cfg.seed.wrapping_add(per_packet.wrapping_mul(0x9e37_79b9))
        }
    };
    let h = fmix64(h);
    (h ^ (h >> 32)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(src: u32, dst: u32, sport: u16, dport: u16) -> FlowKey {
        FlowKey {
            outer: Endpoints {
                src: (src as u128) << 96,
                dst: (dst as u128) << 96,
                proto: 6,
                sport,
                dport,
                flow_label: 0,
                has_ports: true,
                v6: false,
            },
            inner: None,
        }
    }

    #[test]
    fn l3_ignores_ports() {
        let c = HashConfig {
            policy: HashPolicy::L3,
            seed: 1,
        };
        assert_eq!(
            flow_hash(&c, &key(1, 2, 10, 20), 0),
            flow_hash(&c, &key(1, 2, 11, 21), 0)
        );
        let c4 = HashConfig {
            policy: HashPolicy::L4,
            seed: 1,
        };
        assert_ne!(
            flow_hash(&c4, &key(1, 2, 10, 20), 0),
            flow_hash(&c4, &key(1, 2, 11, 20), 0)
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
            0,
        );
        let b = flow_hash(
            &HashConfig {
                policy: HashPolicy::L4,
                seed: 2,
            },
            &k,
            0,
        );
        assert_ne!(a, b);
    }

    #[test]
    fn source_ports_spread_evenly() {
        // 64k source ports into 16 bins by the top 4 bits (as hash-threshold uses them).
        let c = HashConfig::default();
        let mut bins = [0u32; 16];
        for sp in 0..65536u32 {
            bins[(flow_hash(&c, &key(0x0a000002, 0xc633640a, sp as u16, 8080), 0) >> 28)
                as usize] += 1;
        }
        for b in bins {
            assert!(
                (3686..=4506).contains(&b),
                "bin {b} outside 4096 +/- 10%: {bins:?}"
            );
        }
    }

    #[test]
    fn flowlabel_falls_back_to_l4() {
        let c = HashConfig {
            policy: HashPolicy::FlowLabel,
            seed: 3,
        };
        let l4 = HashConfig {
            policy: HashPolicy::L4,
            seed: 3,
        };
        let k = key(1, 2, 3, 4);
        assert_eq!(flow_hash(&c, &k, 0), flow_hash(&l4, &k, 0));
        let mut k6 = k;
        k6.outer.v6 = true;
        k6.outer.flow_label = 0x12345;
        let mut k6b = k6;
        k6b.outer.sport = 99;
        assert_eq!(
            flow_hash(&c, &k6, 0),
            flow_hash(&c, &k6b, 0),
            "ports are not read when a label is present"
        );
    }

    #[test]
    fn field_names_roundtrip() {
        for (f, n) in Field::ALL {
            assert_eq!(Field::parse(n), Some(f));
        }
        assert_eq!(
            FieldSet::default()
                .with(Field::SrcIp)
                .with(Field::InnerDstPort)
                .names(),
            ["src-ip", "inner-dst-port"]
        );
    }

    proptest! {
        #[test]
        fn symmetric(src in any::<u128>(), dst in any::<u128>(), sp in any::<u16>(), dp in any::<u16>(), seed in any::<u32>(), p in 0usize..6) {
            let policy = [HashPolicy::L3, HashPolicy::L4, HashPolicy::L3Inner, HashPolicy::L4Inner, HashPolicy::FlowLabel,
                HashPolicy::Fields(FieldSet(L4 | (L4 << 8)))][p];
            let c = HashConfig { policy, seed };
            let e = Endpoints { src, dst, proto: 17, sport: sp, dport: dp, flow_label: 77, has_ports: true, v6: true };
            let f = FlowKey { outer: e, inner: Some(Endpoints { src: dst ^ 5, ..e }) };
            let r = FlowKey { outer: e.reversed(), inner: f.inner.map(Endpoints::reversed) };
            prop_assert_eq!(flow_hash(&c, &f, 0), flow_hash(&c, &r, 0));
        }
    }
}
