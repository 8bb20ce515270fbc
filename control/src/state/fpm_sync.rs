//! Routes and nexthop objects from FRR over FPM, into the RIB.

use super::*;

/// What the FPM session gave: its nexthop objects, the routes that use
/// each, what is stale since the session ended, and the routes not installed.
#[derive(Default)]
pub(super) struct FpmState {
    /// FPM routes not yet re-sent since the last (re)connect.
    stale: std::collections::HashSet<(u32, Prefix)>,
    /// FPM nexthop objects, by id.
    objects: HashMap<u32, FpmObject>,
    /// The objects not re-sent since the session ended.
    stale_objects: std::collections::HashSet<u32>,
    /// How many FPM routes use each nexthop object. A count, not the set:
    /// a full table's routes share a few objects, and the routes are found
    /// in the RIB on the rare change that needs them (an object changing
    /// kind while in use).
    object_uses: HashMap<u32, usize>,
    /// FPM routes the session holds that are not installed, and why.
    not_installed: BTreeMap<(u32, Prefix), NotInstalled>,
}

impl FpmState {
    /// Slots of the object map.
    pub(super) fn objects_capacity(&self) -> usize {
        self.objects.capacity()
    }
    /// Slots of the use counts.
    pub(super) fn uses_capacity(&self) -> usize {
        self.object_uses.capacity()
    }
    /// The FPM nexthop object `id`, as installed.
    pub(super) fn object(&self, id: u32) -> Option<&FpmObject> {
        self.objects.get(&id)
    }
}

impl ControlPlane {
    /// A route zebra or the kernel gave: the default hash, not sticky.
    pub(super) fn learned_spec(
        &self,
        (table, prefix): (u32, Prefix),
        group: RouteGroup,
        protocol: u8,
        metric: u32,
    ) -> RouteSpec {
        RouteSpec {
            table,
            prefix,
            group,
            hash: self.config.hash,
            sticky: false,
            protocol,
            metric,
        }
    }

    /// Applies what an FPM session resolved, then publishes once. A gateway
    /// maps to the port whose subnet holds it (FRR's ifindexes belong to its
    /// own namespace). Routes with no mappable gateway are withdrawn, counted
    /// and listed with the reason. A nexthop object that stays a group is
    /// changed in place: one group update, whatever the routes that use it.
    pub fn apply_fpm<C: Into<crate::fpm::Change>>(&mut self, changes: impl IntoIterator<Item = C>) {
        use crate::fpm::Change;
        let mut any = false;
        for c in changes {
            any = true;
            match c.into() {
                Change::Route(r) => self.apply_fpm_route(r),
                Change::Object(o) => self.apply_fpm_object(o),
            }
        }
        if any {
            self.commit();
        }
    }

    /// FPM routes held: in the RIB, or held back as not installed. What
    /// `fpm.max-routes` bounds.
    pub fn fpm_routes_held(&self) -> usize {
        let rib: usize = self
            .rib
            .counts()
            .iter()
            .filter(|((_, o), _)| *o == Origin::Fpm)
            .map(|(_, n)| n)
            .sum();
        rib + self.fpm.not_installed.len()
    }

    /// True when an FPM route for `key` would be a new one (not held).
    pub fn fpm_route_is_new(&self, key: (u32, Prefix)) -> bool {
        !self.fpm.not_installed.contains_key(&key)
            && !self
                .rib
                .get(&key)
                .is_some_and(|by| by.contains_key(&Origin::Fpm))
    }

    /// The port of an FPM path: its interface when the router has kernel
    /// interfaces (an interface that is not one of them: none), else the
    /// port whose subnet holds its gateway. With `vrf` (a route's table's
    /// VRF), only that VRF's interfaces: a route never leaks into another.
    pub(super) fn fpm_port(&self, h: &crate::fpm::Hop, vrf: Option<u8>) -> Option<PortId> {
        let in_vrf = |p: PortId| vrf.is_none_or(|v| self.registry.vrf(p) == v);
        if self.kernel.has_interfaces() && h.ifindex != 0 {
            return self.kernel.port_of(h.ifindex).filter(|&p| in_vrf(p));
        }
        let gw = h.via?;
        self.config
            .ports
            .iter()
            .enumerate()
            .position(|(i, p)| {
                in_vrf(PortId(i as u16)) && p.addresses.iter().any(|a| a.subnet().contains(gw))
            })
            .map(|i| PortId(i as u16))
    }

