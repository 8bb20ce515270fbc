//! The kernel interfaces' thread: frames between the workers' rings and
//! the TAPs, the routing peers it learns, and the TAPs' carrier.

use super::tap::{KernelIf, Netlink};
use anyhow::Result;
use dataplane::punt::{Learned, Peers};
use dpdk::{Burst, Consumer, Eal, Mbuf, Mempool, Producer, Ring};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Slots of each ring between the workers and the kernel thread.
pub const RING: u32 = 1024;
const BURST: usize = 32;
/// Frames read from one TAP per pass, so that one busy TAP does not starve the rest.
const READ_BUDGET: usize = 64;

/// A worker's ends of its two rings to and from the kernel thread.
pub struct KernelRings {
    /// Worker -> kernel thread: frames for a kernel interface; the mbuf's
    /// tag holds the interface's config port index (VLAN sub-interfaces'
    /// frames come untagged).
    pub to_kernel: Producer,
    /// Kernel thread -> worker: frames to put on a port; the mbuf's tag
    /// holds the config port index.
    pub from_kernel: Consumer,
}

/// The kernel thread's ends of one worker's two rings.
pub struct ThreadRings {
    /// Frames from the worker for a kernel interface.
    pub to_kernel: Consumer,
    /// Frames for the worker to put on a port.
    pub from_kernel: Producer,
}

/// The rings of `workers` workers: each worker's ends, and the thread's.
pub fn rings(eal: &Eal, workers: u16) -> Result<(Vec<KernelRings>, Vec<ThreadRings>)> {
    let mut w_ends = Vec::new();
    let mut t_ends = Vec::new();
    for w in 0..workers {
        let (to_p, to_c) = Ring::create(eal, &format!("k2k{w}"), RING)?;
        let (from_p, from_c) = Ring::create(eal, &format!("kfk{w}"), RING)?;
        w_ends.push(KernelRings {
            to_kernel: to_p,
            from_kernel: from_c,
        });
        t_ends.push(ThreadRings {
            to_kernel: to_c,
            from_kernel: from_p,
        });
    }
    Ok((w_ends, t_ends))
}

/// rtnetlink on a small runtime of its own (setup and carrier changes are rare).
/// What the kernel thread needs; moved onto it.
pub struct Io {
    /// The kernel interfaces.
    pub ifs: Vec<KernelIf>,
    /// The thread's ends of each worker's rings.
    pub rings: Vec<ThreadRings>,
    /// Pool for frames from the kernel.
    pub pool: Arc<Mempool>,
    /// DPDK port id of each config port.
    pub dpdk_ports: Vec<u16>,
    /// The routing peers the policer admits.
    pub peers: Arc<Peers>,
    /// Effective link state of each config port, written by the control thread.
    pub links: Arc<Vec<AtomicBool>>,
    /// Set to stop.
    pub stop: Arc<AtomicBool>,
}

