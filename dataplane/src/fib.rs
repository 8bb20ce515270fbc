//! One immutable FIB generation: route tables, nexthop groups, nexthops,
//! host adjacencies on connected subnets, and port facts.
//!
//! Workers load one `Arc<Fib>` per burst and never see it change, apart from
//! the atomic neighbour MACs in [`Neighbors`] (ARCHITECTURE.md invariant 2).
//! The control plane builds the next generation, publishes it, and frees the
//! old one after a grace period.
//!
//! A route carries its own hash config (the config's default or the route's
//! override), so routes sharing a group may hash differently. Parts that did not change are shared between
//! generations through `Arc`, so learning a neighbour does not rebuild routes.

use crate::hash::HashConfig;
use crate::intern::Interner;
use crate::lpm::Lpm;
use crate::neighbor::Neighbors;
use crate::nhg::Group;
use crate::types::{GroupId, MacAddr, NexthopId, PortId, Prefix};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Where a route sends packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// One of the router's own addresses.
    Local,
    /// A subnet directly on `PortId`: the destination itself is the neighbour.
    Connected(PortId),
    /// A weighted nexthop group.
    Group(GroupId),
    /// Drop silently (counted as `blackhole`).
    Blackhole,
    /// Drop with ICMP Host Unreachable / ICMPv6 No Route (counted as `unreachable`).
    Unreachable,
    /// Drop with ICMP Administratively Prohibited (counted as `prohibit`).
    Prohibit,
}

/// An adjacency: a neighbour address reached through a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nexthop {
    /// Egress port.
    pub port: PortId,
    /// Neighbour address.
    pub addr: IpAddr,
}

/// What the dataplane needs to know of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortInfo {
    /// The port's MAC address.
    pub mac: MacAddr,
    /// IP MTU.
    pub mtu: u16,
    /// First IPv4 address (source of ICMP errors sent from this port).
    pub v4: Option<Ipv4Addr>,
    /// First IPv6 address (source of ICMPv6 errors sent from this port).
    pub v6: Option<Ipv6Addr>,
    /// The port has a kernel interface (`kernel-interfaces`): what is for
    /// the router and not consumed by it goes there.
    pub kernel: bool,
    /// The port's IPv6 link-local address (EUI-64 of its MAC, as the kernel
    /// gives its interface).
    pub link_local: Ipv6Addr,
    /// The device port frames leave by: the port itself, or a VLAN
    /// sub-interface's trunk.
    pub parent: PortId,
    /// A VLAN sub-interface's VID (frames leaving by it are tagged); 0 for
    /// a device port.
    pub vlan: u16,
    /// Its VRF: 0 forwards with `Fib::routes` (table main), `n` with
    /// `Fib::vrfs[n - 1]`.
    pub vrf: u8,
}

/// A route's target and the hash its group selection uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    /// Where packets go.
    pub target: Target,
    /// Hash policy and seed (the config default or the route's override).
    pub hash: HashConfig,
    /// Keep each flow on the nexthop its first packet got (the worker's flow table).
    pub sticky: bool,
}

/// Route tables for both families: the LPM tries, and the distinct route
/// values their leaves index.
///
/// A full table has a million prefixes but a handful of distinct routes
/// (the same group, hash and stickiness), so a leaf holds the index of its
/// value in a small interned set, counted by use; the tries are the only
/// per-prefix memory, and they answer exact-match questions themselves
/// ([`Lpm::get`]) where a prefix index would double the table.
///
/// A table is changed in place through [`RouteTable::apply`]; the control plane
/// keeps two and changes only the one no worker can see (docs/architecture.md,
/// "Route updates"). Applying the same operations in the same order to two
/// tables gives identical tables, slots included.
#[derive(Clone, Debug)]
pub struct RouteTable {
    v4: Lpm,
    v6: Lpm,
    /// The distinct route values the leaves index, counted by prefix; a
    /// free slot is [`Target::Blackhole`].
    values: Interner<Route>,
    counts: (usize, usize),
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            v4: Lpm::ipv4(),
            v6: Lpm::ipv6(),
            values: Interner::new(BLACKHOLE),
            counts: (0, 0),
        }
    }
}

const BLACKHOLE: Route = Route {
    target: Target::Blackhole,
    hash: HashConfig {
        policy: crate::hash::HashPolicy::L3,
        seed: 0,
    },
    sticky: false,
};