    /// A device route (`dev X`, no gateway) on one of the router's
    /// interfaces (of VRF `vrf`): the port it is connected on.
    pub(super) fn fpm_device(
        &self,
        members: &[crate::fpm::Hop],
        vrf: Option<u8>,
    ) -> Option<PortId> {
        match members {
            [h] if h.via.is_none() && h.ifindex != 0 => self
                .kernel
                .port_of(h.ifindex)
                .filter(|&p| vrf.is_none_or(|v| self.registry.vrf(p) == v)),
            _ => None,
        }
    }

    /// FPM gateways as nexthops on their ports (see [`Self::fpm_port`]);
    /// repeated ones add up their weights. Paths without a gateway are left out.
    pub(super) fn fpm_nexthops(
        &self,
        members: &[crate::fpm::Hop],
        vrf: Option<u8>,
    ) -> Vec<crate::config::NexthopConfig> {
        let mut nexthops: Vec<crate::config::NexthopConfig> = Vec::new();
        for h in members {
            let (Some(gw), w) = (h.via, h.weight) else {
                continue;
            };
            // An IPv4 route over the RFC 5549 gateway is usable only on a
            // kernel interface, whose kernel neighbour gives its MAC.
            if gw == RFC5549_GATEWAY && (!self.kernel.has_interfaces() || h.ifindex == 0) {
                continue;
            }
            let Some(port) = self.fpm_port(h, vrf) else {
                continue;
            };
            match nexthops.iter_mut().find(|n| n.via == gw && n.port == port) {
                Some(n) => n.weight = (n.weight + w).min(dataplane::nhg::MAX_WEIGHT),
                None => nexthops.push(crate::config::NexthopConfig {
                    via: gw,
                    port,
                    weight: w.clamp(1, dataplane::nhg::MAX_WEIGHT),
                }),
            }
        }
        nexthops
    }

    /// Why gateways `members` install nothing (`None`: there were none).
    pub(super) fn fpm_unusable(members: &[crate::fpm::Hop]) -> Option<NotInstalled> {
        if members.iter().any(|h| h.via == Some(RFC5549_GATEWAY)) {
            Some(NotInstalled::Ipv6NexthopOnlink)
        } else if members.iter().any(|h| h.via.is_some()) {
            Some(NotInstalled::NoPortForGateway)
        } else {
            None
        }
    }

    /// The hash-threshold group FPM nexthops make (zebra has no other kind here).
    pub(super) fn fpm_group(nexthops: Vec<crate::config::NexthopConfig>) -> GroupConfig {
        GroupConfig {
            name: None,
            algorithm: Algorithm::HashThreshold,
            buckets: dataplane::nhg::DEFAULT_BUCKETS,
            idle_timer_ms: crate::config::DEFAULT_IDLE_TIMER_S * 1000,
            unbalanced_timer_ms: 0,
            nexthops,
        }
    }

    /// Lists an FPM route as not installed, counted by reason.
    pub(super) fn fpm_not_installed_as(&mut self, key: (u32, Prefix), why: NotInstalled) {
        match why {
            NotInstalled::NoPortForGateway => self.counters.fpm_unresolvable += 1,
            NotInstalled::Ipv6NexthopOnlink => self.counters.fpm_not_installed_onlink += 1,
            NotInstalled::RouteType(_) => self.counters.fpm_not_installed_type += 1,
            NotInstalled::UnknownNexthopObject => self.counters.fpm_not_installed_object += 1,
        }
        self.fpm.not_installed.insert(key, why);
    }

    /// Why a route through FPM object `id` installs nothing, if it does not.
    pub(super) fn fpm_object_unusable(&self, id: u32) -> Option<NotInstalled> {
        match self.fpm.objects.get(&id) {
            None => Some(NotInstalled::UnknownNexthopObject),
            Some(FpmObject::Unusable(why)) => *why,
            Some(_) => None,
        }
    }