impl Io {
    /// Moves frames both ways until `stop`.
    pub fn run(mut self) {
        let nl = match Netlink::new() {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::error!(
                    "kernel interfaces: no netlink ({e:#}): their carrier stays as it is"
                );
                None
            }
        };
        // Config port index (device or VLAN sub-interface) -> index in self.ifs.
        let mut by_port = vec![usize::MAX; self.ifs.iter().map(|i| i.port + 1).max().unwrap_or(0)];
        for (k, i) in self.ifs.iter().enumerate() {
            by_port[i.port] = k;
        }
        let mut burst: Burst<BURST> = Burst::default();
        let mut buf = vec![0u8; 65_536];
        let mut next_worker = 0usize;
        let mut last_links = std::time::Instant::now();
        let started = last_links;
        let mut announced = 0usize;
        // Idle rounds in a row: the sleep doubles with them, from 100 us to
        // 1 ms, so an idle router costs its host about 1,000 polls a second,
        // not 10,000 (it shares a core with FRR); any frame resets it.
        let mut idle = 0u32;
        while !self.stop.load(Ordering::Relaxed) {
            let mut work = 0usize;
            for r in &mut self.rings {
                work += burst.dequeue(&mut r.to_kernel);
                for m in burst.drain() {
                    // The worker tags each frame with the interface it came in on.
                    let Some(k) = by_port
                        .get(m.tag() as usize)
                        .copied()
                        .filter(|&k| k != usize::MAX)
                    else {
                        continue;
                    };
                    let kif = &self.ifs[k];
                    let data = dataplane::PacketBuf::data(&m);
                    match kif.dev.send(data) {
                        Ok(_) => {
                            kif.counters
                                .to_kernel_packets
                                .fetch_add(1, Ordering::Relaxed);
                            kif.counters
                                .to_kernel_bytes
                                .fetch_add(data.len() as u64, Ordering::Relaxed);
                        }
                        Err(_) => {
                            kif.counters
                                .to_kernel_dropped
                                .fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            for kif in &self.ifs {
                for _ in 0..READ_BUDGET {
                    let n = match kif.dev.recv(&mut buf) {
                        Ok(n) => n,
                        Err(_) => break,
                    };
                    work += 1;
                    let frame = &buf[..n];
                    if let Some((peer, gtsm)) = dataplane::punt::learned_peer(frame) {
                        let known = self.peers.get(peer);
                        // BFD and OSPF say nothing of GTSM: only BGP's TTL changes the flag.
                        if known.is_none() || gtsm.is_some_and(|g| known != Some(g)) {
                            let gtsm = gtsm.unwrap_or(false);
                            match self.peers.learn(peer, Some(gtsm)) {
                                Learned::Added => {
                                    control::log_limited!(info, control::loglimit::Kind::KernelNetlink, control::loglimit::source(peer); %peer, gtsm, interface = %kif.name, "routing peer learned")
                                }
                                Learned::Known => {
                                    control::log_limited!(info, control::loglimit::Kind::KernelNetlink, control::loglimit::source(peer); %peer, gtsm, "routing peer's GTSM changed")
                                }
                                Learned::Full => {}
                            }
                        }
                    }
                    let sent = Mbuf::from_bytes(&self.pool, frame).and_then(|mut m| {
                        // A sub-interface's frames leave its trunk, tagged.
                        if kif.vid != 0 && !dataplane::vlan::tag(&mut m, kif.vid) {
                            return None;
                        }
                        m.set_tag(kif.device as u32);
                        m.set_port(self.dpdk_ports[kif.device]);
                        let w = next_worker % self.rings.len();
                        next_worker = next_worker.wrapping_add(1);
                        // A full ring gives the mbuf back, and it is freed here.
                        self.rings[w].from_kernel.enqueue_one(m).ok()
                    });
                    let c = &kif.counters;
                    if sent.is_some() {
                        c.from_kernel_packets.fetch_add(1, Ordering::Relaxed);
                        c.from_kernel_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    } else {
                        c.from_kernel_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if last_links.elapsed() >= Duration::from_millis(10) {
                last_links = std::time::Instant::now();
                for kif in &mut self.ifs {
                    let up = self.links[kif.device].load(Ordering::Relaxed);
                    if up != kif.carrier {
                        kif.carrier = up;
                        if let Some(nl) = &nl {
                            match nl.set_carrier(kif.ifindex, up) {
                                Ok(()) => {
                                    control::log_limited!(info, control::loglimit::Kind::LinkState, control::loglimit::source(kif.port); interface = %kif.name, up, "kernel interface carrier follows the port")
                                }
                                Err(e) => {
                                    control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source(kif.port); interface = %kif.name, "carrier: {e:#}")
                                }
                            }
                        }
                    }
                }
                if announced < ANNOUNCE_AFTER.len()
                    && started.elapsed() >= ANNOUNCE_AFTER[announced]
                {
                    announced += 1;
                    if let Some(nl) = &nl {
                        for kif in &self.ifs {
                            for &(a, len) in &kif.addresses {
                                if let Err(e) = nl.announce_address(kif.ifindex, a, len) {
                                    control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source(kif.port); interface = %kif.name, "{e:#}");
                                }
                            }
                        }
                        tracing::debug!(
                            round = announced,
                            "kernel interface addresses announced again"
                        );
                    }
                }
            }
            if work == 0 {
                std::thread::sleep(Duration::from_micros((100u64 << idle).min(1000)));
                idle = (idle + 1).min(4);
            } else {
                idle = 0;
            }
        }
    }
}

/// When, after start, the kernel interfaces' addresses are announced again.
///
/// zebra (FRR 8.4) reads link events on its main thread and address events
/// on its dataplane thread, and drops an address whose interface it does not
/// know yet. After a restart with FRR running, an address added right after
/// its new interface can so be lost in zebra, and bgpd then waits for the
/// connected route ("Waiting for NHT") until the address changes again
/// (tests/e2e/leaf_bgp.sh saw it after about one restart in 13). Announcing
/// the same addresses again changes nothing in the kernel and lets a daemon
/// that missed them learn them; the later rounds cover a zebra busy with
/// the routes it withdrew when the old interfaces went.
const ANNOUNCE_AFTER: [Duration; 4] = [
    Duration::from_secs(1),
    Duration::from_secs(3),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::wire::{arp, ethernet};
    use dataplane::{MacAddr, PacketBuf};

    use super::super::root;

    /// Waits up to 5 s for `f` to give something.
    fn within<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
        let end = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < end {
            if let Some(v) = f() {
                return Some(v);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Both ways through a real TAP: the kernel's ARP request for a host on
    /// the interface reaches the worker's ring, tagged with its port; the
    /// worker's answer reaches the kernel, which learns the neighbour.
    #[test]
    fn frames_go_both_ways_between_the_rings_and_the_tap() {
        if !root() {
            eprintln!("skipped: DPDK and TAPs need root");
            return;
        }
        let prefix = format!("kernel-io-test-{}", std::process::id());
        let args: Vec<String> = [
            "t",
            "--no-huge",
            "--no-shconf",
            "--no-pci",
            "-m",
            "256",
            "--file-prefix",
            &prefix,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let eal = Eal::init(&args).expect("the EAL starts");
        let pool = Arc::new(Mempool::new(&eal, "kio_pool", 1023, 32, 2176).expect("a pool"));
        let name = format!("ecmpki{}", std::process::id() % 100_000);
        let yaml = format!(
            "kernel-interfaces: true\nports:\n  - {{ name: {name}, device: net_null0, addresses: [10.78.0.1/24] }}\n"
        );
        let cfg = control::config::parse(&yaml, "t").expect("config");
        let tap_mac = MacAddr([2, 0, 0, 0x78, 0, 1]);
        let ifs =
            super::super::tap::create(&cfg.ports, &cfg.vrfs, &[tap_mac], &[true]).expect("the TAP");
        let (mut worker, thread) = rings(&eal, 1).expect("rings");
        let stop = Arc::new(AtomicBool::new(false));
        let io = Io {
            ifs,
            rings: thread,
            pool: pool.clone(),
            dpdk_ports: vec![5],
            peers: Arc::default(),
            links: Arc::new(vec![AtomicBool::new(true)]),
            stop: stop.clone(),
        };
        let t = std::thread::spawn(move || io.run());

        // The kernel asks for 10.78.0.9 (a ping makes it ARP).
        let _ping = std::process::Command::new("ping")
            .args(["-c", "1", "-W", "1", "-I", &name, "10.78.0.9"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let w = &mut worker[0];
        let request = within(|| {
            let mut b: Burst<8> = Burst::default();
            b.dequeue(&mut w.from_kernel);
            b.drain().find_map(|m| {
                let f = ethernet::Frame::new_checked(m.data()).ok()?;
                (f.ethertype() == ethernet::ethertype::ARP)
                    .then(|| (m.tag(), m.port(), f.src(), m.data().to_vec()))
            })
        })
        .expect("the kernel's ARP request reaches the worker's ring");
        let (tag, port, src, _) = request;
        assert_eq!(
            (tag, port, src),
            (0, 5, tap_mac),
            "tagged with its config port, on its DPDK port"
        );

        // The worker answers for 10.78.0.9 through the TAP.
        let host = MacAddr([2, 0, 0, 0x78, 0, 9]);
        let reply = dataplane::frames::arp(
            arp::OP_REPLY,
            host,
            tap_mac,
            host,
            "10.78.0.9".parse().unwrap(),
            tap_mac,
            "10.78.0.1".parse().unwrap(),
        );
        let mut m = Mbuf::from_bytes(&pool, &reply).expect("an mbuf");
        m.set_port(5);
        assert!(w.to_kernel.enqueue_one(m).is_ok());
        let learned = within(|| {
            let out = std::process::Command::new("ip")
                .args(["neigh", "show", "dev", &name, "10.78.0.9"])
                .output()
                .ok()?;
            let s = String::from_utf8_lossy(&out.stdout).into_owned();
            s.contains("02:00:00:78:00:09").then_some(s)
        });
        assert!(
            learned.is_some(),
            "the kernel learns the neighbour from the worker's frame"
        );
        stop.store(true, Ordering::Relaxed);
        t.join().expect("the thread stops");
    }
}
