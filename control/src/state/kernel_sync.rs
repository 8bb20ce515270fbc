//! Routes and neighbours read from the kernel (kernel-routes, kernel interfaces).

use super::*;

/// The kernel side: the kernel interfaces' ifindexes, and with
/// `kernel-routes` the kernel's routes as last resolved, its nexthop objects
/// and the routes that use each object.
#[derive(Default)]
pub(super) struct KernelState {
    ifindex: HashMap<u32, PortId>,
    routes: HashMap<(u32, Prefix), crate::fpm::Resolved>,
    objects: HashMap<u32, crate::fpm::Object>,
    object_routes: HashMap<u32, std::collections::HashSet<(u32, Prefix)>>,
}

impl KernelState {
    /// The port of kernel interface `ifindex`; `None` for another interface.
    pub(super) fn port_of(&self, ifindex: u32) -> Option<PortId> {
        self.ifindex.get(&ifindex).copied()
    }

    /// True when the router has kernel interfaces.
    pub(super) fn has_interfaces(&self) -> bool {
        !self.ifindex.is_empty()
    }
}

impl ControlPlane {
    /// A neighbour from the kernel's table on a kernel interface (the RFC
    /// 5549 gateway zebra installs): `Some(mac)` makes it a permanent
    /// neighbour on `port`, which the router never solicits; `None` hands it
    /// back to the router's own resolution.
    pub fn set_kernel_neighbor(&mut self, port: PortId, addr: IpAddr, mac: Option<MacAddr>) {
        match mac {
            Some(mac) => {
                let kind = if let Some(id) = self.registry.id(port, addr) {
                    self.registry[id].kind
                } else {
                    NexthopKind::Host
                };
                if let Some(id) = self.add_nexthop(port, addr, kind) {
                    self.registry[id].permanent = true;
                    self.neighbors.set(id, mac);
                    self.neighbors.set_down(id, DownFlag::Unreachable, false);
                    crate::log_limited!(info, crate::loglimit::Kind::KernelNeighbor, crate::loglimit::source(addr); port = %self.config.ports[port.index()].name, %addr, %mac, "kernel neighbour mirrored");
                }
            }
            None => {
                if let Some(id) = self.registry.id(port, addr) {
                    self.registry[id].permanent = false;
                    self.neighbors.clear(id);
                }
            }
        }
        self.commit();
    }

    /// Applies changes of the kernel's routing table (`kernel-routes`), then
    /// publishes once. Routes install with origin `kernel`, below FPM, the
    /// config and the API. A route through a kernel nexthop object gets the
    /// object's paths; when the object changes, its routes follow. Routes
    /// with no path on a kernel interface (the host's own) are ignored,
    /// counted in `kernel_routes_ignored`.
    pub fn apply_kernel(&mut self, changes: impl IntoIterator<Item = crate::fpm::Change>) {
        use crate::fpm::Change;
        let mut any = false;
        for c in changes {
            any = true;
            match c {
                Change::Route(r) => {
                    let key = r.key;
                    let old_obj = self.kernel.routes.get(&key).and_then(|o| o.object);
                    if let Some(id) = old_obj {
                        if let Some(set) = self.kernel.object_routes.get_mut(&id) {
                            set.remove(&key);
                        }
                    }
                    let withdrawn =
                        r.members.is_empty() && r.reject.is_none() && r.object.is_none();
                    if withdrawn {
                        self.kernel.routes.remove(&key);
                    } else {
                        if let Some(id) = r.object {
                            self.kernel.object_routes.entry(id).or_default().insert(key);
                        }
                        self.kernel.routes.insert(key, r);
                    }
                    self.sync_kernel_route(key);
                }
                Change::Object(o) => {
                    let id = o.id;
                    if o.exists {
                        self.kernel.objects.insert(id, o);
                    } else {
                        self.kernel.objects.remove(&id);
                    }
                    let keys: Vec<_> = self
                        .kernel
                        .object_routes
                        .get(&id)
                        .map(|s| s.iter().copied().collect())
                        .unwrap_or_default();
                    for k in keys {
                        self.sync_kernel_route(k);
                    }
                }
            }
        }
        if any {
            self.commit();
        }
    }

