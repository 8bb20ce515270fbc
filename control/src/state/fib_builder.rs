//! RIB to FIB: the main table synced from the RIB, the two-table build and its publication to the workers, and the policy tables.

use super::*;
use dataplane::intern::Interner;

/// What the FIB is built from and how it is published: the two route
/// tables, the main table as the control plane wants it, the other tables,
/// the system routes, the policy, and the publisher.
pub(super) struct FibBuilder {
    /// The route table the current generation uses.
    routes: Arc<RouteTable>,
    /// The other copy: behind `routes` by `lag`, and changed only once no
    /// reader holds it (see `commit`).
    spare: Option<Arc<RouteTable>>,
    lag: Vec<RouteOp>,
    /// Changes not yet published.
    pending: Vec<RouteOp>,
    /// The main table as the control plane wants it (what `routes` holds
    /// after `commit`): each prefix's route, as an id in `values`.
    installed: HashMap<Prefix, u32>,
    /// The distinct routes of `installed` (a full table has a handful):
    /// 24 bytes a prefix instead of 40.
    values: Interner<Route>,
    /// Routes installed in tables other than main (rules look up in them).
    installed_other: HashMap<(u32, Prefix), Route>,
    /// `installed_other` changed since the policy's tables were built.
    tables_dirty: bool,
    /// The VRFs' tables: VRF `n`'s id is `vrf_tables[n - 1]`.
    vrf_tables: Vec<u32>,
    /// The VRFs' route tables, as the FIB has them: rebuilt from
    /// `installed_other` when one of their routes changed.
    vrfs: Arc<[Arc<RouteTable>]>,
    vrfs_dirty: bool,
    /// Connected subnets and the router's own addresses, by table (an
    /// interface's are in its VRF's).
    system: HashMap<(u32, Prefix), Target>,
    /// The policy rules workers see, and the group slots they hold.
    policy: Arc<dataplane::policy::Policy>,
    policy_groups: Vec<usize>,
    publisher: Publisher<Fib>,
    generation: u64,
}

impl FibBuilder {
    /// A builder with generation 0 published: no route but `system`'s to
    /// come, no group, no nexthop; `readers` are the workers' quiescent states.
    pub(super) fn new(
        system: HashMap<(u32, Prefix), Target>,
        vrf_tables: Vec<u32>,
        neighbors: Arc<Neighbors>,
        readers: Vec<Arc<Quiescent>>,
    ) -> FibBuilder {
        let routes = Arc::new(RouteTable::default());
        let vrfs: Arc<[Arc<RouteTable>]> = vrf_tables
            .iter()
            .map(|_| Arc::new(RouteTable::default()))
            .collect();
        FibBuilder {
            routes: routes.clone(),
            spare: Some(Arc::new(RouteTable::default())),
            lag: Vec::new(),
            pending: Vec::new(),
            installed: HashMap::new(),
            values: Interner::new(Route {
                target: Target::Blackhole,
                hash: HashConfig::default(),
                sticky: false,
            }),
            installed_other: HashMap::new(),
            tables_dirty: false,
            vrf_tables,
            vrfs: vrfs.clone(),
            vrfs_dirty: false,
            system,
            policy: Default::default(),
            policy_groups: Vec::new(),
            publisher: Publisher::new(
                Fib {
                    generation: 0,
                    routes,
                    vrfs,
                    groups: Arc::new([]),
                    nexthops: Arc::new([]),
                    hosts: Arc::new(HostTable::new()),
                    ports: Arc::new([]),
                    vlans: Default::default(),
                    neighbors,
                    policy: Default::default(),
                    snat: Default::default(),
                },
                readers,
            ),
            generation: 0,
        }
    }

    /// The generation last published.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Bytes of the installed routes and of both route tables' tries
    /// (allocated), per structure.
    pub(super) fn memory(&self) -> Vec<(&'static str, usize)> {
        use super::memory::hashed;
        let (a4, a6) = self.routes.memory_bytes();
        let (b4, b6) = self
            .spare
            .as_deref()
            .map_or((0, 0), RouteTable::memory_bytes);
        vec![
            (
                "installed main-table routes",
                hashed::<(Prefix, u32)>(self.installed.capacity()),
            ),
            (
                "installed other tables' routes",
                hashed::<((u32, Prefix), Route)>(self.installed_other.capacity()),
            ),
            ("route table in use: IPv4 trie", a4),
            ("route table in use: IPv6 trie", a6),
            ("spare route table: IPv4 trie", b4),
            ("spare route table: IPv6 trie", b6),
        ]
    }

    /// Frees the generations no worker reads any more.
    pub(super) fn reclaim(&mut self) {
        self.publisher.reclaim();
    }
}

