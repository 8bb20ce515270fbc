//! The route API: routes added and deleted, their views and pages, reload, and route get.

use super::*;

impl ControlPlane {
    /// Adds a route of `origin`. With `replace`, an existing entry of the same
    /// origin is replaced; without, it is an error (like `ip route add`).
    ///
    /// # Errors
    /// [`RouteError::Exists`].
    pub fn add_route(
        &mut self,
        spec: RouteSpec,
        origin: Origin,
        replace: bool,
    ) -> Result<(), RouteError> {
        let key = (spec.table, spec.prefix);
        if !replace
            && self
                .rib
                .get(&key)
                .is_some_and(|by| by.contains_key(&origin))
        {
            return Err(RouteError::Exists {
                table: spec.table,
                prefix: spec.prefix,
                origin: origin.name(),
            });
        }
        let (table, prefix) = (spec.table, spec.prefix);
        self.rib.set(key, origin, spec);
        self.sync_at(table, prefix);
        self.commit();
        Ok(())
    }

    /// Deletes the route of `origin` for `prefix` in `table`.
    ///
    /// # Errors
    /// [`RouteError::NotFound`], or [`RouteError::NotFromOrigin`] when other
    /// origins have the prefix.
    pub fn delete_route(
        &mut self,
        table: u32,
        prefix: Prefix,
        origin: Origin,
    ) -> Result<(), RouteError> {
        let Some(by) = self.rib.get(&(table, prefix)) else {
            return Err(RouteError::NotFound { table, prefix });
        };
        if !by.contains_key(&origin) {
            return Err(RouteError::NotFromOrigin {
                table,
                prefix,
                origin: origin.name(),
                have: by.keys().map(|o| o.name()).collect(),
            });
        }
        self.rib.remove((table, prefix), origin);
        self.sync_at(table, prefix);
        self.commit();
        Ok(())
    }

    /// A RIB entry as the API shows it.
    pub(super) fn view(&self, origin: Origin, active: bool, spec: &RouteSpec) -> RouteView {
        let resolved = match &spec.group {
            RouteGroup::Object(id) => match self.fpm.object(*id) {
                Some(FpmObject::Group(gc)) => Some(RouteGroup::Inline(Box::new(gc.clone()))),
                Some(FpmObject::Reject(x)) => Some(RouteGroup::Reject(*x)),
                _ => None,
            },
            _ => None,
        };
        RouteView {
            origin,
            active,
            spec: spec.clone(),
            resolved,
        }
    }

    /// Routes per (table, origin), active or not, kept as the RIB changes.
    pub fn rib_counts(&self) -> &BTreeMap<(u32, Origin), usize> {
        self.rib.counts()
    }

    /// Every route of every table and origin, in (table, prefix) order.
    pub fn routes(&self) -> Vec<RouteView> {
        self.rib
            .values()
            .flat_map(|by| {
                let top = by.keys().next_back().copied();
                by.iter()
                    .map(move |(o, s)| self.view(*o, Some(*o) == top, s))
            })
            .collect()
    }

    /// One page of routes in (table, prefix) order, after the prefix `after`:
    /// at most `limit` prefixes (with every origin of each) that pass `keep`,
    /// and the cursor of the next page when there is one. The cost is that of
    /// the prefixes read, not of the table; with `table`, the scan stops
    /// after that table (lower tables, few in practice, are skipped over).
    pub fn routes_page(
        &self,
        table: Option<u32>,
        after: Option<(u32, Prefix)>,
        limit: usize,
        keep: impl Fn(&RouteView) -> bool,
    ) -> (Vec<RouteView>, Option<(u32, Prefix)>) {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let (mut out, mut prefixes, mut last) = (Vec::new(), 0usize, None);
        for (k, by) in self.rib.range((start, Bound::Unbounded)) {
            if table.is_some_and(|t| k.0 != t) {
                if table.is_some_and(|t| k.0 > t) {
                    break;
                }
                continue;
            }
            if prefixes == limit {
                return (out, last);
            }
            let top = by.keys().next_back().copied();
            let before = out.len();
            out.extend(
                by.iter()
                    .map(|(o, s)| self.view(*o, Some(*o) == top, s))
                    .filter(&keep),
            );
            if out.len() > before {
                prefixes += 1;
                last = Some(*k);
            }
        }
        (out, None)
    }

