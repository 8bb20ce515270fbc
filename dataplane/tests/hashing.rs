//! Selection properties measured on real packet bytes: ICMP errors hash like
//! their flow under every policy, fragments hash alike, and `fields` choices
//! spread exactly on the fields chosen (after the Linux selftest
//! `custom_multipath_hash.sh`).

use dataplane::flow::extract;
use dataplane::frames;
use dataplane::hash::{flow_hash, Field, FieldSet, HashConfig, HashPolicy};
use dataplane::nhg::Group;
use dataplane::types::{MacAddr, NexthopId};
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

const M: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);

fn hash_of(cfg: &HashConfig, frame: &[u8]) -> u32 {
    let (k, _) = extract(&frame[14..]).expect("an IP packet");
    flow_hash(cfg, &k, 0)
}

fn policies() -> Vec<HashPolicy> {
    let all_outer = [
        Field::SrcIp,
        Field::DstIp,
        Field::Protocol,
        Field::FlowLabel,
        Field::SrcPort,
        Field::DstPort,
    ];
    let mut v = vec![
        HashPolicy::L3,
        HashPolicy::L4,
        HashPolicy::L3Inner,
        HashPolicy::L4Inner,
        HashPolicy::FlowLabel,
    ];
    // Every single field, a symmetric pair, all outer fields, and everything.
    for (f, _) in Field::ALL {
        v.push(HashPolicy::Fields(FieldSet::default().with(f)));
    }
    v.push(HashPolicy::Fields(
        FieldSet::default().with(Field::SrcIp).with(Field::DstIp),
    ));
    v.push(HashPolicy::Fields(
        all_outer
            .iter()
            .fold(FieldSet::default(), |s, f| s.with(*f)),
    ));
    v.push(HashPolicy::Fields(FieldSet(0xffff)));
    v
}

fn udp(sport: u16, dport: u16, len: usize) -> Vec<u8> {
    let mut u = vec![0u8; len.max(8)];
    u[0..2].copy_from_slice(&sport.to_be_bytes());
    u[2..4].copy_from_slice(&dport.to_be_bytes());
    u[4..6].copy_from_slice(&(len.max(8) as u16).to_be_bytes());
    u
}

fn l4(tcp: bool, sport: u16, dport: u16) -> (u8, Vec<u8>) {
    if tcp {
        (6, frames::tcp_syn(sport, dport).to_vec())
    } else {
        (17, udp(sport, dport, 40))
    }
}

/// ICMP (v4) error message quoting `orig` (an IP packet), as much as RFC 1812 allows.
fn icmp4_error(kind: u8, code: u8, orig: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0, 0, 0, 0x05, 0x78];
    m.extend_from_slice(&orig[..orig.len().min(548)]);
    m
}

fn icmp6_error(kind: u8, code: u8, orig: &[u8]) -> Vec<u8> {
    let mut m = vec![kind, code, 0, 0, 0, 0, 0x05, 0x00];
    m.extend_from_slice(&orig[..orig.len().min(1232)]);
    m
}

fn with_label(mut f: Vec<u8>, label: u32) -> Vec<u8> {
    f[15] = (f[15] & 0xf0) | ((label >> 16) as u8 & 0x0f);
    f[16] = (label >> 8) as u8;
    f[17] = label as u8;
    f
}

