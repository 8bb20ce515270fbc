//! Routes and neighbours read from the kernel (kernel-routes, kernel interfaces).

use super::*;

/// The kernel side: the kernel interfaces' ifindexes, and with
/// `kernel-routes` the kernel's routes as last resolved, its nexthop objects
/// and the routes that use each object.
#[derive(Default)]
pub(super) struct KernelState {
    pub(super) ifindex: HashMap<u32, PortId>,
    pub(super) routes: HashMap<(u32, Prefix), crate::fpm::Resolved>,
    pub(super) objects: HashMap<u32, crate::fpm::Object>,
    pub(super) object_routes: HashMap<u32, std::collections::HashSet<(u32, Prefix)>>,
}

impl ControlPlane {
    /// A neighbour from the kernel's table on a kernel interface (the RFC
    /// 5549 gateway zebra installs): `Some(mac)` makes it a permanent
    /// neighbour on `port`, which the router never solicits; `None` hands it
    /// back to the router's own resolution.
    pub fn set_kernel_neighbor(&mut self, port: PortId, addr: IpAddr, mac: Option<MacAddr>) {
        match mac {
            Some(mac) => {
                let kind = if self.registry.index.contains_key(&(port, addr)) {
                    self.registry.entries[self.registry.index[&(port, addr)].index()].kind
                } else {
                    NexthopKind::Host
                };
                if let Some(id) = self.add_nexthop(port, addr, kind) {
                    self.registry.entries[id.index()].permanent = true;
                    self.neighbors.set(id, mac);
                    self.neighbors.set_down(id, DownFlag::Unreachable, false);
                    crate::log_limited!(info, crate::loglimit::Kind::KernelNeighbor, crate::loglimit::source(addr); port = %self.config.ports[port.index()].name, %addr, %mac, "kernel neighbour mirrored");
                }
            }
            None => {
                if let Some(&id) = self.registry.index.get(&(port, addr)) {
                    self.registry.entries[id.index()].permanent = false;
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
            if let Some(port) = self.fpm_device(members) {
                return Some(RouteGroup::Connected(port));
            }
            let nexthops = self.fpm_nexthops(members);
            (!nexthops.is_empty()).then(|| RouteGroup::Inline(Self::fpm_group(nexthops)))
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