/// One change to a [`RouteTable`], with what the table held before it.
///
/// The table keeps no index of its prefixes (the tries are its only
/// per-prefix memory, and a prefix that longer ones cover entirely leaves no
/// trace in them), so the change says what it replaces: the caller's own
/// record of the table knows (the control plane's installed routes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteOp {
    /// Adds the route for a prefix, or replaces `old`, the route it had.
    Set(Prefix, Route, Option<Route>),
    /// Removes the prefix's route `old`; `cover` is the longest remaining
    /// shorter prefix that holds it, by length, with its route.
    Remove(Prefix, Route, Option<(u8, Route)>),
}

/// Collects routes, then builds a [`RouteTable`].
#[derive(Debug, Default)]
pub struct RouteTableBuilder {
    routes: Vec<(Prefix, Route)>,
}

impl RouteTableBuilder {
    /// Adds a route with the default hash. A later route for the same prefix replaces an earlier one.
    pub fn add_route(&mut self, p: Prefix, t: Target) {
        self.add_route_hashed(p, t, HashConfig::default());
    }
    /// Adds a route with its own hash config.
    pub fn add_route_hashed(&mut self, p: Prefix, target: Target, hash: HashConfig) {
        self.routes.push((
            p,
            Route {
                target,
                hash,
                sticky: false,
            },
        ));
    }
    /// Builds the table.
    pub fn build(self) -> RouteTable {
        let mut t = RouteTable::default();
        let mut seen: HashMap<Prefix, Route> = HashMap::new();
        for (p, r) in self.routes {
            let old = seen.insert(p, r);
            t.apply(RouteOp::Set(p, r, old));
        }
        t
    }
}

impl RouteTable {
    /// Applies one change.
    ///
    /// An `old` or `cover` the table does not hold is a caller's mistake:
    /// the removal is skipped, the replacement counted as new.
    ///
    /// # Panics
    /// When the table would hold more than [`crate::lpm::MAX_VALUE`]
    /// distinct routes.
    pub fn apply(&mut self, op: RouteOp) {
        match op {
            RouteOp::Set(p, r, old) => {
                let slot = self.values.intern(r);
                let old = old.and_then(|o| self.values.id(&o));
                let lpm = self.family(p);
                if old != Some(slot) {
                    lpm.insert(p.key(), p.len(), slot);
                }
                match old {
                    Some(o) => self.values.release(o),
                    None if p.addr().is_ipv4() => self.counts.0 += 1,
                    None => self.counts.1 += 1,
                }
            }
            RouteOp::Remove(p, old, cover) => {
                let Some(old) = self.values.id(&old) else {
                    return;
                };
                let cover = cover.and_then(|(l, r)| self.values.id(&r).map(|s| (l, s)));
                self.family(p).remove(p.key(), p.len(), cover);
                if p.addr().is_ipv4() {
                    self.counts.0 -= 1;
                } else {
                    self.counts.1 -= 1;
                }
                self.values.release(old);
            }
        }
        self.v4
            .set_prefetch(self.counts.0 >= crate::lpm::PREFETCH_FROM);
        self.v6
            .set_prefetch(self.counts.1 >= crate::lpm::PREFETCH_FROM);
    }

    fn family(&mut self, p: Prefix) -> &mut Lpm {
        if p.addr().is_ipv4() {
            &mut self.v4
        } else {
            &mut self.v6
        }
    }

    /// The route for exactly `p`, where some address of `p` is not in a
    /// longer prefix (one covered entirely leaves no trace in the tries:
    /// the control plane's installed routes are the record of every prefix).
    pub fn get(&self, p: Prefix) -> Option<&Route> {
        let lpm = if p.addr().is_ipv4() {
            &self.v4
        } else {
            &self.v6
        };
        lpm.get(p.key(), p.len()).and_then(|s| self.values.get(s))
    }

    /// Distinct route values in use.
    pub fn distinct_routes(&self) -> usize {
        self.values.len()
    }

    /// The longest prefix in the table holding `dst`, with its route.
    pub fn matching(&self, dst: IpAddr) -> Option<(Prefix, &Route)> {
        let max = if dst.is_ipv4() { 32 } else { 128 };
        (0..=max).rev().find_map(|l| {
            let p = Prefix::new_truncating(dst, l);
            self.get(p).map(|r| (p, r))
        })
    }

    /// Bytes of LPM memory allocated (IPv4, IPv6).
    pub fn memory_bytes(&self) -> (usize, usize) {
        (self.v4.memory_bytes(), self.v6.memory_bytes())
    }