    /// Sets (or with `None`, removes) the FPM entry of `key` in the RIB,
    /// keeping the count of routes per nexthop object.
    pub(super) fn set_fpm_spec(&mut self, key: (u32, Prefix), spec: Option<RouteSpec>) {
        let object = |g: &RouteGroup| match g {
            RouteGroup::Object(id) => Some(*id),
            _ => None,
        };
        let old = self.rib.get(&key).and_then(|by| {
            by.iter()
                .find(|(o, _)| **o == Origin::Fpm)
                .and_then(|(_, s)| object(&s.group))
        });
        let new = spec.as_ref().and_then(|s| object(&s.group));
        match spec {
            Some(s) => {
                self.rib.set(key, Origin::Fpm, s);
            }
            None => {
                self.rib.remove(key, Origin::Fpm);
            }
        }
        if old == new {
            return;
        }
        if let Some(id) = new {
            *self.fpm.object_uses.entry(id).or_default() += 1;
        }
        if let Some(id) = old {
            if let Some(n) = self.fpm.object_uses.get_mut(&id) {
                *n -= 1;
                if *n == 0 {
                    self.fpm.object_uses.remove(&id);
                }
            }
        }
    }

    pub(super) fn apply_fpm_route(&mut self, r: crate::fpm::Resolved) {
        self.fpm.stale.remove(&r.key);
        self.fpm.not_installed.remove(&r.key);
        let (table, prefix) = r.key;
        let vrf = Some(self.config.vrf_of_table(table));
        let group = if let Some(id) = r.object {
            if let Some(why) = self.fpm_object_unusable(id) {
                self.fpm_not_installed_as(r.key, why);
            }
            RouteGroup::Object(id)
        } else if let Some(x) = r.reject {
            RouteGroup::Reject(x)
        } else if let Some(port) = self.fpm_device(&r.members, vrf) {
            RouteGroup::Connected(port)
        } else {
            let nexthops = self.fpm_nexthops(&r.members, vrf);
            if nexthops.is_empty() {
                let why = match r.unsupported_type {
                    Some(t) => Some(NotInstalled::RouteType(t)),
                    None => Self::fpm_unusable(&r.members),
                };
                if let Some(why) = why {
                    self.fpm_not_installed_as(r.key, why);
                }
                self.set_fpm_spec(r.key, None);
                self.sync_at(table, prefix);
                return;
            }
            RouteGroup::Inline(Box::new(Self::fpm_group(nexthops)))
        };
        let spec = self.learned_spec((table, prefix), group, r.protocol, r.metric);
        self.set_fpm_spec(r.key, Some(spec));
        self.sync_at(table, prefix);
    }

    /// A nexthop object changed. While it stays a group, its group changes in
    /// place and no route is touched. When it changes kind (group, blackhole,
    /// nothing installable, deleted), the routes that use it are synced.
    pub(super) fn apply_fpm_object(&mut self, o: crate::fpm::Object) {
        self.fpm.stale_objects.remove(&o.id);
        let new = o.exists.then(|| {
            if o.blackhole {
                return FpmObject::Reject(crate::config::Reject::Blackhole);
            }
            // An object is any table's: its paths are not held to a VRF.
            let nexthops = self.fpm_nexthops(&o.members, None);
            if nexthops.is_empty() {
                FpmObject::Unusable(Self::fpm_unusable(&o.members))
            } else {
                FpmObject::Group(Self::fpm_group(nexthops))
            }
        });
        let old = match &new {
            Some(n) => self.fpm.objects.insert(o.id, n.clone()),
            None => self.fpm.objects.remove(&o.id),
        };
        if old == new {
            return;
        }
        if let (Some(FpmObject::Group(_)), Some(FpmObject::Group(gc))) = (&old, &new) {
            let key = GroupKey::Object(o.id);
            if self.groups.has(&key) {
                if let Some(slot) = self.acquire_group(key, gc) {
                    self.release_group(slot);
                }
            }
            return;
        }
        if old.is_some() {
            self.counters.fpm_object_kind_changes += 1;
        }
        let users: Vec<(u32, Prefix)> = if self.fpm.object_uses.contains_key(&o.id) {
            let uses = |by: &crate::rib::ByOrigin| {
                by.iter()
                    .any(|(o2, s)| *o2 == Origin::Fpm && s.group == RouteGroup::Object(o.id))
            };
            self.rib
                .iter()
                .filter(|(_, by)| uses(by))
                .map(|(k, _)| *k)
                .collect()
        } else {
            Vec::new()
        };
        let why = self.fpm_object_unusable(o.id);
        for k in users {
            self.fpm.not_installed.remove(&k);
            if let Some(why) = why {
                self.fpm_not_installed_as(k, why);
            }
            self.sync_at(k.0, k.1);
        }
    }

