//! The control plane's state: it turns the config and learned neighbours into
//! FIB generations, answers and sends ARP and NDP, and keeps neighbours fresh.
//!
//! Neighbour handling follows RFC 826 (ARP: merge the sender into the table
//! when it is already known or when the request is for us) and RFC 4861
//! (NDP: hop limit 255, valid checksum; learn from NS source and NA target
//! link-layer options). Neighbours on a connected subnet become host
//! adjacencies with their own nexthop id, so reply traffic to clients is
//! forwarded and counted like any other nexthop.

mod error;
mod fib_builder;
#[cfg(test)]
mod fixture;
mod fpm_sync;
mod groups;
mod kernel_sync;
mod memory;
mod neighbors;
mod nexthops;
mod prober;
mod routes;
#[cfg(test)]
mod vlans;
#[cfg(test)]
mod vrfs;

use crate::config::{Config, GroupConfig, IfAddr, RouteGroup, RouteSpec, UplinkConfig, MAIN_TABLE};
use crate::punt::{Channels, HeldFrame, InjectFrame, PuntFrame, ResolveRequest};
use crate::rcu::{Publisher, Quiescent};
use dataplane::fib::{Fib, HostTable, Nexthop, PortInfo, Route, RouteOp, RouteTable, Target};
use dataplane::frames;
use dataplane::hash::HashConfig;
use dataplane::neighbor::{DownFlag, Neighbors};
use dataplane::nhg::{Algorithm, Group, ResilientTable};
use dataplane::types::{GroupId, MacAddr, NexthopId, PortId, Prefix};
use dataplane::wire::{arp, ethernet, icmpv6, ipv6, proto};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often an unresolved host on a connected subnet is asked again.
pub const RETRY: Duration = Duration::from_secs(1);
/// A STALE host that gets no traffic for this long is forgotten (the
/// kernel's `gc_stale_time`), and asked for again when traffic comes.
/// Gateways are probed instead (see `liveness` in the config).
pub const GC_STALE: Duration = Duration::from_secs(60);
/// How long a DELAY host has to speak up before it is probed (the kernel's
/// `delay_first_probe_time`).
pub const DELAY_PROBE: Duration = Duration::from_secs(5);

/// A neighbour's state, as the kernel names them (`ip neigh`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NudState {
    /// Static.
    Permanent,
    /// Being resolved.
    Incomplete,
    /// Confirmed recently.
    Reachable,
    /// Not confirmed for `reachable-time`; still used.
    Stale,
    /// Traffic went to a STALE host: waiting before probing.
    Delay,
    /// Unicast probes to its last MAC.
    Probe,
    /// Did not answer.
    Failed,
}

impl NudState {
    /// The name `ip neigh` prints.
    pub fn name(self) -> &'static str {
        match self {
            NudState::Permanent => "PERMANENT",
            NudState::Incomplete => "INCOMPLETE",
            NudState::Reachable => "REACHABLE",
            NudState::Stale => "STALE",
            NudState::Delay => "DELAY",
            NudState::Probe => "PROBE",
            NudState::Failed => "FAILED",
        }
    }
}

/// Why a nexthop exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NexthopKind {
    /// A gateway of a configured route.
    Gateway,
    /// A host on a connected subnet, learned or static.
    Host,
}

#[derive(Clone, Debug)]
struct Entry {
    nh: Nexthop,
    kind: NexthopKind,
    permanent: bool,
    last_seen: Option<Instant>,
    last_asked: Option<Instant>,
    /// Gateways: probes sent since the last sign of life.
    unanswered: u32,
    /// Created through the API: kept (resolved and probed) with no group using it.
    pinned: bool,
    /// Deleted through the API: not probed or shown; its id is reused if it comes back.
    removed: bool,
    /// Hosts past REACHABLE: since when traffic made it DELAY, and the
    /// unicast probes sent since (PROBE when above 0). `None`: STALE.
    nud: Option<(Instant, u32)>,
    /// The packets forwarded to it when the control thread last looked.
    tx_seen: u64,
}

impl Entry {
    /// A new entry: not permanent, pinned or removed, never seen or asked.
    fn fresh(nh: Nexthop, kind: NexthopKind) -> Entry {
        Entry {
            nh,
            kind,
            permanent: false,
            last_seen: None,
            last_asked: None,
            unanswered: 0,
            pinned: false,
            removed: false,
            nud: None,
            tx_seen: 0,
        }
    }
}

