//! Full-table scale of the control plane: loads 1,000,000 IPv4 + 250,000 IPv6
//! prefixes (from `dataplane::tablegen`) through the same code the router runs,
//! and reports time, memory and route-change throughput:
//!
//! 1. the config: YAML text parsed and validated, then the first FIB built;
//! 2. FPM: zebra-style netlink frames (RTM_NEWROUTE with RTA_MULTIPATH) cut
//!    into 64 KiB reads, decoded, and applied read by read, as the FPM server does;
//! 3. the API's code path: each route validated from JSON and added, one
//!    publication per route (the HTTP layer is measured by tests/bench/churn.sh);
//! 4. churn on the full table: replace and delete/re-add through the API path.
//!
//! Run: `cargo run --release -p control --example table_scale [-- --v4 N --v6 N]`
//! Only the zebra-shaped FPM phase, in a clean heap: `... -- --zebra`.
//! Send the table to a router's FPM port (objects, each route once on the
//! group of both transits), built before the clock starts: `... -- --send
//! HOST:PORT [--wait FILE]` (writes FILE.ready, sends once FILE exists).
//! Write the table as a router config: `... -- --write-yaml FILE [--head FILE]`
//! (`--head`: the config's start, up to `routes:`; it must define the groups
//! `transit4` and `transit6`), or as a list of prefixes: `--write-prefixes FILE`.

use control::config;
use control::punt::Channels;
use control::state::{ControlPlane, Origin};
use dataplane::tablegen::{rss_mib, table, Rng};
use dataplane::types::MacAddr;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

const HEAD: &str = "ports:
  - { name: up1, device: net_null0, addresses: [10.1.0.1/24, fd01::1/64] }
  - { name: up2, device: net_null1, addresses: [10.2.0.1/24, fd02::1/64] }
nexthop-groups:
  - name: transit4
    nexthops: [{ via: 10.1.0.2, port: up1 }, { via: 10.2.0.2, port: up2 }]
  - name: transit6
    nexthops: [{ via: 'fd01::2', port: up1 }, { via: 'fd02::2', port: up2 }]
";

fn prefix_text(key: u128, len: u8, v6: bool) -> String {
    if v6 {
        format!("{}/{len}", Ipv6Addr::from(key))
    } else {
        format!("{}/{len}", Ipv4Addr::from((key >> 96) as u32))
    }
}

#[path = "common/netlink.rs"]
mod netlink;
use netlink::attr;

/// One FPM frame: RTM_NEWROUTE for `key/len` over two gateways, weights 1 and 2.
fn fpm_route(key: u128, len: u8, v6: bool) -> Vec<u8> {
    let mut nl = vec![0u8; 16];
    nl[4..6].copy_from_slice(&24u16.to_le_bytes()); // RTM_NEWROUTE
    let family = if v6 { 10 } else { 2 };
    nl.extend_from_slice(&[family, len, 0, 0, 254, 196, 0, 1, 0, 0, 0, 0]);
    attr(&mut nl, 15, &254u32.to_le_bytes()); // RTA_TABLE
    let dst: Vec<u8> = if v6 {
        key.to_be_bytes().to_vec()
    } else {
        ((key >> 96) as u32).to_be_bytes().to_vec()
    };
    attr(&mut nl, 1, &dst); // RTA_DST
    let mut mp = Vec::new();
    for (i, hops) in [(1u8, 0u8), (2, 1)] {
        let gw: Vec<u8> = if v6 {
            format!("fd0{i}::2")
                .parse::<Ipv6Addr>()
                .unwrap()
                .octets()
                .to_vec()
        } else {
            Ipv4Addr::new(10, i, 0, 2).octets().to_vec()
        };
        mp.extend_from_slice(&((8 + 4 + gw.len()) as u16).to_le_bytes());
        mp.extend_from_slice(&[0, hops]);
        mp.extend_from_slice(&(i as u32).to_le_bytes());
        mp.extend_from_slice(&((4 + gw.len()) as u16).to_le_bytes());
        mp.extend_from_slice(&5u16.to_le_bytes()); // RTA_GATEWAY
        mp.extend_from_slice(&gw);
    }
    attr(&mut nl, 9, &mp); // RTA_MULTIPATH
    let n = nl.len() as u32;
    nl[0..4].copy_from_slice(&n.to_le_bytes());
    let mut f = vec![1u8, 1];
    f.extend_from_slice(&((n + 4) as u16).to_be_bytes());
    f.extend_from_slice(&nl);
    f
}

