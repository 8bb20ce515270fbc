//! ARP and NDP: resolution, NUD timers, held packets, and the punted frames the control plane reads.

use super::*;

/// Learned hosts and what waits for them: the bounded host pool, the
/// packets held for a neighbour, and the workers' counters (traffic to a
/// STALE host makes it DELAY).
pub(super) struct NeighborState {
    pool: crate::host_pool::HostPool,
    hold: crate::hold::HoldQueue,
    traffic: Vec<Arc<dataplane::stats::LcoreStats>>,
}

impl NeighborState {
    /// No host, nothing held: a table of `table`'s size within `max_nexthops`.
    pub(super) fn new(table: crate::config::NeighborTable, max_nexthops: usize) -> NeighborState {
        NeighborState {
            pool: crate::host_pool::HostPool::new(table, max_nexthops),
            hold: Default::default(),
            traffic: Vec::new(),
        }
    }

    /// The learned hosts' slots.
    pub(super) fn pool(&self) -> &crate::host_pool::HostPool {
        &self.pool
    }

    /// The learned hosts' slots, to change.
    pub(super) fn pool_mut(&mut self) -> &mut crate::host_pool::HostPool {
        &mut self.pool
    }
}

impl ControlPlane {
    pub(super) fn timers(&mut self, now: Instant) {
        let interval = Duration::from_millis(self.config.liveness.probe_interval_ms);
        let failures = self.config.liveness.probe_failures;
        for id in self.registry.ids() {
            let e = &self.registry[id];
            if e.permanent || e.removed {
                continue;
            }
            let resolved = self.neighbors.get(id).is_some();
            let nh = e.nh;
            match e.kind {
                // Gateways: probed every interval, down after `failures` unanswered probes.
                NexthopKind::Gateway => {
                    if e.last_asked
                        .is_some_and(|t| now.duration_since(t) < interval)
                    {
                        continue;
                    }
                    if e.unanswered >= failures
                        && self.neighbors.set_down(id, DownFlag::Unreachable, true)
                    {
                        self.counters.nexthop_down_events += 1;
                        crate::log_limited!(warn, crate::loglimit::Kind::NeighborState, crate::loglimit::source(nh.addr); nexthop = %nh.addr, port = %self.config.ports[nh.port.index()].name, probes = e.unanswered, "nexthop unreachable: down");
                    }
                    let unicast = self.neighbors.get(id);
                    self.registry[id].last_asked = Some(now);
                    self.registry[id].unanswered = self.registry[id].unanswered.saturating_add(1);
                    self.solicit(nh.port, nh.addr, unicast);
                }
                // Hosts: asked while unresolved, forgotten when silent.
                NexthopKind::Host => {
                    if !resolved
                        && self.neighbors.is_down(id, DownFlag::Unreachable)
                        && !self.neigh.pool.failed(id, now)
                    {
                        // FAILED ran out: the next packet asks again.
                        self.neighbors.set_down(id, DownFlag::Unreachable, false);
                        if self.registry.forget_host(nh.addr, id) {
                            self.publish();
                        }
                    } else if resolved {
                        self.host_nud(id, now);
                    } else if !resolved
                        && !self.neigh.pool.failed(id, now)
                        && e.last_asked.is_none_or(|t| now.duration_since(t) >= RETRY)
                    {
                        self.registry[id].last_asked = Some(now);
                        // Given up after `retries`, like the kernel's FAILED state.
                        if self.neigh.pool.contains(id) && !self.neigh.pool.try_solicit(id, now) {
                            self.host_failed(id);
                            continue;
                        }
                        if !self.neigh.pool.take_token(now) {
                            self.counters.solicits_rate_limited += 1;
                            continue;
                        }
                        self.solicit(nh.port, nh.addr, None);
                    }
                }
            }
        }
        if !self.neigh.hold.is_empty() {
            for id in self.neigh.hold.ids() {
                if self.neighbors.is_down(id, DownFlag::Unreachable) {
                    self.drop_held(id);
                }
            }
        }
        self.rebalance(now);
    }

