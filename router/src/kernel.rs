//! Kernel interfaces (`kernel-interfaces: true`): a TAP per port, named like
//! the port, with its MAC, MTU and addresses, so that FRR, BIRD and sshd run
//! on the host unmodified and reach the wire through the router's ports.
//!
//! - Workers hand what is for the router and not consumed by it to this
//!   module's thread as whole mbufs, through one single-producer ring per
//!   worker ([`KernelRings::to_kernel`]); the thread writes each to its
//!   port's TAP and frees it.
//! - What the kernel sends on a TAP is read here, copied into mbufs
//!   (chained when longer than a segment), and handed to a worker through
//!   one ring per worker ([`KernelRings::from_kernel`]), round robin; the
//!   worker puts it on the port with its own tx queue.
//! - The thread also learns routing peers from what the host sends
//!   (`dataplane::punt::learned_peer`), and follows the ports' effective link
//!   state with the TAPs' carrier.
//!
//! TAPs come from the `tun` crate and are configured over rtnetlink (MAC,
//! MTU, addresses, carrier) and `/proc/sys` (no RA, no redirects, no DAD):
//! no `unsafe` here. A TAP is not persistent: it goes away when the process
//! does, crash included.

use anyhow::{bail, Context, Result};
use control::config::PortConfig;
use control::punt::KernelCounters;
use dataplane::punt::{Learned, Peers};
use dataplane::MacAddr;
use dpdk::{Burst, Consumer, Eal, Mbuf, Mempool, Producer, Ring};
use futures_util::stream::TryStreamExt;
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
    /// Worker -> kernel thread: frames for a kernel interface.
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
struct Netlink {
    rt: tokio::runtime::Runtime,
    handle: rtnetlink::Handle,
}

impl Netlink {
    fn new() -> Result<Netlink> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .context("starting the netlink runtime")?;
        let handle = rt.block_on(async {
            let (conn, handle, _) = rtnetlink::new_connection().context("opening rtnetlink")?;
            tokio::spawn(conn);
            anyhow::Ok(handle)
        })?;
        Ok(Netlink { rt, handle })
    }

    fn ifindex(&self, name: &str) -> Result<Option<u32>> {
        self.rt.block_on(async {
            let mut links = self.handle.link().get().match_name(name).execute();
            match links.try_next().await {
                Ok(l) => Ok(l.map(|l| l.header.index)),
                // ENODEV: no such interface.
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -19 => Ok(None),
                Err(e) => Err(e).context(format!("looking up interface {name}")),
            }
        })
    }

    fn delete(&self, index: u32) -> Result<()> {
        self.rt
            .block_on(self.handle.link().del(index).execute())
            .context("deleting a stale interface")
    }

    fn setup(&self, index: u32, mac: MacAddr, mtu: u32, carrier: bool) -> Result<()> {
        let msg = rtnetlink::LinkUnspec::new_with_index(index)
            .address(mac.0.to_vec())
            .mtu(mtu)
            .build();
        self.rt
            .block_on(self.handle.link().set(msg).execute())
            .context("setting the MAC and MTU")?;
        self.set_carrier(index, carrier)?;
        let up = rtnetlink::LinkUnspec::new_with_index(index).up().build();
        self.rt
            .block_on(self.handle.link().set(up).execute())
            .context("setting the interface up")
    }

    fn add_address(&self, index: u32, a: std::net::IpAddr, len: u8) -> Result<()> {
        self.rt
            .block_on(self.handle.address().add(index, a, len).execute())
            .with_context(|| format!("adding {a}/{len}"))
    }

    /// Sets an address the interface already has again (`NLM_F_REPLACE`):
    /// nothing changes, but the kernel tells every listener once more.
    fn announce_address(&self, index: u32, a: std::net::IpAddr, len: u8) -> Result<()> {
        self.rt
            .block_on(self.handle.address().add(index, a, len).replace().execute())
            .with_context(|| format!("announcing {a}/{len} again"))
    }

    fn set_carrier(&self, index: u32, on: bool) -> Result<()> {
        let msg = rtnetlink::LinkUnspec::new_with_index(index)
            .carrier(on)
            .build();
        self.rt
            .block_on(self.handle.link().set(msg).execute())
            .context("setting the carrier")
    }
}

