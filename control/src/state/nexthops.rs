//! The nexthop registry: gateways and hosts, their ids, the API's nexthop objects and operator liveness.

use super::*;

/// The nexthop registry: every nexthop (gateway or learned host), by
/// id, by (port, address), and the hosts by address.
///
/// Invariants, kept by its methods: the index maps each entry's (port,
/// address) to its id and nothing else; an id is never reused for another
/// key except through [`Registry::rekey`]; a host maps its address to an
/// entry with that address.
#[derive(Default)]
pub(super) struct Registry {
    entries: Vec<Entry>,
    index: HashMap<(PortId, IpAddr), NexthopId>,
    /// By VRF and address: the same subnet may be in two VRFs.
    hosts: HashMap<(u8, IpAddr), NexthopId>,
    /// Each interface's VRF, by port id (none: the default VRF).
    vrfs: Vec<u8>,
}

impl Registry {
    /// A registry for interfaces in these VRFs (by port id).
    pub(super) fn new(vrfs: Vec<u8>) -> Registry {
        Registry {
            vrfs,
            ..Default::default()
        }
    }

    /// The VRF of interface `port`.
    pub(super) fn vrf(&self, port: PortId) -> u8 {
        self.vrfs.get(port.index()).copied().unwrap_or(0)
    }

    /// The host key of entry `id`'s address.
    fn host_key(&self, id: NexthopId, addr: IpAddr) -> (u8, IpAddr) {
        (self.vrf(self.entries[id.index()].nh.port), addr)
    }

    /// The id of the entry for `addr` on `port` (removed ones too).
    pub(super) fn id(&self, port: PortId, addr: IpAddr) -> Option<NexthopId> {
        self.index.get(&(port, addr)).copied()
    }

    /// How many entries (ids 0 to len - 1).
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every id, in order.
    pub(super) fn ids(&self) -> impl Iterator<Item = NexthopId> {
        (0..self.entries.len() as u32).map(NexthopId)
    }

    /// Every entry with its id, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (NexthopId, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, e)| (NexthopId(i as u32), e))
    }

    /// A new entry for `nh`: its id.
    pub(super) fn push(&mut self, nh: Nexthop, kind: NexthopKind) -> NexthopId {
        let id = NexthopId(self.entries.len() as u32);
        debug_assert!(!self.index.contains_key(&(nh.port, nh.addr)));
        self.entries.push(Entry::fresh(nh, kind));
        self.index.insert((nh.port, nh.addr), id);
        id
    }

    /// Entry `id` becomes a fresh host entry for `addr` on `port`: its old
    /// key and host mapping go.
    pub(super) fn rekey(&mut self, id: NexthopId, port: PortId, addr: IpAddr) {
        let old = self.entries[id.index()].nh;
        if self.index.get(&(old.port, old.addr)) == Some(&id) {
            self.index.remove(&(old.port, old.addr));
        }
        self.forget_host(old.addr, id);
        self.entries[id.index()] = Entry::fresh(Nexthop { port, addr }, NexthopKind::Host);
        self.index.insert((port, addr), id);
    }

    /// The host entry for `addr` in VRF `vrf`, if any.
    pub(super) fn host(&self, vrf: u8, addr: IpAddr) -> Option<NexthopId> {
        self.hosts.get(&(vrf, addr)).copied()
    }

    /// Makes `id` the host entry for its address (in its interface's VRF);
    /// true when that changed.
    pub(super) fn set_host(&mut self, id: NexthopId) -> bool {
        let key = self.host_key(id, self.entries[id.index()].nh.addr);
        self.hosts.insert(key, id) != Some(id)
    }

    /// Makes `id` the host entry for its address unless one is set.
    pub(super) fn add_host(&mut self, id: NexthopId) {
        let key = self.host_key(id, self.entries[id.index()].nh.addr);
        self.hosts.entry(key).or_insert(id);
    }

    /// Forgets the host entry for `addr` (in `id`'s VRF) if it is `id`;
    /// true when it was.
    pub(super) fn forget_host(&mut self, addr: IpAddr, id: NexthopId) -> bool {
        let key = self.host_key(id, addr);
        if self.hosts.get(&key) == Some(&id) {
            self.hosts.remove(&key);
            return true;
        }
        false
    }

    /// The nexthops by id, as a FIB has them.
    pub(super) fn nexthops(&self) -> Arc<[Nexthop]> {
        self.entries.iter().map(|e| e.nh).collect()
    }

    /// The host table, as a FIB has it.
    pub(super) fn hosts(&self) -> HostTable {
        self.hosts.clone()
    }
}

