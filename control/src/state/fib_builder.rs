//! RIB to FIB: the main table synced from the RIB, the two-table build and its publication to the workers, and the policy tables.

use super::*;

/// What the FIB is built from and how it is published: the two route
/// tables, the main table as the control plane wants it, the other tables,
/// the system routes, the policy, and the publisher.
pub(super) struct FibBuilder {
    /// The route table the current generation uses.
    pub(super) routes: Arc<RouteTable>,
    /// The other copy: behind `routes` by `lag`, and changed only once no
    /// reader holds it (see `commit`).
    pub(super) spare: Option<Arc<RouteTable>>,
    pub(super) lag: Vec<RouteOp>,
    /// Changes not yet published.
    pub(super) pending: Vec<RouteOp>,
    /// The main table as the control plane wants it (what `routes` holds after `commit`).
    pub(super) installed: HashMap<Prefix, Route>,
    /// Routes installed in tables other than main (rules look up in them).
    pub(super) installed_other: HashMap<(u32, Prefix), Route>,
    /// `installed_other` changed since the policy's tables were built.
    pub(super) tables_dirty: bool,
    /// Connected subnets and the router's own addresses.
    pub(super) system: HashMap<Prefix, Target>,
    /// The policy rules workers see, and the group slots they hold.
    pub(super) policy: Arc<dataplane::policy::Policy>,
    pub(super) policy_groups: Vec<usize>,
    pub(super) publisher: Publisher<Fib>,
    pub(super) generation: u64,
}

impl ControlPlane {
    /// Brings the FIB entry of main-table prefix `p` in line with the RIB and
    /// queues the change for the next `commit`.
    pub(super) fn sync(&mut self, p: Prefix) {
        let new = if let Some(&target) = self.build.system.get(&p) {
            Some(Route {
                target,
                hash: HashConfig::default(),
                sticky: false,
            })
        } else {
            self.rib_route(MAIN_TABLE, p)
        };
        let old = match new {
            Some(r) => self.build.installed.insert(p, r),
            None => self.build.installed.remove(&p),
        };
        self.release_route(old);
        if old != new {
            self.build.pending.push(match new {
                Some(r) => RouteOp::Set(p, r),
                None => RouteOp::Remove(p),
            });
        }
    }

    /// The route the RIB's best entry for `(table, p)` installs, with its
    /// group acquired (the caller releases the route it replaces).
    pub(super) fn rib_route(&mut self, table: u32, p: Prefix) -> Option<Route> {
        let (origin, spec) = self
            .rib
            .get(&(table, p))
            .and_then(|by| by.iter().next_back())
            .map(|(o, s)| (*o, s.clone()))?;
        let slot = match &spec.group {
            RouteGroup::Named(n) => {
                let gc = self.named_group(n)?;
                self.acquire_group(GroupKey::Named(n.clone()), &gc)
            }
            RouteGroup::Inline(gc) => self.acquire_group(Self::inline_key(&spec, origin, gc), gc),
            RouteGroup::Reject(x) => {
                return Some(Route {
                    target: x.target(),
                    hash: spec.hash,
                    sticky: false,
                })
            }
            RouteGroup::Connected(port) => {
                return Some(Route {
                    target: Target::Connected(*port),
                    hash: spec.hash,
                    sticky: false,
                })
            }
            RouteGroup::Object(id) => match self.fpm.objects.get(id) {
                Some(FpmObject::Group(gc)) => {
                    let gc = gc.clone();
                    self.acquire_group(GroupKey::Object(*id), &gc)
                }
                Some(FpmObject::Reject(x)) => {
                    return Some(Route {
                        target: x.target(),
                        hash: spec.hash,
                        sticky: false,
                    })
                }
                Some(FpmObject::Unusable(_)) | None => None,
            },
        };
        slot.map(|g| Route {
            target: Target::Group(GroupId(g as u32)),
            hash: spec.hash,
            sticky: spec.sticky,
        })
    }

    /// Releases the group of a route that was replaced or removed.
    pub(super) fn release_route(&mut self, old: Option<Route>) {
        if let Some(Route {
            target: Target::Group(g),
            ..
        }) = old
        {
            self.release_group(g.index());
        }
    }