impl ControlPlane {
    /// Brings the FIB entry of main-table prefix `p` in line with the RIB and
    /// queues the change for the next `commit`.
    pub(super) fn sync(&mut self, p: Prefix) {
        let new = if let Some(&target) = self.build.system.get(&(MAIN_TABLE, p)) {
            Some(Route {
                target,
                hash: HashConfig::default(),
                sticky: false,
            })
        } else {
            self.rib_route(MAIN_TABLE, p)
        };
        let b = &mut self.build;
        let old_id = match new {
            Some(r) => b.installed.insert(p, b.values.intern(r)),
            None => b.installed.remove(&p),
        };
        let old = old_id.and_then(|id| b.values.get(id).copied());
        if let Some(id) = old_id {
            b.values.release(id);
        }
        self.release_route(old);
        if old != new {
            self.build.pending.push(match (new, old) {
                (Some(r), old) => RouteOp::Set(p, r, old),
                (None, Some(old)) => RouteOp::Remove(p, old, self.installed_cover(p)),
                (None, None) => return,
            });
        }
    }

    /// The longest installed main-table prefix shorter than `p` that holds
    /// it, with its route: what takes a removed prefix's place.
    fn installed_cover(&self, p: Prefix) -> Option<(u8, Route)> {
        (0..p.len()).rev().find_map(|l| {
            let c = Prefix::new_truncating(p.addr(), l);
            let id = *self.build.installed.get(&c)?;
            self.build.values.get(id).map(|r| (l, *r))
        })
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
            RouteGroup::Object(id) => match self.fpm.object(*id) {
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
        let new = match self.build.system.get(&(table, p)) {
            Some(&target) => Some(Route {
                target,
                hash: HashConfig::default(),
                sticky: false,
            }),
            None => self.rib_route(table, p),
        };
        let old = match new {
            Some(r) => self.build.installed_other.insert((table, p), r),
            None => self.build.installed_other.remove(&(table, p)),
        };
        self.release_route(old);
        if old != new {
            if self.build.vrf_tables.contains(&table) {
                self.build.vrfs_dirty = true;
            } else {
                self.build.tables_dirty = true;
            }
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
            .chain(
                self.build
                    .system
                    .keys()
                    .filter(|(t, _)| *t == MAIN_TABLE)
                    .map(|(_, p)| *p),
            )
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
            .chain(
                self.build
                    .system
                    .keys()
                    .filter(|(t, _)| *t != MAIN_TABLE)
                    .copied(),
            )
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
        let vrfs = std::mem::take(&mut self.build.vrfs_dirty);
        if vrfs {
            self.refresh_vrfs();
        }
        if self.build.pending.is_empty() {
            if self.groups.dirty() || vrfs {
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
            vrfs: self.build.vrfs.clone(),
            groups: self.groups.publish(),
            nexthops: self.registry.nexthops(),
            hosts: Arc::new(self.registry.hosts()),
            ports: self.ports.clone(),
            vlans: self.vlans.clone(),
            neighbors: self.neighbors.clone(),
            policy: self.build.policy.clone(),
            snat: self.snat.clone(),
        };
        self.build.publisher.publish(fib);
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
        self.groups.touch();
    }

    /// The routing tables other than main, as rules see them.
    pub(super) fn build_tables(&self) -> Box<[dataplane::policy::Table]> {
        let mut by: BTreeMap<u32, Vec<(dataplane::policy::KeyPrefix, Route)>> = BTreeMap::new();
        for (&(t, p), r) in &self.build.installed_other {
            if self.build.vrf_tables.contains(&t) {
                continue; // a VRF's: its interfaces forward with it, rules do not see it
            }
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

    /// Rebuilds the VRFs' route tables after one of their routes changed.
    /// Whole: main's table is changed in place (`commit`); a VRF's is
    /// rebuilt from its routes, which costs as much as the VRF's table.
    pub(super) fn refresh_vrfs(&mut self) {
        let mut by: Vec<Vec<(Prefix, Route)>> = vec![Vec::new(); self.build.vrf_tables.len()];
        for (&(t, p), r) in &self.build.installed_other {
            if let Some(i) = self.build.vrf_tables.iter().position(|&v| v == t) {
                by[i].push((p, *r));
            }
        }
        self.build.vrfs = by
            .into_iter()
            .map(|mut routes| {
                routes.sort_unstable_by_key(|(p, _)| *p);
                let mut t = RouteTable::default();
                for (p, r) in routes {
                    t.apply(RouteOp::Set(p, r, None));
                }
                Arc::new(t)
            })
            .collect();
    }

    /// The route table of table `table` as the FIB has it: main's, or a
    /// VRF's.
    pub fn route_table(&self, table: u32) -> Option<Arc<RouteTable>> {
        if table == MAIN_TABLE {
            return Some(self.build.routes.clone());
        }
        let i = self.build.vrf_tables.iter().position(|&v| v == table)?;
        self.build.vrfs.get(i).cloned()
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
        self.groups.touch();
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

    #[test]
    fn a_rule_looks_up_in_its_table_and_falls_through_when_it_has_no_route() {
        let cfg = CFG.replace(
            "neighbors: [",
            "  - { prefix: 198.51.100.0/25, table: 100, nexthops: [{ via: 10.1.0.2, port: srv1 }] }\nneighbors: [{ address: 10.2.0.2, mac: \"02:00:00:00:02:02\", port: srv2 }, ",
        ) + "rules:\n  - { match: { proto: udp }, action: { table: 100 } }\n";
        let c = config::parse(&cfg, "t").unwrap();
        let mut cp = ControlPlane::new(c, &MACS, vec![], Channels::default(), 64);
        let send = |cp: &ControlPlane, dst: [u8; 4]| {
            let fib = cp.fib();
            let stats = LcoreStats::new(64);
            let mut icmp = dataplane::forward::IcmpLimiter::new(10);
            let mut ctx = dataplane::forward::Ctx::new(&fib, &stats, &mut icmp);
            (0..40u16)
                .map(|i| {
                    let f = frames::ipv4(
                        CLIENT,
                        MACS[0],
                        [10, 0, 0, 2].into(),
                        dst.into(),
                        17,
                        64,
                        &frames::udp(1000 + i, 53, &[]),
                    );
                    let mut b = dataplane::VecBuf::new(&f);
                    match dataplane::forward::process(&mut ctx, PortId(0), &mut b) {
                        dataplane::forward::Verdict::Forward(p) => p.0,
                        v => panic!("{v:?}"),
                    }
                })
                .collect::<std::collections::BTreeSet<u16>>()
        };
        assert_eq!(
            send(&cp, [198, 51, 100, 9]),
            [1].into(),
            "table 100's route: srv1 only"
        );
        assert_eq!(
            send(&cp, [198, 51, 100, 200]),
            [1, 2].into(),
            "no route there: the next rule, then main"
        );
        // A route added to table 100 through the API takes effect.
        cp.add_route(
            RouteSpec {
                table: 100,
                prefix: "198.51.100.128/25".parse().unwrap(),
                group: RouteGroup::Inline(Box::new(GroupConfig {
                    name: None,
                    algorithm: Algorithm::HashThreshold,
                    buckets: dataplane::nhg::DEFAULT_BUCKETS,
                    idle_timer_ms: 0,
                    unbalanced_timer_ms: 0,
                    nexthops: vec![config::NexthopConfig {
                        via: "10.2.0.2".parse().unwrap(),
                        port: PortId(2),
                        weight: 1,
                    }],
                })),
                hash: Default::default(),
                sticky: false,
                protocol: config::RTPROT_STATIC,
                metric: 0,
            },
            Origin::Api,
            false,
        )
        .unwrap();
        assert_eq!(send(&cp, [198, 51, 100, 200]), [2].into());
        cp.delete_route(100, "198.51.100.128/25".parse().unwrap(), Origin::Api)
            .unwrap();
        assert_eq!(send(&cp, [198, 51, 100, 200]), [1, 2].into());
    }

    #[test]
    fn failover_is_one_store_whatever_the_number_of_routes() {
        let mut cfg = String::from(
            "ports:\n  - { name: a, device: x, addresses: [10.0.0.1/24] }\nnexthop-groups:\n  - name: g\n    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a }]\nneighbors:\n  - { address: 10.0.0.2, mac: \"02:00:00:00:00:02\", port: a }\n  - { address: 10.0.0.3, mac: \"02:00:00:00:00:03\", port: a }\nroutes:\n",
        );
        for i in 0..2000u32 {
            cfg.push_str(&format!(
                "  - {{ prefix: 100.{}.{}.0/24, nexthop-group: g }}\n",
                64 + i / 256,
                i % 256
            ));
        }
        let c = config::parse(&cfg, "t").unwrap();
        let mut cp = ControlPlane::new(c, &[MACS[0]], vec![], Channels::default(), 16);
        let fib = cp.fib();
        let generation = fib.generation;
        let dead = cp
            .nexthop_id(PortId(0), "10.0.0.3".parse().unwrap())
            .unwrap();
        cp.set_enabled("a", "10.0.0.3".parse().unwrap(), false)
            .unwrap();
        // No new generation: the same tables, one flag flipped.
        assert_eq!(cp.fib().generation, generation);
        let stats = LcoreStats::new(16);
        let mut icmp = IcmpLimiter::new(10);
        let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
        for i in 0..2000u32 {
            let dst = std::net::Ipv4Addr::new(100, (64 + i / 256) as u8, (i % 256) as u8, 9);
            let pkt = frames::ipv4(
                CLIENT,
                MACS[0],
                "10.0.0.9".parse().unwrap(),
                dst,
                proto::TCP,
                64,
                &frames::tcp_syn(1000 + i as u16, 80),
            );
            let mut b = VecBuf::new(&pkt);
            assert_eq!(
                process(&mut ctx, PortId(0), &mut b),
                Verdict::Forward(PortId(0))
            );
            assert_eq!(
                ethernet::Frame::new_checked(b.data()).unwrap().dst(),
                MacAddr([2, 0, 0, 0, 0, 2]),
                "route {i} still used the disabled member"
            );
        }
        assert_eq!(
            stats.nh_packets[dead.index()].load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }

    /// Random adds, replacements and deletes through the API path: after
    /// every change, the published FIB (whichever of the two tables it uses)
    /// answers like a model of the RIB, and groups are shared and freed.
    #[test]
    fn incremental_fib_matches_model_across_both_tables() {
        use proptest::test_runner::{Config as PtConfig, TestRunner};
        let mut runner = TestRunner::new(PtConfig::with_cases(24));
        runner
            .run(
                &proptest::collection::vec((0u8..3, 0u8..12, 16u8..=32, 0u8..3), 1..60),
                |ops| {
                    let mut cp = plane_resolved();
                    let c = cp.config().clone();
                    let mut model: HashMap<Prefix, u8> = HashMap::new();
                    for (op, a, len, via) in ops {
                        let p = Prefix::new_truncating(
                            IpAddr::V4(std::net::Ipv4Addr::new(203, 0, a * 16, 0)),
                            len,
                        );
                        if op == 0 {
                            let _ = cp.delete_route(MAIN_TABLE, p, Origin::Api);
                            model.remove(&p);
                        } else {
                            let gw = if via == 0 { "10.1.0.2" } else { "10.2.0.2" };
                            let port = if via == 0 { "srv1" } else { "srv2" };
                            let body = format!(r#"{{"prefix": "{p}", "nexthops": [{{"via": "{gw}", "port": "{port}"}}]}}"#);
                            let spec = config::parse_route(&body, &c).unwrap();
                            cp.add_route(spec, Origin::Api, true).unwrap();
                            model.insert(p, via.min(1));
                        }
                        for probe in 0u32..48 {
                            let dst = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, (probe * 4) as u8, 7));
                            let want = model
                                .iter()
                                .filter(|(p, _)| p.contains(dst))
                                .max_by_key(|(p, _)| p.len())
                                .map(|(_, v)| if *v == 0 { "srv1" } else { "srv2" });
                            let got = cp.route_get(dst, "10.0.0.2".parse().unwrap(), 6, 1, 2);
                            proptest::prop_assert_eq!(
                                got.nexthop.map(|n| n.1),
                                want.map(str::to_owned),
                                "{}", dst
                            );
                        }
                    }
                    // One shared group per distinct member set, plus the config's.
                    let shared = cp.groups().iter().filter(|g| g.kind == "shared").count();
                    let distinct: std::collections::HashSet<_> = model.values().collect();
                    proptest::prop_assert!(shared <= distinct.len() + 2);
                    Ok(())
                },
            )
            .unwrap();
    }

    /// A reader that holds an old generation past the wait costs a copy of
    /// the table, and nothing else: the new generation is still right.
    #[test]
    fn held_generation_forces_a_copy_not_a_wrong_table() {
        let mut cp = plane_resolved();
        let c = cp.config().clone();
        let add = |cp: &mut ControlPlane, p: &str| {
            let body = format!(
                r#"{{"prefix": "{p}", "nexthops": [{{"via": "10.2.0.2", "port": "srv2"}}]}}"#
            );
            cp.add_route(config::parse_route(&body, &c).unwrap(), Origin::Api, false)
                .unwrap();
        };
        let held = cp.fib();
        add(&mut cp, "203.0.113.0/24");
        add(&mut cp, "203.0.114.0/24");
        assert_eq!(
            cp.counters.fib_copies, 1,
            "the held table could not be reused"
        );
        for d in ["203.0.113.1", "203.0.114.1"] {
            let g = cp.route_get(d.parse().unwrap(), "10.0.0.2".parse().unwrap(), 6, 1, 2);
            assert_eq!(g.nexthop.unwrap().1, "srv2");
        }
        assert!(
            held.routes.lookup("203.0.113.1".parse().unwrap()).is_none(),
            "the old generation never changes"
        );
        drop(held);
        add(&mut cp, "203.0.115.0/24");
        assert_eq!(cp.counters.fib_copies, 1);
    }
}