    /// Longest-prefix match for an IPv4 destination.
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<&Route> {
        let i = self.v4.lookup((u32::from(dst) as u128) << 96)?;
        self.values.get(i)
    }
    /// Longest-prefix match for an IPv6 destination.
    #[inline]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<&Route> {
        let i = self.v6.lookup(u128::from(dst))?;
        self.values.get(i)
    }
    /// [`Self::lookup_v6`] for many destinations at once, the trie walked in
    /// lock step ([`crate::lpm::Lpm::lookup_bulk`]); `out` gets one answer
    /// per destination (at most 32 at a time).
    #[inline]
    pub fn lookup_v6_bulk<'a>(&'a self, dsts: &[u128], out: &mut [Option<&'a Route>]) {
        let mut idx = [None; 32];
        let n = dsts.len().min(out.len()).min(32);
        self.v6.lookup_bulk(&dsts[..n], &mut idx[..n]);
        for (o, i) in out[..n].iter_mut().zip(idx) {
            *o = i.and_then(|i| self.values.get(i));
        }
    }
    /// Longest-prefix match for either family.
    pub fn lookup(&self, dst: IpAddr) -> Option<&Route> {
        match dst {
            IpAddr::V4(a) => self.lookup_v4(a),
            IpAddr::V6(a) => self.lookup_v6(a),
        }
    }
    /// Number of IPv4 and IPv6 prefixes.
    pub fn counts(&self) -> (usize, usize) {
        self.counts
    }
}

/// Host adjacencies learned on connected subnets: address -> nexthop.
/// Neighbours on connected subnets, by VRF and address (the same subnet
/// may be on interfaces of two VRFs).
pub type HostTable = HashMap<(u8, IpAddr), NexthopId>;

/// One FIB generation, as a worker sees it for one burst.
#[derive(Debug)]
pub struct Fib {
    /// Increases with every published generation.
    pub generation: u64,
    /// Routes of the default VRF (table main).
    pub routes: Arc<RouteTable>,
    /// The other VRFs' routes: VRF `n`'s are `vrfs[n - 1]`.
    pub vrfs: Arc<[Arc<RouteTable>]>,
    /// Nexthop groups, indexed by [`GroupId`] (`None`: a free slot). A group
    /// can be replaced (resilient rebalancing) without touching the routes.
    pub groups: Arc<[Option<Arc<Group>>]>,
    /// Every nexthop, indexed by [`NexthopId`].
    pub nexthops: Arc<[Nexthop]>,
    /// Neighbours on connected subnets.
    pub hosts: Arc<HostTable>,
    /// Ports, indexed by [`PortId`]: the device ports, then the VLAN
    /// sub-interfaces.
    pub ports: Arc<[PortInfo]>,
    /// The VLAN sub-interfaces of each device port, by VID.
    pub vlans: Arc<crate::vlan::VlanMap>,
    /// Resolved MACs, shared by all generations.
    pub neighbors: Arc<Neighbors>,
    /// Policy rules (empty: every packet follows its route).
    pub policy: Arc<crate::policy::Policy>,
    /// Source NAT per uplink (empty: none).
    pub snat: Arc<crate::nat::Snat>,
}

/// Where a forwarded packet goes: the nexthop, its port and its MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hop {
    /// The nexthop (for its counters).
    pub nh: NexthopId,
    /// Egress port.
    pub port: PortId,
    /// The neighbour's MAC, as [`MacAddr::to_u64`] gives it (it stays in a
    /// register where a 6-byte array would go through memory).
    pub mac: u64,
}

/// Why [`Fib::resolve`] or [`Fib::pick`] found no hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoHop {
    /// The nexthop (every member, for a pick) is down or unresolved.
    Down,
    /// The id is not in this generation (`dangling_id`).
    Dangling,
}

impl Fib {
    /// The hop of nexthop `nh` if it is live. The one place that turns a
    /// nexthop id into a port and a MAC.
    #[inline(always)]
    pub fn resolve(&self, nh: NexthopId) -> Result<Hop, NoHop> {
        let mac = self.neighbors.live_u64(nh).ok_or(NoHop::Down)?;
        self.hop(nh, mac)
    }

    /// A live member of `group` for flow hash `hash`, and its hop.
    #[inline(always)]
    pub fn pick(&self, group: &Group, hash: u32) -> Result<Hop, NoHop> {
        let (nh, mac) = group
            .select_live_u64(hash, &self.neighbors)
            .ok_or(NoHop::Down)?;
        self.hop(nh, mac)
    }

    #[inline(always)]
    fn hop(&self, nh: NexthopId, mac: u64) -> Result<Hop, NoHop> {
        match self.nexthop(nh) {
            Some(n) => Ok(Hop {
                nh,
                port: n.port,
                mac,
            }),
            None => Err(NoHop::Dangling),
        }
    }