impl std::ops::Index<NexthopId> for Registry {
    type Output = Entry;
    fn index(&self, id: NexthopId) -> &Entry {
        &self.entries[id.index()]
    }
}

impl std::ops::IndexMut<NexthopId> for Registry {
    fn index_mut(&mut self, id: NexthopId) -> &mut Entry {
        &mut self.entries[id.index()]
    }
}

impl ControlPlane {
    pub(super) fn add_nexthop(
        &mut self,
        port: PortId,
        addr: IpAddr,
        kind: NexthopKind,
    ) -> Option<NexthopId> {
        if let Some(id) = self.registry.id(port, addr) {
            let e = &mut self.registry[id];
            if e.removed {
                *e = Entry::fresh(e.nh, kind);
            }
            if kind == NexthopKind::Gateway {
                e.kind = NexthopKind::Gateway;
                self.neigh.pool_mut().forget(id);
            }
            return Some(id);
        }
        if self.registry.len() >= self.neighbors.capacity() {
            self.counters.nexthop_table_full += 1;
            return None;
        }
        Some(self.registry.push(Nexthop { port, addr }, kind))
    }

    /// A host entry for `addr` on `port`, from the pool: revived if it was
    /// flushed, else a free slot, else a new one, else the least recently
    /// used host's slot (re-keyed). Nexthops are never taken.
    pub(super) fn new_host(&mut self, port: PortId, addr: IpAddr) -> Option<NexthopId> {
        if let Some(id) = self.registry.id(port, addr) {
            let was_removed = self.registry[id].removed;
            let id = self.add_nexthop(port, addr, NexthopKind::Host)?;
            let e = &self.registry[id];
            if was_removed && e.kind == NexthopKind::Host && !self.neigh.pool().contains(id) {
                self.neigh.pool_mut().adopt(id);
            }
            return Some(id);
        }
        let slot = if self.neigh.pool().full() {
            let registry = &self.registry;
            let v = self.neigh.pool_mut().victim(|id| {
                let e = &registry[id];
                e.kind == NexthopKind::Host && !e.permanent && !e.pinned && !e.removed
            });
            if v.is_some() {
                self.counters.neighbor_evictions += 1;
            }
            v
        } else {
            self.neigh.pool_mut().free_slot()
        };
        let id = match slot {
            Some(v) => {
                self.rekey(v, port, addr);
                v
            }
            None if self.neigh.pool().full() => {
                self.counters.nexthop_table_full += 1;
                return None;
            }
            None => self.add_nexthop(port, addr, NexthopKind::Host)?,
        };
        self.neigh.pool_mut().adopt(id);
        Some(id)
    }

    /// Gives host slot `id` to `addr` on `port`: the old host is forgotten.
    pub(super) fn rekey(&mut self, id: NexthopId, port: PortId, addr: IpAddr) {
        self.drop_held(id);
        self.neighbors.clear(id);
        self.neighbors.set_down(id, DownFlag::Unreachable, false);
        self.neighbors.set_down(id, DownFlag::Admin, false);
        self.registry.rekey(id, port, addr);
    }

    /// Host `id` answered none of its solicitations: FAILED. Packets to it get
    /// ICMP Host Unreachable from the workers (drop reason `neighbor_failed`)
    /// until the hold runs out, as from a kernel.
    pub(super) fn host_failed(&mut self, id: NexthopId) {
        self.counters.neighbor_failed += 1;
        self.drop_held(id);
        self.neighbors.set_down(id, DownFlag::Unreachable, true);
        if self.registry.set_host(id) {
            self.publish();
        }
    }

    /// Removes the learned hosts (on `port`, or everywhere), like `ip neigh
    /// flush`: nexthops and permanent entries stay. Returns how many.
    pub fn flush_neighbors(&mut self, port: Option<PortId>) -> usize {
        let ids: Vec<NexthopId> = self
            .registry
            .ids()
            .filter(|&id| {
                let e = &self.registry[id];
                self.neigh.pool().contains(id)
                    && !e.removed
                    && e.kind == NexthopKind::Host
                    && port.is_none_or(|p| e.nh.port == p)
            })
            .collect();
        for &id in &ids {
            let addr = self.registry[id].nh.addr;
            self.registry[id].removed = true;
            self.drop_held(id);
            self.neighbors.clear(id);
            self.neighbors.set_down(id, DownFlag::Unreachable, false);
            self.registry.forget_host(addr, id);
            self.neigh.pool_mut().release(id);
        }
        self.counters.neighbor_flushed += ids.len() as u64;
        if !ids.is_empty() {
            self.publish();
        }
        ids.len()
    }

