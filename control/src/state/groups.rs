//! Nexthop groups: shared and named groups, their reference counts, and resilient rebalancing.

use super::*;

/// The groups: slots the FIB's group ids index, shared by key, with their
/// reference counts; the API's named groups and the definitions' pins.
#[derive(Default)]
pub(super) struct Groups {
    slots: Vec<Option<GroupState>>,
    index: HashMap<GroupKey, usize>,
    free: Vec<usize>,
    /// A group changed since the last publication.
    dirty: bool,
    /// Named groups defined through the API (they win over the config's).
    api: BTreeMap<String, GroupConfig>,
    /// Named groups holding their definition's pin (one user each).
    pinned: std::collections::HashSet<String>,
}

impl Groups {
    /// Bytes of the slots and the key index (the built groups are small and
    /// shared with the FIB).
    pub(super) fn memory(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<GroupState>>()
            + self.index.capacity() * (std::mem::size_of::<(GroupKey, usize)>() + 1)
    }

    /// True when a group changed since the last publication.
    pub(super) fn dirty(&self) -> bool {
        self.dirty
    }

    /// Marks the groups as changed (the next commit publishes).
    pub(super) fn touch(&mut self) {
        self.dirty = true;
    }

    /// The groups as a FIB has them, by group id; and clears `dirty`.
    pub(super) fn publish(&mut self) -> Arc<[Option<Arc<Group>>]> {
        self.dirty = false;
        self.slots
            .iter()
            .map(|g| g.as_ref().map(|g| g.built.clone()))
            .collect()
    }

    /// True when a group has this key.
    pub(super) fn has(&self, key: &GroupKey) -> bool {
        self.index.contains_key(key)
    }

    /// The first group with `id` among its members.
    fn with_member(&self, id: NexthopId) -> Option<&GroupState> {
        self.slots
            .iter()
            .flatten()
            .find(|g| g.members.iter().any(|m| m.0 == id))
    }

    /// The key of the first group with `id` among its members, as text.
    pub(super) fn key_with_member(&self, id: NexthopId) -> Option<String> {
        self.with_member(id).map(|g| format!("{:?}", g.key))
    }
}

impl ControlPlane {
    /// Members of `gc` as nexthop ids, in canonical order (address, then port):
    /// the same members give the same group on every router.
    pub(super) fn members_of(&mut self, gc: &GroupConfig) -> Vec<(NexthopId, u32)> {
        let mut members: Vec<_> = gc
            .nexthops
            .iter()
            .filter_map(|n| {
                self.add_nexthop(n.port, n.via, NexthopKind::Gateway)
                    .map(|id| (n.via, n.port, id, n.weight))
            })
            .collect();
        members.sort_by_key(|m| (m.0, m.1));
        members.iter().map(|m| (m.2, m.3)).collect()
    }

    /// A user more for the group `key`, created or updated to `gc`. None when
    /// no member could be added (the nexthop table is full).
    pub(super) fn acquire_group(&mut self, key: GroupKey, gc: &GroupConfig) -> Option<usize> {
        if let Some(&slot) = self.groups.index.get(&key) {
            let changed = self.groups.slots[slot]
                .as_ref()
                .is_some_and(|g| g.cfg != *gc);
            if changed {
                let members = self.members_of(gc);
                if members.is_empty() {
                    return None;
                }
                let now_ms = self.now_ms();
                let g = self.groups.slots[slot]
                    .as_mut()
                    .expect("indexed groups exist");
                let live = table_members(&members, &mut g.seen_live, &self.neighbors);
                let over = if live.is_empty() { &members } else { &live };
                let keys = member_keys(&self.registry, over);
                if g.cfg.algorithm != gc.algorithm || g.cfg.buckets != gc.buckets {
                    g.table = None;
                }
                if gc.algorithm == Algorithm::Resilient {
                    let t = g.table.get_or_insert_with(|| {
                        ResilientTable::new(gc.buckets, gc.idle_timer_ms, gc.unbalanced_timer_ms)
                            .expect("config validated the bucket count")
                    });
                    t.update_keyed(over, &keys, now_ms);
                }
                g.built = Arc::new(build_group(gc, &members, g.table.as_ref()));
                g.cfg = gc.clone();
                g.members = members;
                self.groups.dirty = true;
            }
            let g = self.groups.slots[slot]
                .as_mut()
                .expect("indexed groups exist");
            g.users += 1;
            return Some(slot);
        }
        let members = self.members_of(gc);
        if members.is_empty() {
            return None;
        }
        let now_ms = self.now_ms();
        let table = (gc.algorithm == Algorithm::Resilient).then(|| {
            let mut t = ResilientTable::new(gc.buckets, gc.idle_timer_ms, gc.unbalanced_timer_ms)
                .expect("config validated the bucket count");
            t.update_keyed(&members, &member_keys(&self.registry, &members), now_ms);
            t
        });
        let built = Arc::new(build_group(gc, &members, table.as_ref()));
        let state = GroupState {
            key: key.clone(),
            cfg: gc.clone(),
            members,
            table,
            built,
            users: 1,
            seen_live: Default::default(),
        };
        let slot = match self.groups.free.pop() {
            Some(s) => {
                self.groups.slots[s] = Some(state);
                s
            }
            None => {
                self.groups.slots.push(Some(state));
                self.groups.slots.len() - 1
            }
        };
        self.groups.index.insert(key, slot);
        self.groups.dirty = true;
        Some(slot)
    }

