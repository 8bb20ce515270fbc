//! The control plane's state: it turns the config and learned neighbours into
//! FIB generations, answers and sends ARP and NDP, and keeps neighbours fresh.
//!
//! Neighbour handling follows RFC 826 (ARP: merge the sender into the table
//! when it is already known or when the request is for us) and RFC 4861
//! (NDP: hop limit 255, valid checksum; learn from NS source and NA target
//! link-layer options). Neighbours on a connected subnet become host
//! adjacencies with their own nexthop id, so reply traffic to clients is
//! forwarded and counted like any other nexthop.

use crate::config::{Config, IfAddr};
use crate::punt::{Channels, InjectFrame, PuntFrame, ResolveRequest};
use crate::rcu::{Publisher, Quiescent};
use dataplane::fib::{Fib, HostTable, Nexthop, PortInfo, RouteTable, RouteTableBuilder, Target};
use dataplane::frames;
use dataplane::neighbor::Neighbors;
use dataplane::nhg::Group;
use dataplane::types::{MacAddr, NexthopId, PortId, Prefix};
use dataplane::wire::{arp, ethernet, icmpv6, ipv6, proto};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often an unresolved neighbour is asked again.
pub const RETRY: Duration = Duration::from_secs(1);
/// How often a resolved neighbour is re-confirmed.
pub const REFRESH: Duration = Duration::from_secs(30);
/// A resolved neighbour not heard from for this long is forgotten (traffic to
/// it then drops as `neighbor_unresolved` while it is asked again).
pub const EXPIRE: Duration = Duration::from_secs(95);

/// Why a nexthop exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NexthopKind {
    /// A gateway of a configured route.
    Gateway,
    /// A host on a connected subnet, learned or static.
    Host,
}

#[derive(Clone, Debug)]
struct Entry {
    nh: Nexthop,
    kind: NexthopKind,
    permanent: bool,
    last_seen: Option<Instant>,
    last_asked: Option<Instant>,
}

/// Control-plane event counters (exported as `ecmp_router_control_*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ControlCounters {
    /// ARP frames received.
    pub arp_rx: u64,
    /// NDP messages received.
    pub ndp_rx: u64,
    /// Punted frames refused as malformed or invalid.
    pub punt_invalid: u64,
    /// ARP requests and Neighbor Solicitations sent.
    pub solicits_sent: u64,
    /// ARP replies and Neighbor Advertisements sent.
    pub adverts_sent: u64,
    /// Frames not sent because the inject queue was full.
    pub inject_full: u64,
    /// Host adjacencies not created because the nexthop table is full.
    pub nexthop_table_full: u64,
    /// FIB generations published.
    pub fib_publishes: u64,
}

/// A nexthop as shown in metrics and logs.
#[derive(Clone, Debug)]
pub struct NexthopView {
    /// Its id.
    pub id: NexthopId,
    /// Neighbour address.
    pub addr: IpAddr,
    /// Port name.
    pub port: String,
    /// Gateway or host.
    pub kind: NexthopKind,
    /// Resolved MAC.
    pub mac: Option<MacAddr>,
}

/// The control plane.
pub struct ControlPlane {
    config: Config,
    ports: Arc<[PortInfo]>,
    entries: Vec<Entry>,
    index: HashMap<(PortId, IpAddr), NexthopId>,
    hosts: HashMap<IpAddr, NexthopId>,
    routes: Arc<RouteTable>,
    neighbors: Arc<Neighbors>,
    publisher: Publisher<Fib>,
    generation: u64,
    channels: Channels,
    /// Event counters.
    pub counters: ControlCounters,
    last_timer: Option<Instant>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("generation", &self.generation)
            .field("nexthops", &self.entries.len())
            .finish()
    }
}