    /// Installs (or removes) the kernel's route at `key` as it is now.
    pub(super) fn sync_kernel_route(&mut self, key: (u32, Prefix)) {
        let (table, prefix) = key;
        let vrf = Some(self.config.vrf_of_table(table));
        let group = self.kernel.routes.get(&key).and_then(|r| {
            if let Some(x) = r.reject {
                return Some(RouteGroup::Reject(x));
            }
            let (members, blackhole) = match r.object {
                Some(id) => {
                    let o = self.kernel.objects.get(&id)?;
                    (o.members.as_slice(), o.blackhole)
                }
                None => (r.members.as_slice(), false),
            };
            if blackhole {
                return Some(RouteGroup::Reject(crate::config::Reject::Blackhole));
            }
            if let Some(port) = self.fpm_device(members, vrf) {
                return Some(RouteGroup::Connected(port));
            }
            let nexthops = self.fpm_nexthops(members, vrf);
            (!nexthops.is_empty()).then(|| RouteGroup::Inline(Box::new(Self::fpm_group(nexthops))))
        });
        match group {
            Some(group) => {
                let r = &self.kernel.routes[&key];
                let spec = self.learned_spec(key, group, r.protocol, r.metric);
                self.rib.set(key, Origin::Kernel, spec);
            }
            None => {
                if self.kernel.routes.contains_key(&key) {
                    self.counters.kernel_routes_ignored += 1;
                }
                self.rib.remove(key, Origin::Kernel);
            }
        }
        self.sync_at(table, prefix);
    }

