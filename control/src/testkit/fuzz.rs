//! Entry points of the fuzz targets (`fuzz/fuzz_targets/*.rs`, run by
//! libFuzzer) and of their regression test (`control/tests/fuzz_regressions.rs`,
//! which feeds every saved input through the same functions on stable Rust).
//!
//! Each takes arbitrary bytes and must neither panic nor hang. Besides "no
//! crash", `packet` checks a property: the staged burst path and the
//! one-by-one path agree on every verdict and byte.

use crate::config::{self, Config};
use crate::punt::{Channels, PuntFrame};
use crate::state::{ControlPlane, Origin};
use dataplane::fib::Fib;
use dataplane::flowtable::{FlowTable, Timeouts};
use dataplane::forward::{process, process_burst, Ctx, IcmpLimiter, Verdict};
use dataplane::nat::NatTable;
use dataplane::stats::LcoreStats;
use dataplane::types::{MacAddr, PortId};
use dataplane::{PacketBuf, VecBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The router the targets run against: three ports, ECMP and resilient
/// groups, a sticky route, static neighbours (so packets are forwarded, not
/// held for resolution), and with `snat`, two SNAT uplinks, rules and a table.
pub fn fixture_config(snat: bool) -> String {
    let mut c = String::from(
        r#"ports:
  - { name: lan, device: net_null0, addresses: [10.0.0.1/16, fd00::1/64] }
  - { name: srv1, device: net_null1, addresses: [10.1.0.1/24, fd01::1/64], vlans: [{ id: 100, addresses: [10.100.0.1/24, "fd64::1/64"] }, { id: 200, addresses: [10.200.0.1/24], mtu: 1280 }] }
  - { name: srv2, device: net_null2, addresses: [10.2.0.1/24, fd02::1/64], mtu: 1400 }
routes:
  - prefix: 100.64.0.0/24
    nexthops: [{ via: 10.100.0.2, port: srv1.100 }, { via: 10.200.0.2, port: srv1.200 }]
  - prefix: 198.51.100.0/24
    nexthops: [{ via: 10.1.0.2, port: srv1 }, { via: 10.2.0.2, port: srv2, weight: 2 }]
  - prefix: 203.0.113.0/24
    sticky: true
    group: resilient
    buckets: 64
    nexthops: [{ via: 10.1.0.2, port: srv1 }, { via: 10.2.0.2, port: srv2 }]
  - prefix: 2001:db8:100::/64
    hash: { policy: flowlabel }
    nexthops: [{ via: fd01::2, port: srv1 }, { via: fd02::2, port: srv2 }]
  - { prefix: 192.0.2.0/24, table: 100, nexthops: [{ via: 10.2.0.2, port: srv2 }] }
neighbors:
  - { address: 10.1.0.2, port: srv1, mac: "02:00:00:00:01:02" }
  - { address: 10.2.0.2, port: srv2, mac: "02:00:00:00:02:02" }
  - { address: fd01::2, port: srv1, mac: "02:00:00:00:01:02" }
  - { address: fd02::2, port: srv2, mac: "02:00:00:00:02:02" }
  - { address: 10.0.0.2, port: lan, mac: "02:00:00:00:00:c1" }
  - { address: 10.100.0.2, port: srv1.100, mac: "02:00:00:00:64:02" }
  - { address: 10.200.0.2, port: srv1.200, mac: "02:00:00:00:c8:02" }
icmp: { rate: 0, burst: 100000 }
"#,
    );
    if snat {
        c.push_str(
            r#"uplinks:
  - { name: isp1, port: srv1, gateway: 10.1.0.2, snat: masquerade, probe: { targets: [192.0.2.1] } }
  - { name: isp2, port: srv2, gateway: 10.2.0.2, snat: [10.2.0.100, 10.2.0.101], probe: { targets: [192.0.2.1] } }
rules:
  - { match: { proto: udp, dport: 5060 }, action: { uplink: isp2 }, sticky: true }
  - { match: { src: 10.0.200.0/24 }, action: { table: 100 } }
"#,
        );
    }
    c
}

/// The ports' MACs in the fixture (the lan port's is what frames are sent to).
pub const MACS: [MacAddr; 3] = [
    MacAddr([2, 0, 0, 0, 0, 0xa0]),
    MacAddr([2, 0, 0, 0, 0, 0xa1]),
    MacAddr([2, 0, 0, 0, 0, 0xa2]),
];

fn plane(snat: bool) -> ControlPlane {
    let cfg: Config = config::parse(&fixture_config(snat), "fuzz.yaml").expect("fixture parses");
    ControlPlane::new(cfg, &MACS, vec![], Channels::default(), 64)
}

fn fibs() -> &'static (Arc<Fib>, Arc<Fib>) {
    static F: OnceLock<(Arc<Fib>, Arc<Fib>)> = OnceLock::new();
    F.get_or_init(|| (plane(false).fib(), plane(true).fib()))
}