/// Builds the route table of `config` given nexthop ids for its gateways.
fn build_routes(config: &Config, index: &HashMap<(PortId, IpAddr), NexthopId>) -> RouteTable {
    let mut b = RouteTableBuilder::default();
    for r in &config.routes {
        // Canonical member order (address, then port): the same config gives
        // the same group on every router, whatever order the YAML lists.
        let mut members: Vec<_> = r
            .nexthops
            .iter()
            .map(|n| (n.via, n.port, index[&(n.port, n.via)], n.weight))
            .collect();
        members.sort_by_key(|m| (m.0, m.1));
        let g = Group::new(&members.iter().map(|m| (m.2, m.3)).collect::<Vec<_>>())
            .expect("config validated weights and non-empty groups");
        let g = b.add_group(g);
        b.add_route(r.prefix, Target::Group(g));
    }
    // Connected and local routes win over a static route for the same prefix.
    for (i, p) in config.ports.iter().enumerate() {
        for a in &p.addresses {
            b.add_route(a.subnet(), Target::Connected(PortId(i as u16)));
        }
    }
    for p in &config.ports {
        for a in &p.addresses {
            b.add_route(Prefix::host(a.addr), Target::Local);
        }
    }
    b.build()
}

impl ControlPlane {
    /// Builds the first FIB generation.
    ///
    /// `macs` are the ports' MAC addresses in config order; `readers` are the
    /// workers' quiescent counters; `max_nexthops` bounds the nexthop table
    /// (and the workers' per-nexthop counters).
    pub fn new(
        config: Config,
        macs: &[MacAddr],
        readers: Vec<Arc<Quiescent>>,
        channels: Channels,
        max_nexthops: usize,
    ) -> Self {
        let ports: Arc<[PortInfo]> = config
            .ports
            .iter()
            .zip(macs)
            .map(|(p, &mac)| PortInfo {
                mac,
                mtu: p.mtu,
                v4: p.addresses.iter().find_map(|a| match a.addr {
                    IpAddr::V4(v) => Some(v),
                    _ => None,
                }),
                v6: p.addresses.iter().find_map(|a| match a.addr {
                    IpAddr::V6(v) => Some(v),
                    _ => None,
                }),
            })
            .collect();
        let neighbors = Arc::new(Neighbors::new(max_nexthops));
        let mut cp = ControlPlane {
            ports,
            entries: Vec::new(),
            index: HashMap::new(),
            hosts: HashMap::new(),
            routes: Arc::new(RouteTable::default()),
            neighbors: neighbors.clone(),
            publisher: Publisher::new(
                Fib {
                    generation: 0,
                    routes: Arc::new(RouteTable::default()),
                    nexthops: Arc::new([]),
                    hosts: Arc::new(HostTable::new()),
                    ports: Arc::new([]),
                    hash: config.hash,
                    neighbors,
                },
                readers,
            ),
            generation: 0,
            channels,
            counters: ControlCounters::default(),
            config,
            last_timer: None,
        };
        let gateways: Vec<_> = cp
            .config
            .routes
            .iter()
            .flat_map(|r| r.nexthops.iter().map(|n| (n.port, n.via)))
            .collect();
        for (port, via) in gateways {
            cp.add_nexthop(port, via, NexthopKind::Gateway);
        }
        for s in cp.config.neighbors.clone() {
            let kind = if cp.index.contains_key(&(s.port, s.address)) {
                NexthopKind::Gateway
            } else {
                NexthopKind::Host
            };
            if let Some(id) = cp.add_nexthop(s.port, s.address, kind) {
                cp.entries[id.index()].permanent = true;
                cp.neighbors.set(id, s.mac);
                cp.hosts.entry(s.address).or_insert(id);
            }
        }
        cp.routes = Arc::new(build_routes(&cp.config, &cp.index));
        cp.publish();
        cp
    }