    /// Applies a new config without a restart: routes, named groups, static
    /// neighbours, the default hash and liveness. Ports, workers, EAL arguments
    /// and the API address need a restart; a config that changes them is refused
    /// and nothing changes. Routes added through the API or FPM stay.
    ///
    /// # Errors
    /// [`ReloadError::NeedsRestart`], naming what cannot change at runtime.
    pub fn reload(&mut self, new: Config) -> Result<(), ReloadError> {
        let keys = restart_keys(&self.config, &new);
        if !keys.is_empty() {
            return Err(ReloadError::NeedsRestart(keys));
        }
        let old = &self.config;
        // Static neighbours: drop the old permanence, apply the new.
        for s in &old.neighbors {
            if let Some(id) = self.registry.id(s.port, s.address) {
                self.registry[id].permanent = false;
            }
        }
        for s in &new.neighbors {
            if let Some(id) = self.add_nexthop(s.port, s.address, NexthopKind::Host) {
                self.registry[id].permanent = true;
                self.neighbors.set(id, s.mac);
                self.registry.add_host(id);
            }
        }
        self.rib.remove_origin(Origin::Config);
        for (k, spec) in rib_of(&new) {
            self.rib.set(k, Origin::Config, spec);
        }
        for (i, p) in new.ports.iter().enumerate() {
            if !p.monitor_link {
                for (id, e) in self.registry.iter() {
                    if e.nh.port.index() == i {
                        self.neighbors.set_down(id, DownFlag::Link, false);
                    }
                }
            }
        }
        self.neigh.pool_mut().set_config(new.neighbor_table);
        self.config = new;
        self.set_uplinks();
        self.refresh_named();
        self.set_policy();
        self.sync_all();
        self.commit();
        Ok(())
    }

    /// Which route, group and nexthop a flow takes, computed like a worker would.
    pub fn route_get(
        &self,
        dst: IpAddr,
        src: IpAddr,
        proto: u8,
        sport: u16,
        dport: u16,
    ) -> RouteGet {
        self.route_get_from(dst, src, proto, (sport, dport), None, 0)
    }