    /// Syncs a prefix of any table: main goes to the route tables, the
    /// others to the policy's tables (rebuilt at the next commit).
    pub(super) fn sync_at(&mut self, table: u32, p: Prefix) {
        if table == MAIN_TABLE {
            self.sync(p);
            return;
        }
        let new = self.rib_route(table, p);
        let old = match new {
            Some(r) => self.build.installed_other.insert((table, p), r),
            None => self.build.installed_other.remove(&(table, p)),
        };
        self.release_route(old);
        if old != new {
            self.build.tables_dirty = true;
        }
    }

    /// Syncs every main-table prefix: after a reload.
    pub(super) fn sync_all(&mut self) {
        let mut all: Vec<Prefix> = self
            .rib
            .keys()
            .filter(|(t, _)| *t == MAIN_TABLE)
            .map(|(_, p)| *p)
            .chain(self.build.installed.keys().copied())
            .chain(self.build.system.keys().copied())
            .collect();
        all.sort_unstable();
        all.dedup();
        for p in all {
            self.sync(p);
        }
        let mut other: Vec<(u32, Prefix)> = self
            .rib
            .keys()
            .filter(|(t, _)| *t != MAIN_TABLE)
            .copied()
            .chain(self.build.installed_other.keys().copied())
            .collect();
        other.sort_unstable();
        other.dedup();
        for (t, p) in other {
            self.sync_at(t, p);
        }
    }

    /// Publishes queued changes as one new generation.
    ///
    /// Two route tables take turns: the workers read one while the control
    /// plane changes the other, which no worker can see any more. Changing it
    /// in place costs as much as the changes, not as the table; the copy then
    /// becomes current, and the previous one catches up with the same changes
    /// at the next commit.
    pub(super) fn commit(&mut self) {
        if self.build.tables_dirty {
            self.build.tables_dirty = false;
            self.refresh_tables();
        }
        if self.build.pending.is_empty() {
            if self.groups.dirty {
                self.publish();
            }
            return;
        }
        let started = Instant::now();
        let ops = std::mem::take(&mut self.build.pending);
        let mut next = self.take_spare();
        for op in self.build.lag.drain(..).chain(ops.iter().copied()) {
            next.apply(op);
        }
        self.counters.fib_route_ops += ops.len() as u64;
        self.build.lag = ops;
        let old = std::mem::replace(&mut self.build.routes, Arc::new(next));
        self.build.spare = Some(old);
        self.publish();
        self.counters.last_build_us = started.elapsed().as_micros() as u64;
    }