use crate::rib::Rib;
pub use crate::rib::{ByOrigin, Origin};
pub use error::{GroupError, NexthopError, ReloadError, RouteError};

/// What identifies a group. Routes with the same members share one group
/// (as FRR's nexthop groups do), so a full table needs few groups. A
/// resilient group of a route is the route's own: its bucket table is state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum GroupKey {
    Named(String),
    Shared(GroupConfig),
    Inline(u32, Prefix, Origin),
    /// An FPM nexthop object, by its id.
    Object(u32),
}

/// An FPM nexthop object as the control plane installs it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum FpmObject {
    /// Gateways mapped to ports: the group its routes share.
    Group(GroupConfig),
    /// A blackhole object.
    Reject(crate::config::Reject),
    /// Nothing installable, and why (`None`: no gateway at all, as FRR's
    /// connected nexthops; the router has its own connected routes).
    Unusable(Option<NotInstalled>),
}

/// A route as the API shows it.
#[derive(Clone, Debug)]
pub struct RouteView {
    /// Its origin.
    pub origin: Origin,
    /// True when this origin's entry is the one in use.
    pub active: bool,
    /// The route.
    pub spec: RouteSpec,
    /// For a route through an FPM nexthop object: what the object is now (its
    /// group, or a reject); `None` while it installs nothing.
    pub resolved: Option<RouteGroup>,
}

/// The answer to "which way does this flow go".
#[derive(Clone, Debug)]
pub struct RouteGet {
    /// The matching prefix and its origin.
    pub route: Option<(Prefix, Origin)>,
    /// What the route does: `group`, `connected`, `local`, `blackhole`, or `none`.
    pub kind: &'static str,
    /// The hash of the flow under the route's policy.
    pub hash: Option<u32>,
    /// The chosen nexthop (address, port), if any.
    pub nexthop: Option<(IpAddr, String)>,
}

/// A group's live state.
struct GroupState {
    key: GroupKey,
    cfg: GroupConfig,
    /// Members in canonical order (address, then port).
    members: Vec<(NexthopId, u32)>,
    table: Option<ResilientTable>,
    built: Arc<Group>,
    /// Routes using the group, plus one for a named group the config defines.
    users: usize,
    /// Members that have been live since the group was built. One that has
    /// not, and is not down for a reason, is still being resolved: it keeps
    /// its buckets (the dataplane draws again around it meanwhile), so the
    /// order in which members resolve at start never shapes the table.
    seen_live: std::collections::HashSet<NexthopId>,
}

/// The members a resilient table is balanced over: the live ones, and those
/// still being resolved for the first time (not live yet, never live, and not
/// down for any reason).
fn table_members(
    members: &[(NexthopId, u32)],
    seen_live: &mut std::collections::HashSet<NexthopId>,
    nb: &Neighbors,
) -> Vec<(NexthopId, u32)> {
    const FLAGS: [DownFlag; 4] = [
        DownFlag::Admin,
        DownFlag::Link,
        DownFlag::Unreachable,
        DownFlag::Uplink,
    ];
    members
        .iter()
        .copied()
        .filter(|m| {
            if nb.live(m.0).is_some() {
                seen_live.insert(m.0);
                return true;
            }
            !seen_live.contains(&m.0) && FLAGS.iter().all(|f| !nb.is_down(m.0, *f))
        })
        .collect()
}

/// The stable key of each member of a resilient table: a hash of its
/// address (and port index), the same on every router with the same config,
/// unlike the nexthop id, which is this router's own.
fn member_keys(registry: &nexthops::Registry, members: &[(NexthopId, u32)]) -> Vec<u64> {
    members
        .iter()
        .map(|m| {
            let nh = registry[m.0].nh;
            let a = match nh.addr {
                IpAddr::V4(v) => u32::from(v) as u128,
                IpAddr::V6(v) => u128::from(v) ^ (1 << 127),
            };
            let k = (a as u64) ^ ((a >> 64) as u64).rotate_left(17) ^ ((nh.port.0 as u64) << 48);
            k.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        })
        .collect()
}

/// Punted frames handled per [`ControlPlane::poll`]: with a pass a
/// millisecond, up to 256,000 ARP/NDP frames a second, and the lock held for
/// a bounded time (a quarter of the punt queue).
pub const PUNTS_PER_PASS: usize = 256;