    /// [`Self::route_get`] for a flow arriving on `iif`: with a port, the
    /// policy rules apply as in the worker (`ecmpctl route get ... iif P`).
    /// The lookup is in `iif`'s VRF, else in VRF `vrf` (`... vrf NAME`).
    pub fn route_get_from(
        &self,
        dst: IpAddr,
        src: IpAddr,
        proto: u8,
        (sport, dport): (u16, u16),
        iif: Option<PortId>,
        vrf: u8,
    ) -> RouteGet {
        let fib = self.fib();
        let vrf = iif.map_or(vrf, |p| {
            self.config.ports.get(p.index()).map_or(0, |c| c.vrf)
        });
        // Without `iif`, a VRF's flow is as from its first interface (the
        // default VRF's rules do not apply to it).
        let iif = iif.or_else(|| {
            (vrf != 0)
                .then(|| self.config.ports.iter().position(|p| p.vrf == vrf))
                .flatten()
                .map(|i| PortId(i as u16))
        });
        let table = self.config.vrf_table(vrf);
        let Some(routes) = self.route_table(table) else {
            return RouteGet {
                route: None,
                kind: "none",
                hash: None,
                nexthop: None,
            };
        };
        let Some(route) = routes.lookup(dst) else {
            return RouteGet {
                route: None,
                kind: "none",
                hash: None,
                nexthop: None,
            };
        };
        let prefix = routes.matching(dst).map(|(p, _)| p);
        let origin = prefix
            .and_then(|p| self.rib.get(&(table, p)))
            .and_then(|by| by.keys().next_back().copied());
        match route.target {
            Target::Group(g) => {
                let key = dataplane::flow::FlowKey {
                    outer: dataplane::flow::Endpoints {
                        src: dataplane::types::key_of(src),
                        dst: dataplane::types::key_of(dst),
                        proto,
                        sport,
                        dport,
                        flow_label: 0,
                        has_ports: matches!(proto, 6 | 17 | 132),
                        v6: dst.is_ipv6(),
                    },
                    inner: None,
                };
                let h = dataplane::hash::flow_hash(&route.hash, &key, 0);
                // The worker's own code: the policy rules, then the hash.
                // Without `iif`, no rule that names an in-port matches.
                let _ = g;
                let nh = dataplane::forward::pick_for(
                    &fib,
                    iif.unwrap_or(PortId(u16::MAX)),
                    route,
                    &key,
                )
                .and_then(|hop| fib.nexthop(hop.nh).copied());
                RouteGet {
                    route: prefix.zip(origin),
                    kind: "group",
                    hash: Some(h),
                    nexthop: nh.map(|n| (n.addr, self.config.ports[n.port.index()].name.clone())),
                }
            }
            Target::Connected(p) => RouteGet {
                route: None,
                kind: "connected",
                hash: None,
                nexthop: Some((dst, self.config.ports[p.index()].name.clone())),
            },
            Target::Local => RouteGet {
                route: None,
                kind: "local",
                hash: None,
                nexthop: None,
            },
            t @ (Target::Blackhole | Target::Unreachable | Target::Prohibit) => RouteGet {
                route: prefix.zip(origin),
                kind: match t {
                    Target::Unreachable => "unreachable",
                    Target::Prohibit => "prohibit",
                    _ => "blackhole",
                },
                hash: None,
                nexthop: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

    #[test]
    fn routes_page_follows_its_cursor_and_reads_only_a_page() {
        let (mut cp, _) = plane();
        let c = cp.config().clone();
        for i in 0..5 {
            let body = format!(r#"{{"prefix": "203.0.{i}.0/24", "type": "blackhole"}}"#);
            cp.add_route(config::parse_route(&body, &c).unwrap(), Origin::Api, false)
                .unwrap();
        }
        // The config's route too: 6 prefixes in main, each one page entry.
        let (mut seen, mut after, mut pages) = (Vec::new(), None, 0);
        loop {
            let (page, next) = cp.routes_page(Some(MAIN_TABLE), after, 2, |_| true);
            pages += 1;
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(|v| v.spec.prefix.to_string()));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        let mut all: Vec<_> = cp
            .routes()
            .iter()
            .map(|v| v.spec.prefix.to_string())
            .collect();
        all.dedup();
        assert_eq!(seen, all);
        // A filter counts only what it keeps; another table has nothing.
        let (page, next) = cp.routes_page(None, None, 10, |v| v.origin == Origin::Api);
        assert_eq!((page.len(), next), (5, None));
        assert!(cp.routes_page(Some(100), None, 10, |_| true).0.is_empty());
    }

    #[test]
    fn api_routes_add_replace_delete_with_origins() {
        let (mut cp, _) = plane();
        let c = cp.config().clone();
        let gen0 = cp.fib().generation;
        // A new route through the API, validated like the config.
        let spec = config::parse_route(
            r#"{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#,
            &c,
        )
        .unwrap();
        cp.add_route(spec.clone(), Origin::Api, false).unwrap();
        assert!(cp.fib().generation > gen0);
        assert!(cp
            .add_route(spec.clone(), Origin::Api, false)
            .unwrap_err()
            .to_string()
            .contains("exists"));
        let got = cp.route_get(
            "203.0.113.9".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            6,
            1000,
            80,
        );
        assert_eq!(got.kind, "group");
        assert_eq!(
            got.nexthop,
            Some(("10.1.0.2".parse().unwrap(), "srv1".to_owned()))
        );
        assert_eq!(
            got.route,
            Some(("203.0.113.0/24".parse().unwrap(), Origin::Api))
        );
        // The API overrides the config for the same prefix; deleting it restores the config's.
        let over = config::parse_route(
            r#"{"prefix": "198.51.100.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#,
            &c,
        )
        .unwrap();
        cp.add_route(over, Origin::Api, false).unwrap();
        let views = cp.routes();
        let both: Vec<_> = views
            .iter()
            .filter(|v| v.spec.prefix == "198.51.100.0/24".parse().unwrap())
            .collect();
        assert_eq!(
            both.iter()
                .map(|v| (v.origin, v.active))
                .collect::<Vec<_>>(),
            [(Origin::Config, false), (Origin::Api, true)]
        );
        for sp in 0..50u16 {
            let g = cp.route_get(
                "198.51.100.7".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
                6,
                1000 + sp,
                80,
            );
            assert_eq!(
                g.nexthop.unwrap().1,
                "srv1",
                "the API route (srv1 only) is active"
            );
        }
        cp.delete_route(MAIN_TABLE, "198.51.100.0/24".parse().unwrap(), Origin::Api)
            .unwrap();
        assert!(cp
            .delete_route(MAIN_TABLE, "198.51.100.0/24".parse().unwrap(), Origin::Api)
            .unwrap_err()
            .to_string()
            .contains("it has: config"));
        assert!(cp
            .delete_route(MAIN_TABLE, "192.0.2.0/24".parse().unwrap(), Origin::Api)
            .unwrap_err()
            .to_string()
            .contains("no route"));
        // Routes in other tables are kept but not forwarded with.
        let t = config::parse_route(r#"{"prefix": "192.0.2.0/24", "table": 100, "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#, &c).unwrap();
        cp.add_route(t, Origin::Api, false).unwrap();
        assert_eq!(
            cp.route_get(
                "192.0.2.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
                6,
                1,
                2
            )
            .kind,
            "none"
        );
        assert!(cp.routes().iter().any(|v| v.spec.table == 100));
    }

    #[test]
    fn api_route_errors_name_the_field() {
        let (cp, _) = plane();
        let c = cp.config();
        for (body, field, msg) in [
            (
                r#"{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv9"}]}"#,
                "nexthops[0].port",
                "unknown port 'srv9'",
            ),
            (
                r#"{"prefix": "203.0.113.1/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#,
                "prefix",
                "host bits",
            ),
            (
                r#"{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1", "weight": 0}]}"#,
                "nexthops[0].weight",
                "outside",
            ),
            (
                r#"{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1", "wieght": 1}]}"#,
                "nexthops[0]",
                "unknown field `wieght`",
            ),
            (
                r#"{"prefix": "203.0.113.0/24"}"#,
                "prefix",
                "needs nexthops",
            ),
            (
                r#"{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}], "hash": {"policy": "l9"}}"#,
                "hash.policy",
                "unknown hash policy",
            ),
        ] {
            let e = config::parse_route(body, c).unwrap_err();
            assert!(e.key.starts_with(field), "{body}: {e}");
            assert!(e.message.contains(msg), "{body}: {e}");
        }
    }

    #[test]
    fn reload_applies_routes_and_refuses_port_changes() {
        let (mut cp, _) = plane();
        let id1 = cp
            .nexthop_id(PortId(1), "10.1.0.2".parse().unwrap())
            .unwrap();
        let api = config::parse_route(
            r#"{"prefix": "203.0.113.0/24", "nexthops": [{"via": "10.2.0.2", "port": "srv2"}]}"#,
            cp.config(),
        )
        .unwrap();
        cp.add_route(api, Origin::Api, false).unwrap();
        let bad = config::parse(&CFG.replace("net_null2", "net_null7"), "t").unwrap();
        assert!(cp.reload(bad).unwrap_err().to_string().contains("restart"));
        assert_eq!(cp.routes().len(), 2, "a refused reload changes nothing");
        let new = config::parse(&CFG.replace("198.51.100.0/24", "198.51.101.0/24"), "t").unwrap();
        cp.reload(new).unwrap();
        let prefixes: Vec<String> = cp
            .routes()
            .iter()
            .map(|v| format!("{}:{}", v.spec.prefix, v.origin.name()))
            .collect();
        assert_eq!(
            prefixes,
            ["198.51.101.0/24:config", "203.0.113.0/24:api"],
            "config routes replaced, API routes kept"
        );
        assert_eq!(
            cp.nexthop_id(PortId(1), "10.1.0.2".parse().unwrap()),
            Some(id1),
            "nexthop ids (and their counters) survive a reload"
        );
        assert_eq!(
            cp.route_get(
                "198.51.100.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
                6,
                1,
                2
            )
            .kind,
            "none"
        );
    }
}