/// An FPM frame of netlink message `kind` with `body`.
fn fpm_frame(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut nl = vec![0u8; 16];
    nl[4..6].copy_from_slice(&kind.to_le_bytes());
    nl.extend_from_slice(body);
    let n = nl.len() as u32;
    nl[0..4].copy_from_slice(&n.to_le_bytes());
    let mut f = vec![1u8, 1];
    f.extend_from_slice(&((n + 4) as u16).to_be_bytes());
    f.extend_from_slice(&nl);
    f
}

/// RTM_NEWNEXTHOP: object `id`, a gateway (`members` empty) or a group.
fn fpm_nexthop(id: u32, gw: Option<std::net::IpAddr>, members: &[u32]) -> Vec<u8> {
    let family = match gw {
        Some(std::net::IpAddr::V6(_)) => 10,
        _ => 2,
    };
    let mut b = vec![family, 0, 0, 0, 0, 0, 0, 0];
    attr(&mut b, 1, &id.to_le_bytes()); // NHA_ID
    match gw {
        Some(std::net::IpAddr::V4(a)) => attr(&mut b, 6, &a.octets()),
        Some(std::net::IpAddr::V6(a)) => attr(&mut b, 6, &a.octets()),
        None => {
            let g: Vec<u8> = members
                .iter()
                .flat_map(|m| m.to_le_bytes().into_iter().chain([0; 4]))
                .collect();
            attr(&mut b, 2, &g); // NHA_GROUP
        }
    }
    fpm_frame(104, &b)
}

/// RTM_NEWROUTE for `key/len` through nexthop object `nh` (RTA_NH_ID), as
/// zebra sends by default.
fn fpm_route_nh(key: u128, len: u8, v6: bool, nh: u32) -> Vec<u8> {
    let family = if v6 { 10 } else { 2 };
    let mut b = vec![family, len, 0, 0, 254, 186, 0, 1, 0, 0, 0, 0];
    attr(&mut b, 15, &254u32.to_le_bytes()); // RTA_TABLE
    if v6 {
        attr(&mut b, 1, &key.to_be_bytes());
    } else {
        attr(&mut b, 1, &((key >> 96) as u32).to_be_bytes());
    }
    attr(&mut b, 30, &nh.to_le_bytes()); // RTA_NH_ID
    fpm_frame(24, &b)
}

/// What zebra sends while bgpd learns a full table from two transits: the
/// nexthop objects, then each route on the first transit's object, then on
/// the group of both (objects 1-2 and group 10 for IPv4, 3-4 and 11 for IPv6).
/// With `once`, each route is sent once, on the group.
fn zebra_stream(prefixes: &[(u128, u8, bool)], once: bool) -> Vec<u8> {
    let mut s = Vec::new();
    for (id, gw) in [
        (1, "10.1.0.2"),
        (2, "10.2.0.2"),
        (3, "fd01::2"),
        (4, "fd02::2"),
    ] {
        s.extend(fpm_nexthop(id, Some(gw.parse().unwrap()), &[]));
    }
    s.extend(fpm_nexthop(10, None, &[1, 2]));
    s.extend(fpm_nexthop(11, None, &[3, 4]));
    // Transit 1's object, then the group of both, per family.
    let passes: &[(u32, u32)] = if once {
        &[(10, 11)]
    } else {
        &[(1, 3), (10, 11)]
    };
    for &(nh4, nh6) in passes {
        for &(k, l, v6) in prefixes {
            s.extend(fpm_route_nh(k, l, v6, if v6 { nh6 } else { nh4 }));
        }
    }
    s
}

/// Feeds an FPM byte stream through a session into `cp` in 64 KiB reads, as
/// the FPM server does; returns the messages and the session's bytes.
fn feed(cp: &mut ControlPlane, stream: &[u8]) -> (u64, usize) {
    let mut session = control::fpm::Session::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut msgs = 0u64;
    for chunk in stream.chunks(1 << 16) {
        buf.extend_from_slice(chunk);
        let (mut used, mut changes) = (0usize, Vec::new());
        while let Some((nl, len)) = control::fpm::frame(&buf[used..]).expect("well-formed") {
            for m in control::fpm::decode_frame(nl).expect("well-formed") {
                msgs += 1;
                changes.extend(session.apply(m).unwrap_or_default());
            }
            used += len;
        }
        buf.drain(..used);
        cp.apply_fpm(changes);
    }
    (msgs, session.memory())
}