/// Control-plane event counters (exported as `ecmp_router_control_*`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ControlCounters {
    /// ARP/NDP from another host claiming one of the router's addresses (ignored).
    pub own_address_claims: u64,
    /// ARP frames received.
    pub arp_rx: u64,
    /// NDP messages received.
    pub ndp_rx: u64,
    /// Punted frames refused as malformed or invalid.
    pub punt_invalid: u64,
    /// ARP requests and Neighbor Solicitations sent.
    pub solicits_sent: u64,
    /// ARP replies and Neighbor Advertisements sent.
    pub adverts_sent: u64,
    /// Frames not sent because the inject queue was full.
    pub inject_full: u64,
    /// Host adjacencies not created because the nexthop table is full.
    pub nexthop_table_full: u64,
    /// Nexthops marked down (any reason).
    pub nexthop_down_events: u64,
    /// Nexthops back up.
    pub nexthop_up_events: u64,
    /// Resilient bucket tables republished.
    pub resilient_rebalances: u64,
    /// How long the last route rebuild took, from the change to publication (µs).
    pub last_build_us: u64,
    /// FPM routes whose gateways are on no port's subnet (not installed).
    pub fpm_unresolvable: u64,
    /// Kernel routes (`kernel-routes`) with no path on a kernel interface:
    /// the host's own, not mirrored.
    pub kernel_routes_ignored: u64,
    /// FPM routes via 169.254.0.1 onlink (RFC 5549 from FRR; not installed).
    pub fpm_not_installed_onlink: u64,
    /// FPM routes of a type the router does not install (local, broadcast, ...).
    pub fpm_not_installed_type: u64,
    /// FPM routes through a nexthop object the session does not hold.
    pub fpm_not_installed_object: u64,
    /// FPM nexthop objects that changed kind (group, blackhole, unusable,
    /// deleted): the one change that syncs the routes using the object.
    pub fpm_object_kind_changes: u64,
    /// FPM routes removed by the stale sweep after a reconnect.
    pub fpm_swept: u64,
    /// FPM sessions begun (a connection's first valid frame).
    pub fpm_connections: u64,
    /// FPM connections refused because a session was live.
    pub fpm_refused_busy: u64,
    /// FPM connections closed without a valid frame within the first-frame timeout.
    pub fpm_refused_silent: u64,
    /// FPM messages refused past `fpm.max-routes`.
    pub fpm_refused_route_limit: u64,
    /// FPM messages refused past `fpm.max-nexthops`.
    pub fpm_refused_nexthop_limit: u64,
    /// FPM messages decoded.
    pub fpm_messages: u64,
    /// Of those, nexthop objects (RTM_NEWNEXTHOP / RTM_DELNEXTHOP).
    pub fpm_nexthop_messages: u64,
    /// Malformed FPM frames or netlink messages (each resets the connection).
    pub fpm_errors: u64,
    /// 1 while zebra is connected.
    pub fpm_connected: u64,
    /// Hosts evicted from the full neighbour pool (least recently used first).
    pub neighbor_evictions: u64,
    /// New hosts not resolved because `max-incomplete` were being resolved.
    pub neighbor_incomplete_full: u64,
    /// Host solicitations held back by `neighbor-table.solicit-rate`.
    pub solicits_rate_limited: u64,
    /// Hosts that became FAILED (no answer to `retries` solicitations).
    pub neighbor_failed: u64,
    /// Learned hosts removed by a flush.
    pub neighbor_flushed: u64,
    /// Packets held for a neighbour being resolved.
    pub neighbor_held: u64,
    /// Held packets sent once their neighbour answered.
    pub neighbor_hold_sent: u64,
    /// Held packets dropped: pushed out by a newer one (3 per neighbour),
    /// the queue full, the neighbour FAILED or flushed, or no entry made.
    /// Also counted under the `neighbor_unresolved` drop reason.
    pub neighbor_hold_dropped: u64,
    /// TCP API connections evicted at the connection cap (the idlest first).
    pub api_evicted: u64,
    /// TCP API connections closed after the idle timeout.
    pub api_idle_closed: u64,
    /// API requests refused: a `Host` that is not this router (421).
    pub api_refused_host: u64,
    /// API writes refused: not `Content-Type: application/json` (415).
    pub api_refused_content_type: u64,
    /// API requests refused: a missing or wrong token (401).
    pub api_refused_token: u64,
    /// API writes answered 2xx.
    pub api_write_ok: u64,
    /// API writes answered 4xx or 5xx (a bad body, an unknown object).
    pub api_write_failed: u64,
    /// FIB generations published.
    pub fib_publishes: u64,
    /// Route changes applied to the FIB (adds, replacements, removals).
    pub fib_route_ops: u64,
    /// Times the spare route table had to be copied because a reader held it
    /// past the wait (normally it is reused once every worker has moved on).
    pub fib_copies: u64,
}