    /// Packets the workers forwarded to `id` so far.
    pub(super) fn traffic_of(&self, id: NexthopId) -> u64 {
        self.neigh
            .traffic
            .iter()
            .filter_map(|s| s.nh_packets.get(id.index()))
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    }

    /// Gives the control plane the workers' counters (neighbour states use
    /// the per-nexthop packets to see traffic to a STALE host).
    pub fn set_traffic(&mut self, lcores: Vec<Arc<dataplane::stats::LcoreStats>>) {
        self.neigh.traffic = lcores;
    }

    /// A resolved host past REACHABLE, as the kernel's NUD runs it: STALE
    /// until traffic goes to it, then DELAY for 5 s, then PROBE with unicast
    /// solicitations 1 s apart; FAILED after `retries` of them. A STALE host
    /// with no traffic is forgotten after [`GC_STALE`].
    pub(super) fn host_nud(&mut self, id: NexthopId, now: Instant) {
        let reachable = Duration::from_secs(self.config.neighbor_table.reachable_time_s.into());
        let tx = self.traffic_of(id);
        let e = &mut self.registry[id];
        let age = e.last_seen.map_or(Duration::MAX, |t| now.duration_since(t));
        let moved = tx != e.tx_seen;
        e.tx_seen = tx;
        if age < reachable {
            e.nud = None;
            return;
        }
        match e.nud {
            None if moved => e.nud = Some((now, 0)),
            None => {
                if age >= reachable + GC_STALE {
                    self.neighbors.clear(id);
                }
            }
            Some((since, 0)) if now.duration_since(since) < DELAY_PROBE => {}
            Some((since, probes)) => {
                if e.last_asked.is_some_and(|t| now.duration_since(t) < RETRY) {
                    return;
                }
                if probes >= self.config.neighbor_table.retries {
                    e.nud = None;
                    self.neighbors.clear(id);
                    self.neigh.pool.mark_failed(id, now);
                    self.host_failed(id);
                    return;
                }
                if !self.neigh.pool.take_token(now) {
                    self.counters.solicits_rate_limited += 1;
                    return;
                }
                e.nud = Some((since, probes + 1));
                e.last_asked = Some(now);
                let (nh, mac) = (e.nh, self.neighbors.get(id));
                self.solicit(nh.port, nh.addr, mac);
            }
        }
    }

    /// The kernel's name for `id`'s state.
    pub(super) fn nud_state(&self, id: NexthopId, now: Instant) -> NudState {
        let e = &self.registry[id];
        let mac = self.neighbors.get(id).is_some();
        let unreachable = self.neighbors.is_down(id, DownFlag::Unreachable);
        if e.permanent {
            return NudState::Permanent;
        }
        match e.kind {
            NexthopKind::Gateway if unreachable => NudState::Failed,
            NexthopKind::Gateway if !mac => NudState::Incomplete,
            NexthopKind::Gateway if e.unanswered > 1 => NudState::Probe,
            NexthopKind::Gateway => NudState::Reachable,
            NexthopKind::Host if unreachable || self.neigh.pool.failed(id, now) => NudState::Failed,
            NexthopKind::Host if !mac => NudState::Incomplete,
            NexthopKind::Host => {
                let reachable =
                    Duration::from_secs(self.config.neighbor_table.reachable_time_s.into());
                match e.nud {
                    _ if e
                        .last_seen
                        .is_some_and(|t| now.duration_since(t) < reachable) =>
                    {
                        NudState::Reachable
                    }
                    None => NudState::Stale,
                    Some((_, 0)) => NudState::Delay,
                    Some(_) => NudState::Probe,
                }
            }
        }
    }