/// Phase 3 alone: the FPM stream zebra sends for two transits' full tables,
/// in this process's clean heap, with the memory per structure.
fn zebra_phase(prefixes: &[(u128, u8, bool)], small: config::Config) -> ControlPlane {
    let stream = zebra_stream(prefixes, false);
    let rss0 = rss_mib();
    let mut cp = plane(small);
    let t0 = Instant::now();
    let (msgs, session) = feed(&mut cp, &stream);
    let el = t0.elapsed().as_secs_f64();
    let (f4, f6) = cp.fib().routes.counts();
    let multipath: usize = cp
        .groups()
        .iter()
        .filter(|g| g.members.len() == 2)
        .map(|g| g.routes)
        .sum();
    println!(
        "fpm, zebra's way (objects; each route on one transit, then on both): {msgs} messages applied in {el:.2} s = {:.0} messages/s; FIB {f4} + {f6}, {multipath} on two nexthops; RSS +{:.0} MiB",
        msgs as f64 / el,
        rss_mib() - rss0
    );
    let mut parts = cp.memory();
    parts.push(("fpm session: routes and objects", session));
    parts.sort_by_key(|e| std::cmp::Reverse(e.1));
    let total: usize = parts.iter().map(|p| p.1).sum();
    for (what, bytes) in parts.iter().filter(|p| p.1 >= 1 << 20) {
        println!("  {:>7.1} MiB  {what}", *bytes as f64 / 1048576.0);
    }
    println!(
        "  {:>7.1} MiB  total (allocated; estimates from sizes and capacities)",
        total as f64 / 1048576.0
    );
    cp
}