/// Why an FPM route is held but not installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotInstalled {
    /// No gateway of the route is on a port's subnet.
    NoPortForGateway,
    /// RFC 5549 as FRR 8.4 sends it: gateway 169.254.0.1 `onlink` through an
    /// interface, which needs kernel interfaces (issue 14).
    Ipv6NexthopOnlink,
    /// A route type other than unicast, blackhole, unreachable, prohibit: the rtm_type.
    RouteType(u8),
    /// The route's nexthop object (RTA_NH_ID) is not known to the session.
    UnknownNexthopObject,
}

impl NotInstalled {
    /// The metric and API label.
    pub fn name(self) -> &'static str {
        match self {
            NotInstalled::NoPortForGateway => "no_port_for_gateway",
            NotInstalled::Ipv6NexthopOnlink => "ipv6_nexthop_onlink",
            NotInstalled::RouteType(_) => "route_type",
            NotInstalled::UnknownNexthopObject => "unknown_nexthop_object",
        }
    }
}

/// One FPM route that is not installed, for the API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotInstalledView {
    /// Table.
    pub table: u32,
    /// Prefix.
    pub prefix: Prefix,
    /// Why.
    pub reason: NotInstalled,
}

/// The gateway FRR 8.4 gives an IPv4 route with an IPv6 nexthop (RFC 5549).
const RFC5549_GATEWAY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(169, 254, 0, 1));

/// Probe identifiers are `UPLINK_ID | uplink index`.
const UPLINK_ID: u16 = 0xe000;
/// Rounds the loss figure covers.
const LOSS_WINDOW: u32 = 10;

/// One uplink's probe state.
#[derive(Clone, Debug)]
struct UplinkState {
    cfg: UplinkConfig,
    nh: Option<NexthopId>,
    up: bool,
    since: Instant,
    streak_ok: u32,
    streak_bad: u32,
    round: u16,
    round_started: Option<Instant>,
    answered: Vec<Option<Duration>>,
    /// Last rounds' outcomes, newest in bit 0 (1 = failed).
    history: u32,
    rounds: u64,
    sent: Vec<u64>,
    received: Vec<u64>,
    last_rtt: Vec<Option<Duration>>,
    transitions: u64,
}

/// An uplink as the API and metrics show it.
#[derive(Clone, Debug)]
pub struct UplinkView {
    /// Its name.
    pub name: String,
    /// Port name.
    pub port: String,
    /// Gateway address.
    pub gateway: IpAddr,
    /// Up (carrying new flows) or down.
    pub up: bool,
    /// Milliseconds in the current state.
    pub since_ms: u64,
    /// Failed rounds among the last 10, in percent.
    pub loss_pct: u32,
    /// Probe rounds run.
    pub rounds: u64,
    /// State changes.
    pub transitions: u64,
    /// Per target: address, probes sent, replies, last round-trip time.
    pub targets: Vec<(IpAddr, u64, u64, Option<Duration>)>,
}

impl UplinkState {
    fn new(cfg: UplinkConfig, nh: Option<NexthopId>, now: Instant) -> UplinkState {
        let n = cfg.targets.len();
        UplinkState {
            cfg,
            nh,
            up: true,
            since: now,
            streak_ok: 0,
            streak_bad: 0,
            round: 0,
            round_started: None,
            answered: vec![None; n],
            history: 0,
            rounds: 0,
            sent: vec![0; n],
            received: vec![0; n],
            last_rtt: vec![None; n],
            transitions: 0,
        }
    }

    fn loss_pct(&self) -> u32 {
        let n = self.rounds.min(LOSS_WINDOW as u64) as u32;
        if n == 0 {
            return 0;
        }
        let mask = (1u32 << n) - 1;
        (self.history & mask).count_ones() * 100 / n
    }
}

/// A member of a group as the API shows it.
#[derive(Clone, Debug)]
pub struct GroupMember {
    /// Its nexthop's id ([`ControlPlane::listed_nexthop_id`]).
    pub id: u32,
    /// Gateway address.
    pub via: IpAddr,
    /// Port name.
    pub port: String,
    /// Weight.
    pub weight: u32,
    /// Resolved and not down.
    pub live: bool,
}

