//! The nexthop registry: gateways and hosts, their ids, the API's nexthop objects and operator liveness.

use super::*;

/// The nexthop registry: every nexthop (gateway or learned host), by
/// id, by (port, address), and the hosts by address.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) entries: Vec<Entry>,
    pub(super) index: HashMap<(PortId, IpAddr), NexthopId>,
    pub(super) hosts: HashMap<IpAddr, NexthopId>,
}

impl ControlPlane {
    pub(super) fn add_nexthop(
        &mut self,
        port: PortId,
        addr: IpAddr,
        kind: NexthopKind,
    ) -> Option<NexthopId> {
        if let Some(&id) = self.registry.index.get(&(port, addr)) {
            let e = &mut self.registry.entries[id.index()];
            if e.removed {
                *e = Entry::fresh(e.nh, kind);
            }
            if kind == NexthopKind::Gateway {
                e.kind = NexthopKind::Gateway;
                self.neigh.pool.forget(id);
            }
            return Some(id);
        }
        if self.registry.entries.len() >= self.neighbors.capacity() {
            self.counters.nexthop_table_full += 1;
            return None;
        }
        let id = NexthopId(self.registry.entries.len() as u32);
        self.registry
            .entries
            .push(Entry::fresh(Nexthop { port, addr }, kind));
        self.registry.index.insert((port, addr), id);
        Some(id)
    }

    /// A host entry for `addr` on `port`, from the pool: revived if it was
    /// flushed, else a free slot, else a new one, else the least recently
    /// used host's slot (re-keyed). Nexthops are never taken.
    pub(super) fn new_host(&mut self, port: PortId, addr: IpAddr) -> Option<NexthopId> {
        if let Some(&id) = self.registry.index.get(&(port, addr)) {
            let was_removed = self.registry.entries[id.index()].removed;
            let id = self.add_nexthop(port, addr, NexthopKind::Host)?;
            let e = &self.registry.entries[id.index()];
            if was_removed && e.kind == NexthopKind::Host && !self.neigh.pool.contains(id) {
                self.neigh.pool.adopt(id);
            }
            return Some(id);
        }
        let slot = if self.neigh.pool.full() {
            let entries = &self.registry.entries;
            let v = self.neigh.pool.victim(|id| {
                let e = &entries[id.index()];
                e.kind == NexthopKind::Host && !e.permanent && !e.pinned && !e.removed
            });
            if v.is_some() {
                self.counters.neighbor_evictions += 1;
            }
            v
        } else {
            self.neigh.pool.free_slot()
        };
        let id = match slot {
            Some(v) => {
                self.rekey(v, port, addr);
                v
            }
            None if self.neigh.pool.full() => {
                self.counters.nexthop_table_full += 1;
                return None;
            }
            None => self.add_nexthop(port, addr, NexthopKind::Host)?,
        };
        self.neigh.pool.adopt(id);
        Some(id)
    }

    /// Gives host slot `id` to `addr` on `port`: the old host is forgotten.
    pub(super) fn rekey(&mut self, id: NexthopId, port: PortId, addr: IpAddr) {
        self.drop_held(id);
        let old = self.registry.entries[id.index()].nh;
        if self.registry.index.get(&(old.port, old.addr)) == Some(&id) {
            self.registry.index.remove(&(old.port, old.addr));
        }
        if self.registry.hosts.get(&old.addr) == Some(&id) {
            self.registry.hosts.remove(&old.addr);
        }
        self.neighbors.clear(id);
        self.neighbors.set_down(id, DownFlag::Unreachable, false);
        self.neighbors.set_down(id, DownFlag::Admin, false);
        self.registry.entries[id.index()] = Entry::fresh(Nexthop { port, addr }, NexthopKind::Host);
        self.registry.index.insert((port, addr), id);
    }

    /// Host `id` answered none of its solicitations: FAILED. Packets to it get
    /// ICMP Host Unreachable from the workers (drop reason `neighbor_failed`)
    /// until the hold runs out, as from a kernel.
    pub(super) fn host_failed(&mut self, id: NexthopId) {
        self.counters.neighbor_failed += 1;
        self.drop_held(id);
        self.neighbors.set_down(id, DownFlag::Unreachable, true);
        let addr = self.registry.entries[id.index()].nh.addr;
        if self.registry.hosts.get(&addr) != Some(&id) {
            self.registry.hosts.insert(addr, id);
            self.publish();
        }
    }

    /// Removes the learned hosts (on `port`, or everywhere), like `ip neigh
    /// flush`: nexthops and permanent entries stay. Returns how many.
    pub fn flush_neighbors(&mut self, port: Option<PortId>) -> usize {
        let ids: Vec<NexthopId> = (0..self.registry.entries.len())
            .map(|i| NexthopId(i as u32))
            .filter(|&id| {
                let e = &self.registry.entries[id.index()];
                self.neigh.pool.contains(id)
                    && !e.removed
                    && e.kind == NexthopKind::Host
                    && port.is_none_or(|p| e.nh.port == p)
            })
            .collect();
        for &id in &ids {
            let addr = self.registry.entries[id.index()].nh.addr;
            self.registry.entries[id.index()].removed = true;
            self.drop_held(id);
            self.neighbors.clear(id);
            self.neighbors.set_down(id, DownFlag::Unreachable, false);
            if self.registry.hosts.get(&addr) == Some(&id) {
                self.registry.hosts.remove(&addr);
            }
            self.neigh.pool.release(id);
        }
        self.counters.neighbor_flushed += ids.len() as u64;
        if !ids.is_empty() {
            self.publish();
        }
        ids.len()
    }