/// Splits fuzz input into frames: each is a 2-byte big-endian length, then
/// that many bytes (the last one takes what is left).
fn frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && out.len() < 64 {
        let n = (u16::from_be_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        out.push(&rest[2..2 + n]);
        rest = &rest[2 + n..];
    }
    out
}

/// Frames through the dataplane. The first byte picks the ingress port; the
/// rest are frames ([`frames`]). Without SNAT, `process_burst` must give
/// exactly what `process` gives one frame at a time; with SNAT, `process`
/// runs with a NAT table.
pub fn packet(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let port = PortId((sel % 4) as u16); // 3 is no port: dropped as not for us
    let mut owned: Vec<Vec<u8>> = frames(rest).into_iter().map(<[u8]>::to_vec).collect();
    if sel & 0x10 != 0 {
        // Get past validation: sent to the port's MAC, with a correct IPv4
        // header checksum, so the fuzzer explores what lies behind it.
        for f in &mut owned {
            fix_up(f, MACS[port.index() % MACS.len()]);
        }
    }
    let input: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let (plain, snat) = fibs();
    let run = |fib: &Fib, burst: bool, nat: Option<&mut NatTable>| {
        let stats = LcoreStats::new(64);
        let ft = FlowTable::new(64, Timeouts::default());
        let mut icmp = IcmpLimiter::new(1000);
        let mut ctx = Ctx {
            flows: Some(&ft),
            now_ms: 10,
            nat,
            ..Ctx::new(fib, &stats, &mut icmp)
        };
        let mut bufs: Vec<VecBuf> = input.iter().map(|f| VecBuf::new(f)).collect();
        let mut verdicts = vec![Verdict::Punt; bufs.len()];
        if burst {
            process_burst(&mut ctx, port, &mut bufs, &mut verdicts);
        } else {
            for (b, v) in bufs.iter_mut().zip(verdicts.iter_mut()) {
                *v = process(&mut ctx, port, b);
            }
        }
        let bytes: Vec<Vec<u8>> = bufs.iter().map(|b| b.data().to_vec()).collect();
        (verdicts, bytes, format!("{stats:?}"))
    };
    let one = run(plain, false, None);
    let staged = run(plain, true, None);
    assert_eq!(one, staged, "process_burst and process disagree");
    // What is to be fragmented becomes fragments that fit the MTU.
    for (v, b) in one.0.iter().zip(&one.1) {
        if let Verdict::Fragment { mtu, .. } = *v {
            fragments_fit(b, mtu);
        }
    }
    if sel & 0x20 != 0 {
        worker_loop(plain, port, &input);
    }
    let mut nat = NatTable::new(64, snat.snat.addrs.len(), Timeouts::default());
    // Replies to whatever was translated: swap each forwarded frame's
    // addresses and ports and send it back in on its egress port.
    let (verdicts, bytes, _) = {
        let stats = LcoreStats::new(64);
        let mut icmp = IcmpLimiter::new(1000);
        let mut ctx = Ctx {
            nat: Some(&mut nat),
            now_ms: 10,
            ..Ctx::new(snat, &stats, &mut icmp)
        };
        let mut out = (Vec::new(), Vec::new(), ());
        for f in &input {
            let mut b = VecBuf::new(f);
            let v = process(&mut ctx, port, &mut b);
            out.0.push(v);
            out.1.push(b.data().to_vec());
        }
        out
    };
    let stats = LcoreStats::new(64);
    let mut icmp = IcmpLimiter::new(1000);
    let mut ctx = Ctx {
        nat: Some(&mut nat),
        now_ms: 11,
        ..Ctx::new(snat, &stats, &mut icmp)
    };
    for (v, b) in verdicts.iter().zip(&bytes) {
        if let Verdict::Forward(out) = v {
            if let Some(reply) = reversed(b, MACS[out.index() % MACS.len()]) {
                let _ = process(&mut ctx, *out, &mut VecBuf::new(&reply));
            }
        }
    }
}