    /// The spare table, once no reader holds it: every worker passes a
    /// quiescent state each poll-loop iteration, so this is a short wait.
    /// A reader that holds it longer (an API request mid-answer) costs a copy.
    pub(super) fn take_spare(&mut self) -> RouteTable {
        let deadline = Instant::now() + Duration::from_millis(200);
        let mut spare = self
            .build
            .spare
            .take()
            .expect("a spare table outside commit");
        loop {
            match Arc::try_unwrap(spare) {
                Ok(t) => return t,
                Err(a) => spare = a,
            }
            self.build.publisher.reclaim();
            if Instant::now() >= deadline {
                self.counters.fib_copies += 1;
                self.build.lag.clear();
                return (*self.build.routes).clone();
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    pub(super) fn publish(&mut self) {
        self.build.generation += 1;
        let fib = Fib {
            generation: self.build.generation,
            routes: self.build.routes.clone(),
            groups: self
                .groups
                .slots
                .iter()
                .map(|g| g.as_ref().map(|g| g.built.clone()))
                .collect(),
            nexthops: self.registry.entries.iter().map(|e| e.nh).collect(),
            hosts: Arc::new(self.registry.hosts.clone()),
            ports: self.ports.clone(),
            neighbors: self.neighbors.clone(),
            policy: self.build.policy.clone(),
            snat: self.snat.clone(),
        };
        self.build.publisher.publish(fib);
        self.groups.dirty = false;
        self.counters.fib_publishes += 1;
    }

    /// The handle workers load FIB generations from.
    pub fn fib_handle(&self) -> Arc<arc_swap::ArcSwap<Fib>> {
        self.build.publisher.handle()
    }

    /// The current FIB generation.
    pub fn fib(&self) -> Arc<Fib> {
        self.build.publisher.current()
    }

    /// Builds the workers' policy rules from the config: a rule's uplink is a
    /// shared group of its gateway, a named group its slot. Rules whose group
    /// cannot be built (the nexthop table is full) are left out and logged.
    pub(super) fn set_policy(&mut self) {
        let old = std::mem::take(&mut self.build.policy_groups);
        let mut rules = Vec::new();
        for r in self.config.rules.clone() {
            let slot = match &r.action {
                crate::config::RuleAction::Table(_) => Some(usize::MAX),
                crate::config::RuleAction::Group(n) => match self.named_group(n) {
                    Some(gc) => self.acquire_group(GroupKey::Named(n.clone()), &gc),
                    None => None,
                },
                crate::config::RuleAction::Uplink(n) => {
                    let Some(u) = self.config.uplinks.iter().find(|u| u.name == *n) else {
                        continue;
                    };
                    let gc = GroupConfig {
                        name: None,
                        algorithm: Algorithm::HashThreshold,
                        buckets: dataplane::nhg::DEFAULT_BUCKETS,
                        idle_timer_ms: crate::config::DEFAULT_IDLE_TIMER_S * 1000,
                        unbalanced_timer_ms: 0,
                        nexthops: vec![crate::config::NexthopConfig {
                            via: u.gateway,
                            port: u.port,
                            weight: 1,
                        }],
                    };
                    let key = GroupKey::Shared(gc.clone());
                    self.acquire_group(key, &gc)
                }
            };
            let Some(slot) = slot else {
                crate::log_limited!(warn, crate::loglimit::Kind::PolicyRule, crate::loglimit::source(format!("{:?}", r.action)); ?r.action, "policy rule left out: its group could not be built");
                continue;
            };
            let action = match r.action {
                crate::config::RuleAction::Table(t) => dataplane::policy::Action::Table(t),
                _ => {
                    self.build.policy_groups.push(slot);
                    dataplane::policy::Action::Group(GroupId(slot as u32))
                }
            };
            let kp = |p: Prefix| dataplane::policy::KeyPrefix {
                key: p.key(),
                len: p.len(),
                v6: p.addr().is_ipv6(),
            };
            rules.push(dataplane::policy::Rule {
                in_port: r.in_port,
                src: r.src.map(kp),
                dst: r.dst.map(kp),
                proto: r.proto,
                sport: r.sport,
                dport: r.dport,
                action,
                sticky: r.sticky,
            });
        }
        for slot in old {
            self.release_group(slot);
        }
        self.build.policy = Arc::new(dataplane::policy::Policy {
            rules: rules.into(),
            last_resort: self.config.last_resort,
            tables: self.build_tables(),
        });
        self.groups.dirty = true;
    }

    /// The routing tables other than main, as rules see them.
    pub(super) fn build_tables(&self) -> Box<[dataplane::policy::Table]> {
        let mut by: BTreeMap<u32, Vec<(dataplane::policy::KeyPrefix, Route)>> = BTreeMap::new();
        for (&(t, p), r) in &self.build.installed_other {
            by.entry(t).or_default().push((
                dataplane::policy::KeyPrefix {
                    key: p.key(),
                    len: p.len(),
                    v6: p.addr().is_ipv6(),
                },
                *r,
            ));
        }
        by.into_iter()
            .map(|(id, routes)| dataplane::policy::Table::new(id, routes))
            .collect()
    }

    /// Rebuilds the tables part of the policy after a route in a table other
    /// than main changed.
    pub(super) fn refresh_tables(&mut self) {
        let p = &*self.build.policy;
        self.build.policy = Arc::new(dataplane::policy::Policy {
            rules: p.rules.clone(),
            last_resort: p.last_resort,
            tables: self.build_tables(),
        });
        self.groups.dirty = true;
    }
}