    pub(super) fn release_group(&mut self, slot: usize) {
        let Some(g) = self.groups.slots.get_mut(slot).and_then(|g| g.as_mut()) else {
            return;
        };
        g.users -= 1;
        if g.users == 0 {
            let key = g.key.clone();
            self.groups.index.remove(&key);
            self.groups.slots[slot] = None;
            self.groups.free.push(slot);
            self.groups.dirty = true;
        }
    }

    /// The key of a route's own group.
    pub(super) fn inline_key(spec: &RouteSpec, origin: Origin, gc: &GroupConfig) -> GroupKey {
        if gc.algorithm == Algorithm::Resilient {
            GroupKey::Inline(spec.table, spec.prefix, origin)
        } else {
            let mut k = gc.clone();
            k.nexthops.sort_by_key(|n| (n.via, n.port));
            GroupKey::Shared(k)
        }
    }

    /// The id of group slot `index`: after every nexthop id, so the two
    /// never meet (in Linux, nexthops and groups share one id space).
    pub fn group_id(&self, index: usize) -> u32 {
        (self.neighbors.capacity() + 1 + index) as u32
    }

    pub fn groups(&self) -> Vec<GroupView> {
        self.groups
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
            .map(|(index, g)| {
                let port = |p: PortId| self.config.ports[p.index()].name.clone();
                let (name, kind, origin) = match &g.key {
                    GroupKey::Named(n) => (
                        n.clone(),
                        "named",
                        Some(if self.groups.api.contains_key(n) {
                            Origin::Api
                        } else {
                            Origin::Config
                        }),
                    ),
                    GroupKey::Inline(t, p, o) => {
                        (format!("{p} table {t} {}", o.name()), "route", Some(*o))
                    }
                    GroupKey::Object(id) => (format!("fpm nhid {id}"), "object", Some(Origin::Fpm)),
                    GroupKey::Shared(gc) => (
                        gc.nexthops
                            .iter()
                            .map(|n| format!("{}@{}*{}", n.via, port(n.port), n.weight))
                            .collect::<Vec<_>>()
                            .join(","),
                        "shared",
                        None,
                    ),
                };
                let members: Vec<GroupMember> = g
                    .members
                    .iter()
                    .map(|&(id, weight)| {
                        let nh = self.registry[id].nh;
                        GroupMember {
                            id: Self::listed_nexthop_id(id),
                            via: nh.addr,
                            port: port(nh.port),
                            weight,
                            live: self.neighbors.live(id).is_some(),
                        }
                    })
                    .collect();
                let pinned = matches!(&g.key, GroupKey::Named(n) if self.groups.pinned.contains(n));
                GroupView {
                    id: self.group_id(index),
                    live: members.iter().filter(|m| m.live).count(),
                    name,
                    kind,
                    origin,
                    algorithm: g.cfg.algorithm.name(),
                    members,
                    routes: g.users - usize::from(pinned),
                }
            })
            .collect()
    }

    /// A named group's definition: the API's, else the config's.
    pub(super) fn named_group(&self, n: &str) -> Option<GroupConfig> {
        self.groups.api.get(n).cloned().or_else(|| {
            self.config
                .groups
                .iter()
                .find(|g| g.name.as_deref() == Some(n))
                .cloned()
        })
    }