fn gre(inner_ip: &[u8]) -> Vec<u8> {
    let mut g = vec![0u8, 0, 0x08, 0x00];
    if inner_ip[0] >> 4 == 6 {
        g[2] = 0x86;
        g[3] = 0xdd;
    }
    g.extend_from_slice(inner_ip);
    g
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every IPv4 error type, every policy, plain and GRE-tunnelled flows:
    /// the error hashes exactly like the flow it is about.
    #[test]
    fn icmp4_errors_hash_like_their_flow(c in any::<u32>(), a in any::<u32>(), x in any::<u32>(), sport in any::<u16>(), dport in any::<u16>(), tcp in any::<bool>(), seed in any::<u32>(), tunnel in any::<bool>()) {
        let (client, anycast, reporter) = (Ipv4Addr::from(c), Ipv4Addr::from(a), Ipv4Addr::from(x));
        let (p, body) = l4(tcp, sport, dport);
        let (rp, rbody) = l4(tcp, dport, sport);
        let (fwd, rev) = if tunnel {
            let fi = frames::ipv4(M, M, client, anycast, p, 64, &body);
            let ri = frames::ipv4(M, M, anycast, client, rp, 64, &rbody);
            (frames::ipv4(M, M, [192, 0, 2, 1].into(), [192, 0, 2, 2].into(), 47, 64, &gre(&fi[14..])),
             frames::ipv4(M, M, [192, 0, 2, 2].into(), [192, 0, 2, 1].into(), 47, 64, &gre(&ri[14..])))
        } else {
            (frames::ipv4(M, M, client, anycast, p, 64, &body), frames::ipv4(M, M, anycast, client, rp, 64, &rbody))
        };
        let dst = if tunnel { Ipv4Addr::new(192, 0, 2, 2) } else { anycast };
        for (kind, code) in [(3u8, 4u8), (3, 1), (3, 3), (11, 0), (12, 0)] {
            let err = frames::ipv4(M, M, reporter, dst, 1, 64, &icmp4_error(kind, code, &rev[14..]));
            for policy in policies() {
                let cfg = HashConfig { policy, seed };
                prop_assert_eq!(hash_of(&cfg, &fwd), hash_of(&cfg, &err), "type {} code {} {:?} tunnel {}", kind, code, policy, tunnel);
            }
        }
    }

    /// Every IPv6 error type, every policy. Servers reflect the flow label
    /// (the documented condition for policies that read it).
    #[test]
    fn icmp6_errors_hash_like_their_flow(c in any::<u128>(), a in any::<u128>(), x in any::<u128>(), sport in any::<u16>(), dport in any::<u16>(), tcp in any::<bool>(), seed in any::<u32>(), label in 0u32..(1 << 20)) {
        let (client, anycast, reporter) = (Ipv6Addr::from(c), Ipv6Addr::from(a), Ipv6Addr::from(x));
        let (p, body) = l4(tcp, sport, dport);
        let (rp, rbody) = l4(tcp, dport, sport);
        let fwd = with_label(frames::ipv6(M, M, client, anycast, p, 64, &body), label);
        let rev = with_label(frames::ipv6(M, M, anycast, client, rp, 64, &rbody), label);
        for (kind, code) in [(1u8, 0u8), (1, 4), (2, 0), (3, 0), (4, 0)] {
            let err = frames::ipv6(M, M, reporter, anycast, 58, 64, &icmp6_error(kind, code, &rev[14..]));
            for policy in policies() {
                let cfg = HashConfig { policy, seed };
                prop_assert_eq!(hash_of(&cfg, &fwd), hash_of(&cfg, &err), "type {} {:?}", kind, policy);
            }
        }
    }

    /// All fragments of one datagram hash alike, whatever the policy.
    #[test]
    fn fragments_hash_alike(c in any::<u32>(), a in any::<u32>(), sport in any::<u16>(), dport in any::<u16>(), id in any::<u32>(), seed in any::<u32>()) {
        let (src, dst) = (Ipv4Addr::from(c), Ipv4Addr::from(a));
        let mut first = frames::ipv4(M, M, src, dst, 17, 64, &udp(sport, dport, 64));
        first[14 + 6] = 0x20; // MF, offset 0
        let mut later = frames::ipv4(M, M, src, dst, 17, 64, &[0xab; 32]);
        later[14 + 7] = 8; // offset 64 bytes, last fragment
        let (s6, d6) = (Ipv6Addr::from(((c as u128) << 64) | 1), Ipv6Addr::from(((a as u128) << 64) | 2));
        let frag = |off_m: u16, payload: &[u8]| {
            let mut b = vec![17u8, 0, (off_m >> 8) as u8, off_m as u8];
            b.extend_from_slice(&id.to_be_bytes());
            b.extend_from_slice(payload);
            with_label(frames::ipv6(M, M, s6, d6, 44, 64, &b), 0x5555)
        };
        let first6 = frag(1, &udp(sport, dport, 64));
        let later6 = frag(8 << 3, &[0xcd; 32]);
        for policy in policies() {
            let cfg = HashConfig { policy, seed };
            prop_assert_eq!(hash_of(&cfg, &first), hash_of(&cfg, &later), "IPv4 {:?}", policy);
            prop_assert_eq!(hash_of(&cfg, &first6), hash_of(&cfg, &later6), "IPv6 {:?}", policy);
        }
    }
}