/// A nexthop group as the API and metrics show it.
#[derive(Clone, Debug)]
pub struct GroupView {
    /// Its id, as `ip nexthop` numbers groups: stable for the group's life,
    /// and never a nexthop's ([`ControlPlane::group_id`]).
    pub id: u32,
    /// Its name (see [`ControlPlane::groups`]).
    pub name: String,
    /// `named`, `shared` (a route's inline members, shared by every route
    /// with the same ones) or `route` (a resilient route's own).
    pub kind: &'static str,
    /// Named groups: `config` or `api`; route groups: the route's origin.
    pub origin: Option<Origin>,
    /// Selection algorithm.
    pub algorithm: &'static str,
    /// Members in canonical order.
    pub members: Vec<GroupMember>,
    /// Live members.
    pub live: usize,
    /// Main-table routes using the group.
    pub routes: usize,
}

/// A nexthop as shown in metrics and logs.
#[derive(Clone, Debug)]
pub struct NexthopView {
    /// Its id.
    pub id: NexthopId,
    /// Neighbour address.
    pub addr: IpAddr,
    /// Port name.
    pub port: String,
    /// Gateway or host.
    pub kind: NexthopKind,
    /// Resolved MAC.
    pub mac: Option<MacAddr>,
    /// Resolved and not down for any reason.
    pub live: bool,
    /// Disabled by the operator.
    pub admin_down: bool,
    /// Its port's link is down.
    pub link_down: bool,
    /// Not answering reachability probes.
    pub unreachable: bool,
    /// An uplink whose health probes fail.
    pub uplink_down: bool,
    /// A static neighbour from the config (never probed or expired).
    pub permanent: bool,
    /// Milliseconds since the neighbour was last heard from.
    pub last_seen_ms: Option<u64>,
    /// Gateways: probes sent since the last answer.
    pub probes_unanswered: u32,
    /// The kernel's name for its state.
    pub state: NudState,
}

/// The control plane.
pub struct ControlPlane {
    config: Config,
    /// SNAT addresses and ports, fixed at start (workers size their tables by it).
    snat: Arc<dataplane::nat::Snat>,
    ports: Arc<[PortInfo]>,
    /// The VLAN sub-interfaces by trunk and VID (every FIB generation shares it).
    vlans: Arc<dataplane::vlan::VlanMap>,
    /// The nexthops (`nexthops.rs`).
    registry: nexthops::Registry,
    /// The groups (`groups.rs`).
    groups: groups::Groups,
    /// Every route of every table and origin.
    rib: Rib,
    /// The FIB's build and publication (`fib_builder.rs`).
    build: fib_builder::FibBuilder,
    /// The uplinks and their probes (`prober.rs`).
    uplinks: Vec<UplinkState>,
    /// The FPM session's objects and routes (`fpm_sync.rs`).
    fpm: fpm_sync::FpmState,
    /// The kernel interfaces and the kernel's routes (`kernel_sync.rs`).
    kernel: kernel_sync::KernelState,
    /// Learned hosts and held packets (`neighbors.rs`).
    neigh: neighbors::NeighborState,
    /// The neighbour table the workers read.
    neighbors: Arc<Neighbors>,
    start: Instant,
    link_up: Vec<Option<bool>>,
    channels: Channels,
    /// Event counters.
    pub counters: ControlCounters,
    last_timer: Option<Instant>,
}

impl std::fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlPlane")
            .field("generation", &self.build.generation())
            .field("nexthops", &self.registry.len())
            .finish()
    }
}