    /// Every named group's definition (the API's win), by name.
    pub(super) fn named_definitions(&self) -> BTreeMap<String, GroupConfig> {
        let mut d: BTreeMap<String, GroupConfig> = self
            .config
            .groups
            .iter()
            .filter_map(|g| g.name.clone().map(|n| (n, g.clone())))
            .collect();
        d.extend(self.groups.api.clone());
        d
    }

    /// Pins every defined named group (so it exists with no routes), updates
    /// changed definitions in place, and unpins groups no longer defined.
    pub(super) fn refresh_named(&mut self) {
        let defined = self.named_definitions();
        for (n, gc) in &defined {
            match self.acquire_group(GroupKey::Named(n.clone()), gc) {
                Some(s) if self.groups.pinned.contains(n) => self.release_group(s),
                Some(_) => {
                    self.groups.pinned.insert(n.clone());
                }
                None => {}
            }
        }
        let gone: Vec<String> = self
            .groups
            .pinned
            .iter()
            .filter(|n| !defined.contains_key(*n))
            .cloned()
            .collect();
        for n in gone {
            if let Some(&slot) = self.groups.index.get(&GroupKey::Named(n.clone())) {
                self.release_group(slot);
            }
            self.groups.pinned.remove(&n);
        }
    }

    /// Routes of any table and origin that name group `n`.
    pub(super) fn routes_using(&self, n: &str) -> Vec<(u32, Prefix)> {
        self.rib
            .iter()
            .filter(|(_, by)| {
                by.values()
                    .any(|s| matches!(&s.group, RouteGroup::Named(x) if x == n))
            })
            .map(|(k, _)| *k)
            .collect()
    }

    /// Named groups defined through the API (for validating API routes).
    pub fn api_groups(&self) -> Vec<GroupConfig> {
        self.groups.api.values().cloned().collect()
    }

    /// Adds (or with `replace`, replaces) a named group through the API. A
    /// replacement changes the group in place: every route using it follows
    /// at once. Returns true when the group is new.
    ///
    /// # Errors
    /// Why nothing changed: [`GroupError::Unnamed`], [`GroupError::Exists`],
    /// [`GroupError::FamilyInUse`].
    pub fn set_named_group(&mut self, gc: GroupConfig, replace: bool) -> Result<bool, GroupError> {
        let n = gc.name.clone().ok_or(GroupError::Unnamed)?;
        let old = self.named_group(&n);
        if old.is_some() && !replace {
            return Err(GroupError::Exists(n));
        }
        if let Some(o) = &old {
            let users = self.routes_using(&n);
            if o.nexthops[0].via.is_ipv4() != gc.nexthops[0].via.is_ipv4() && !users.is_empty() {
                return Err(GroupError::FamilyInUse {
                    name: n,
                    routes: users.len(),
                });
            }
        }
        self.groups.api.insert(n.clone(), gc);
        self.refresh_named();
        for (t, p) in self.routes_using(&n) {
            self.sync_at(t, p);
        }
        self.commit();
        Ok(old.is_none())
    }

    /// Deletes a named group defined through the API. A group the config also
    /// defines goes back to the config's definition.
    ///
    /// # Errors
    /// Why nothing changed: [`GroupError::NotFound`], [`GroupError::InConfig`]
    /// (only the config defines it), [`GroupError::InUse`].
    pub fn delete_named_group(&mut self, n: &str) -> Result<(), GroupError> {
        let in_config = self
            .config
            .groups
            .iter()
            .any(|g| g.name.as_deref() == Some(n));
        if !self.groups.api.contains_key(n) {
            return Err(if in_config {
                GroupError::InConfig(n.to_owned())
            } else {
                GroupError::NotFound(n.to_owned())
            });
        }
        let users = self.routes_using(n);
        if !in_config && !users.is_empty() {
            return Err(GroupError::InUse {
                name: n.to_owned(),
                routes: users.len(),
                first: users[0],
            });
        }
        self.groups.api.remove(n);
        self.refresh_named();
        for (t, p) in users {
            self.sync_at(t, p);
        }
        self.commit();
        Ok(())
    }