/// `input` through a worker's loop, received on `port` (3: the trunk,
/// srv1): what only the loop does, VLAN tags off and on, and fragments.
/// Every frame it sends has at most one tag, of a sub-interface of the port
/// it leaves by. (Its size is not checked: an echo reply is as long as its
/// request, which no MTU limited on the way in.)
fn worker_loop(fib: &Fib, port: PortId, input: &[&[u8]]) {
    use dataplane::poll::Poller;
    use dataplane::testkit::mem::{Frame, MemIo};
    let rx = if port.index() < 3 { port.index() } else { 1 };
    let mut io = MemIo::new(3);
    for f in input {
        io.rx[rx].push_back(Frame::new(rx as u16, f));
    }
    let stats = LcoreStats::new(64);
    let mut icmp = IcmpLimiter::new(1000);
    let mut p = Poller::new(io, 0, 3, None, None);
    for _ in 0..4 {
        let mut ctx = Ctx::new(fib, &stats, &mut icmp);
        p.poll(&mut ctx);
    }
    for (dev, sent) in p.io().sent.iter().enumerate() {
        for f in sent {
            let d = f.data();
            let (iface, l2): (PortId, usize) = match dataplane::vlan::vid_of(d) {
                Some(vid) => {
                    let i = fib.vlans.lookup(PortId(dev as u16), vid);
                    assert!(i.is_some(), "VID {vid} is no sub-interface of port {dev}");
                    (i.unwrap_or(PortId(0)), 18)
                }
                None => (PortId(dev as u16), 14),
            };
            assert!(d.len() >= l2, "a frame shorter than its header");
            assert!(iface.index() < fib.ports.len());
        }
    }
}

/// Fragments `frame` (a [`Verdict::Fragment`]'s): each fragment fits `mtu`
/// and carries a valid IPv4 header.
fn fragments_fit(frame: &[u8], mtu: u16) {
    use dataplane::testkit::mem::Frame;
    let mut n = 0;
    let made = dataplane::frag::fragment_v4(
        Frame::new(0, frame),
        mtu,
        || Some(Frame::new(0, &[])),
        |f| {
            // A frame for a VLAN sub-interface leaves tagged: 18 bytes of L2.
            let l2 = if dataplane::vlan::vid_of(f.data()).is_some() {
                18
            } else {
                14
            };
            let ip = &f.data()[l2..];
            assert!(
                ip.len() <= mtu as usize,
                "a fragment of {} > MTU {mtu}",
                ip.len()
            );
            assert!(dataplane::wire::ipv4::Packet::new_checked(ip).is_ok());
            n += 1;
        },
    );
    if let Ok(k) = made {
        assert_eq!(k, n);
    }
}

/// Addresses a frame to `mac` and, for IPv4, fills the header checksum.
fn fix_up(f: &mut [u8], mac: MacAddr) {
    if f.len() >= 6 {
        f[..6].copy_from_slice(&mac.0);
    }
    if f.len() >= 34 && f[12..14] == [0x08, 0x00] {
        let hl = ((f[14] & 0x0f) as usize * 4).max(20);
        if f.len() >= 14 + hl {
            f[24..26].fill(0);
            let c = dataplane::checksum::checksum(&f[14..14 + hl]);
            f[24..26].copy_from_slice(&c.to_be_bytes());
        }
    }
}

/// The wire parsers and the flow and NAT parsers, straight on arbitrary
/// bytes (no validation in front of them).
pub fn wire(data: &[u8]) {
    use dataplane::wire::{arp, ethernet, icmp, icmpv6, ipv4, ipv6};
    if let Ok(e) = ethernet::Frame::new_checked(data) {
        let _ = (e.dst(), e.ethertype());
    }
    if let Ok(a) = arp::Packet::new_checked(data) {
        let _ = (a.sender_mac(), a.sender_ip(), a.target_ip(), a.operation());
    }
    if let Ok(p) = ipv4::Packet::new_checked(data) {
        let _ = (p.src(), p.dst(), p.payload().len(), p.is_fragment());
    }
    if let Ok(p) = ipv6::Packet::new_checked(data) {
        let _ = (p.src(), p.dst(), p.next_header(), p.payload().len());
    }
    if let Ok(m) = icmp::Packet::new_checked(data) {
        let _ = (m.msg_type(), m.verify_checksum());
    }
    let _ = icmpv6::Packet::new_checked(data).map(|m| m.msg_type());
    let _ = dataplane::flow::extract_general(data);
    let _ = dataplane::flow::extract(data);
    let _ = dataplane::flow::fast_v4(data);
    if let Ok((k, flags)) = dataplane::nat::key_out(data) {
        // Bind it, translate it out, and offer it back in as a reply.
        let (_, snat) = fibs();
        let mut nat = NatTable::new(8, snat.snat.addrs.len(), Timeouts::default());
        if let Ok(b) = nat.create(
            &k,
            flags,
            &[0, 1],
            dataplane::types::NexthopId(0),
            PortId(1),
            0,
        ) {
            let mut ip = data.to_vec();
            if nat.translate_out(&mut ip, b.id, &snat.snat) {
                let _ = nat.translate_in(&mut ip, &snat.snat, 1);
            }
        }
    }
    let (_, snat) = fibs();
    let mut nat = NatTable::new(8, snat.snat.addrs.len(), Timeouts::default());
    let _ = nat.translate_in(&mut data.to_vec(), &snat.snat, 0);
    // Reply steering between workers: the frame as received, for 1..4 workers.
    for workers in 1..4 {
        if let Some(w) = dataplane::nat::steer(data, &snat.snat, workers) {
            assert!(w < workers, "steered to worker {w} of {workers}");
        }
    }
}