    pub(super) fn handle_resolve(&mut self, r: ResolveRequest, now: Instant) {
        if let Some(id) = self.registry.id(r.port, r.addr) {
            if self.registry[id].removed {
                self.new_host(r.port, r.addr);
            }
            if self.neigh.pool.failed(id, now) {
                return;
            }
            let e = &mut self.registry[id];
            if e.last_asked.is_some_and(|t| now.duration_since(t) < RETRY) {
                return;
            }
            e.last_asked = Some(now);
            let unresolved = self.neighbors.get(id).is_none();
            if self.neigh.pool.contains(id) && unresolved && !self.neigh.pool.try_solicit(id, now) {
                self.host_failed(id);
                return;
            }
        } else {
            // An unknown host on a connected subnet: create its adjacency so
            // retries are rate-limited, then ask.
            if !self.on_subnet(r.port, r.addr) {
                return;
            }
            if self.neigh.pool.incomplete_full() {
                self.counters.neighbor_incomplete_full += 1;
                return;
            }
            let Some(id) = self.new_host(r.port, r.addr) else {
                return;
            };
            self.registry[id].last_asked = Some(now);
            self.neigh.pool.try_solicit(id, now);
        }
        if !self.neigh.pool.take_token(now) {
            self.counters.solicits_rate_limited += 1;
            return;
        }
        self.solicit(r.port, r.addr, None);
    }

    pub(super) fn on_subnet(&self, port: PortId, a: IpAddr) -> bool {
        self.config
            .ports
            .get(port.index())
            .is_some_and(|p| p.addresses.iter().any(|ia| ia.subnet().contains(a)))
    }