/// The sysctls of a kernel interface: a router's interface, not a host's.
/// `ipv6` off: the kernel has no IPv6 (only the IPv4 ones are set).
const SYSCTLS: [(&str, &str); 11] = [
    // No SLAAC or default routes from RAs: routes come from the daemons.
    ("ipv6/conf/{}/accept_ra", "0"),
    ("ipv6/conf/{}/autoconf", "0"),
    ("ipv6/conf/{}/accept_redirects", "0"),
    // The router answers for these addresses already: no DAD, so no
    // tentative address that a stray NS or NA could mark dadfailed (a lab's
    // net_tap has the port's MAC, so its link-local, for a moment).
    ("ipv6/conf/{}/accept_dad", "0"),
    ("ipv6/conf/{}/dad_transmits", "0"),
    // Carrier down must not drop the IPv6 addresses (zebra would see them go).
    ("ipv6/conf/{}/keep_addr_on_down", "1"),
    // fe80:: from the MAC (EUI-64): the router answers on the same one.
    ("ipv6/conf/{}/addr_gen_mode", "0"),
    ("ipv4/conf/{}/accept_redirects", "0"),
    ("ipv4/conf/{}/send_redirects", "0"),
    // ARP only for the interface's own addresses, from them.
    ("ipv4/conf/{}/arp_ignore", "1"),
    ("ipv4/conf/{}/arp_announce", "2"),
];

fn set_sysctls(name: &str) -> Result<()> {
    let ipv6 = std::path::Path::new("/proc/sys/net/ipv6").exists();
    for (key, value) in SYSCTLS {
        if key.starts_with("ipv6") && !ipv6 {
            continue;
        }
        let path = format!("/proc/sys/net/{}", key.replace("{}", name));
        std::fs::write(&path, value).with_context(|| format!("writing {value} to {path}"))?;
    }
    Ok(())
}

/// One port's kernel interface.
pub struct KernelIf {
    /// Config port index.
    pub port: usize,
    /// Interface name (the port's).
    pub name: String,
    /// Its ifindex in the router's namespace.
    pub ifindex: u32,
    /// Frames and bytes each way.
    pub counters: Arc<KernelCounters>,
    dev: tun::Device,
    carrier: bool,
    /// The port's addresses, as the interface carries them.
    addresses: Vec<(std::net::IpAddr, u8)>,
}