    /// An FPM session ended: every FPM route becomes stale, to be swept by
    /// [`ControlPlane::fpm_sweep`] after `fpm.stale-time` unless a new
    /// session re-sends it first (zebra's graceful restart).
    pub fn fpm_session_end(&mut self) {
        self.fpm.stale_objects = self.fpm.objects.keys().copied().collect();
        self.fpm.stale = self
            .rib
            .iter()
            .filter(|(_, by)| by.contains_key(&Origin::Fpm))
            .map(|(k, _)| *k)
            .collect();
    }

    /// FPM routes held but not installed, and why.
    pub fn fpm_not_installed(&self) -> Vec<NotInstalledView> {
        self.fpm
            .not_installed
            .iter()
            .map(|(&(table, prefix), &reason)| NotInstalledView {
                table,
                prefix,
                reason,
            })
            .collect()
    }

    /// Removes the stale FPM routes no session has re-sent. Returns how many.
    pub fn fpm_sweep(&mut self) -> usize {
        let stale: Vec<_> = self.fpm.stale.drain().collect();
        for k in &stale {
            self.fpm.not_installed.remove(k);
            self.set_fpm_spec(*k, None);
            self.sync_at(k.0, k.1);
        }
        let objects: Vec<u32> = self.fpm.stale_objects.drain().collect();
        for id in &objects {
            self.apply_fpm_object(crate::fpm::Object {
                id: *id,
                members: Vec::new(),
                blackhole: false,
                exists: false,
            });
        }
        if !stale.is_empty() || !objects.is_empty() {
            self.counters.fpm_swept += stale.len() as u64;
            self.commit();
        }
        stale.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

    #[test]
    fn fpm_reject_routes_install_and_unusable_ones_are_listed_with_a_reason() {
        use crate::config::Reject;
        use crate::fpm::Resolved;
        let (mut cp, _) = plane();
        let p = |s: &str| -> Prefix { s.parse().unwrap() };
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let r = |pfx: &str, members: Vec<(IpAddr, u32)>, reject: Option<Reject>, t: Option<u8>| {
            Resolved {
                members: members.into_iter().map(Into::into).collect(),
                reject,
                unsupported_type: t,
                protocol: 186,
                metric: 20,
                ..Resolved::withdrawn((MAIN_TABLE, p(pfx)))
            }
        };
        cp.apply_fpm(vec![
            r("192.0.2.0/24", vec![], Some(Reject::Unreachable), None),
            r("198.18.0.0/24", vec![(ip("169.254.0.1"), 1)], None, None),
            r("198.18.1.0/24", vec![(ip("192.168.77.1"), 1)], None, None),
            r("198.18.2.0/24", vec![], None, Some(2)),
        ]);
        let g = cp.route_get(ip("192.0.2.9"), ip("10.0.0.2"), 17, 1, 2);
        assert_eq!(g.kind, "unreachable");
        let v = cp.routes();
        let u = v
            .iter()
            .find(|x| x.spec.prefix == p("192.0.2.0/24"))
            .unwrap();
        assert_eq!((u.spec.protocol, u.spec.metric), (186, 20));
        let not: Vec<_> = cp
            .fpm_not_installed()
            .into_iter()
            .map(|n| (n.prefix.to_string(), n.reason.name()))
            .collect();
        assert_eq!(
            not,
            [
                ("198.18.0.0/24".to_owned(), "ipv6_nexthop_onlink"),
                ("198.18.1.0/24".to_owned(), "no_port_for_gateway"),
                ("198.18.2.0/24".to_owned(), "route_type"),
            ]
        );
        assert_eq!(
            (
                cp.counters.fpm_not_installed_onlink,
                cp.counters.fpm_unresolvable,
                cp.counters.fpm_not_installed_type
            ),
            (1, 1, 1)
        );
        // A withdraw clears the listing.
        cp.apply_fpm(vec![Resolved::withdrawn((MAIN_TABLE, p("198.18.2.0/24")))]);
        assert_eq!(cp.fpm_not_installed().len(), 2);
    }

    #[test]
    fn an_fpm_nexthop_object_is_one_group_whatever_the_routes_that_use_it() {
        use crate::fpm::{Change, Object, Resolved};
        let (mut cp, _) = plane();
        let p = |i: u8| format!("100.64.{i}.0/24").parse::<Prefix>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let obj = |id: u32, members: &[(&str, u32)]| {
            Change::Object(Object {
                id,
                members: members.iter().map(|(a, w)| (ip(a), *w).into()).collect(),
                blackhole: false,
                exists: true,
            })
        };
        let mut changes = vec![
            obj(1, &[("10.1.0.2", 1)]),
            obj(2, &[("10.2.0.2", 1)]),
            obj(10, &[("10.1.0.2", 1), ("10.2.0.2", 1)]),
        ];
        for i in 0..50 {
            changes.push(Change::Route(Resolved {
                object: Some(10),
                protocol: 186,
                ..Resolved::withdrawn((MAIN_TABLE, p(i)))
            }));
        }
        cp.apply_fpm(changes);
        let group = |cp: &ControlPlane| {
            cp.groups()
                .into_iter()
                .find(|g| g.name == "fpm nhid 10")
                .expect("the object's group")
        };
        assert_eq!(group(&cp).routes, 50, "one group for all of them");
        let ops = cp.counters.fib_route_ops;
        // A member changes: the group changes in place, no route does.
        cp.apply_fpm(vec![
            obj(2, &[("10.2.0.9", 1)]),
            obj(10, &[("10.1.0.2", 1), ("10.2.0.9", 1)]),
        ]);
        assert_eq!(cp.counters.fib_route_ops, ops, "no route was touched");
        let vias: Vec<IpAddr> = group(&cp).members.iter().map(|m| m.via).collect();
        assert_eq!(vias, [ip("10.1.0.2"), ip("10.2.0.9")]);
        let fib = cp.fib();
        let r = fib.routes.lookup(ip("100.64.7.1")).unwrap();
        let Target::Group(g) = r.target else {
            panic!("{r:?}")
        };
        let members: Vec<IpAddr> = fib
            .group(g)
            .unwrap()
            .members()
            .iter()
            .map(|m| fib.nexthop(*m).unwrap().addr)
            .collect();
        assert!(members.contains(&ip("10.2.0.9")), "{members:?}");
        // The API shows the object's id and its gateways now.
        let v = cp.routes();
        assert!(matches!(&v[0].resolved, Some(RouteGroup::Inline(g)) if g.nexthops.len() == 2));
        assert_eq!(v[0].spec.group, RouteGroup::Object(10));
        // The object becomes a blackhole: its routes follow (a change of kind).
        cp.apply_fpm(vec![Change::Object(Object {
            id: 10,
            members: vec![],
            blackhole: true,
            exists: true,
        })]);
        assert_eq!(cp.counters.fpm_object_kind_changes, 1);
        assert_eq!(
            cp.route_get(ip("100.64.7.1"), ip("10.0.0.2"), 6, 1, 2).kind,
            "blackhole"
        );
        // Deleted while routes still use it: they are listed, with the reason.
        cp.apply_fpm(vec![Change::Object(Object {
            id: 10,
            members: vec![],
            blackhole: false,
            exists: false,
        })]);
        let ni = cp.fpm_not_installed();
        assert_eq!(ni.len(), 50);
        assert!(ni
            .iter()
            .all(|n| n.reason == NotInstalled::UnknownNexthopObject));
        assert_eq!(
            cp.route_get(ip("100.64.7.1"), ip("10.0.0.2"), 6, 1, 2).kind,
            "none"
        );
        // It comes back: the routes install again, and leave the list.
        cp.apply_fpm(vec![obj(10, &[("10.1.0.2", 1)])]);
        assert!(cp.fpm_not_installed().is_empty());
        assert_eq!(group(&cp).routes, 50);
        // A session ends and the next one sends none of it: all is swept.
        cp.fpm_session_end();
        assert_eq!(cp.fpm_sweep(), 50);
        assert!(cp.groups().iter().all(|g| g.kind != "object"));
        assert!(cp.fpm.objects.is_empty());
        assert!(cp.fpm.object_uses.is_empty());
    }

    #[test]
    fn fpm_routes_map_gateways_to_ports_and_sweep_after_reconnect() {
        use crate::fpm::Resolved;
        let (mut cp, _) = plane();
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        cp.apply_fpm(vec![
            Resolved {
                members: vec![(ip("10.1.0.2"), 1).into(), (ip("10.2.0.2"), 3).into()],
                ..Resolved::withdrawn((MAIN_TABLE, p("203.0.113.0/24")))
            },
            Resolved {
                members: vec![(ip("172.16.0.1"), 1).into()],
                ..Resolved::withdrawn((MAIN_TABLE, p("192.0.2.0/24")))
            },
            // FRR's own version of a config route: the config wins.
            Resolved {
                members: vec![(ip("10.1.0.2"), 1).into()],
                ..Resolved::withdrawn((MAIN_TABLE, p("198.51.100.0/24")))
            },
        ]);
        assert_eq!(cp.counters.fpm_unresolvable, 1, "no port holds 172.16.0.1");
        let v = cp.routes();
        let fpm: Vec<_> = v
            .iter()
            .filter(|r| r.origin == Origin::Fpm)
            .map(|r| (r.spec.prefix.to_string(), r.active))
            .collect();
        assert_eq!(
            fpm,
            [
                ("198.51.100.0/24".to_owned(), false),
                ("203.0.113.0/24".to_owned(), true)
            ]
        );
        let RouteGroup::Inline(g) = &v
            .iter()
            .find(|r| r.spec.prefix == p("203.0.113.0/24"))
            .unwrap()
            .spec
            .group
        else {
            panic!()
        };
        assert_eq!(
            g.nexthops
                .iter()
                .map(|n| (n.port, n.weight))
                .collect::<Vec<_>>(),
            [(PortId(1), 1), (PortId(2), 3)]
        );
        assert_eq!(
            cp.route_get(ip("203.0.113.9"), ip("10.0.0.2"), 6, 1, 2)
                .kind,
            "group"
        );
        // Reconnect: FRR re-sends only 203.0.113.0/24; the sweep removes the rest.
        cp.fpm_session_end();
        cp.apply_fpm(vec![Resolved {
            members: vec![(ip("10.1.0.2"), 1).into()],
            ..Resolved::withdrawn((MAIN_TABLE, p("203.0.113.0/24")))
        }]);
        assert_eq!(cp.fpm_sweep(), 1);
        let fpm: Vec<_> = cp
            .routes()
            .into_iter()
            .filter(|r| r.origin == Origin::Fpm)
            .map(|r| r.spec.prefix.to_string())
            .collect();
        assert_eq!(fpm, ["203.0.113.0/24"]);
        // A withdraw removes it.
        cp.apply_fpm(vec![Resolved {
            members: vec![],
            ..Resolved::withdrawn((MAIN_TABLE, p("203.0.113.0/24")))
        }]);
        assert!(cp.routes().iter().all(|r| r.origin != Origin::Fpm));
        assert_eq!(
            cp.route_get(ip("203.0.113.9"), ip("10.0.0.2"), 6, 1, 2)
                .kind,
            "none"
        );
    }
}