    /// A nexthop by id.
    #[inline]
    pub fn nexthop(&self, id: NexthopId) -> Option<&Nexthop> {
        self.nexthops.get(id.index())
    }
    /// A group by id.
    #[inline]
    pub fn group(&self, id: GroupId) -> Option<&Group> {
        self.groups.get(id.index()).and_then(|g| g.as_deref())
    }
    /// A port by id.
    #[inline]
    pub fn port(&self, id: PortId) -> Option<&PortInfo> {
        self.ports.get(id.index())
    }

    /// The routes interface `port` forwards with: its VRF's.
    #[inline(always)]
    pub fn table(&self, port: &PortInfo) -> &RouteTable {
        match port.vrf {
            0 => &self.routes,
            n => self.vrfs.get(n as usize - 1).map_or(&NO_ROUTES, |t| t),
        }
    }
}

/// What a VRF the FIB has no table for yet forwards with: nothing (never
/// the default VRF's routes).
static NO_ROUTES: std::sync::LazyLock<RouteTable> = std::sync::LazyLock::new(RouteTable::default);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn route(g: u32) -> Route {
        Route {
            target: Target::Group(GroupId(g)),
            hash: HashConfig::default(),
            sticky: false,
        }
    }

    /// What the control plane does: keeps the record of every prefix and
    /// passes the old route and the cover with each change.
    fn apply(t: &mut RouteTable, model: &mut HashMap<Prefix, Route>, p: Prefix, r: Option<Route>) {
        match r {
            Some(r) => t.apply(RouteOp::Set(p, r, model.insert(p, r))),
            None => {
                if let Some(old) = model.remove(&p) {
                    let cover = (0..p.len()).rev().find_map(|l| {
                        let c = Prefix::new_truncating(p.addr(), l);
                        model.get(&c).map(|r| (l, *r))
                    });
                    t.apply(RouteOp::Remove(p, old, cover));
                }
            }
        }
    }

    #[test]
    fn a_prefix_covered_entirely_by_longer_ones_comes_back_when_they_go() {
        let (mut t, mut m) = (RouteTable::default(), HashMap::new());
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        apply(&mut t, &mut m, p("10.0.0.0/17"), Some(route(1)));
        apply(&mut t, &mut m, p("10.0.0.0/16"), Some(route(2)));
        apply(&mut t, &mut m, p("10.0.128.0/17"), Some(route(1)));
        assert_eq!(t.counts(), (3, 0));
        assert_eq!(t.distinct_routes(), 2);
        // The /16 shows nowhere; replacing it keeps the count.
        apply(&mut t, &mut m, p("10.0.0.0/16"), Some(route(3)));
        assert_eq!(t.counts(), (3, 0));
        apply(&mut t, &mut m, p("10.0.128.0/17"), None);
        assert_eq!(t.lookup_v4("10.0.200.1".parse().unwrap()), Some(&route(3)));
        assert_eq!(t.lookup_v4("10.0.1.1".parse().unwrap()), Some(&route(1)));
        apply(&mut t, &mut m, p("10.0.0.0/17"), None);
        apply(&mut t, &mut m, p("10.0.0.0/16"), None);
        assert_eq!((t.counts(), t.distinct_routes()), ((0, 0), 0));
        assert_eq!(t.lookup_v4("10.0.1.1".parse().unwrap()), None);
    }

    proptest! {
        /// Random changes over nested prefixes: every lookup and the
        /// counts agree with the model, and the interned values in use are
        /// exactly the model's distinct routes.
        #[test]
        fn changes_match_a_model(
            ops in proptest::collection::vec((any::<u8>(), 12u8..=26, proptest::option::of(0u32..4)), 1..80),
            probes in proptest::collection::vec(any::<u16>(), 40),
        ) {
            let (mut t, mut m) = (RouteTable::default(), HashMap::new());
            for &(a, l, g) in &ops {
                let addr = Ipv4Addr::from(0x0a00_0000u32 | (a as u32) << 12);
                let p = Prefix::new_truncating(IpAddr::V4(addr), l);
                apply(&mut t, &mut m, p, g.map(route));
            }
            prop_assert_eq!(t.counts(), (m.len(), 0));
            let distinct: std::collections::HashSet<_> = m.values().collect();
            prop_assert_eq!(t.distinct_routes(), distinct.len());
            for &x in &probes {
                let dst = Ipv4Addr::from(0x0a00_0000u32 | (x as u32) << 8);
                let want = (0..=32u8).rev().find_map(|l| m.get(&Prefix::new_truncating(IpAddr::V4(dst), l)));
                prop_assert_eq!(t.lookup_v4(dst), want);
            }
        }
    }
}