/// Creates the kernel interface of every port that has one
/// (`PortConfig::kernel_interface`); `macs[i]` is port i's MAC and
/// `carrier[i]` its effective link state now.
///
/// An interface of the same name left by an earlier run is a TAP nobody
/// holds (TAPs we create are not persistent, so this is rare): it is
/// deleted. One held by a live process, or that is not a TAP, is an error.
pub fn create(ports: &[PortConfig], macs: &[MacAddr], carrier: &[bool]) -> Result<Vec<KernelIf>> {
    let nl = Netlink::new()?;
    let mut out = Vec::new();
    for (i, p) in ports.iter().enumerate() {
        if !p.kernel_interface {
            continue;
        }
        let name = p.name.as_str();
        if let Some(old) = nl.ifindex(name)? {
            let tun_flags = std::path::Path::new("/sys/class/net")
                .join(name)
                .join("tun_flags");
            if !tun_flags.exists() {
                bail!("port '{name}': an interface named {name} exists and is not a TAP: rename it, or set kernel-interface: false on the port");
            }
            tracing::warn!(port = name, "deleting the stale kernel interface {name}");
            nl.delete(old)?;
        }
        let mut cfg = tun::Configuration::default();
        cfg.tun_name(name).layer(tun::Layer::L2).mtu(p.mtu);
        let dev = tun::Device::new(&cfg).with_context(|| {
            format!("port '{name}': creating its kernel interface (TAP) {name}")
        })?;
        dev.set_nonblock()
            .with_context(|| format!("port '{name}': making {name} non-blocking"))?;
        let ifindex = nl
            .ifindex(name)?
            .with_context(|| format!("port '{name}': the TAP {name} vanished"))?;
        set_sysctls(name).with_context(|| format!("port '{name}': kernel interface sysctls"))?;
        nl.setup(ifindex, macs[i], p.mtu as u32, carrier[i])
            .with_context(|| format!("port '{name}': setting up {name}"))?;
        for a in &p.addresses {
            nl.add_address(ifindex, a.addr, a.len)
                .with_context(|| format!("port '{name}': addresses of {name}"))?;
        }
        tracing::info!(port = name, ifindex, mac = %macs[i], "kernel interface up");
        out.push(KernelIf {
            port: i,
            name: name.to_owned(),
            ifindex,
            counters: Arc::default(),
            dev,
            carrier: carrier[i],
            addresses: p.addresses.iter().map(|a| (a.addr, a.len)).collect(),
        });
    }
    Ok(out)
}

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
        // Config port index -> index in self.ifs.
        let mut by_port = vec![usize::MAX; self.dpdk_ports.len()];
        for (k, i) in self.ifs.iter().enumerate() {
            by_port[i.port] = k;
        }
        // DPDK port id -> config port index.
        let max_id = self.dpdk_ports.iter().copied().max().unwrap_or(0) as usize;
        let mut port_of = vec![usize::MAX; max_id + 1];
        for (i, &id) in self.dpdk_ports.iter().enumerate() {
            port_of[id as usize] = i;
        }
        let mut burst: Burst<BURST> = Burst::default();
        let mut buf = vec![0u8; 65_536];
        let mut next_worker = 0usize;
        let mut last_links = std::time::Instant::now();
        let started = last_links;
        let mut announced = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            let mut work = 0usize;
            for r in &mut self.rings {
                work += burst.dequeue(&mut r.to_kernel);
                for m in burst.drain() {
                    let port = port_of.get(m.port() as usize).copied();
                    let Some(k) = port
                        .and_then(|p| by_port.get(p).copied())
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
                        if self.peers.get(peer) != Some(gtsm) {
                            match self.peers.learn(peer, gtsm) {
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
                        m.set_tag(kif.port as u32);
                        m.set_port(self.dpdk_ports[kif.port]);
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
                    let up = self.links[kif.port].load(Ordering::Relaxed);
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
                std::thread::sleep(Duration::from_micros(100));
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

/// A kernel neighbour the router mirrors: the RFC 5549 gateway 169.254.0.1
/// that zebra installs (PERMANENT, with the BGP peer's MAC) on a kernel
/// interface for IPv4 routes over an IPv6 link-local nexthop. FPM does not
/// carry it, and nobody answers ARP for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelNeighbor {
    /// Config port of the kernel interface.
    pub port: usize,
    /// Its address.
    pub addr: std::net::IpAddr,
    /// Its MAC; `None`: gone (or no longer usable).
    pub mac: Option<MacAddr>,
}

/// Which kernel neighbours are mirrored (see [`KernelNeighbor`]).
pub fn mirrored(addr: std::net::IpAddr) -> bool {
    addr == std::net::IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 0, 1))
}

fn neighbor_of(
    msg: &rtnetlink::packet_route::neighbour::NeighbourMessage,
    del: bool,
    ports: &std::collections::HashMap<u32, usize>,
) -> Option<KernelNeighbor> {
    use rtnetlink::packet_route::neighbour::{
        NeighbourAddress, NeighbourAttribute, NeighbourState,
    };
    let port = *ports.get(&msg.header.ifindex)?;
    let mut addr = None;
    let mut mac = None;
    for a in &msg.attributes {
        match a {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => addr = Some((*v).into()),
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => addr = Some((*v).into()),
            NeighbourAttribute::LinkLayerAddress(l) if l.len() == 6 => {
                mac = Some(MacAddr([l[0], l[1], l[2], l[3], l[4], l[5]]))
            }
            _ => {}
        }
    }
    let addr = addr.filter(|a| mirrored(*a))?;
    let usable = !del
        && !matches!(
            msg.header.state,
            NeighbourState::Failed | NeighbourState::Incomplete | NeighbourState::None
        );
    Some(KernelNeighbor {
        port,
        addr,
        mac: mac.filter(|_| usable),
    })
}

/// Follows the kernel's neighbour table on the kernel interfaces (`ports`:
/// ifindex -> config port) on a thread of its own, from a dump and then its
/// notifications, and sends what [`mirrored`] selects to `tx`.
pub fn watch_neighbors(
    ports: std::collections::HashMap<u32, usize>,
    tx: std::sync::mpsc::Sender<KernelNeighbor>,
) -> Result<std::thread::JoinHandle<()>> {
    use futures_util::StreamExt;
    use rtnetlink::packet_core::NetlinkPayload;
    use rtnetlink::packet_route::RouteNetlinkMessage;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .context("starting the neighbour watcher's runtime")?;
    let (conn, handle, mut messages) = rt
        .block_on(async {
            rtnetlink::new_multicast_connection(&[rtnetlink::MulticastGroup::Neigh])
        })
        .context("subscribing to the kernel's neighbours")?;
    std::thread::Builder::new()
        .name("kernel-neigh".into())
        .spawn(move || {
            rt.block_on(async move {
                tokio::spawn(conn);
                let mut dump = handle.neighbours().get().execute();
                while let Ok(Some(m)) = dump.try_next().await {
                    if let Some(n) = neighbor_of(&m, false, &ports) {
                        let _ = tx.send(n);
                    }
                }
                while let Some((m, _)) = messages.next().await {
                    let n = match &m.payload {
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) => {
                            neighbor_of(n, false, &ports)
                        }
                        NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelNeighbour(n)) => {
                            neighbor_of(n, true, &ports)
                        }
                        _ => None,
                    };
                    if let Some(n) = n {
                        if tx.send(n).is_err() {
                            return;
                        }
                    }
                }
            })
        })
        .context("starting the neighbour watcher")
}