/// An IPv4 TCP/UDP frame turned around: addresses and ports swapped, sent
/// to `to` (checksums are not fixed: the NAT must cope with either).
fn reversed(f: &[u8], to: MacAddr) -> Option<Vec<u8>> {
    if f.len() < 38 || f[12..14] != [0x08, 0x00] || f[14] != 0x45 {
        return None;
    }
    let mut r = f.to_vec();
    r[..6].copy_from_slice(&to.0);
    let (s, d) = (f[26..30].to_vec(), f[30..34].to_vec());
    r[26..30].copy_from_slice(&d);
    r[30..34].copy_from_slice(&s);
    let (sp, dp) = (f[34..36].to_vec(), f[36..38].to_vec());
    r[34..36].copy_from_slice(&dp);
    r[36..38].copy_from_slice(&sp);
    Some(r)
}

fn control_plane() -> &'static (Mutex<ControlPlane>, Channels) {
    static CP: OnceLock<(Mutex<ControlPlane>, Channels)> = OnceLock::new();
    CP.get_or_init(|| {
        let cfg: Config =
            config::parse(&fixture_config(true), "fuzz.yaml").expect("fixture parses");
        let ch = Channels::default();
        (
            Mutex::new(ControlPlane::new(cfg, &MACS, vec![], ch.clone(), 64)),
            ch,
        )
    })
}

/// An FPM byte stream from zebra, as the router's FPM server reads it:
/// frames, netlink messages, session state, then the control plane.
pub fn fpm(data: &[u8]) {
    use crate::fpm;
    let mut session = fpm::Session::default();
    let mut used = 0;
    let mut changes = Vec::new();
    while let Ok(Some((nl, len))) = fpm::frame(&data[used..]) {
        let Ok(ms) = fpm::decode_frame(nl) else {
            break;
        };
        for m in ms {
            changes.extend(session.apply(m).unwrap_or_default());
        }
        used += len;
        if used >= data.len() {
            break;
        }
    }
    let mut cp = control_plane().0.lock().unwrap_or_else(|e| e.into_inner());
    cp.fpm_session_end();
    cp.apply_fpm(changes);
    cp.fpm_sweep();
}

/// A config file.
pub fn config(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = config::parse(s, "fuzz.yaml");
    }
}

/// API request bodies for routes and named groups (JSON is YAML), applied
/// to a control plane when they are valid; the first byte picks which.
pub fn api(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(rest) else {
        return;
    };
    let mut cp = control_plane().0.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = cp.config().clone();
    if sel % 2 == 0 {
        if let Ok(spec) = config::parse_route(body, &cfg) {
            let (t, p) = (spec.table, spec.prefix);
            if cp.add_route(spec, Origin::Api, sel % 4 == 0).is_ok() && sel % 8 == 0 {
                let _ = cp.delete_route(t, p, Origin::Api);
            }
        }
    } else if let Ok(gc) = config::parse_named_group(body, &cfg) {
        let name = gc.name.clone();
        if cp.set_named_group(gc, true).is_ok() && sel % 4 == 1 {
            if let Some(n) = name {
                let _ = cp.delete_named_group(&n);
            }
        }
    }
}

/// Frames punted to the control plane (ARP, NDP, echo replies to probes),
/// handled as the control thread does.
pub fn punt(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (cp, ch) = control_plane();
    let mut cp = cp.lock().unwrap_or_else(|e| e.into_inner());
    for f in frames(rest) {
        let _ = ch
            .punt
            .push(PuntFrame::copy_from(PortId((sel % 3) as u16), f));
    }
    cp.poll(Instant::now());
    // Drop what it wanted to send.
    while ch.inject.pop().is_some() {}
    while ch.resolve.pop().is_some() {}
}