    /// Every group in use or defined. Shared inline groups are named by their
    /// members (`ADDR@PORT*WEIGHT,...`), a resilient route's own group by its
    /// route (`PREFIX table T ORIGIN`).
    /// The id `ip nexthop`-style listings give nexthop `id`: its slot, from 1.
    pub fn listed_nexthop_id(id: NexthopId) -> u32 {
        id.index() as u32 + 1
    }

    /// Every nexthop with its state.
    pub fn nexthops(&self) -> Vec<NexthopView> {
        (0..self.registry.entries.len() as u32)
            .map(NexthopId)
            .filter(|id| !self.registry.entries[id.index()].removed)
            .map(|id| self.nexthop_view(id))
            .collect()
    }

    /// One nexthop with its state.
    fn nexthop_view(&self, id: NexthopId) -> NexthopView {
        let e = &self.registry.entries[id.index()];
        NexthopView {
            id,
            addr: e.nh.addr,
            port: self.config.ports[e.nh.port.index()].name.clone(),
            kind: e.kind,
            mac: self.neighbors.get(id),
            live: self.neighbors.live(id).is_some(),
            admin_down: self.neighbors.is_down(id, DownFlag::Admin),
            link_down: self.neighbors.is_down(id, DownFlag::Link),
            unreachable: self.neighbors.is_down(id, DownFlag::Unreachable),
            uplink_down: self.neighbors.is_down(id, DownFlag::Uplink),
            permanent: e.permanent,
            last_seen_ms: e.last_seen.map(|t| t.elapsed().as_millis() as u64),
            probes_unanswered: e.unanswered,
            state: self.nud_state(id, Instant::now()),
        }
    }