/// Members of 4 equal ones hit by 1024 packets made by `mk(i)`.
fn spread(policy: HashPolicy, mk: &dyn Fn(u32) -> Vec<u8>) -> [u32; 4] {
    let g = Group::new(&(0..4).map(|i| (NexthopId(i), 1)).collect::<Vec<_>>()).unwrap();
    let cfg = HashConfig {
        policy,
        seed: 0x5eed,
    };
    let mut c = [0u32; 4];
    for i in 0..1024 {
        c[g.select(hash_of(&cfg, &mk(i))).index()] += 1;
    }
    c
}

/// A packet whose fields are all fixed but `vary`, which takes a value derived from `i`.
/// Outer IPv6 + GRE + inner IPv6 UDP, so every inner field exists; when an
/// outer port or the outer protocol varies, the outer packet carries UDP/TCP/SCTP instead.
fn packet(vary: Option<Field>, i: u32) -> Vec<u8> {
    let v = |f: Field, base: u32| {
        if vary == Some(f) {
            base.wrapping_add(i * 7919)
        } else {
            base
        }
    };
    let addr = |f: Field, base: u32| Ipv6Addr::from((0x2001_0db8u128 << 96) | v(f, base) as u128);
    let proto = |f: Field| {
        if vary == Some(f) {
            [6u8, 17, 132][i as usize % 3]
        } else {
            17
        }
    };
    let ports = |p: u8, s: u16, d: u16| {
        if p == 6 {
            frames::tcp_syn(s, d).to_vec()
        } else {
            udp(s, d, 16)
        }
    };
    let label = |f: Field, base: u32| v(f, base) & 0xfffff;
    let outer_ports = matches!(
        vary,
        Some(Field::Protocol | Field::SrcPort | Field::DstPort)
    );
    if outer_ports {
        let p = proto(Field::Protocol);
        let body = ports(
            p,
            v(Field::SrcPort, 4000) as u16,
            v(Field::DstPort, 4789) as u16,
        );
        return with_label(
            frames::ipv6(
                M,
                M,
                addr(Field::SrcIp, 3),
                addr(Field::DstIp, 4),
                p,
                64,
                &body,
            ),
            label(Field::FlowLabel, 9),
        );
    }
    let ip = proto(Field::InnerProtocol);
    let ibody = ports(
        ip,
        v(Field::InnerSrcPort, 1000) as u16,
        v(Field::InnerDstPort, 53) as u16,
    );
    let inner = with_label(
        frames::ipv6(
            M,
            M,
            addr(Field::InnerSrcIp, 1),
            addr(Field::InnerDstIp, 2),
            ip,
            64,
            &ibody,
        ),
        label(Field::InnerFlowLabel, 7),
    );
    with_label(
        frames::ipv6(
            M,
            M,
            addr(Field::SrcIp, 3),
            addr(Field::DstIp, 4),
            47,
            64,
            &gre(&inner[14..]),
        ),
        label(Field::FlowLabel, 9),
    )
}

#[test]
fn each_chosen_field_spreads_and_unchosen_fields_do_not() {
    for (chosen, name) in Field::ALL {
        let policy = HashPolicy::Fields(FieldSet::default().with(chosen));
        let c = spread(policy, &|i| packet(Some(chosen), i));
        if chosen == Field::Protocol || chosen == Field::InnerProtocol {
            // Only three protocol values (TCP, UDP, SCTP): at most three members.
            assert!(
                c.iter().filter(|&&n| n > 0).count() >= 2,
                "{name}: varying the chosen field must spread: {c:?}"
            );
        } else {
            for n in c {
                assert!(
                    (204..=308).contains(&n),
                    "{name}: varying the chosen field must spread within 20%: {c:?}"
                );
            }
        }
        for (other, oname) in Field::ALL {
            if other == chosen {
                continue;
            }
            let c = spread(policy, &|i| packet(Some(other), i));
            assert_eq!(
                c.iter().filter(|&&n| n > 0).count(),
                1,
                "{name}: varying unchosen {oname} must not spread: {c:?}"
            );
        }
    }
}

#[test]
fn per_packet_sprays_one_flow() {
    let g = Group::new(&(0..4).map(|i| (NexthopId(i), 1)).collect::<Vec<_>>()).unwrap();
    let f = packet(None, 0);
    let (k, _) = extract(&f[14..]).unwrap();
    let cfg = HashConfig {
        policy: HashPolicy::PerPacket,
        seed: 1,
    };
    let mut c = [0u32; 4];
    for i in 0..4000 {
        c[g.select(flow_hash(&cfg, &k, i)).index()] += 1;
    }
    for n in c {
        assert!(
            (990..=1010).contains(&n),
            "per-packet spraying is balanced to a packet or two: {c:?}"
        );
    }
}