/// The keys that differ between `old` and `new` and cannot change while the
/// router runs. A reload either applies every key or is refused naming these.
/// (`api.token` is applied by the API server itself.)
pub fn restart_keys(old: &Config, new: &Config) -> Vec<&'static str> {
    let same_ports = old.ports.len() == new.ports.len()
        && old.ports.iter().zip(&new.ports).all(|(a, b)| {
            a.name == b.name
                && a.device == b.device
                && a.addresses == b.addresses
                && a.mtu == b.mtu
                && a.vlan == b.vlan
                && a.vrf == b.vrf
        });
    let snat_of_cfg = |c: &Config| {
        c.uplinks
            .iter()
            .map(|u| (u.name.clone(), u.port, u.gateway, u.snat.clone()))
            .filter(|x| !x.3.is_empty())
            .collect::<Vec<_>>()
    };
    let mut keys = Vec::new();
    if !same_ports {
        keys.push("ports (names, devices, addresses, MTU, VLANs or VRFs)");
    }
    if old.vrfs != new.vrfs {
        keys.push("vrfs");
    }
    if old.workers != new.workers {
        keys.push("workers");
    }
    if old.eal != new.eal {
        keys.push("eal");
    }
    if old.listen != new.listen {
        keys.push("api.listen");
    }
    if (&old.api_socket, &old.api_socket_group) != (&new.api_socket, &new.api_socket_group) {
        keys.push("api.socket");
    }
    if old.fpm != new.fpm {
        keys.push("fpm");
    }
    if old
        .ports
        .iter()
        .map(|p| p.kernel_interface)
        .ne(new.ports.iter().map(|p| p.kernel_interface))
    {
        keys.push("kernel-interfaces");
    }
    if old.kernel_routes != new.kernel_routes {
        keys.push("kernel-routes");
    }
    if old.punt_policer != new.punt_policer {
        keys.push("punt-policer");
    }
    if old.flows != new.flows {
        keys.push("flows");
    }
    if (old.icmp_rate, old.icmp_burst) != (new.icmp_rate, new.icmp_burst) {
        keys.push("icmp");
    }
    if snat_of_cfg(old) != snat_of_cfg(new) {
        keys.push("uplinks[].snat (an SNAT uplink's snat, port or gateway)");
    }
    keys
}

/// The routes of a config, as RIB entries of origin `config`.
fn rib_of(config: &Config) -> Vec<((u32, Prefix), RouteSpec)> {
    let mut rib = Vec::new();
    for r in &config.routes {
        let group = match r.target {
            crate::config::RouteTarget::Reject(x) => RouteGroup::Reject(x),
            crate::config::RouteTarget::Group(i) => {
                let g = &config.groups[i];
                match &g.name {
                    Some(n) => RouteGroup::Named(n.clone()),
                    None => RouteGroup::Inline(Box::new(g.clone())),
                }
            }
        };
        rib.push((
            (r.table, r.prefix),
            RouteSpec {
                table: r.table,
                prefix: r.prefix,
                group,
                hash: r.hash,
                sticky: r.sticky,
                protocol: crate::config::RTPROT_STATIC,
                metric: r.metric,
            },
        ));
    }
    rib
}

/// The dataplane's SNAT table of a config: every uplink's addresses, in
/// config order, and per port its address indexes and gateway.
pub fn snat_of(config: &Config) -> dataplane::nat::Snat {
    let mut addrs = Vec::new();
    let mut ports = vec![dataplane::nat::SnatPort::default(); config.ports.len()];
    for u in &config.uplinks {
        for a in &u.snat {
            if let Some(p) = ports.get_mut(u.port.index()) {
                p.addrs = p
                    .addrs
                    .iter()
                    .copied()
                    .chain([addrs.len() as u16])
                    .collect();
                addrs.push((*a, u.port));
            }
        }
    }
    dataplane::nat::Snat {
        addrs: addrs.into(),
        ports: ports.into(),
        on_down: config.flows.on_uplink_down,
    }
}

fn build_group(
    cfg: &GroupConfig,
    members: &[(NexthopId, u32)],
    table: Option<&ResilientTable>,
) -> Group {
    let g = match (cfg.algorithm, table) {
        (Algorithm::Resilient, Some(t)) => {
            Group::resilient(members, &t.buckets(members), t.activity())
        }
        (Algorithm::Modulo, _) => Group::modulo(members),
        _ => Group::new(members),
    };
    g.expect("config validated weights, bucket counts and non-empty groups")
}

