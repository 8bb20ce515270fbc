//! ARP and NDP: resolution, NUD timers, held packets, and the punted frames the control plane reads.

use super::*;

/// Learned hosts and what waits for them: the bounded host pool, the
/// packets held for a neighbour, and the workers' counters (traffic to a
/// STALE host makes it DELAY).
pub(super) struct NeighborState {
    pub(super) pool: crate::host_pool::HostPool,
    pub(super) hold: crate::hold::HoldQueue,
    pub(super) traffic: Vec<Arc<dataplane::stats::LcoreStats>>,
}

impl ControlPlane {
    pub(super) fn timers(&mut self, now: Instant) {
        let interval = Duration::from_millis(self.config.liveness.probe_interval_ms);
        let failures = self.config.liveness.probe_failures;
        for i in 0..self.registry.entries.len() {
            let id = NexthopId(i as u32);
            let e = &self.registry.entries[i];
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
                    self.registry.entries[i].last_asked = Some(now);
                    self.registry.entries[i].unanswered =
                        self.registry.entries[i].unanswered.saturating_add(1);
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
                        if self.registry.hosts.get(&nh.addr) == Some(&id) {
                            self.registry.hosts.remove(&nh.addr);
                            self.publish();
                        }
                    } else if resolved {
                        self.host_nud(id, now);
                    } else if !resolved
                        && !self.neigh.pool.failed(id, now)
                        && e.last_asked.is_none_or(|t| now.duration_since(t) >= RETRY)
                    {
                        self.registry.entries[i].last_asked = Some(now);
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
        let e = &mut self.registry.entries[id.index()];
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
        let e = &self.registry.entries[id.index()];
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
        if let Some(&id) = self.registry.index.get(&(r.port, r.addr)) {
            if self.registry.entries[id.index()].removed {
                self.new_host(r.port, r.addr);
            }
            if self.neigh.pool.failed(id, now) {
                return;
            }
            let e = &mut self.registry.entries[id.index()];
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
            self.registry.entries[id.index()].last_asked = Some(now);
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

    pub(super) fn send(&mut self, port: PortId, frame: &[u8]) -> bool {
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
        let id = match self.registry.index.get(&(port, addr)) {
            Some(&id) if !self.registry.entries[id.index()].removed => id,
            Some(_) if !create => return,
            Some(_) | None if create && self.on_subnet(port, addr) => {
                match self.new_host(port, addr) {
                    Some(id) => id,
                    None => return,
                }
            }
            _ => return,
        };
        let e = &mut self.registry.entries[id.index()];
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
        if self.registry.hosts.get(&addr) != Some(&id) && self.on_subnet(port, addr) {
            self.registry.hosts.insert(addr, id);
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
            .index
            .get(&(h.port, h.addr))
            .copied()
            .filter(|id| !self.registry.entries[id.index()].removed);
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
        let port = self.registry.entries[id.index()].nh.port;
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
