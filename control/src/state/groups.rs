//! Nexthop groups: shared and named groups, their reference counts, and resilient rebalancing.

use super::*;

/// The groups: slots the FIB's group ids index, shared by key, with their
/// reference counts; the API's named groups and the definitions' pins.
#[derive(Default)]
pub(super) struct Groups {
    pub(super) slots: Vec<Option<GroupState>>,
    pub(super) index: HashMap<GroupKey, usize>,
    pub(super) free: Vec<usize>,
    /// A group changed since the last publication.
    pub(super) dirty: bool,
    /// Named groups defined through the API (they win over the config's).
    pub(super) api: BTreeMap<String, GroupConfig>,
    /// Named groups holding their definition's pin (one user each).
    pub(super) pinned: std::collections::HashSet<String>,
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
                let keys = member_keys(&self.registry.entries, over);
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
            t.update_keyed(
                &members,
                &member_keys(&self.registry.entries, &members),
                now_ms,
            );
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
                        let nh = self.registry.entries[id.index()].nh;
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
            let keys = member_keys(&self.registry.entries, &live);
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