    /// The router's kernel interfaces (`kernel-interfaces`), by ifindex: FPM
    /// paths then name their port exactly (RTA_OIF / NHA_OIF), and the
    /// subnet guess is only for paths without an interface.
    pub fn set_kernel_interfaces(&mut self, ifs: impl IntoIterator<Item = (u32, PortId)>) {
        self.kernel.ifindex = ifs.into_iter().collect();
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::*;

    #[test]
    fn kernel_routes_install_below_fpm_and_follow_their_objects() {
        use crate::fpm::{Change, Hop, Object, Resolved};
        let (mut cp, _) = plane();
        cp.set_kernel_interfaces([(7, PortId(1)), (8, PortId(2))]);
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let hop = |via: &str, ifindex: u32, weight: u32| Hop {
            via: Some(ip(via)),
            ifindex,
            weight,
        };
        let key = (MAIN_TABLE, p("203.0.113.0/24"));
        cp.apply_kernel(vec![
            Change::Object(Object {
                id: 5,
                members: vec![hop("10.1.0.2", 7, 1)],
                blackhole: false,
                exists: true,
            }),
            Change::Route(Resolved {
                object: Some(5),
                ..Resolved::withdrawn(key)
            }),
            // The host's own route, through an interface that is not the router's.
            Change::Route(Resolved {
                members: vec![hop("192.168.1.1", 2, 1)],
                ..Resolved::withdrawn((MAIN_TABLE, p("0.0.0.0/0")))
            }),
        ]);
        let via = |cp: &ControlPlane| {
            let v = cp.routes();
            let r = v.iter().find(|r| r.spec.prefix == key.1).unwrap().clone();
            let RouteGroup::Inline(gc) = &r.spec.group else {
                panic!("{r:?}")
            };
            (
                r.origin,
                gc.nexthops.iter().map(|n| n.via).collect::<Vec<_>>(),
            )
        };
        assert_eq!(via(&cp), (Origin::Kernel, vec![ip("10.1.0.2")]));
        assert_eq!(cp.counters.kernel_routes_ignored, 1);
        assert!(cp.routes().iter().all(|r| r.spec.prefix != p("0.0.0.0/0")));
        // The object changes: its route follows.
        cp.apply_kernel(vec![Change::Object(Object {
            id: 5,
            members: vec![hop("10.1.0.2", 7, 1), hop("10.2.0.2", 8, 3)],
            blackhole: false,
            exists: true,
        })]);
        assert_eq!(via(&cp).1, vec![ip("10.1.0.2"), ip("10.2.0.2")]);
        // zebra writes the same route to FPM: one route, FPM's, active.
        cp.apply_fpm(vec![Resolved {
            members: vec![hop("10.2.0.2", 8, 1)],
            ..Resolved::withdrawn(key)
        }]);
        let v = cp.routes();
        let active: Vec<_> = v
            .iter()
            .filter(|r| r.spec.prefix == key.1 && r.active)
            .map(|r| r.origin)
            .collect();
        assert_eq!(active, [Origin::Fpm]);
        // Withdrawn from the kernel: the FPM route stays.
        cp.apply_kernel(vec![Change::Route(Resolved::withdrawn(key))]);
        let v = cp.routes();
        let left: Vec<_> = v
            .iter()
            .filter(|r| r.spec.prefix == key.1)
            .map(|r| r.origin)
            .collect();
        assert_eq!(left, [Origin::Fpm]);
    }

    #[test]
    fn with_kernel_interfaces_fpm_paths_map_to_ports_by_ifindex() {
        use crate::fpm::{Hop, Resolved};
        let (mut cp, _) = plane();
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let hop = |via: Option<&str>, ifindex: u32| Hop {
            via: via.map(ip),
            ifindex,
            weight: 1,
        };
        // srv1 is ifindex 7 and srv2 ifindex 8 in the router's namespace.
        cp.set_kernel_interfaces([(7, PortId(1)), (8, PortId(2))]);
        cp.apply_fpm(vec![
            // A link-local gateway: on no subnet, exactly on srv1.
            Resolved {
                members: vec![hop(Some("fe80::2"), 7), hop(Some("fe80::3"), 8)],
                ..Resolved::withdrawn((MAIN_TABLE, p("2001:db8:7::/48")))
            },
            // A device route: connected on srv2.
            Resolved {
                members: vec![hop(None, 8)],
                ..Resolved::withdrawn((MAIN_TABLE, p("198.18.5.0/24")))
            },
            // RFC 5549: IPv4 over the onlink gateway, on the kernel interface.
            Resolved {
                members: vec![hop(Some("169.254.0.1"), 7)],
                ..Resolved::withdrawn((MAIN_TABLE, p("203.0.113.0/24")))
            },
            // An interface that is not one of the router's.
            Resolved {
                members: vec![hop(Some("10.1.0.2"), 99)],
                ..Resolved::withdrawn((MAIN_TABLE, p("192.0.2.0/24")))
            },
        ]);
        let v = cp.routes();
        let r = v
            .iter()
            .find(|r| r.spec.prefix == p("2001:db8:7::/48"))
            .unwrap();
        let RouteGroup::Inline(gc) = &r.spec.group else {
            panic!("{r:?}")
        };
        let hops: Vec<_> = gc.nexthops.iter().map(|n| (n.via, n.port)).collect();
        assert_eq!(
            hops,
            [(ip("fe80::2"), PortId(1)), (ip("fe80::3"), PortId(2))]
        );
        assert!(r.active);
        let g = cp.route_get(ip("198.18.5.9"), ip("10.0.0.2"), 6, 1, 2);
        assert_eq!(
            (g.kind, g.nexthop),
            ("connected", Some((ip("198.18.5.9"), "srv2".into())))
        );
        let r = v
            .iter()
            .find(|r| r.spec.prefix == p("203.0.113.0/24"))
            .unwrap();
        let RouteGroup::Inline(gc) = &r.spec.group else {
            panic!("{r:?}")
        };
        let n = &gc.nexthops[0];
        assert_eq!((n.via, n.port), (ip("169.254.0.1"), PortId(1)));
        // Its MAC comes from the kernel's neighbour (zebra's PERMANENT entry):
        // then traffic flows, and nobody is asked for 169.254.0.1.
        let get = |cp: &ControlPlane| {
            cp.route_get(ip("203.0.113.1"), ip("10.0.0.2"), 6, 1, 2)
                .nexthop
        };
        assert_eq!(get(&cp), None);
        cp.set_kernel_neighbor(
            PortId(1),
            ip("169.254.0.1"),
            Some(MacAddr([2, 0, 0, 0, 1, 9])),
        );
        assert_eq!(get(&cp), Some((ip("169.254.0.1"), "srv1".into())));
        let nb = cp.nexthops();
        let e = nb.iter().find(|n| n.addr == ip("169.254.0.1")).unwrap();
        assert_eq!(e.state, NudState::Permanent);
        cp.set_kernel_neighbor(PortId(1), ip("169.254.0.1"), None);
        assert_eq!(get(&cp), None);
        let ni = cp.fpm_not_installed();
        assert_eq!(ni.len(), 1, "{ni:?}");
        assert_eq!(ni[0].reason, NotInstalled::NoPortForGateway);
        // Without kernel interfaces, the link-local and RFC 5549 routes have
        // no port (the subnet guess cannot place them).
        let (mut cp, _) = plane();
        cp.apply_fpm(vec![Resolved {
            members: vec![hop(Some("169.254.0.1"), 7)],
            ..Resolved::withdrawn((MAIN_TABLE, p("203.0.113.0/24")))
        }]);
        assert_eq!(
            cp.fpm_not_installed()[0].reason,
            NotInstalled::Ipv6NexthopOnlink
        );
    }
}