fn plane(cfg: config::Config) -> ControlPlane {
    let macs = [MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])];
    ControlPlane::new(cfg, &macs, vec![], Channels::default(), 4096)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n4: usize = arg("--v4").map_or(1_000_000, |v| v.parse().expect("--v4 N"));
    let n6: usize = arg("--v6").map_or(250_000, |v| v.parse().expect("--v6 N"));
    let mut rng = Rng(0x5ca1_ab1e);
    let mut prefixes: Vec<(u128, u8, bool)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (n, v6) in [(n4, false), (n6, true)] {
        // A few more than asked, as the generator repeats some prefixes.
        let mut got = 0;
        for (k, l, _) in table(n + n / 8, v6, &mut rng) {
            if got < n && seen.insert((k, l, v6)) {
                prefixes.push((k, l, v6));
                got += 1;
            }
        }
    }
    let (c4, c6) = (
        prefixes.iter().filter(|p| !p.2).count(),
        prefixes.iter().filter(|p| p.2).count(),
    );
    println!("table: {c4} IPv4 + {c6} IPv6 distinct prefixes (tablegen, seed 0x5ca1ab1e)");

    if let Some(path) = arg("--write-prefixes") {
        let text: String = prefixes
            .iter()
            .map(|&(k, l, v6)| prefix_text(k, l, v6) + "\n")
            .collect();
        std::fs::write(&path, text).expect("write the prefixes");
        println!("wrote {path}");
        return;
    }

    if let Some(addr) = arg("--send") {
        // A sender that is not the bottleneck: the frames are built first,
        // then written to the router's FPM port in one stream.
        let stream = zebra_stream(&prefixes, true);
        if let Some(go) = arg("--wait") {
            std::fs::write(format!("{go}.ready"), b"").expect("write the ready file");
            while !std::path::Path::new(&go).exists() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        // Connected only now: the router closes a session that sends
        // nothing in its first 5 s.
        let mut sock = std::net::TcpStream::connect(&addr).expect("connect to the FPM port");
        let t0 = Instant::now();
        std::io::Write::write_all(&mut sock, &stream).expect("send");
        println!(
            "{{\"messages\": {}, \"bytes\": {}, \"send_seconds\": {:.3}}}",
            prefixes.len() + 6,
            stream.len(),
            t0.elapsed().as_secs_f64()
        );
        // Hold the session: closing it would make its routes stale.
        std::thread::sleep(std::time::Duration::from_secs(3600));
        return;
    }
    if args.iter().any(|a| a == "--zebra") {
        zebra_phase(&prefixes, config::parse(HEAD, "head.yaml").expect("valid"));
        return;
    }

    // 1. The config.
    let head = match arg("--head") {
        Some(f) => std::fs::read_to_string(f).expect("read the --head file"),
        None => HEAD.to_owned(),
    };
    let mut yaml = head;
    yaml.push_str("routes:\n");
    for &(k, l, v6) in &prefixes {
        let g = if v6 { "transit6" } else { "transit4" };
        let _ = writeln!(
            yaml,
            "  - {{ prefix: '{}', nexthop-group: {g} }}",
            prefix_text(k, l, v6)
        );
    }
    if let Some(path) = arg("--write-yaml") {
        std::fs::write(&path, &yaml).expect("write the YAML");
        println!("wrote {path} ({:.1} MiB)", yaml.len() as f64 / 1048576.0);
        return;
    }
    let rss0 = rss_mib();
    let t0 = Instant::now();
    let cfg = config::parse(&yaml, "table.yaml").expect("the generated config is valid");
    let parse = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let cp = plane(cfg);
    let build = t0.elapsed().as_secs_f64();
    let (f4, f6) = cp.fib().routes.counts();
    println!(
        "config: {:.1} MiB of YAML parsed and validated in {parse:.2} s, FIB built in {build:.2} s ({f4} + {f6} prefixes incl. connected); RSS +{:.0} MiB",
        yaml.len() as f64 / 1048576.0,
        rss_mib() - rss0
    );
    drop(cp);
    drop(yaml);

    // 2. FPM.
    let small = config::parse(HEAD, "head.yaml").expect("valid");
    let mut stream = Vec::new();
    for &(k, l, v6) in &prefixes {
        stream.extend_from_slice(&fpm_route(k, l, v6));
    }
    let rss0 = rss_mib();
    let mut cp = plane(small.clone());
    let t0 = Instant::now();
    let (msgs, _) = feed(&mut cp, &stream);
    let el = t0.elapsed().as_secs_f64();
    let (f4, f6) = cp.fib().routes.counts();
    println!(
        "fpm: {msgs} messages ({:.1} MiB) applied in {el:.2} s = {:.0} routes/s, {} publications; FIB {f4} + {f6}; RSS +{:.0} MiB",
        stream.len() as f64 / 1048576.0,
        msgs as f64 / el,
        cp.counters.fib_publishes,
        rss_mib() - rss0
    );
    drop(stream);
    drop(cp);

    // 3. FPM as zebra sends a full table from two transits: nexthop objects,
    //    every route on one transit's, then on the group of both. (Its RSS
    //    is lower than a fresh process's: the heap reuses phase 2's memory;
    //    `--zebra` runs it alone.)
    let mut cp = zebra_phase(&prefixes, small.clone());

    // 4. Churn on the full table, through the API's code path.
    let n = 100_000.min(prefixes.len());
    let bodies: Vec<String> = (0..n)
        .map(|i| {
            let (k, l, v6) = prefixes[(i * 7919) % prefixes.len()];
            let w = 1 + (i % 3);
            let (a, b) = if v6 { ("fd01::2", "fd02::2") } else { ("10.1.0.2", "10.2.0.2") };
            format!(
                r#"{{"prefix":"{}","nexthops":[{{"via":"{a}","port":"up1","weight":{w}}},{{"via":"{b}","port":"up2"}}]}}"#,
                prefix_text(k, l, v6)
            )
        })
        .collect();
    let t0 = Instant::now();
    for body in &bodies {
        let spec = config::parse_route(body, cp.config()).expect("valid route");
        cp.add_route(spec, Origin::Api, true).expect("added");
    }
    let el = t0.elapsed().as_secs_f64();
    println!(
        "api path, full table: {n} routes added (each validated from JSON and published alone) in {el:.2} s = {:.0} routes/s",
        n as f64 / el,
    );
    let t0 = Instant::now();
    for (i, &(k, l, v6)) in prefixes.iter().take(n).enumerate() {
        let p = dataplane::types::Prefix::new_truncating(
            if v6 {
                std::net::IpAddr::V6(Ipv6Addr::from(k))
            } else {
                std::net::IpAddr::V4(Ipv4Addr::from((k >> 96) as u32))
            },
            l,
        );
        let _ = cp.delete_route(254, p, Origin::Fpm);
        if i % 2 == 0 {
            let spec = config::parse_route(&bodies[i], cp.config()).expect("valid");
            let _ = cp.add_route(spec, Origin::Api, true);
        }
    }
    let el = t0.elapsed().as_secs_f64();
    println!(
        "churn, full table: {n} deletes + {} adds in {el:.2} s = {:.0} changes/s",
        n / 2,
        (n + n / 2) as f64 / el
    );
    drop(cp);

    // 3. The API path from empty.
    let m = 200_000.min(prefixes.len());
    let mut cp = plane(small);
    let bodies: Vec<String> = prefixes[..m]
        .iter()
        .map(|&(k, l, v6)| {
            let (a, b) = if v6 { ("fd01::2", "fd02::2") } else { ("10.1.0.2", "10.2.0.2") };
            format!(
                r#"{{"prefix":"{}","nexthops":[{{"via":"{a}","port":"up1"}},{{"via":"{b}","port":"up2"}}]}}"#,
                prefix_text(k, l, v6)
            )
        })
        .collect();
    let t0 = Instant::now();
    for body in &bodies {
        let spec = config::parse_route(body, cp.config()).expect("valid route");
        cp.add_route(spec, Origin::Api, false).expect("added");
    }
    let el = t0.elapsed().as_secs_f64();
    println!(
        "api path from empty: {m} routes in {el:.2} s = {:.0} routes/s",
        m as f64 / el
    );
}