impl ControlPlane {
    /// Builds the first FIB generation.
    ///
    /// `macs` are the ports' MAC addresses in config order; `readers` are the
    /// workers' quiescent counters; `max_nexthops` bounds the nexthop table
    /// (and the workers' per-nexthop counters).
    pub fn new(
        config: Config,
        macs: &[MacAddr],
        readers: Vec<Arc<Quiescent>>,
        channels: Channels,
        max_nexthops: usize,
    ) -> Self {
        // A VLAN sub-interface has its trunk's MAC (as a Linux VLAN device).
        let mac_of = |i: usize| {
            macs.get(config.device_of(PortId(i as u16)).index())
                .copied()
        };
        let ports: Arc<[PortInfo]> = config
            .ports
            .iter()
            .enumerate()
            .map_while(|(i, p)| Some((i, p, mac_of(i)?)))
            .map(|(i, p, mac)| PortInfo {
                mac,
                mtu: p.mtu,
                v4: p.addresses.iter().find_map(|a| match a.addr {
                    IpAddr::V4(v) => Some(v),
                    _ => None,
                }),
                v6: p.addresses.iter().find_map(|a| match a.addr {
                    IpAddr::V6(v) => Some(v),
                    _ => None,
                }),
                kernel: p.kernel_interface,
                link_local: dataplane::punt::link_local(mac),
                parent: config.device_of(PortId(i as u16)),
                vlan: p.vlan.map_or(0, |v| v.id),
                vrf: p.vrf,
            })
            .collect();
        let vlans = Arc::new(dataplane::vlan::VlanMap::new(
            config
                .ports
                .iter()
                .enumerate()
                .filter_map(|(i, p)| p.vlan.map(|v| (v.parent, v.id, PortId(i as u16)))),
        ));
        let neighbors = Arc::new(Neighbors::new(max_nexthops));
        // Connected and local routes win over a static route for the same
        // prefix; an interface's are in its VRF's table.
        let mut system = HashMap::new();
        for (i, p) in config.ports.iter().enumerate() {
            let table = config.vrf_table(p.vrf);
            for a in &p.addresses {
                system.insert((table, a.subnet()), Target::Connected(PortId(i as u16)));
            }
        }
        for p in &config.ports {
            let table = config.vrf_table(p.vrf);
            for a in &p.addresses {
                system.insert((table, Prefix::host(a.addr)), Target::Local);
            }
        }
        // SNAT addresses are the router's own: what no binding claims is
        // delivered locally (echo answered, the rest dropped and counted).
        for u in &config.uplinks {
            for a in &u.snat {
                system.insert((MAIN_TABLE, Prefix::host(IpAddr::V4(*a))), Target::Local);
            }
        }
        let mut cp = ControlPlane {
            ports,
            vlans,
            registry: nexthops::Registry::new(config.ports.iter().map(|p| p.vrf).collect()),
            groups: Default::default(),
            rib: Rib::default(),
            build: fib_builder::FibBuilder::new(
                system,
                config.vrfs.iter().map(|v| v.table).collect(),
                neighbors.clone(),
                readers,
            ),
            uplinks: Vec::new(),
            snat: Arc::new(snat_of(&config)),
            fpm: Default::default(),
            kernel: Default::default(),
            neigh: neighbors::NeighborState::new(config.neighbor_table, max_nexthops),
            neighbors,
            start: Instant::now(),
            link_up: vec![None; config.ports.len()],
            channels,
            counters: ControlCounters::default(),
            config,
            last_timer: None,
        };
        for s in cp.config.neighbors.clone() {
            let kind = if cp.registry.id(s.port, s.address).is_some() {
                NexthopKind::Gateway
            } else {
                NexthopKind::Host
            };
            if let Some(id) = cp.add_nexthop(s.port, s.address, kind) {
                cp.registry[id].permanent = true;
                cp.neighbors.set(id, s.mac);
                cp.registry.add_host(id);
            }
        }
        for (k, spec) in rib_of(&cp.config) {
            cp.rib.set(k, Origin::Config, spec);
        }
        cp.set_uplinks();
        cp.refresh_named();
        cp.set_policy();
        cp.sync_all();
        cp.commit();
        cp
    }

    fn now_ms(&self) -> u64 {
        Instant::now().duration_since(self.start).as_millis() as u64
    }

    /// The validated config this plane runs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Runs everything that is due: punted frames, resolution requests,
    /// neighbour timers, and reclamation of old FIB generations.
    pub fn poll(&mut self, now: Instant) {
        // A bounded batch of each queue per pass: the caller holds the
        // control plane's lock meanwhile, and a flood that fills the queues
        // as fast as they drain must not hold it (FPM and the API wait on
        // it). What does not fit waits for the next pass, or is a counted
        // drop (`punt_queue_full`) at the worker.
        for _ in 0..PUNTS_PER_PASS {
            let Some(f) = self.channels.punt.pop() else {
                break;
            };
            self.handle_punt(&f, now);
        }
        for _ in 0..crate::punt::QUEUE_LEN {
            let Some(r) = self.channels.resolve.pop() else {
                break;
            };
            self.handle_resolve(r, now);
        }
        for _ in 0..crate::punt::QUEUE_LEN {
            let Some(h) = self.channels.hold.pop() else {
                break;
            };
            self.handle_held(h);
        }
        // Timers run at a quarter of the probe interval (at most every 50 ms).
        let tick = Duration::from_millis((self.config.liveness.probe_interval_ms / 4).clamp(1, 50));
        if self
            .last_timer
            .is_none_or(|t| now.duration_since(t) >= tick)
        {
            self.last_timer = Some(now);
            self.timers(now);
        }
        self.uplink_tick(now);
        self.build.reclaim();
    }