    /// The id `ip nexthop`-style listings give nexthop `id`: its slot, from 1.
    pub fn listed_nexthop_id(id: NexthopId) -> u32 {
        id.index() as u32 + 1
    }

    /// Every nexthop with its state.
    pub fn nexthops(&self) -> Vec<NexthopView> {
        self.registry
            .ids()
            .filter(|&id| !self.registry[id].removed)
            .map(|id| self.nexthop_view(id))
            .collect()
    }

    /// One nexthop with its state.
    fn nexthop_view(&self, id: NexthopId) -> NexthopView {
        let e = &self.registry[id];
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
        if let Some(id) = self.registry.id(pid, addr) {
            if !self.registry[id].removed {
                let (addr, port) = at();
                return Err(NexthopError::Exists { addr, port });
            }
        }
        let id = self
            .add_nexthop(pid, addr, NexthopKind::Gateway)
            .ok_or(NexthopError::TableFull)?;
        self.registry[id].pinned = true;
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
        let id = match self.registry.id(pid, addr) {
            Some(id) if !self.registry[id].removed => id,
            _ => {
                return Err(NexthopError::NotFound {
                    addr,
                    port: port.to_owned(),
                })
            }
        };
        if self.registry[id].permanent {
            return Err(NexthopError::Static {
                addr,
                port: port.to_owned(),
            });
        }
        if let Some(key) = self.groups.key_with_member(id) {
            let name = self
                .groups()
                .into_iter()
                .find(|v| v.members.iter().any(|m| m.via == addr && m.port == port))
                .map_or(key, |v| v.name);
            return Err(NexthopError::InGroup {
                addr,
                port: port.to_owned(),
                group: name,
            });
        }
        let e = &mut self.registry[id];
        e.removed = true;
        e.pinned = false;
        self.neighbors.clear(id);
        self.registry.forget_host(addr, id);
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
        self.registry.id(port, addr)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;
    use super::Registry;

    fn nh(port: u16, addr: &str) -> Nexthop {
        Nexthop {
            port: PortId(port),
            addr: addr.parse().unwrap(),
        }
    }

    /// The registry's index and host map follow its entries through push,
    /// rekey and the host methods.
    #[test]
    fn the_registry_keeps_its_index_and_hosts_in_step() {
        let mut r = Registry::default();
        let a = r.push(nh(1, "10.1.0.7"), NexthopKind::Host);
        let b = r.push(nh(2, "10.2.0.7"), NexthopKind::Gateway);
        assert_eq!((a, b), (NexthopId(0), NexthopId(1)));
        assert_eq!(r.id(PortId(1), "10.1.0.7".parse().unwrap()), Some(a));
        assert_eq!(
            r.id(PortId(2), "10.1.0.7".parse().unwrap()),
            None,
            "by port and address"
        );
        assert!(r.set_host(a));
        assert!(!r.set_host(a), "already the host entry");
        assert_eq!(r.host(0, "10.1.0.7".parse().unwrap()), Some(a));
        // Re-keyed, the slot forgets its old address and host mapping.
        r.rekey(a, PortId(1), "10.1.0.8".parse().unwrap());
        assert_eq!(r.id(PortId(1), "10.1.0.7".parse().unwrap()), None);
        assert_eq!(r.host(0, "10.1.0.7".parse().unwrap()), None);
        assert_eq!(r.id(PortId(1), "10.1.0.8".parse().unwrap()), Some(a));
        assert_eq!(r[a].kind, NexthopKind::Host);
        // forget_host only forgets the entry it names.
        r.add_host(a);
        assert!(!r.forget_host("10.1.0.8".parse().unwrap(), b));
        assert!(r.forget_host("10.1.0.8".parse().unwrap(), a));
        assert_eq!(r.nexthops().len(), 2);
        assert_eq!(r.ids().collect::<Vec<_>>(), vec![a, b]);
        assert!(r
            .iter()
            .all(|(id, e)| r.id(e.nh.port, e.nh.addr) == Some(id)));
    }

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
        assert!(cp.registry.len() <= 64, "{} entries", cp.registry.len());
        assert!(cp.neigh.pool().len() <= 32);
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
        assert_eq!(cp.neigh.pool().len(), 0);
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