    /// The port address used to talk to `peer` (same subnet first, then same family).
    pub(super) fn source_for(&self, port: PortId, peer: IpAddr) -> Option<IfAddr> {
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

    pub(super) fn is_local(&self, port: PortId, a: IpAddr) -> bool {
        self.config
            .ports
            .get(port.index())
            .is_some_and(|p| p.addresses.iter().any(|ia| ia.addr == a))
            || self
                .snat
                .addrs
                .iter()
                .any(|(x, p)| *p == port && IpAddr::V4(*x) == a)
    }

    /// Hands `frame` to worker 0 to send on `port`: a VLAN sub-interface's
    /// frames go out of its trunk, tagged.
    pub(super) fn send(&mut self, port: PortId, frame: &[u8]) -> bool {
        let vlan = self.config.ports.get(port.index()).and_then(|p| p.vlan);
        let mut tagged = [0u8; crate::punt::INJECT_BYTES];
        let (port, frame) = match vlan {
            Some(v) if frame.len() >= 12 && frame.len() + 4 <= tagged.len() => {
                tagged[..12].copy_from_slice(&frame[..12]);
                tagged[12..14].copy_from_slice(&dataplane::vlan::TPID.to_be_bytes());
                tagged[14..16].copy_from_slice(&v.id.to_be_bytes());
                tagged[16..frame.len() + 4].copy_from_slice(&frame[12..]);
                (v.parent, &tagged[..frame.len() + 4])
            }
            Some(_) => {
                // Too long to tag within an inject frame.
                self.counters.inject_full += 1;
                return false;
            }
            None => (port, frame),
        };
        match InjectFrame::new(port, frame) {
            Some(f) if self.channels.inject.push(f).is_ok() => true,
            _ => {
                self.counters.inject_full += 1;
                false
            }
        }
    }

    /// Asks for `addr`: broadcast / multicast, or unicast to `known` (a NUD probe).
    pub(super) fn solicit(&mut self, port: PortId, addr: IpAddr, known: Option<MacAddr>) {
        let Some(src) = self.source_for(port, addr) else {
            return;
        };
        let mac = self.ports[port.index()].mac;
        let frame = match (src.addr, addr) {
            (IpAddr::V4(s), IpAddr::V4(t)) => frames::arp(
                arp::OP_REQUEST,
                mac,
                known.unwrap_or(MacAddr::BROADCAST),
                mac,
                s,
                MacAddr::ZERO,
                t,
            ),
            (IpAddr::V6(s), IpAddr::V6(t)) => frames::neighbor_solicit_to(mac, s, t, known),
            _ => return,
        };
        if self.send(port, &frame) {
            self.counters.solicits_sent += 1;
        }
    }

    /// Records `mac` for `addr` on `port`. `create` allows a new host adjacency.
    pub(super) fn learn(
        &mut self,
        port: PortId,
        addr: IpAddr,
        mac: MacAddr,
        create: bool,
        now: Instant,
    ) {
        if mac.is_multicast() || mac == MacAddr::ZERO {
            return;
        }
        // ARP or NDP claiming one of the router's own addresses (a spoof, or
        // an address conflict): never learned, counted and logged.
        if (0..self.config.ports.len()).any(|p| self.is_local(PortId(p as u16), addr)) {
            self.counters.own_address_claims += 1;
            crate::log_limited!(warn, crate::loglimit::Kind::AddressClaim, crate::loglimit::source((port.0, mac.0)); address = %addr, %mac, port = %self.config.ports[port.index()].name, "another host claims one of the router's addresses: ignored");
            return;
        }
        let id = match self.registry.id(port, addr) {
            Some(id) if !self.registry[id].removed => id,
            Some(_) if !create => return,
            Some(_) | None if create && self.on_subnet(port, addr) => {
                match self.new_host(port, addr) {
                    Some(id) => id,
                    None => return,
                }
            }
            _ => return,
        };
        let e = &mut self.registry[id];
        if e.permanent {
            return;
        }
        e.last_seen = Some(now);
        e.unanswered = 0;
        self.neigh.pool.resolved(id);
        if self.neighbors.get(id) != Some(mac) {
            self.neighbors.set(id, mac);
        }
        if self.neighbors.set_down(id, DownFlag::Unreachable, false) {
            self.counters.nexthop_up_events += 1;
            crate::log_limited!(info, crate::loglimit::Kind::NeighborState, crate::loglimit::source(addr); nexthop = %addr, port = %self.config.ports[port.index()].name, "nexthop reachable again: up");
        }
        // One entry per (port, address), whatever uses it: a gateway on a
        // connected subnet is also the host adjacency for its own address.
        if self.registry.host(self.registry.vrf(port), addr) != Some(id)
            && self.on_subnet(port, addr)
        {
            self.registry.set_host(id);
            self.publish();
        }
        self.release_held(id, mac);
    }

    /// A packet a worker could not send for want of neighbour `h.addr`: sent
    /// at once if it answered meanwhile, else held until it does.
    pub(super) fn handle_held(&mut self, h: HeldFrame) {
        use crate::hold::Held;
        let id = self
            .registry
            .id(h.port, h.addr)
            .filter(|&id| !self.registry[id].removed);
        // No entry (max-incomplete reached, or off every subnet), a FAILED
        // host, or an SNAT uplink (the packet would leave untranslated).
        let snat_port = self
            .snat
            .ports
            .get(h.port.index())
            .is_some_and(|p| !p.addrs.is_empty());
        let Some(id) =
            id.filter(|&id| !snat_port && !self.neighbors.is_down(id, DownFlag::Unreachable))
        else {
            self.counters.neighbor_hold_dropped += 1;
            return;
        };
        if let Some(mac) = self.neighbors.get(id) {
            self.send_held(id, h.frame, mac);
            return;
        }
        match self.neigh.hold.hold(id, h.frame) {
            Held::Queued => self.counters.neighbor_held += 1,
            Held::PushedOut => {
                self.counters.neighbor_held += 1;
                self.counters.neighbor_hold_dropped += 1;
            }
            Held::Full => self.counters.neighbor_hold_dropped += 1,
        }
    }

    /// Sends a held packet to `mac`, rewritten as the worker would have.
    pub(super) fn send_held(&mut self, id: NexthopId, mut f: PuntFrame, mac: MacAddr) {
        let port = self.registry[id].nh.port;
        let n = f.len as usize;
        if crate::hold::rewrite(&mut f.data[..n], mac, self.ports[port.index()].mac)
            && self.send(port, &f.data[..n])
        {
            self.counters.neighbor_hold_sent += 1;
        } else {
            self.counters.neighbor_hold_dropped += 1;
        }
    }

    /// Neighbour `id` answered with `mac`: its held packets go, oldest first.
    pub(super) fn release_held(&mut self, id: NexthopId, mac: MacAddr) {
        for f in self.neigh.hold.take(id) {
            self.send_held(id, f, mac);
        }
    }

    /// Neighbour `id` will not answer (FAILED, flushed, re-keyed): its held packets are dropped.
    pub(super) fn drop_held(&mut self, id: NexthopId) {
        self.counters.neighbor_hold_dropped += self.neigh.hold.take(id).len() as u64;
    }

    pub(super) fn handle_punt(&mut self, f: &PuntFrame, now: Instant) {
        let Ok(eth) = ethernet::Frame::new_checked(f.bytes()) else {
            self.counters.punt_invalid += 1;
            return;
        };
        match eth.ethertype() {
            ethernet::ethertype::ARP => self.handle_arp(f.port, eth.src(), eth.payload(), now),
            ethernet::ethertype::IPV6 => self.handle_ndp(f.port, eth.src(), eth.payload(), now),
            ethernet::ethertype::IPV4 => self.handle_echo_reply_v4(f.port, eth.payload(), now),
            _ => self.counters.punt_invalid += 1,
        }
    }

    pub(super) fn handle_arp(
        &mut self,
        port: PortId,
        eth_src: MacAddr,
        payload: &[u8],
        now: Instant,
    ) {
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

    pub(super) fn handle_ndp(
        &mut self,
        port: PortId,
        eth_src: MacAddr,
        payload: &[u8],
        now: Instant,
    ) {
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
        if m.msg_type() == icmpv6::kind::ECHO_REPLY {
            let b = ip.payload();
            if m.verify_checksum(&src, &dst) && b.len() >= 8 {
                let (id, seq) = (
                    u16::from_be_bytes([b[4], b[5]]),
                    u16::from_be_bytes([b[6], b[7]]),
                );
                self.probe_reply(port, IpAddr::V6(src), id, seq, now);
            } else {
                self.counters.punt_invalid += 1;
            }
            return;
        }
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
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

    #[test]
    fn the_first_packet_to_an_unresolved_host_waits_for_its_answer() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        drain(&ch);
        let host: Ipv4Addr = "10.1.0.7".parse().unwrap();
        let syn = |sport: u16| {
            frames::ipv4(
                CLIENT,
                MACS[0],
                "10.0.0.2".parse().unwrap(),
                host,
                proto::TCP,
                64,
                &frames::tcp_syn(sport, 22),
            )
        };
        // Five SYNs meet the unresolved host; the worker hands each over.
        for sport in 1..=5 {
            let (v, buf, st) = forward(&cp, 0, &syn(sport));
            let Verdict::Resolve { port } = v else {
                panic!("{v:?}")
            };
            let addr = dataplane::forward::resolve_addr(buf.data()).expect("an IP packet");
            assert_eq!(
                st.drops_of(dataplane::drop::DropReason::NeighborUnresolved),
                0,
                "not lost yet"
            );
            ch.resolve.push(ResolveRequest { port, addr }).unwrap();
            ch.hold
                .push(HeldFrame {
                    port,
                    addr,
                    frame: PuntFrame::copy_from(PortId(0), buf.data()),
                })
                .unwrap();
        }
        cp.poll(t0 + Duration::from_millis(1));
        let asked = drain(&ch);
        assert_eq!(asked.len(), 1, "one ARP request");
        assert_eq!(cp.counters.neighbor_held, 5);
        assert_eq!(cp.counters.neighbor_hold_dropped, 2, "three per host");
        // The host answers: the three newest SYNs go to it, rewritten.
        let mac = MacAddr([2, 0, 0, 0, 1, 7]);
        arp_reply(&ch, 1, mac, host, "10.1.0.1");
        cp.poll(t0 + Duration::from_millis(2));
        let sent = drain(&ch);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(cp.counters.neighbor_hold_sent, 3);
        for (f, sport) in sent.iter().zip(3u16..) {
            assert_eq!(f.port, PortId(1));
            let eth = ethernet::Frame::new_checked(f.bytes()).unwrap();
            assert_eq!((eth.dst(), eth.src()), (mac, MACS[1]));
            let ip = dataplane::wire::ipv4::Packet::new_checked(eth.payload()).unwrap();
            assert_eq!((ip.dst(), ip.ttl()), (host, 63));
            assert_eq!(
                u16::from_be_bytes([ip.payload()[0], ip.payload()[1]]),
                sport
            );
        }
        // What the worker forwards itself from now on is the same packet.
        let (v, buf, _) = forward(&cp, 0, &syn(5));
        assert_eq!(v, Verdict::Forward(PortId(1)));
        assert_eq!(buf.data(), sent[2].bytes());
        // A host that never answers: its held packets are dropped and counted.
        let quiet = frames::ipv4(
            CLIENT,
            MACS[0],
            "10.0.0.2".parse().unwrap(),
            "10.1.0.8".parse().unwrap(),
            proto::UDP,
            64,
            &[0; 8],
        );
        ch.resolve
            .push(ResolveRequest {
                port: PortId(1),
                addr: "10.1.0.8".parse().unwrap(),
            })
            .unwrap();
        ch.hold
            .push(HeldFrame {
                port: PortId(1),
                addr: "10.1.0.8".parse().unwrap(),
                frame: PuntFrame::copy_from(PortId(0), &quiet),
            })
            .unwrap();
        let mut t = t0 + Duration::from_millis(3);
        for _ in 0..10 {
            cp.poll(t);
            t += Duration::from_secs(1);
        }
        assert_eq!(cp.counters.neighbor_failed, 1);
        assert_eq!(cp.counters.neighbor_hold_dropped, 3);
        assert_eq!(cp.neigh.hold.len(), 0);
    }

    #[test]
    fn a_host_goes_stale_delay_probe_then_reachable_or_failed_as_in_the_kernel() {
        let (mut cp, ch) = plane();
        let stats = Arc::new(LcoreStats::new(64));
        cp.set_traffic(vec![stats.clone()]);
        let client: IpAddr = "10.0.0.2".parse().unwrap();
        let arp_from_client = |op| {
            let (dst, tmac) = if op == arp::OP_REQUEST {
                (MacAddr::BROADCAST, MacAddr::ZERO)
            } else {
                (MACS[0], MACS[0])
            };
            let f = frames::arp(
                op,
                CLIENT,
                dst,
                CLIENT,
                "10.0.0.2".parse().unwrap(),
                tmac,
                "10.0.0.1".parse().unwrap(),
            );
            PuntFrame::copy_from(PortId(0), &f)
        };
        let t0 = Instant::now();
        ch.punt.push(arp_from_client(arp::OP_REQUEST)).unwrap();
        cp.poll(t0);
        drain(&ch);
        let id = cp.fib().hosts[&(0, client)];
        assert_eq!(cp.nud_state(id, t0), NudState::Reachable);
        // Runs the control loop a second at a time; returns the frames sent on lan.
        let run = |cp: &mut ControlPlane, from: u64, to: u64| {
            let mut out = Vec::new();
            for s in from..=to {
                cp.poll(t0 + Duration::from_secs(s));
                out.extend(drain(&ch).into_iter().filter(|f| f.port == PortId(0)));
            }
            out
        };
        // 30 s of silence: STALE, still used, and nobody is asked.
        assert!(run(&mut cp, 1, 31).is_empty());
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(31)),
            NudState::Stale
        );
        assert_eq!(cp.fib().neighbors.get(id), Some(CLIENT));
        // Traffic goes to it: DELAY, and 5 s later PROBE, by unicast.
        dataplane::stats::bump(&stats.nh_packets[id.index()], 1);
        assert!(run(&mut cp, 32, 32).is_empty());
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(32)),
            NudState::Delay
        );
        let probes = run(&mut cp, 33, 37);
        assert_eq!(probes.len(), 1, "{probes:?}");
        assert_eq!(
            ethernet::Frame::new_checked(probes[0].bytes())
                .unwrap()
                .dst(),
            CLIENT
        );
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(37)),
            NudState::Probe
        );
        // It answers: REACHABLE again.
        ch.punt.push(arp_from_client(arp::OP_REPLY)).unwrap();
        run(&mut cp, 38, 38);
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(38)),
            NudState::Reachable
        );
        // Next time it answers none of the 3 probes: FAILED, MAC forgotten.
        assert!(run(&mut cp, 39, 69).is_empty());
        dataplane::stats::bump(&stats.nh_packets[id.index()], 1);
        let probes = run(&mut cp, 70, 80);
        assert_eq!(probes.len(), 3, "retries unicast probes");
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(80)),
            NudState::Failed
        );
        assert_eq!(cp.fib().neighbors.get(id), None);
        assert_eq!(cp.counters.neighbor_failed, 1);
        // A STALE host nobody sends to is forgotten after gc_stale_time.
        let (mut cp, ch2) = plane();
        ch2.punt.push(arp_from_client(arp::OP_REQUEST)).unwrap();
        cp.poll(t0);
        let id = cp.fib().hosts[&(0, client)];
        for s in (1..=89).step_by(4) {
            cp.poll(t0 + Duration::from_secs(s));
        }
        assert_eq!(cp.fib().neighbors.get(id), Some(CLIENT), "STALE, kept");
        cp.poll(t0 + Duration::from_secs(91));
        assert_eq!(
            cp.fib().neighbors.get(id),
            None,
            "forgotten after 30 + 60 s"
        );
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
        srv2_answers(&ch);
        let srv2 = SRV2_GW_MAC;
        cp.poll(t0 + Duration::from_millis(10));
        assert!(cp.gateways_resolved());
        // The gateway is also a host on a connected subnet: traffic to its own
        // address (ping, SSH, BGP to an upstream router) uses the same entry.
        let pkt = frames::ipv4(
            CLIENT,
            MACS[0],
            "10.0.0.2".parse().unwrap(),
            "10.2.0.2".parse().unwrap(),
            proto::TCP,
            64,
            &frames::tcp_syn(4000, 22),
        );
        let (v, buf, _) = forward(&cp, 0, &pkt);
        assert_eq!(v, Verdict::Forward(PortId(2)));
        assert_eq!(
            ethernet::Frame::new_checked(buf.data()).unwrap().dst(),
            srv2
        );
        // Not asked again before the probe interval (1000 ms by default)...
        cp.poll(t0 + Duration::from_millis(900));
        assert!(drain(&ch).is_empty());
        // ...then probed by unicast to the MAC it answered with (RFC 4861 NUD).
        cp.poll(t0 + Duration::from_millis(1000));
        let probe = drain(&ch);
        assert_eq!(probe.len(), 1);
        assert_eq!(
            ethernet::Frame::new_checked(probe[0].bytes())
                .unwrap()
                .dst(),
            srv2
        );
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
        let id = fib.hosts[&(0, "10.0.0.2".parse().unwrap())];
        assert_eq!(fib.neighbors.get(id), Some(CLIENT));

        // Forwarding towards the client now works, through the dataplane.
        let stats = LcoreStats::new(64);
        let mut icmp = IcmpLimiter::new(10);
        let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
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
        assert!(cp
            .fib()
            .hosts
            .contains_key(&(0, "fd00::2".parse().unwrap())));
        // A corrupted NS (bad checksum) is refused and counted.
        let mut bad = ns.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        ch.punt.push(PuntFrame::copy_from(PortId(0), &bad)).unwrap();
        cp.poll(Instant::now());
        assert_eq!(cp.counters.punt_invalid, 1);
    }

    #[test]
    fn an_unanswered_host_becomes_failed_and_is_not_asked_again() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        drain(&ch);
        let addr: IpAddr = "10.0.0.77".parse().unwrap();
        let mut asked = 0;
        for k in 0..10u64 {
            ch.resolve
                .push(ResolveRequest {
                    port: PortId(0),
                    addr,
                })
                .unwrap();
            cp.poll(t0 + Duration::from_millis(1100 * k + 1));
            asked += drain(&ch)
                .iter()
                .filter(|f| {
                    arp::Packet::new_checked(&f.bytes()[14..])
                        .is_ok_and(|a| IpAddr::V4(a.target_ip()) == addr)
                })
                .count();
        }
        assert_eq!(asked, 3, "neighbor-table.retries (3), then FAILED");
        let n = cp.nexthops().into_iter().find(|n| n.addr == addr).unwrap();
        assert_eq!(n.state, NudState::Failed);
        assert_eq!(cp.counters.neighbor_failed, 1);
        // Packets to it now get ICMP Host Unreachable, as from a kernel.
        let pkt = frames::ipv4(
            MacAddr([2, 0, 0, 0, 1, 2]),
            MACS[1],
            "10.1.0.2".parse().unwrap(),
            "10.0.0.77".parse().unwrap(),
            proto::UDP,
            64,
            &[0; 8],
        );
        let (v, buf, stats) = forward(&cp, 1, &pkt);
        assert_eq!(v, Verdict::Reply);
        let ip = dataplane::wire::ipv4::Packet::new_checked(&buf.data()[14..]).unwrap();
        assert_eq!(
            (ip.payload()[0], ip.payload()[1]),
            (3, 1),
            "host unreachable"
        );
        assert_eq!(
            stats.drops_of(dataplane::drop::DropReason::NeighborFailed),
            1
        );
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

    #[test]
    fn unanswered_probes_take_a_gateway_down_and_an_answer_brings_it_back() {
        let cfg = CFG.replace(
            "neighbors:",
            "liveness: { probe-interval-ms: 100, probe-failures: 3 }\nneighbors:",
        );
        let c = config::parse(&cfg, "t").unwrap();
        let ch = Channels::default();
        let mut cp = ControlPlane::new(c, &MACS, vec![], ch.clone(), 64);
        let id = cp
            .nexthop_id(PortId(2), "10.2.0.2".parse().unwrap())
            .unwrap();
        let answer = srv2_answers;
        let t0 = Instant::now();
        cp.poll(t0);
        answer(&ch);
        cp.poll(t0 + Duration::from_millis(1));
        assert!(cp.fib().neighbors.live(id).is_some());
        // Probes at 100, 200, 300 ms go unanswered; at 400 ms the gateway is down.
        for ms in [100, 200, 300] {
            cp.poll(t0 + Duration::from_millis(ms));
            assert!(cp.fib().neighbors.live(id).is_some(), "still up at {ms} ms");
        }
        cp.poll(t0 + Duration::from_millis(400));
        assert!(cp.fib().neighbors.live(id).is_none());
        assert!(cp.nexthops()[id.index()].unreachable);
        answer(&ch);
        cp.poll(t0 + Duration::from_millis(450));
        assert!(
            cp.fib().neighbors.live(id).is_some(),
            "an answer brings it back"
        );
        assert_eq!(
            (
                cp.counters.nexthop_down_events,
                cp.counters.nexthop_up_events
            ),
            (1, 1)
        );
    }
}