    /// Records the link state of device port `port` (from the PMD), and so
    /// of its VLAN sub-interfaces. With `monitor-link`, a link going down
    /// takes every nexthop on the port and its sub-interfaces down at once.
    pub fn set_link(&mut self, port: PortId, up: bool) {
        self.set_link_of(port, up);
        for i in 0..self.config.ports.len() {
            if self.config.ports[i].vlan.is_some_and(|v| v.parent == port) {
                self.set_link_of(PortId(i as u16), up);
            }
        }
    }

    fn set_link_of(&mut self, port: PortId, up: bool) {
        let Some(slot) = self.link_up.get_mut(port.index()) else {
            return;
        };
        if *slot == Some(up) {
            return;
        }
        *slot = Some(up);
        let pc = &self.config.ports[port.index()];
        crate::log_limited!(info, crate::loglimit::Kind::LinkState, crate::loglimit::source(port.0); port = %pc.name, up, monitored = pc.monitor_link, "link state");
        if !pc.monitor_link {
            return;
        }
        let mut changed = 0u32;
        for (id, e) in self.registry.iter() {
            if e.nh.port == port && self.neighbors.set_down(id, DownFlag::Link, !up) {
                changed += 1;
                if up {
                    self.counters.nexthop_up_events += 1;
                } else {
                    self.counters.nexthop_down_events += 1;
                }
            }
        }
        if !up && changed > 0 {
            let pc = &self.config.ports[port.index()];
            crate::log_limited!(
                warn, crate::loglimit::Kind::LinkState, crate::loglimit::source(port.0);
                port = %pc.name,
                device = %pc.device,
                nexthops = changed,
                "link down: the port's nexthops are down (ports[].monitor-link is {}; set it to false if this device's link state is not meaningful)",
                pc.monitor_link_setting.name()
            );
        }
    }

    /// The SNAT configuration workers translate by.
    pub fn snat(&self) -> Arc<dataplane::nat::Snat> {
        self.snat.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;

    #[test]
    fn admin_and_link_down() {
        // srv1 on a device whose link state counts (monitor-link auto);
        // srv2 stays on net_null, whose link state is ignored.
        let c =
            config::parse(&CFG.replace("net_null1", "\"net_af_packet1,iface=x\""), "t").unwrap();
        let mut cp = ControlPlane::new(c, &MACS, vec![], Channels::default(), 64);
        let id = cp
            .nexthop_id(PortId(1), "10.1.0.2".parse().unwrap())
            .unwrap();
        assert!(
            cp.fib().neighbors.live(id).is_some(),
            "static neighbour is live"
        );
        let v = cp
            .set_enabled("srv1", "10.1.0.2".parse().unwrap(), false)
            .unwrap();
        assert!(v.admin_down && !v.live);
        assert!(cp
            .set_enabled("srv9", "10.1.0.2".parse().unwrap(), false)
            .unwrap_err()
            .to_string()
            .contains("unknown port"));
        assert!(cp
            .set_enabled("srv1", "10.1.0.9".parse().unwrap(), false)
            .unwrap_err()
            .to_string()
            .contains("no nexthop"));
        cp.set_enabled("srv1", "10.1.0.2".parse().unwrap(), true)
            .unwrap();
        cp.set_link(PortId(1), false);
        assert!(cp.fib().neighbors.live(id).is_none());
        cp.set_link(PortId(1), true);
        assert!(cp.fib().neighbors.live(id).is_some());
        // net_null under auto: a reported link-down changes nothing.
        let id2 = cp
            .nexthop_id(PortId(2), "10.2.0.2".parse().unwrap())
            .unwrap();
        cp.set_link(PortId(2), false);
        assert!(!cp.nexthops()[id2.index()].link_down);
    }
}