    /// Resilient upkeep: bring each bucket table towards its live members' shares.
    pub(super) fn rebalance(&mut self, now: Instant) {
        let now_ms = now.duration_since(self.start).as_millis() as u64;
        let mut changed = false;
        for g in self.groups.slots.iter_mut().flatten() {
            let Some(t) = g.table.as_mut() else { continue };
            let live = table_members(&g.members, &mut g.seen_live, &self.neighbors);
            let keys = member_keys(&self.registry, &live);
            if t.update_keyed(&live, &keys, now_ms) {
                g.built = Arc::new(build_group(&g.cfg, &g.members, Some(t)));
                changed = true;
                self.counters.resilient_rebalances += 1;
            }
        }
        if changed {
            self.publish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

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
        let Some(Target::Group(g)) = fib
            .routes
            .lookup("198.51.100.9".parse().unwrap())
            .map(|r| r.target)
        else {
            panic!()
        };
        let g = fib.group(g).unwrap();
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
    fn a_resilient_table_does_not_depend_on_the_order_its_members_resolve_in() {
        let cfg = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24] }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 64
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a, weight: 2 }, { via: 10.0.0.4, port: a }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web }
";
        let resolve_in = |order: [u8; 3]| {
            let ch = Channels::default();
            let mut cp = ControlPlane::new(
                config::parse(cfg, "t").unwrap(),
                &[MACS[0]],
                vec![],
                ch.clone(),
                16,
            );
            let initial = bucket_addrs(&cp);
            let t0 = Instant::now();
            let mut t = t0;
            for last in order {
                let mac = MacAddr([2, 0, 0, 0, 0, last]);
                arp_reply(&ch, 0, mac, Ipv4Addr::new(10, 0, 0, last), "10.0.0.1");
                for _ in 0..4 {
                    t += Duration::from_millis(20);
                    cp.poll(t);
                    drain(&ch);
                }
            }
            assert!(cp.gateways_resolved());
            (initial, bucket_addrs(&cp))
        };
        let (init1, one) = resolve_in([2, 3, 4]);
        let (init2, two) = resolve_in([4, 3, 2]);
        assert_eq!(init1, init2, "the first table is the config's");
        assert_eq!(one, init1, "resolving A, B, C kept the table");
        assert_eq!(two, init1, "resolving C, B, A kept the table");
    }

    #[test]
    fn resilient_group_moves_only_the_dead_members_buckets() {
        // The default idle timer (120 s): busy buckets stay with their owner.
        let cfg = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24] }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 64
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a }, { via: 10.0.0.4, port: a }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web, hash: { policy: l3 } }
neighbors:
  - { address: 10.0.0.2, mac: \"02:00:00:00:00:02\", port: a }
  - { address: 10.0.0.3, mac: \"02:00:00:00:00:03\", port: a }
  - { address: 10.0.0.4, mac: \"02:00:00:00:00:04\", port: a }
";
        let c = config::parse(cfg, "t").unwrap();
        let mut cp = ControlPlane::new(c, &[MACS[0]], vec![], Channels::default(), 16);
        let before: Vec<NexthopId> = cp.fib().group(GroupId(0)).unwrap().buckets().to_vec();
        assert_eq!(before.len(), 64);
        // Traffic on every bucket, as the workers mark it.
        let busy = |cp: &ControlPlane| {
            let fib = cp.fib();
            let g = fib.group(GroupId(0)).unwrap();
            for h in 0..1024u32 {
                g.select_live(h << 22, &fib.neighbors);
            }
        };
        busy(&cp);
        let dead = cp
            .nexthop_id(PortId(0), "10.0.0.3".parse().unwrap())
            .unwrap();
        cp.set_enabled("a", "10.0.0.3".parse().unwrap(), false)
            .unwrap();
        let t0 = Instant::now();
        cp.poll(t0 + Duration::from_secs(1));
        let after = cp.fib().group(GroupId(0)).unwrap().buckets().to_vec();
        for (b, a) in before.iter().zip(&after) {
            if *b == dead {
                assert_ne!(a, b);
            } else {
                assert_eq!(a, b, "a live member's busy bucket moved");
            }
        }
        assert_eq!(cp.counters.resilient_rebalances, 1);
        // Idle past the timer: the table settles on the survivors' exact shares.
        cp.poll(t0 + Duration::from_secs(200));
        let settled = cp.fib().group(GroupId(0)).unwrap().buckets().to_vec();
        let count = |id: NexthopId| settled.iter().filter(|&&b| b == id).count();
        assert_eq!(count(dead), 0);
        for a in ["10.0.0.2", "10.0.0.4"] {
            let id = cp.nexthop_id(PortId(0), a.parse().unwrap()).unwrap();
            assert_eq!(count(id), 32, "{a}");
        }
        assert_eq!(
            cp.fib()
                .routes
                .lookup("198.51.100.1".parse().unwrap())
                .unwrap()
                .hash
                .policy,
            dataplane::hash::HashPolicy::L3
        );
    }

    #[test]
    fn a_tier_of_routers_sends_every_flow_to_the_same_server() {
        // Two routers with the same routes, group, seed and buckets; their own
        // port addresses differ, and the second made other nexthops first
        // (its nexthop ids differ) and resolved its servers in another order.
        let cfg = |addr: &str, extra: bool| {
            let hosts = if extra {
                "neighbors:\n  - { address: 10.5.0.100, mac: \"02:00:00:00:05:64\", port: servers }\n  - { address: 10.5.0.101, mac: \"02:00:00:00:05:65\", port: servers }\n"
            } else {
                ""
            };
            format!(
                "ports:
  - {{ name: servers, device: x, addresses: [{addr}/24] }}
hash: {{ policy: l4, seed: 77 }}
nexthop-groups:
  - name: vip
    group: resilient
    buckets: 256
    idle-timer: 1
    nexthops: [{{ via: 10.5.0.11, port: servers }}, {{ via: 10.5.0.12, port: servers }}, {{ via: 10.5.0.13, port: servers }}, {{ via: 10.5.0.14, port: servers }}]
routes:
  - {{ prefix: 198.51.100.0/24, nexthop-group: vip }}
{hosts}"
            )
        };
        let router = |addr: &str, order: [u8; 4], extra: bool| {
            let ch = Channels::default();
            let mut cp = ControlPlane::new(
                config::parse(&cfg(addr, extra), "t").unwrap(),
                &[MACS[0]],
                vec![],
                ch.clone(),
                64,
            );
            let mut t = Instant::now();
            let answer = |cp: &mut ControlPlane, t: &mut Instant, which: &[u8]| {
                for &k in which {
                    arp_reply(
                        &ch,
                        0,
                        MacAddr([2, 0, 0, 0, 5, k]),
                        Ipv4Addr::new(10, 5, 0, k),
                        addr,
                    );
                }
                *t += Duration::from_millis(400);
                cp.poll(*t);
                drain(&ch);
            };
            for k in order {
                answer(&mut cp, &mut t, &[k]);
            }
            for _ in 0..8 {
                answer(&mut cp, &mut t, &order);
            }
            cp
        };
        let one = router("10.5.0.1", [11, 12, 13, 14], false);
        let two = router("10.5.0.2", [14, 12, 11, 13], true);
        let server = |cp: &ControlPlane, i: u16| {
            let g = cp.route_get(
                "198.51.100.10".parse().unwrap(),
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 200) as u8 + 1)),
                6,
                10_000 + i,
                443,
            );
            g.nexthop.map(|n| n.0)
        };
        let mut seen = std::collections::HashSet::new();
        for i in 0..400u16 {
            let (a, b) = (server(&one, i), server(&two, i));
            assert!(a.is_some(), "flow {i} has a server");
            assert_eq!(a, b, "flow {i} reaches different servers");
            seen.insert(a);
        }
        assert_eq!(seen.len(), 4, "the flows spread over every server");
    }

    #[test]
    fn two_routers_with_the_same_config_settle_on_the_same_resilient_table() {
        // One router sees a member flap and its gateways resolve in one order;
        // the other sees no flap and another order. Once idle, same table.
        let cfg = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24] }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 128
    idle-timer: 1
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a, weight: 2 }, { via: 10.0.0.4, port: a }, { via: 10.0.0.5, port: a }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web }
";
        let run = |order: [u8; 4], flap: Option<&str>| {
            let ch = Channels::default();
            let mut cp = ControlPlane::new(
                config::parse(cfg, "t").unwrap(),
                &[MACS[0]],
                vec![],
                ch.clone(),
                16,
            );
            let mut t = Instant::now();
            for last in order {
                arp_reply(
                    &ch,
                    0,
                    MacAddr([2, 0, 0, 0, 0, last]),
                    Ipv4Addr::new(10, 0, 0, last),
                    "10.0.0.1",
                );
                for _ in 0..3 {
                    t += Duration::from_millis(20);
                    cp.poll(t);
                    drain(&ch);
                }
            }
            // Every gateway answers its probes; time passes in steps of 0.5 s.
            let answer = |cp: &mut ControlPlane, t: &mut Instant| {
                for k in 2..=5u8 {
                    arp_reply(
                        &ch,
                        0,
                        MacAddr([2, 0, 0, 0, 0, k]),
                        Ipv4Addr::new(10, 0, 0, k),
                        "10.0.0.1",
                    );
                }
                *t += Duration::from_millis(500);
                cp.poll(*t);
                drain(&ch);
            };
            if let Some(a) = flap {
                cp.set_enabled("a", a.parse().unwrap(), false).unwrap();
                for _ in 0..4 {
                    answer(&mut cp, &mut t);
                }
                cp.set_enabled("a", a.parse().unwrap(), true).unwrap();
            }
            for _ in 0..6 {
                answer(&mut cp, &mut t);
            }
            assert!(
                cp.nexthops().iter().all(|n| n.live),
                "every gateway is live"
            );
            bucket_addrs(&cp)
        };
        let one = run([2, 3, 4, 5], Some("10.0.0.3"));
        let two = run([5, 3, 2, 4], None);
        assert_eq!(one, two);
    }

    #[test]
    fn api_named_groups_add_replace_delete() {
        let mut cp = plane_resolved();
        let c = cp.config().clone();
        let g1 = config::parse_named_group(
            r#"{"name": "web", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#,
            &c,
        )
        .unwrap();
        assert!(cp.set_named_group(g1.clone(), false).unwrap());
        assert!(cp
            .set_named_group(g1, false)
            .unwrap_err()
            .to_string()
            .contains("exists"));
        // A route naming it validates only with the API's groups.
        let body = r#"{"prefix": "203.0.113.0/24", "nexthop-group": "web"}"#;
        assert!(config::parse_route(body, &c).is_err());
        let spec = config::parse_route_with(body, &c, &cp.api_groups()).unwrap();
        cp.add_route(spec, Origin::Api, false).unwrap();
        let via = |cp: &ControlPlane| {
            cp.route_get(
                "203.0.113.5".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
                6,
                1,
                2,
            )
            .nexthop
            .map(|n| n.1)
        };
        assert_eq!(via(&cp).as_deref(), Some("srv1"));
        let web = |cp: &ControlPlane| cp.groups().into_iter().find(|g| g.name == "web").unwrap();
        assert_eq!((web(&cp).routes, web(&cp).origin), (1, Some(Origin::Api)));
        // Replacing the group moves its routes at once.
        let g2 = config::parse_named_group(
            r#"{"name": "web", "nexthops": [{"via": "10.2.0.2", "port": "srv2"}]}"#,
            &c,
        )
        .unwrap();
        assert!(!cp.set_named_group(g2, true).unwrap());
        assert_eq!(via(&cp).as_deref(), Some("srv2"));
        // In use: refused, and nothing changes.
        assert!(cp
            .delete_named_group("web")
            .unwrap_err()
            .to_string()
            .contains("used by 1 route"));
        assert_eq!(via(&cp).as_deref(), Some("srv2"));
        cp.delete_route(MAIN_TABLE, "203.0.113.0/24".parse().unwrap(), Origin::Api)
            .unwrap();
        cp.delete_named_group("web").unwrap();
        assert!(cp.groups().iter().all(|g| g.name != "web"));
        assert!(cp
            .delete_named_group("web")
            .unwrap_err()
            .to_string()
            .contains("no nexthop group"));
        // A family mismatch and bad fields are named.
        let e = config::parse_named_group(r#"{"name": "x", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}, {"via": "fd02::2", "port": "srv2"}]}"#, &c).unwrap_err();
        assert_eq!(e.key, "nexthops[1].via");
        let e = config::parse_named_group(
            r#"{"name": "a b", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#,
            &c,
        )
        .unwrap_err();
        assert_eq!(e.key, "name");
    }
}
