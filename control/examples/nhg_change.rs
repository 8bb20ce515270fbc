//! The cost of one nexthop-object change that 100,000 FPM routes share
//! (issue 13, "nexthop objects stay objects"), measured the way zebra sends it:
//! RTM_NEWNEXTHOP for two gateways, a group of both, 100,000 routes with
//! RTA_NH_ID of the group; then one RTM_NEWNEXTHOP that changes a member.
//!
//! `cargo run --release -p control --example nhg_change [ROUTES]`
//!
//! It prints the time of the session step (the object and the groups that
//! hold it) and of the control-plane step (the group change), over 5 changes,
//! and checks that the shared group holds the new gateway.

use control::config;
use control::fpm::{decode_frame, frame, Session};
use control::punt::Channels;
use control::state::ControlPlane;
use dataplane::types::MacAddr;
use std::time::Instant;

const HEAD: &str = "ports:
  - { name: up1, device: net_null0, addresses: [10.1.0.1/24] }
  - { name: up2, device: net_null1, addresses: [10.2.0.1/24] }
";

#[path = "common/netlink.rs"]
mod netlink;
use netlink::attr;

fn fpm(kind: u16, body: Vec<u8>) -> Vec<u8> {
    let mut nl = vec![0u8; 16];
    nl[4..6].copy_from_slice(&kind.to_le_bytes());
    nl.extend_from_slice(&body);
    let n = nl.len() as u32;
    nl[0..4].copy_from_slice(&n.to_le_bytes());
    let mut f = vec![1u8, 1];
    f.extend_from_slice(&((n + 4) as u16).to_be_bytes());
    f.extend_from_slice(&nl);
    f
}

fn nexthop(id: u32, gw: [u8; 4], oif: u32) -> Vec<u8> {
    let mut b = vec![2, 0, 0, 0, 0, 0, 0, 0];
    attr(&mut b, 1, &id.to_le_bytes()); // NHA_ID
    attr(&mut b, 5, &oif.to_le_bytes()); // NHA_OIF
    attr(&mut b, 6, &gw); // NHA_GATEWAY
    fpm(104, b)
}

fn group(id: u32, members: &[u32]) -> Vec<u8> {
    let mut b = vec![0u8; 8];
    attr(&mut b, 1, &id.to_le_bytes());
    let mut g = Vec::new();
    for m in members {
        g.extend_from_slice(&m.to_le_bytes());
        g.extend_from_slice(&[0, 0, 0, 0]);
    }
    attr(&mut b, 2, &g); // NHA_GROUP
    fpm(104, b)
}

fn route(i: u32, nh: u32) -> Vec<u8> {
    let mut b = vec![2, 24, 0, 0, 254, 186, 0, 1, 0, 0, 0, 0];
    let a = 0x6440_0000u32 + (i << 8); // 100.64.0.0 upwards, /24s
    attr(&mut b, 1, &a.to_be_bytes());
    attr(&mut b, 30, &nh.to_le_bytes()); // RTA_NH_ID
    fpm(24, b)
}

fn feed(s: &mut Session, f: &[u8]) -> Vec<control::fpm::Change> {
    let (nl, _) = frame(f).expect("frame").expect("whole");
    decode_frame(nl)
        .expect("decodes")
        .into_iter()
        .flat_map(|m| s.apply(m).expect("within limits"))
        .collect()
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let cfg = config::parse(HEAD, "head.yaml").expect("valid");
    let macs = [MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])];
    let mut cp = ControlPlane::new(cfg, &macs, vec![], Channels::default(), 4096);
    let mut s = Session::default();
    let mut all = feed(&mut s, &nexthop(1, [10, 1, 0, 2], 3));
    all.extend(feed(&mut s, &nexthop(2, [10, 2, 0, 2], 4)));
    all.extend(feed(&mut s, &group(10, &[1, 2])));
    for i in 0..n {
        all.extend(feed(&mut s, &route(i, 10)));
    }
    cp.apply_fpm(all);
    println!("{n} routes share group 10 (members 1, 2)");
    for k in 0..5u8 {
        let t0 = Instant::now();
        let changes = feed(&mut s, &nexthop(2, [10, 2, 0, 3 + k], 4));
        let t1 = Instant::now();
        let touched = changes.len();
        cp.apply_fpm(changes);
        let t2 = Instant::now();
        // The change took: the object's group holds the new gateway.
        let want: std::net::IpAddr = [10, 2, 0, 3 + k].into();
        let g = cp
            .groups()
            .into_iter()
            .find(|g| g.name == "fpm nhid 10")
            .expect("the object's group");
        assert!(g.members.iter().any(|m| m.via == want), "{:?}", g.members);
        assert_eq!(g.routes, n as usize);
        println!(
            "change {k}: session {:.1} us ({touched} changes), control plane {:.1} us, total {:.1} us",
            (t1 - t0).as_secs_f64() * 1e6,
            (t2 - t1).as_secs_f64() * 1e6,
            (t2 - t0).as_secs_f64() * 1e6
        );
    }
}