    fn add_nexthop(&mut self, port: PortId, addr: IpAddr, kind: NexthopKind) -> Option<NexthopId> {
        if let Some(&id) = self.index.get(&(port, addr)) {
            return Some(id);
        }
        if self.entries.len() >= self.neighbors.capacity() {
            self.counters.nexthop_table_full += 1;
            return None;
        }
        let id = NexthopId(self.entries.len() as u32);
        self.entries.push(Entry {
            nh: Nexthop { port, addr },
            kind,
            permanent: false,
            last_seen: None,
            last_asked: None,
        });
        self.index.insert((port, addr), id);
        Some(id)
    }

    fn publish(&mut self) {
        self.generation += 1;
        let fib = Fib {
            generation: self.generation,
            routes: self.routes.clone(),
            nexthops: self.entries.iter().map(|e| e.nh).collect(),
            hosts: Arc::new(self.hosts.clone()),
            ports: self.ports.clone(),
            hash: self.config.hash,
            neighbors: self.neighbors.clone(),
        };
        self.publisher.publish(fib);
        self.counters.fib_publishes += 1;
    }

    /// The handle workers load FIB generations from.
    pub fn fib_handle(&self) -> Arc<arc_swap::ArcSwap<Fib>> {
        self.publisher.handle()
    }

    /// The current FIB generation.
    pub fn fib(&self) -> Arc<Fib> {
        self.publisher.current()
    }

