//! Routes and neighbours read from the kernel (kernel-routes, kernel interfaces).

use super::*;

impl ControlPlane {
    /// A neighbour from the kernel's table on a kernel interface (the RFC
    /// 5549 gateway zebra installs): `Some(mac)` makes it a permanent
    /// neighbour on `port`, which the router never solicits; `None` hands it
    /// back to the router's own resolution.
    pub fn set_kernel_neighbor(&mut self, port: PortId, addr: IpAddr, mac: Option<MacAddr>) {
        match mac {
            Some(mac) => {
                let kind = if self.index.contains_key(&(port, addr)) {
                    self.entries[self.index[&(port, addr)].index()].kind
                } else {
                    NexthopKind::Host
                };
                if let Some(id) = self.add_nexthop(port, addr, kind) {
                    self.entries[id.index()].permanent = true;
                    self.neighbors.set(id, mac);
                    self.neighbors.set_down(id, DownFlag::Unreachable, false);
                    tracing::info!(port = %self.config.ports[port.index()].name, %addr, %mac, "kernel neighbour mirrored");
                }
            }
            None => {
                if let Some(&id) = self.index.get(&(port, addr)) {
                    self.entries[id.index()].permanent = false;
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
                    let old_obj = self.kernel_routes.get(&key).and_then(|o| o.object);
                    if let Some(id) = old_obj {
                        if let Some(set) = self.kernel_object_routes.get_mut(&id) {
                            set.remove(&key);
                        }
                    }
                    let withdrawn =
                        r.members.is_empty() && r.reject.is_none() && r.object.is_none();
                    if withdrawn {
                        self.kernel_routes.remove(&key);
                    } else {
                        if let Some(id) = r.object {
                            self.kernel_object_routes.entry(id).or_default().insert(key);
                        }
                        self.kernel_routes.insert(key, r);
                    }
                    self.sync_kernel_route(key);
                }
                Change::Object(o) => {
                    let id = o.id;
                    if o.exists {
                        self.kernel_objects.insert(id, o);
                    } else {
                        self.kernel_objects.remove(&id);
                    }
                    let keys: Vec<_> = self
                        .kernel_object_routes
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
        let group = self.kernel_routes.get(&key).and_then(|r| {
            if let Some(x) = r.reject {
                return Some(RouteGroup::Reject(x));
            }
            let (members, blackhole) = match r.object {
                Some(id) => {
                    let o = self.kernel_objects.get(&id)?;
                    (o.members.as_slice(), o.blackhole)
                }
                None => (r.members.as_slice(), false),
            };
            if blackhole {
                return Some(RouteGroup::Reject(crate::config::Reject::Blackhole));
            }
            if let Some(port) = self.fpm_device(members) {
                return Some(RouteGroup::Connected(port));
            }
            let nexthops = self.fpm_nexthops(members);
            (!nexthops.is_empty()).then(|| RouteGroup::Inline(Self::fpm_group(nexthops)))
        });
        match group {
            Some(group) => {
                let r = &self.kernel_routes[&key];
                let spec = RouteSpec {
                    table,
                    prefix,
                    group,
                    hash: self.config.hash,
                    sticky: false,
                    protocol: r.protocol,
                    metric: r.metric,
                };
                self.rib.set(key, Origin::Kernel, spec);
            }
            None => {
                if self.kernel_routes.contains_key(&key) {
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
        self.kernel_ifindex = ifs.into_iter().collect();
    }
}