    /// True when every gateway of a configured route has a MAC.
    pub fn gateways_resolved(&self) -> bool {
        self.registry
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == NexthopKind::Gateway && !e.removed)
            .all(|(i, _)| self.neighbors.get(NexthopId(i as u32)).is_some())
    }

    /// Creates a nexthop through the API (`ip nexthop add`): resolved and
    /// probed like a gateway, kept while no group uses it.
    ///
    /// # Errors
    /// What is wrong; nothing changes.
    pub fn add_nexthop_api(
        &mut self,
        port: &str,
        addr: IpAddr,
    ) -> Result<NexthopView, NexthopError> {
        let pid = self.port_named(port)?;
        let at = || (addr, port.to_owned());
        if !self.on_subnet(pid, addr) {
            let (addr, port) = at();
            return Err(NexthopError::NotOnSubnet { addr, port });
        }
        if self.is_local(pid, addr) {
            let (addr, port) = at();
            return Err(NexthopError::Local { addr, port });
        }
        if let Some(&id) = self.registry.index.get(&(pid, addr)) {
            if !self.registry.entries[id.index()].removed {
                let (addr, port) = at();
                return Err(NexthopError::Exists { addr, port });
            }
        }
        let id = self
            .add_nexthop(pid, addr, NexthopKind::Gateway)
            .ok_or(NexthopError::TableFull)?;
        self.registry.entries[id.index()].pinned = true;
        self.publish();
        Ok(self.nexthop_view(id))
    }

    /// The port named `port`.
    fn port_named(&self, port: &str) -> Result<PortId, NexthopError> {
        self.config
            .port_id(port)
            .ok_or_else(|| NexthopError::UnknownPort(port.to_owned()))
    }

    /// Deletes a nexthop no group uses (`ip nexthop del`, or `ip neigh del`
    /// for a learned host). Static neighbours are the config's.
    ///
    /// # Errors
    /// What holds it, or that it does not exist; nothing changes.
    pub fn delete_nexthop_api(&mut self, port: &str, addr: IpAddr) -> Result<(), NexthopError> {
        let pid = self.port_named(port)?;
        let id = match self.registry.index.get(&(pid, addr)) {
            Some(&id) if !self.registry.entries[id.index()].removed => id,
            _ => {
                return Err(NexthopError::NotFound {
                    addr,
                    port: port.to_owned(),
                })
            }
        };
        if self.registry.entries[id.index()].permanent {
            return Err(NexthopError::Static {
                addr,
                port: port.to_owned(),
            });
        }
        if let Some(g) = self
            .groups
            .slots
            .iter()
            .flatten()
            .find(|g| g.members.iter().any(|m| m.0 == id))
        {
            let name = self
                .groups()
                .into_iter()
                .find(|v| v.members.iter().any(|m| m.via == addr && m.port == port))
                .map_or_else(|| format!("{:?}", g.key), |v| v.name);
            return Err(NexthopError::InGroup {
                addr,
                port: port.to_owned(),
                group: name,
            });
        }
        let e = &mut self.registry.entries[id.index()];
        e.removed = true;
        e.pinned = false;
        self.neighbors.clear(id);
        if self.registry.hosts.get(&addr) == Some(&id) {
            self.registry.hosts.remove(&addr);
        }
        self.publish();
        Ok(())
    }

    /// Enables or disables the nexthop `addr` on the port named `port`.
    ///
    /// # Errors
    /// [`NexthopError::UnknownPort`], [`NexthopError::NotFound`].
    pub fn set_enabled(
        &mut self,
        port: &str,
        addr: IpAddr,
        enabled: bool,
    ) -> Result<NexthopView, NexthopError> {
        let pid = self.port_named(port)?;
        let id = self
            .nexthop_id(pid, addr)
            .ok_or_else(|| NexthopError::NotFound {
                addr,
                port: port.to_owned(),
            })?;
        if self.neighbors.set_down(id, DownFlag::Admin, !enabled) {
            crate::log_limited!(info, crate::loglimit::Kind::ApiWrite, crate::loglimit::source(addr); nexthop = %addr, port, enabled, "nexthop administratively {}", if enabled { "enabled" } else { "disabled" });
            if enabled {
                self.counters.nexthop_up_events += 1;
            } else {
                self.counters.nexthop_down_events += 1;
            }
        }
        Ok(self.nexthop_view(id))
    }

    /// The nexthop id for `addr` on `port`, if any.
    pub fn nexthop_id(&self, port: PortId, addr: IpAddr) -> Option<NexthopId> {
        self.registry.index.get(&(port, addr)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

    #[test]
    fn a_flood_of_hosts_is_bounded_and_never_takes_a_gateways_room() {
        // The nexthop table has 64 slots: the pool takes at most 32.
        let (mut cp, ch) = plane();
        let mut t = Instant::now();
        cp.poll(t);
        drain(&ch);
        let mut solicits = 0;
        for round in 0..20u16 {
            for i in 0..100u16 {
                let addr = IpAddr::V6(Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, round, i + 1));
                // Overflowing the ring only drops requests, as the workers' punts would.
                let _ = ch.resolve.push(ResolveRequest {
                    port: PortId(1),
                    addr,
                });
            }
            t += Duration::from_millis(100);
            cp.poll(t);
            solicits += drain(&ch).len();
        }
        assert!(
            cp.registry.entries.len() <= 64,
            "{} entries",
            cp.registry.entries.len()
        );
        assert!(cp.neigh.pool.len() <= 32);
        assert!(cp.counters.neighbor_evictions > 0 || cp.counters.neighbor_incomplete_full > 0);
        // 2 s of flood at solicit-rate 100/s: at most the burst and 2 s of refill (gateway probes aside).
        assert!(solicits <= 100 + 2 * 100 + 10, "{solicits} solicitations");
        // A gateway added through the API still gets a slot.
        let v = cp
            .add_nexthop_api("srv2", "10.2.0.77".parse().unwrap())
            .unwrap();
        assert_eq!(v.port, "srv2");
        // Flush: learned hosts go, nexthops stay.
        let before = cp
            .nexthops()
            .iter()
            .filter(|n| n.kind == NexthopKind::Gateway)
            .count();
        assert!(cp.flush_neighbors(None) > 0);
        assert_eq!(cp.neigh.pool.len(), 0);
        assert_eq!(
            cp.nexthops()
                .iter()
                .filter(|n| n.kind == NexthopKind::Gateway)
                .count(),
            before
        );
    }

    #[test]
    fn api_nexthops_add_delete() {
        let mut cp = plane_resolved();
        let n = cp
            .add_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap();
        assert_eq!((n.kind, n.mac), (NexthopKind::Gateway, None));
        assert!(cp
            .add_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap_err()
            .to_string()
            .contains("exists"));
        for (port, addr, msg) in [
            ("srv9", "10.1.0.9", "unknown port"),
            ("srv1", "10.2.0.9", "not on a subnet"),
            ("srv1", "10.1.0.1", "own address"),
        ] {
            let e = cp.add_nexthop_api(port, addr.parse().unwrap()).unwrap_err();
            assert!(e.to_string().contains(msg), "{e}");
        }
        // A group member or a static neighbour cannot go; a pinned one can.
        let e = cp
            .delete_nexthop_api("srv2", "10.2.0.2".parse().unwrap())
            .unwrap_err();
        assert!(
            matches!(
                e,
                NexthopError::Static { .. } | NexthopError::InGroup { .. }
            ),
            "{e}"
        );
        cp.delete_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap();
        assert!(cp
            .nexthops()
            .iter()
            .all(|n| n.addr != "10.1.0.9".parse::<IpAddr>().unwrap()));
        assert!(cp
            .delete_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap_err()
            .to_string()
            .contains("no nexthop"));
        // It comes back with the same id.
        let again = cp
            .add_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap();
        assert_eq!(again.id, n.id);
        // Enabling by name still finds the right view after a removal.
        let v = cp
            .set_enabled("srv1", "10.1.0.9".parse().unwrap(), false)
            .unwrap();
        assert_eq!(v.id, n.id);
    }
}