    /// The validated config this plane runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every nexthop with its state.
    pub fn nexthops(&self) -> Vec<NexthopView> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| NexthopView {
                id: NexthopId(i as u32),
                addr: e.nh.addr,
                port: self.config.ports[e.nh.port.index()].name.clone(),
                kind: e.kind,
                mac: self.neighbors.get(NexthopId(i as u32)),
            })
            .collect()
    }

    /// True when every gateway of a configured route has a MAC.
    pub fn gateways_resolved(&self) -> bool {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == NexthopKind::Gateway)
            .all(|(i, _)| self.neighbors.get(NexthopId(i as u32)).is_some())
    }

    /// Runs everything that is due: punted frames, resolution requests,
    /// neighbour timers, and reclamation of old FIB generations.
    pub fn poll(&mut self, now: Instant) {
        while let Some(f) = self.channels.punt.pop() {
            self.handle_punt(&f, now);
        }
        while let Some(r) = self.channels.resolve.pop() {
            self.handle_resolve(r, now);
        }
        if self
            .last_timer
            .is_none_or(|t| now.duration_since(t) >= Duration::from_millis(200))
        {
            self.last_timer = Some(now);
            self.timers(now);
        }
        self.publisher.reclaim();
    }

    fn timers(&mut self, now: Instant) {
        for i in 0..self.entries.len() {
            let id = NexthopId(i as u32);
            let e = &self.entries[i];
            if e.permanent {
                continue;
            }
            let resolved = self.neighbors.get(id).is_some();
            if resolved && e.last_seen.is_some_and(|t| now.duration_since(t) >= EXPIRE) {
                self.neighbors.clear(id);
            }
            let due = match (resolved, e.last_asked) {
                (_, None) => true,
                (false, Some(t)) => now.duration_since(t) >= RETRY,
                (true, Some(t)) => now.duration_since(t) >= REFRESH,
            };
            // Host adjacencies are refreshed by their own traffic; only gateways are probed.
            if due && (e.kind == NexthopKind::Gateway || !resolved) {
                let nh = e.nh;
                self.entries[i].last_asked = Some(now);
                self.solicit(nh.port, nh.addr);
            }
        }
    }

    fn handle_resolve(&mut self, r: ResolveRequest, now: Instant) {
        if let Some(&id) = self.index.get(&(r.port, r.addr)) {
            let e = &mut self.entries[id.index()];
            if e.last_asked.is_some_and(|t| now.duration_since(t) < RETRY) {
                return;
            }
            e.last_asked = Some(now);
        } else {
            // An unknown host on a connected subnet: create its adjacency so
            // retries are rate-limited, then ask.
            if !self.on_subnet(r.port, r.addr) {
                return;
            }
            let Some(id) = self.add_nexthop(r.port, r.addr, NexthopKind::Host) else {
                return;
            };
            self.entries[id.index()].last_asked = Some(now);
        }
        self.solicit(r.port, r.addr);
    }

    fn on_subnet(&self, port: PortId, a: IpAddr) -> bool {
        self.config
            .ports
            .get(port.index())
            .is_some_and(|p| p.addresses.iter().any(|ia| ia.subnet().contains(a)))
    }

    /// The port address used to talk to `peer` (same subnet first, then same family).
    fn source_for(&self, port: PortId, peer: IpAddr) -> Option<IfAddr> {
        let p = self.config.ports.get(port.index())?;
        p.addresses
            .iter()
            .find(|ia| ia.subnet().contains(peer))
            .or_else(|| {
                p.addresses
                    .iter()
                    .find(|ia| ia.addr.is_ipv4() == peer.is_ipv4())
            })
            .copied()
    }

    fn is_local(&self, port: PortId, a: IpAddr) -> bool {
        self.config
            .ports
            .get(port.index())
            .is_some_and(|p| p.addresses.iter().any(|ia| ia.addr == a))
    }

    fn send(&mut self, port: PortId, frame: &[u8]) -> bool {
        match InjectFrame::new(port, frame) {
            Some(f) if self.channels.inject.push(f).is_ok() => true,
            _ => {
                self.counters.inject_full += 1;
                false
            }
        }
    }

    fn solicit(&mut self, port: PortId, addr: IpAddr) {
        let Some(src) = self.source_for(port, addr) else {
            return;
        };
        let mac = self.ports[port.index()].mac;
        let frame = match (src.addr, addr) {
            (IpAddr::V4(s), IpAddr::V4(t)) => frames::arp(
                arp::OP_REQUEST,
                mac,
                MacAddr::BROADCAST,
                mac,
                s,
                MacAddr::ZERO,
                t,
            ),
            (IpAddr::V6(s), IpAddr::V6(t)) => frames::neighbor_solicit(mac, s, t),
            _ => return,
        };
        if self.send(port, &frame) {
            self.counters.solicits_sent += 1;
        }
    }

    /// Records `mac` for `addr` on `port`. `create` allows a new host adjacency.
    fn learn(&mut self, port: PortId, addr: IpAddr, mac: MacAddr, create: bool, now: Instant) {
        if mac.is_multicast() || mac == MacAddr::ZERO {
            return;
        }
        let id = match self.index.get(&(port, addr)) {
            Some(&id) => id,
            None if create && self.on_subnet(port, addr) => {
                match self.add_nexthop(port, addr, NexthopKind::Host) {
                    Some(id) => id,
                    None => return,
                }
            }
            None => return,
        };
        let e = &mut self.entries[id.index()];
        if e.permanent {
            return;
        }
        e.last_seen = Some(now);
        if self.neighbors.get(id) != Some(mac) {
            self.neighbors.set(id, mac);
        }
        if e.kind == NexthopKind::Host && self.hosts.get(&addr) != Some(&id) {
            self.hosts.insert(addr, id);
            self.publish();
        }
    }

    fn handle_punt(&mut self, f: &PuntFrame, now: Instant) {
        let Ok(eth) = ethernet::Frame::new_checked(f.bytes()) else {
            self.counters.punt_invalid += 1;
            return;
        };
        match eth.ethertype() {
            ethernet::ethertype::ARP => self.handle_arp(f.port, eth.src(), eth.payload(), now),
            ethernet::ethertype::IPV6 => self.handle_ndp(f.port, eth.src(), eth.payload(), now),
            _ => self.counters.punt_invalid += 1,
        }
    }

    fn handle_arp(&mut self, port: PortId, eth_src: MacAddr, payload: &[u8], now: Instant) {
        self.counters.arp_rx += 1;
        let Ok(a) = arp::Packet::new_checked(payload) else {
            self.counters.punt_invalid += 1;
            return;
        };
        let (sha, spa, tpa, op) = (a.sender_mac(), a.sender_ip(), a.target_ip(), a.operation());
        let for_us = self.is_local(port, IpAddr::V4(tpa));
        if spa.is_unspecified() {
            // ARP probe (RFC 5227): answer if it is for us, learn nothing.
        } else {
            self.learn(port, IpAddr::V4(spa), sha, for_us, now);
        }
        if op == arp::OP_REQUEST && for_us {
            let mac = self.ports[port.index()].mac;
            let dst = if spa.is_unspecified() {
                MacAddr::BROADCAST
            } else {
                eth_src
            };
            let reply = frames::arp(arp::OP_REPLY, mac, dst, mac, tpa, sha, spa);
            if self.send(port, &reply) {
                self.counters.adverts_sent += 1;
            }
        }
    }

    fn handle_ndp(&mut self, port: PortId, eth_src: MacAddr, payload: &[u8], now: Instant) {
        let Ok(ip) = ipv6::Packet::new_checked(payload) else {
            self.counters.punt_invalid += 1;
            return;
        };
        let (src, dst) = (ip.src(), ip.dst());
        if ip.next_header() != proto::ICMPV6 {
            self.counters.punt_invalid += 1;
            return;
        }
        let Ok(m) = icmpv6::Packet::new_checked(ip.payload()) else {
            self.counters.punt_invalid += 1;
            return;
        };
        self.counters.ndp_rx += 1;
        // RFC 4861 sections 7.1.1 and 7.1.2.
        if ip.hop_limit() != 255 || m.code() != 0 || !m.verify_checksum(&src, &dst) {
            self.counters.punt_invalid += 1;
            return;
        }
        match m.msg_type() {
            icmpv6::kind::NEIGHBOR_SOLICIT => {
                let (Ok(target), Ok(sll)) = (m.nd_target(), m.nd_lladdr(icmpv6::OPT_SOURCE_LLADDR))
                else {
                    self.counters.punt_invalid += 1;
                    return;
                };
                if !self.is_local(port, IpAddr::V6(target)) {
                    return;
                }
                if !src.is_unspecified() {
                    self.learn(port, IpAddr::V6(src), sll.unwrap_or(eth_src), true, now);
                }
                let mac = self.ports[port.index()].mac;
                let (na_dst, dst_mac, solicited) = if src.is_unspecified() {
                    let all = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
                    (all, MacAddr::ipv6_multicast(all), false)
                } else {
                    (src, sll.unwrap_or(eth_src), true)
                };
                let na = frames::neighbor_advert(mac, target, dst_mac, na_dst, solicited);
                if self.send(port, &na) {
                    self.counters.adverts_sent += 1;
                }
            }
            icmpv6::kind::NEIGHBOR_ADVERT => {
                let (Ok(target), Ok(tll)) = (m.nd_target(), m.nd_lladdr(icmpv6::OPT_TARGET_LLADDR))
                else {
                    self.counters.punt_invalid += 1;
                    return;
                };
                self.learn(port, IpAddr::V6(target), tll.unwrap_or(eth_src), false, now);
            }
            // Router solicitations/advertisements and redirects: the router does
            // not send RAs and ignores redirects.
            _ => {}
        }
    }

    /// The nexthop id for `addr` on `port`, if any.
    pub fn nexthop_id(&self, port: PortId, addr: IpAddr) -> Option<NexthopId> {
        self.index.get(&(port, addr)).copied()
    }

    /// The IPv4 source the router uses towards `peer` on `port` (for tests and tools).
    pub fn v4_source(&self, port: PortId, peer: Ipv4Addr) -> Option<Ipv4Addr> {
        match self.source_for(port, IpAddr::V4(peer))?.addr {
            IpAddr::V4(a) => Some(a),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use dataplane::forward::{process, Ctx, IcmpLimiter, Verdict};
    use dataplane::stats::LcoreStats;
    use dataplane::VecBuf;

    const CFG: &str = "ports:
  - { name: lan, device: net_null0, addresses: [10.0.0.1/24, fd00::1/64] }
  - { name: srv1, device: net_null1, addresses: [10.1.0.1/24, fd01::1/64] }
  - { name: srv2, device: net_null2, addresses: [10.2.0.1/24, fd02::1/64] }
routes:
  - prefix: 198.51.100.0/24
    nexthops: [{ via: 10.2.0.2, port: srv2, weight: 2 }, { via: 10.1.0.2, port: srv1 }]
neighbors: [{ address: 10.1.0.2, mac: \"02:00:00:00:01:02\", port: srv1 }]
";
    const MACS: [MacAddr; 3] = [
        MacAddr([2, 0, 0, 0, 0, 0xa0]),
        MacAddr([2, 0, 0, 0, 0, 0xa1]),
        MacAddr([2, 0, 0, 0, 0, 0xa2]),
    ];
    const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc1]);

    fn plane() -> (ControlPlane, Channels) {
        let c = config::parse(CFG, "t").unwrap();
        let ch = Channels::default();
        (ControlPlane::new(c, &MACS, vec![], ch.clone(), 64), ch)
    }

    fn drain(ch: &Channels) -> Vec<InjectFrame> {
        std::iter::from_fn(|| ch.inject.pop()).collect()
    }

    #[test]
    fn group_order_is_canonical_and_static_neighbor_is_resolved() {
        let (cp, _) = plane();
        let fib = cp.fib();
        let id1 = cp
            .nexthop_id(PortId(1), "10.1.0.2".parse().unwrap())
            .unwrap();
        let id2 = cp
            .nexthop_id(PortId(2), "10.2.0.2".parse().unwrap())
            .unwrap();
        let Some(Target::Group(g)) = fib.routes.lookup("198.51.100.9".parse().unwrap()) else {
            panic!()
        };
        let g = fib.routes.group(g).unwrap();
        assert_eq!(
            g.members(),
            &[id1, id2],
            "sorted by address, not YAML order"
        );
        assert_eq!(g.weights(), &[1, 2]);
        assert_eq!(fib.neighbors.get(id1), Some(MacAddr([2, 0, 0, 0, 1, 2])));
        assert!(!cp.gateways_resolved());
    }

    #[test]
    fn resolves_gateway_by_arp() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        let sent = drain(&ch);
        assert_eq!(sent.len(), 1, "only the dynamic gateway is asked");
        let req = arp::Packet::new_checked(&sent[0].bytes()[14..]).unwrap();
        assert_eq!(
            (req.operation(), req.sender_ip(), req.target_ip()),
            (
                arp::OP_REQUEST,
                Ipv4Addr::new(10, 2, 0, 1),
                Ipv4Addr::new(10, 2, 0, 2)
            )
        );
        assert_eq!(sent[0].port, PortId(2));
        // The gateway answers.
        let srv2 = MacAddr([2, 0, 0, 0, 2, 2]);
        let reply = frames::arp(
            arp::OP_REPLY,
            srv2,
            MACS[2],
            srv2,
            "10.2.0.2".parse().unwrap(),
            MACS[2],
            "10.2.0.1".parse().unwrap(),
        );
        ch.punt
            .push(PuntFrame::copy_from(PortId(2), &reply))
            .unwrap();
        cp.poll(t0 + Duration::from_millis(10));
        assert!(cp.gateways_resolved());
        // Not asked again before the refresh interval.
        cp.poll(t0 + Duration::from_secs(2));
        assert!(drain(&ch).is_empty());
    }

    #[test]
    fn answers_arp_and_learns_client_as_host_adjacency() {
        let (mut cp, ch) = plane();
        let req = frames::arp(
            arp::OP_REQUEST,
            CLIENT,
            MacAddr::BROADCAST,
            CLIENT,
            "10.0.0.2".parse().unwrap(),
            MacAddr::ZERO,
            "10.0.0.1".parse().unwrap(),
        );
        ch.punt.push(PuntFrame::copy_from(PortId(0), &req)).unwrap();
        let gen = cp.fib().generation;
        cp.poll(Instant::now());
        let sent = drain(&ch);
        let reply = sent
            .iter()
            .find(|f| f.port == PortId(0))
            .expect("ARP reply on lan");
        let eth = ethernet::Frame::new_checked(reply.bytes()).unwrap();
        assert_eq!(eth.dst(), CLIENT);
        let a = arp::Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(
            (a.operation(), a.sender_mac(), a.sender_ip()),
            (arp::OP_REPLY, MACS[0], Ipv4Addr::new(10, 0, 0, 1))
        );
        let fib = cp.fib();
        assert!(fib.generation > gen);
        let id = fib.hosts[&"10.0.0.2".parse().unwrap()];
        assert_eq!(fib.neighbors.get(id), Some(CLIENT));

        // Forwarding towards the client now works, through the dataplane.
        let stats = LcoreStats::new(64);
        let mut icmp = IcmpLimiter::new(10);
        let mut ctx = Ctx {
            fib: &fib,
            stats: &stats,
            icmp: &mut icmp,
        };
        let pkt = frames::ipv4(
            MacAddr([2, 0, 0, 0, 1, 2]),
            MACS[1],
            "198.51.100.10".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            proto::TCP,
            64,
            &frames::tcp_syn(80, 4000),
        );
        assert_eq!(
            process(&mut ctx, PortId(1), &mut VecBuf::new(&pkt)),
            Verdict::Forward(PortId(0))
        );
    }

    #[test]
    fn answers_ns_with_na_and_learns() {
        let (mut cp, ch) = plane();
        let ns = frames::neighbor_solicit(
            CLIENT,
            "fd00::2".parse().unwrap(),
            "fd00::1".parse().unwrap(),
        );
        ch.punt.push(PuntFrame::copy_from(PortId(0), &ns)).unwrap();
        cp.poll(Instant::now());
        let sent = drain(&ch);
        let na = sent
            .iter()
            .find(|f| f.port == PortId(0) && f.bytes()[12..14] == [0x86, 0xdd])
            .expect("NA on lan");
        let eth = ethernet::Frame::new_checked(na.bytes()).unwrap();
        assert_eq!(eth.dst(), CLIENT);
        let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
        let m = icmpv6::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(m.msg_type(), icmpv6::kind::NEIGHBOR_ADVERT);
        assert!(m.verify_checksum(&ip.src(), &ip.dst()));
        assert_eq!(
            m.nd_lladdr(icmpv6::OPT_TARGET_LLADDR).unwrap(),
            Some(MACS[0])
        );
        assert_eq!(m.na_flags(), (true, true, true));
        assert!(cp.fib().hosts.contains_key(&"fd00::2".parse().unwrap()));
        // A corrupted NS (bad checksum) is refused and counted.
        let mut bad = ns.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        ch.punt.push(PuntFrame::copy_from(PortId(0), &bad)).unwrap();
        cp.poll(Instant::now());
        assert_eq!(cp.counters.punt_invalid, 1);
    }

    #[test]
    fn resolve_request_for_unknown_host_is_rate_limited() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        drain(&ch);
        for _ in 0..5 {
            ch.resolve
                .push(ResolveRequest {
                    port: PortId(0),
                    addr: "10.0.0.77".parse().unwrap(),
                })
                .unwrap();
        }
        // Off-subnet requests are ignored.
        ch.resolve
            .push(ResolveRequest {
                port: PortId(0),
                addr: "10.9.0.77".parse().unwrap(),
            })
            .unwrap();
        cp.poll(t0 + Duration::from_millis(1));
        assert_eq!(drain(&ch).len(), 1);
    }
}