const RTM_GETROUTE: u16 = 26;
const RTM_GETNEXTHOP: u16 = 106;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTNLGRP_IPV4_ROUTE: u32 = 7;
const RTNLGRP_IPV6_ROUTE: u32 = 11;
const RTNLGRP_NEXTHOP: u32 = 32;
const RTPROT_KERNEL: u8 = 2;
const MAIN_TABLE: u32 = 254;

/// A netlink dump request: `kind`, with a zeroed family header of `body` bytes.
fn dump_request(kind: u16, body: usize, seq: u32) -> Vec<u8> {
    let len = 16 + body;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    // NLM_F_REQUEST | NLM_F_DUMP
    m.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.resize(len, 0);
    m
}

/// Whether a kernel route message is one `kernel-routes` mirrors: the main
/// table, not the kernel's own (`proto kernel`: connected and link-local
/// routes), not link-local or multicast, and unicast or a reject type.
pub fn mirrors(m: &control::fpm::Message) -> bool {
    use control::fpm::{Message, Target};
    match m {
        Message::Route {
            table,
            prefix,
            protocol,
            target,
            ..
        } => {
            let addr = prefix.addr();
            let link_local = match addr {
                std::net::IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80 || a.is_multicast(),
                std::net::IpAddr::V4(a) => a.is_multicast() || a.is_link_local(),
            };
            let special_ok = match target {
                Some(Target::Special(t)) => matches!(t, 6..=8),
                _ => true,
            };
            *table == MAIN_TABLE && *protocol != RTPROT_KERNEL && !link_local && special_ok
        }
        Message::Nexthop { .. } => true,
        Message::Ignored(_) => false,
    }
}

/// Follows the kernel's main routing table and its nexthop objects
/// (`kernel-routes`) on a thread of its own: a dump, then notifications,
/// through a session like an FPM one, whose changes go to `tx`. When the
/// socket overruns (ENOBUFS), it dumps again.
pub fn watch_routes(
    tx: std::sync::mpsc::Sender<Vec<control::fpm::Change>>,
) -> Result<std::thread::JoinHandle<()>> {
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
    let mut sock =
        Socket::new(NETLINK_ROUTE).context("opening rtnetlink for the kernel's routes")?;
    sock.bind_auto().context("binding rtnetlink")?;
    let _ = sock.set_rx_buf_sz(8usize << 20);
    for g in [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEXTHOP] {
        sock.add_membership(g)
            .context("subscribing to the kernel's routes")?;
    }
    std::thread::Builder::new()
        .name("kernel-routes".into())
        .spawn(move || {
            let mut session = control::fpm::Session::default();
            let mut seq = 1u32;
            let mut dump = true;
            loop {
                if dump {
                    dump = false;
                    // Nexthop objects first: routes name them.
                    for (kind, body) in [(RTM_GETNEXTHOP, 8), (RTM_GETROUTE, 12)] {
                        seq += 1;
                        if let Err(e) = sock.send(&dump_request(kind, body, seq), 0) {
                            control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("dump"); "kernel routes: dump request: {e}");
                        }
                    }
                }
                let buf = match sock.recv_from_full() {
                    Ok((b, _)) => b,
                    Err(e) if e.raw_os_error() == Some(105) => {
                        control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("enobufs");
                            "kernel routes: notifications overran (ENOBUFS): dumping again"
                        );
                        dump = true;
                        continue;
                    }
                    Err(e) => {
                        tracing::error!("kernel routes: {e}: no longer followed");
                        return;
                    }
                };
                let mut changes = Vec::new();
                let mut rest = buf.as_slice();
                while rest.len() >= 16 {
                    let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    if len < 16 || len > rest.len() {
                        break;
                    }
                    let kind = u16::from_ne_bytes([rest[4], rest[5]]);
                    let msg = &rest[..len];
                    rest = &rest[((len + 3) & !3).min(rest.len())..];
                    if kind == NLMSG_DONE || kind == NLMSG_ERROR {
                        continue;
                    }
                    match control::fpm::decode(msg) {
                        Ok(m) if mirrors(&m) => match session.apply(m) {
                            Ok(c) => changes.extend(c),
                            Err(e) => control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("route"); "kernel routes: {e}"),
                        },
                        Ok(_) => {}
                        Err(e) => {
                            control::log_limited!(warn, control::loglimit::Kind::KernelNetlink, control::loglimit::source("unreadable"); "kernel routes: a message the router cannot read: {e}")
                        }
                    }
                }
                if !changes.is_empty() && tx.send(changes).is_err() {
                    return;
                }
            }
        })
        .context("starting the kernel routes' thread")
}
