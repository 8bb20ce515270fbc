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
mod fpm_sync;
mod groups;
mod kernel_sync;
mod neighbors;
mod nexthops;
mod prober;
mod routes;

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
fn member_keys(entries: &[Entry], members: &[(NexthopId, u32)]) -> Vec<u64> {
    members
        .iter()
        .map(|m| {
            let nh = entries[m.0.index()].nh;
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
            .field("generation", &self.build.generation)
            .field("nexthops", &self.registry.entries.len())
            .finish()
    }
}

/// The keys that differ between `old` and `new` and cannot change while the
/// router runs. A reload either applies every key or is refused naming these.
/// (`api.token` is applied by the API server itself.)
pub fn restart_keys(old: &Config, new: &Config) -> Vec<&'static str> {
    let same_ports = old.ports.len() == new.ports.len()
        && old.ports.iter().zip(&new.ports).all(|(a, b)| {
            a.name == b.name && a.device == b.device && a.addresses == b.addresses && a.mtu == b.mtu
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
        keys.push("ports (names, devices, addresses or MTU)");
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
                    None => RouteGroup::Inline(g.clone()),
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
        let ports: Arc<[PortInfo]> = config
            .ports
            .iter()
            .zip(macs)
            .map(|(p, &mac)| PortInfo {
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
            })
            .collect();
        let neighbors = Arc::new(Neighbors::new(max_nexthops));
        let routes = Arc::new(RouteTable::default());
        // Connected and local routes win over a static route for the same prefix.
        let mut system = HashMap::new();
        for (i, p) in config.ports.iter().enumerate() {
            for a in &p.addresses {
                system.insert(a.subnet(), Target::Connected(PortId(i as u16)));
            }
        }
        for p in &config.ports {
            for a in &p.addresses {
                system.insert(Prefix::host(a.addr), Target::Local);
            }
        }
        // SNAT addresses are the router's own: what no binding claims is
        // delivered locally (echo answered, the rest dropped and counted).
        for u in &config.uplinks {
            for a in &u.snat {
                system.insert(Prefix::host(IpAddr::V4(*a)), Target::Local);
            }
        }
        let mut cp = ControlPlane {
            ports,
            registry: Default::default(),
            groups: Default::default(),
            rib: Rib::default(),
            build: fib_builder::FibBuilder {
                routes: routes.clone(),
                spare: Some(Arc::new(RouteTable::default())),
                lag: Vec::new(),
                pending: Vec::new(),
                installed: HashMap::new(),
                installed_other: HashMap::new(),
                tables_dirty: false,
                system,
                policy: Default::default(),
                policy_groups: Vec::new(),
                publisher: Publisher::new(
                    Fib {
                        generation: 0,
                        routes,
                        groups: Arc::new([]),
                        nexthops: Arc::new([]),
                        hosts: Arc::new(HostTable::new()),
                        ports: Arc::new([]),
                        neighbors: neighbors.clone(),
                        policy: Default::default(),
                        snat: Default::default(),
                    },
                    readers,
                ),
                generation: 0,
            },
            uplinks: Vec::new(),
            snat: Arc::new(snat_of(&config)),
            fpm: Default::default(),
            kernel: Default::default(),
            neigh: neighbors::NeighborState {
                pool: crate::host_pool::HostPool::new(config.neighbor_table, max_nexthops),
                hold: Default::default(),
                traffic: Vec::new(),
            },
            neighbors,
            start: Instant::now(),
            link_up: vec![None; config.ports.len()],
            channels,
            counters: ControlCounters::default(),
            config,
            last_timer: None,
        };
        for s in cp.config.neighbors.clone() {
            let kind = if cp.registry.index.contains_key(&(s.port, s.address)) {
                NexthopKind::Gateway
            } else {
                NexthopKind::Host
            };
            if let Some(id) = cp.add_nexthop(s.port, s.address, kind) {
                cp.registry.entries[id.index()].permanent = true;
                cp.neighbors.set(id, s.mac);
                cp.registry.hosts.entry(s.address).or_insert(id);
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
        self.build.publisher.reclaim();
    }

    /// Records the link state of `port` (from the PMD). With `monitor-link`,
    /// a link going down takes every nexthop on the port down at once.
    pub fn set_link(&mut self, port: PortId, up: bool) {
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
        for (i, e) in self.registry.entries.iter().enumerate() {
            if e.nh.port == port
                && self
                    .neighbors
                    .set_down(NexthopId(i as u32), DownFlag::Link, !up)
            {
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
    use super::*;
    use crate::config;
    use dataplane::forward::{process, Ctx, IcmpLimiter, Verdict};
    use dataplane::stats::LcoreStats;
    use dataplane::{PacketBuf, VecBuf};
    use std::net::Ipv4Addr;

    const CFG: &str = "ports:
  - { name: lan, device: net_null0, addresses: [10.0.0.1/24, fd00::1/64] }
  - { name: srv1, device: net_null1, addresses: [10.1.0.1/24, fd01::1/64] }
  - { name: srv2, device: net_null2, addresses: [10.2.0.1/24, fd02::1/64] }
routes:
  - prefix: 198.51.100.0/24
    nexthops: [{ via: 10.2.0.2, port: srv2, weight: 2 }, { via: 10.1.0.2, port: srv1 }]
neighbors: [{ address: 10.1.0.2, mac: \"02:00:00:00:01:02\", port: srv1 }]
";
    const MACS: [MacAddr; 3] = [
        MacAddr([2, 0, 0, 0, 0, 0xa0]),
        MacAddr([2, 0, 0, 0, 0, 0xa1]),
        MacAddr([2, 0, 0, 0, 0, 0xa2]),
    ];
    const CLIENT: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc1]);

    /// The MAC of 10.2.0.2, srv2's gateway.
    const SRV2_GW_MAC: MacAddr = MacAddr([2, 0, 0, 0, 2, 2]);

    /// 10.2.0.2 (srv2's gateway) answers the router's ARP request on port 2.
    fn srv2_answers(ch: &Channels) {
        let srv2 = SRV2_GW_MAC;
        let reply = frames::arp(
            arp::OP_REPLY,
            srv2,
            MACS[2],
            srv2,
            "10.2.0.2".parse().unwrap(),
            MACS[2],
            "10.2.0.1".parse().unwrap(),
        );
        ch.punt
            .push(PuntFrame::copy_from(PortId(2), &reply))
            .unwrap();
    }

    fn plane() -> (ControlPlane, Channels) {
        let c = config::parse(CFG, "t").unwrap();
        let ch = Channels::default();
        (ControlPlane::new(c, &MACS, vec![], ch.clone(), 64), ch)
    }

    /// A plane whose two gateways both have static MACs.
    fn plane_resolved() -> ControlPlane {
        let cfg = CFG.replace(
            "neighbors: [",
            "neighbors: [{ address: 10.2.0.2, mac: \"02:00:00:00:02:02\", port: srv2 }, ",
        );
        let c = config::parse(&cfg, "t").unwrap();
        ControlPlane::new(c, &MACS, vec![], Channels::default(), 64)
    }

    /// Group 0's bucket table as addresses (NexthopIds are one router's own).
    fn bucket_addrs(cp: &ControlPlane) -> Vec<IpAddr> {
        let fib = cp.fib();
        fib.group(GroupId(0))
            .unwrap()
            .buckets()
            .iter()
            .map(|id| fib.nexthop(*id).unwrap().addr)
            .collect()
    }

    /// Queues, as punted on `port`, the ARP reply of neighbour `ip` with `mac`
    /// to the router's `router` address there.
    fn arp_reply(ch: &Channels, port: u16, mac: MacAddr, ip: Ipv4Addr, router: &str) {
        let r = MACS[port as usize];
        let reply = frames::arp(arp::OP_REPLY, mac, r, mac, ip, r, router.parse().unwrap());
        ch.punt
            .push(PuntFrame::copy_from(PortId(port), &reply))
            .unwrap();
    }

    /// Runs `pkt`, received on `port`, through the dataplane with `cp`'s FIB.
    fn forward(cp: &ControlPlane, port: u16, pkt: &[u8]) -> (Verdict, VecBuf, LcoreStats) {
        let fib = cp.fib();
        let stats = LcoreStats::new(64);
        let mut icmp = IcmpLimiter::new(10);
        let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
        let mut buf = VecBuf::new(pkt);
        let v = process(&mut ctx, PortId(port), &mut buf);
        (v, buf, stats)
    }

    fn drain(ch: &Channels) -> Vec<InjectFrame> {
        std::iter::from_fn(|| ch.inject.pop()).collect()
    }

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
                group: RouteGroup::Inline(GroupConfig {
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
                }),
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
    fn group_order_is_canonical_and_static_neighbor_is_resolved() {
        let (cp, _) = plane();
        let fib = cp.fib();
        let id1 = cp
            .nexthop_id(PortId(1), "10.1.0.2".parse().unwrap())
            .unwrap();
        let id2 = cp
            .nexthop_id(PortId(2), "10.2.0.2".parse().unwrap())
            .unwrap();
        let Some(Target::Group(g)) = fib
            .routes
            .lookup("198.51.100.9".parse().unwrap())
            .map(|r| r.target)
        else {
            panic!()
        };
        let g = fib.group(g).unwrap();
        assert_eq!(
            g.members(),
            &[id1, id2],
            "sorted by address, not YAML order"
        );
        assert_eq!(g.weights(), &[1, 2]);
        assert_eq!(fib.neighbors.get(id1), Some(MacAddr([2, 0, 0, 0, 1, 2])));
        assert!(!cp.gateways_resolved());
    }

    #[test]
    fn the_first_packet_to_an_unresolved_host_waits_for_its_answer() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        drain(&ch);
        let host: Ipv4Addr = "10.1.0.7".parse().unwrap();
        let syn = |sport: u16| {
            frames::ipv4(
                CLIENT,
                MACS[0],
                "10.0.0.2".parse().unwrap(),
                host,
                proto::TCP,
                64,
                &frames::tcp_syn(sport, 22),
            )
        };
        // Five SYNs meet the unresolved host; the worker hands each over.
        for sport in 1..=5 {
            let (v, buf, st) = forward(&cp, 0, &syn(sport));
            let Verdict::Resolve { port } = v else {
                panic!("{v:?}")
            };
            let addr = dataplane::forward::resolve_addr(buf.data()).expect("an IP packet");
            assert_eq!(
                st.drops_of(dataplane::drop::DropReason::NeighborUnresolved),
                0,
                "not lost yet"
            );
            ch.resolve.push(ResolveRequest { port, addr }).unwrap();
            ch.hold
                .push(HeldFrame {
                    port,
                    addr,
                    frame: PuntFrame::copy_from(PortId(0), buf.data()),
                })
                .unwrap();
        }
        cp.poll(t0 + Duration::from_millis(1));
        let asked = drain(&ch);
        assert_eq!(asked.len(), 1, "one ARP request");
        assert_eq!(cp.counters.neighbor_held, 5);
        assert_eq!(cp.counters.neighbor_hold_dropped, 2, "three per host");
        // The host answers: the three newest SYNs go to it, rewritten.
        let mac = MacAddr([2, 0, 0, 0, 1, 7]);
        arp_reply(&ch, 1, mac, host, "10.1.0.1");
        cp.poll(t0 + Duration::from_millis(2));
        let sent = drain(&ch);
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(cp.counters.neighbor_hold_sent, 3);
        for (f, sport) in sent.iter().zip(3u16..) {
            assert_eq!(f.port, PortId(1));
            let eth = ethernet::Frame::new_checked(f.bytes()).unwrap();
            assert_eq!((eth.dst(), eth.src()), (mac, MACS[1]));
            let ip = dataplane::wire::ipv4::Packet::new_checked(eth.payload()).unwrap();
            assert_eq!((ip.dst(), ip.ttl()), (host, 63));
            assert_eq!(
                u16::from_be_bytes([ip.payload()[0], ip.payload()[1]]),
                sport
            );
        }
        // What the worker forwards itself from now on is the same packet.
        let (v, buf, _) = forward(&cp, 0, &syn(5));
        assert_eq!(v, Verdict::Forward(PortId(1)));
        assert_eq!(buf.data(), sent[2].bytes());
        // A host that never answers: its held packets are dropped and counted.
        let quiet = frames::ipv4(
            CLIENT,
            MACS[0],
            "10.0.0.2".parse().unwrap(),
            "10.1.0.8".parse().unwrap(),
            proto::UDP,
            64,
            &[0; 8],
        );
        ch.resolve
            .push(ResolveRequest {
                port: PortId(1),
                addr: "10.1.0.8".parse().unwrap(),
            })
            .unwrap();
        ch.hold
            .push(HeldFrame {
                port: PortId(1),
                addr: "10.1.0.8".parse().unwrap(),
                frame: PuntFrame::copy_from(PortId(0), &quiet),
            })
            .unwrap();
        let mut t = t0 + Duration::from_millis(3);
        for _ in 0..10 {
            cp.poll(t);
            t += Duration::from_secs(1);
        }
        assert_eq!(cp.counters.neighbor_failed, 1);
        assert_eq!(cp.counters.neighbor_hold_dropped, 3);
        assert_eq!(cp.neigh.hold.len(), 0);
    }

    #[test]
    fn a_host_goes_stale_delay_probe_then_reachable_or_failed_as_in_the_kernel() {
        let (mut cp, ch) = plane();
        let stats = Arc::new(LcoreStats::new(64));
        cp.set_traffic(vec![stats.clone()]);
        let client: IpAddr = "10.0.0.2".parse().unwrap();
        let arp_from_client = |op| {
            let (dst, tmac) = if op == arp::OP_REQUEST {
                (MacAddr::BROADCAST, MacAddr::ZERO)
            } else {
                (MACS[0], MACS[0])
            };
            let f = frames::arp(
                op,
                CLIENT,
                dst,
                CLIENT,
                "10.0.0.2".parse().unwrap(),
                tmac,
                "10.0.0.1".parse().unwrap(),
            );
            PuntFrame::copy_from(PortId(0), &f)
        };
        let t0 = Instant::now();
        ch.punt.push(arp_from_client(arp::OP_REQUEST)).unwrap();
        cp.poll(t0);
        drain(&ch);
        let id = cp.fib().hosts[&client];
        assert_eq!(cp.nud_state(id, t0), NudState::Reachable);
        // Runs the control loop a second at a time; returns the frames sent on lan.
        let run = |cp: &mut ControlPlane, from: u64, to: u64| {
            let mut out = Vec::new();
            for s in from..=to {
                cp.poll(t0 + Duration::from_secs(s));
                out.extend(drain(&ch).into_iter().filter(|f| f.port == PortId(0)));
            }
            out
        };
        // 30 s of silence: STALE, still used, and nobody is asked.
        assert!(run(&mut cp, 1, 31).is_empty());
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(31)),
            NudState::Stale
        );
        assert_eq!(cp.fib().neighbors.get(id), Some(CLIENT));
        // Traffic goes to it: DELAY, and 5 s later PROBE, by unicast.
        dataplane::stats::bump(&stats.nh_packets[id.index()], 1);
        assert!(run(&mut cp, 32, 32).is_empty());
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(32)),
            NudState::Delay
        );
        let probes = run(&mut cp, 33, 37);
        assert_eq!(probes.len(), 1, "{probes:?}");
        assert_eq!(
            ethernet::Frame::new_checked(probes[0].bytes())
                .unwrap()
                .dst(),
            CLIENT
        );
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(37)),
            NudState::Probe
        );
        // It answers: REACHABLE again.
        ch.punt.push(arp_from_client(arp::OP_REPLY)).unwrap();
        run(&mut cp, 38, 38);
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(38)),
            NudState::Reachable
        );
        // Next time it answers none of the 3 probes: FAILED, MAC forgotten.
        assert!(run(&mut cp, 39, 69).is_empty());
        dataplane::stats::bump(&stats.nh_packets[id.index()], 1);
        let probes = run(&mut cp, 70, 80);
        assert_eq!(probes.len(), 3, "retries unicast probes");
        assert_eq!(
            cp.nud_state(id, t0 + Duration::from_secs(80)),
            NudState::Failed
        );
        assert_eq!(cp.fib().neighbors.get(id), None);
        assert_eq!(cp.counters.neighbor_failed, 1);
        // A STALE host nobody sends to is forgotten after gc_stale_time.
        let (mut cp, ch2) = plane();
        ch2.punt.push(arp_from_client(arp::OP_REQUEST)).unwrap();
        cp.poll(t0);
        let id = cp.fib().hosts[&client];
        for s in (1..=89).step_by(4) {
            cp.poll(t0 + Duration::from_secs(s));
        }
        assert_eq!(cp.fib().neighbors.get(id), Some(CLIENT), "STALE, kept");
        cp.poll(t0 + Duration::from_secs(91));
        assert_eq!(
            cp.fib().neighbors.get(id),
            None,
            "forgotten after 30 + 60 s"
        );
    }

    #[test]
    fn resolves_gateway_by_arp() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        let sent = drain(&ch);
        assert_eq!(sent.len(), 1, "only the dynamic gateway is asked");
        let req = arp::Packet::new_checked(&sent[0].bytes()[14..]).unwrap();
        assert_eq!(
            (req.operation(), req.sender_ip(), req.target_ip()),
            (
                arp::OP_REQUEST,
                Ipv4Addr::new(10, 2, 0, 1),
                Ipv4Addr::new(10, 2, 0, 2)
            )
        );
        assert_eq!(sent[0].port, PortId(2));
        // The gateway answers.
        srv2_answers(&ch);
        let srv2 = SRV2_GW_MAC;
        cp.poll(t0 + Duration::from_millis(10));
        assert!(cp.gateways_resolved());
        // The gateway is also a host on a connected subnet: traffic to its own
        // address (ping, SSH, BGP to an upstream router) uses the same entry.
        let pkt = frames::ipv4(
            CLIENT,
            MACS[0],
            "10.0.0.2".parse().unwrap(),
            "10.2.0.2".parse().unwrap(),
            proto::TCP,
            64,
            &frames::tcp_syn(4000, 22),
        );
        let (v, buf, _) = forward(&cp, 0, &pkt);
        assert_eq!(v, Verdict::Forward(PortId(2)));
        assert_eq!(
            ethernet::Frame::new_checked(buf.data()).unwrap().dst(),
            srv2
        );
        // Not asked again before the probe interval (1000 ms by default)...
        cp.poll(t0 + Duration::from_millis(900));
        assert!(drain(&ch).is_empty());
        // ...then probed by unicast to the MAC it answered with (RFC 4861 NUD).
        cp.poll(t0 + Duration::from_millis(1000));
        let probe = drain(&ch);
        assert_eq!(probe.len(), 1);
        assert_eq!(
            ethernet::Frame::new_checked(probe[0].bytes())
                .unwrap()
                .dst(),
            srv2
        );
    }

    #[test]
    fn answers_arp_and_learns_client_as_host_adjacency() {
        let (mut cp, ch) = plane();
        let req = frames::arp(
            arp::OP_REQUEST,
            CLIENT,
            MacAddr::BROADCAST,
            CLIENT,
            "10.0.0.2".parse().unwrap(),
            MacAddr::ZERO,
            "10.0.0.1".parse().unwrap(),
        );
        ch.punt.push(PuntFrame::copy_from(PortId(0), &req)).unwrap();
        let gen = cp.fib().generation;
        cp.poll(Instant::now());
        let sent = drain(&ch);
        let reply = sent
            .iter()
            .find(|f| f.port == PortId(0))
            .expect("ARP reply on lan");
        let eth = ethernet::Frame::new_checked(reply.bytes()).unwrap();
        assert_eq!(eth.dst(), CLIENT);
        let a = arp::Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(
            (a.operation(), a.sender_mac(), a.sender_ip()),
            (arp::OP_REPLY, MACS[0], Ipv4Addr::new(10, 0, 0, 1))
        );
        let fib = cp.fib();
        assert!(fib.generation > gen);
        let id = fib.hosts[&"10.0.0.2".parse().unwrap()];
        assert_eq!(fib.neighbors.get(id), Some(CLIENT));

        // Forwarding towards the client now works, through the dataplane.
        let stats = LcoreStats::new(64);
        let mut icmp = IcmpLimiter::new(10);
        let mut ctx = Ctx::new(&fib, &stats, &mut icmp);
        let pkt = frames::ipv4(
            MacAddr([2, 0, 0, 0, 1, 2]),
            MACS[1],
            "198.51.100.10".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            proto::TCP,
            64,
            &frames::tcp_syn(80, 4000),
        );
        assert_eq!(
            process(&mut ctx, PortId(1), &mut VecBuf::new(&pkt)),
            Verdict::Forward(PortId(0))
        );
    }

    #[test]
    fn answers_ns_with_na_and_learns() {
        let (mut cp, ch) = plane();
        let ns = frames::neighbor_solicit(
            CLIENT,
            "fd00::2".parse().unwrap(),
            "fd00::1".parse().unwrap(),
        );
        ch.punt.push(PuntFrame::copy_from(PortId(0), &ns)).unwrap();
        cp.poll(Instant::now());
        let sent = drain(&ch);
        let na = sent
            .iter()
            .find(|f| f.port == PortId(0) && f.bytes()[12..14] == [0x86, 0xdd])
            .expect("NA on lan");
        let eth = ethernet::Frame::new_checked(na.bytes()).unwrap();
        assert_eq!(eth.dst(), CLIENT);
        let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
        let m = icmpv6::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(m.msg_type(), icmpv6::kind::NEIGHBOR_ADVERT);
        assert!(m.verify_checksum(&ip.src(), &ip.dst()));
        assert_eq!(
            m.nd_lladdr(icmpv6::OPT_TARGET_LLADDR).unwrap(),
            Some(MACS[0])
        );
        assert_eq!(m.na_flags(), (true, true, true));
        assert!(cp.fib().hosts.contains_key(&"fd00::2".parse().unwrap()));
        // A corrupted NS (bad checksum) is refused and counted.
        let mut bad = ns.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        ch.punt.push(PuntFrame::copy_from(PortId(0), &bad)).unwrap();
        cp.poll(Instant::now());
        assert_eq!(cp.counters.punt_invalid, 1);
    }

    #[test]
    fn a_flood_of_hosts_is_bounded_and_never_takes_a_gateways_room() {
        // The nexthop table has 64 slots: the pool takes at most 32.
        let (mut cp, ch) = plane();
        let mut t = Instant::now();
        cp.poll(t);
        drain(&ch);
        let mut solicits = 0;
        for round in 0..20u16 {
            for i in 0..100u16 {
                let addr = IpAddr::V6(Ipv6Addr::new(0xfd01, 0, 0, 0, 0, 0, round, i + 1));
                // Overflowing the ring only drops requests, as the workers' punts would.
                let _ = ch.resolve.push(ResolveRequest {
                    port: PortId(1),
                    addr,
                });
            }
            t += Duration::from_millis(100);
            cp.poll(t);
            solicits += drain(&ch).len();
        }
        assert!(
            cp.registry.entries.len() <= 64,
            "{} entries",
            cp.registry.entries.len()
        );
        assert!(cp.neigh.pool.len() <= 32);
        assert!(cp.counters.neighbor_evictions > 0 || cp.counters.neighbor_incomplete_full > 0);
        // 2 s of flood at solicit-rate 100/s: at most the burst and 2 s of refill (gateway probes aside).
        assert!(solicits <= 100 + 2 * 100 + 10, "{solicits} solicitations");
        // A gateway added through the API still gets a slot.
        let v = cp
            .add_nexthop_api("srv2", "10.2.0.77".parse().unwrap())
            .unwrap();
        assert_eq!(v.port, "srv2");
        // Flush: learned hosts go, nexthops stay.
        let before = cp
            .nexthops()
            .iter()
            .filter(|n| n.kind == NexthopKind::Gateway)
            .count();
        assert!(cp.flush_neighbors(None) > 0);
        assert_eq!(cp.neigh.pool.len(), 0);
        assert_eq!(
            cp.nexthops()
                .iter()
                .filter(|n| n.kind == NexthopKind::Gateway)
                .count(),
            before
        );
    }

    #[test]
    fn an_unanswered_host_becomes_failed_and_is_not_asked_again() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        drain(&ch);
        let addr: IpAddr = "10.0.0.77".parse().unwrap();
        let mut asked = 0;
        for k in 0..10u64 {
            ch.resolve
                .push(ResolveRequest {
                    port: PortId(0),
                    addr,
                })
                .unwrap();
            cp.poll(t0 + Duration::from_millis(1100 * k + 1));
            asked += drain(&ch)
                .iter()
                .filter(|f| {
                    arp::Packet::new_checked(&f.bytes()[14..])
                        .is_ok_and(|a| IpAddr::V4(a.target_ip()) == addr)
                })
                .count();
        }
        assert_eq!(asked, 3, "neighbor-table.retries (3), then FAILED");
        let n = cp.nexthops().into_iter().find(|n| n.addr == addr).unwrap();
        assert_eq!(n.state, NudState::Failed);
        assert_eq!(cp.counters.neighbor_failed, 1);
        // Packets to it now get ICMP Host Unreachable, as from a kernel.
        let pkt = frames::ipv4(
            MacAddr([2, 0, 0, 0, 1, 2]),
            MACS[1],
            "10.1.0.2".parse().unwrap(),
            "10.0.0.77".parse().unwrap(),
            proto::UDP,
            64,
            &[0; 8],
        );
        let (v, buf, stats) = forward(&cp, 1, &pkt);
        assert_eq!(v, Verdict::Reply);
        let ip = dataplane::wire::ipv4::Packet::new_checked(&buf.data()[14..]).unwrap();
        assert_eq!(
            (ip.payload()[0], ip.payload()[1]),
            (3, 1),
            "host unreachable"
        );
        assert_eq!(
            stats.drops_of(dataplane::drop::DropReason::NeighborFailed),
            1
        );
    }

    #[test]
    fn resolve_request_for_unknown_host_is_rate_limited() {
        let (mut cp, ch) = plane();
        let t0 = Instant::now();
        cp.poll(t0);
        drain(&ch);
        for _ in 0..5 {
            ch.resolve
                .push(ResolveRequest {
                    port: PortId(0),
                    addr: "10.0.0.77".parse().unwrap(),
                })
                .unwrap();
        }
        // Off-subnet requests are ignored.
        ch.resolve
            .push(ResolveRequest {
                port: PortId(0),
                addr: "10.9.0.77".parse().unwrap(),
            })
            .unwrap();
        cp.poll(t0 + Duration::from_millis(1));
        assert_eq!(drain(&ch).len(), 1);
    }

    #[test]
    fn unanswered_probes_take_a_gateway_down_and_an_answer_brings_it_back() {
        let cfg = CFG.replace(
            "neighbors:",
            "liveness: { probe-interval-ms: 100, probe-failures: 3 }\nneighbors:",
        );
        let c = config::parse(&cfg, "t").unwrap();
        let ch = Channels::default();
        let mut cp = ControlPlane::new(c, &MACS, vec![], ch.clone(), 64);
        let id = cp
            .nexthop_id(PortId(2), "10.2.0.2".parse().unwrap())
            .unwrap();
        let answer = srv2_answers;
        let t0 = Instant::now();
        cp.poll(t0);
        answer(&ch);
        cp.poll(t0 + Duration::from_millis(1));
        assert!(cp.fib().neighbors.live(id).is_some());
        // Probes at 100, 200, 300 ms go unanswered; at 400 ms the gateway is down.
        for ms in [100, 200, 300] {
            cp.poll(t0 + Duration::from_millis(ms));
            assert!(cp.fib().neighbors.live(id).is_some(), "still up at {ms} ms");
        }
        cp.poll(t0 + Duration::from_millis(400));
        assert!(cp.fib().neighbors.live(id).is_none());
        assert!(cp.nexthops()[id.index()].unreachable);
        answer(&ch);
        cp.poll(t0 + Duration::from_millis(450));
        assert!(
            cp.fib().neighbors.live(id).is_some(),
            "an answer brings it back"
        );
        assert_eq!(
            (
                cp.counters.nexthop_down_events,
                cp.counters.nexthop_up_events
            ),
            (1, 1)
        );
    }

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

    #[test]
    fn a_resilient_table_does_not_depend_on_the_order_its_members_resolve_in() {
        let cfg = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24] }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 64
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a, weight: 2 }, { via: 10.0.0.4, port: a }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web }
";
        let resolve_in = |order: [u8; 3]| {
            let ch = Channels::default();
            let mut cp = ControlPlane::new(
                config::parse(cfg, "t").unwrap(),
                &[MACS[0]],
                vec![],
                ch.clone(),
                16,
            );
            let initial = bucket_addrs(&cp);
            let t0 = Instant::now();
            let mut t = t0;
            for last in order {
                let mac = MacAddr([2, 0, 0, 0, 0, last]);
                arp_reply(&ch, 0, mac, Ipv4Addr::new(10, 0, 0, last), "10.0.0.1");
                for _ in 0..4 {
                    t += Duration::from_millis(20);
                    cp.poll(t);
                    drain(&ch);
                }
            }
            assert!(cp.gateways_resolved());
            (initial, bucket_addrs(&cp))
        };
        let (init1, one) = resolve_in([2, 3, 4]);
        let (init2, two) = resolve_in([4, 3, 2]);
        assert_eq!(init1, init2, "the first table is the config's");
        assert_eq!(one, init1, "resolving A, B, C kept the table");
        assert_eq!(two, init1, "resolving C, B, A kept the table");
    }

    #[test]
    fn resilient_group_moves_only_the_dead_members_buckets() {
        // The default idle timer (120 s): busy buckets stay with their owner.
        let cfg = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24] }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 64
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a }, { via: 10.0.0.4, port: a }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web, hash: { policy: l3 } }
neighbors:
  - { address: 10.0.0.2, mac: \"02:00:00:00:00:02\", port: a }
  - { address: 10.0.0.3, mac: \"02:00:00:00:00:03\", port: a }
  - { address: 10.0.0.4, mac: \"02:00:00:00:00:04\", port: a }
";
        let c = config::parse(cfg, "t").unwrap();
        let mut cp = ControlPlane::new(c, &[MACS[0]], vec![], Channels::default(), 16);
        let before: Vec<NexthopId> = cp.fib().group(GroupId(0)).unwrap().buckets().to_vec();
        assert_eq!(before.len(), 64);
        // Traffic on every bucket, as the workers mark it.
        let busy = |cp: &ControlPlane| {
            let fib = cp.fib();
            let g = fib.group(GroupId(0)).unwrap();
            for h in 0..1024u32 {
                g.select_live(h << 22, &fib.neighbors);
            }
        };
        busy(&cp);
        let dead = cp
            .nexthop_id(PortId(0), "10.0.0.3".parse().unwrap())
            .unwrap();
        cp.set_enabled("a", "10.0.0.3".parse().unwrap(), false)
            .unwrap();
        let t0 = Instant::now();
        cp.poll(t0 + Duration::from_secs(1));
        let after = cp.fib().group(GroupId(0)).unwrap().buckets().to_vec();
        for (b, a) in before.iter().zip(&after) {
            if *b == dead {
                assert_ne!(a, b);
            } else {
                assert_eq!(a, b, "a live member's busy bucket moved");
            }
        }
        assert_eq!(cp.counters.resilient_rebalances, 1);
        // Idle past the timer: the table settles on the survivors' exact shares.
        cp.poll(t0 + Duration::from_secs(200));
        let settled = cp.fib().group(GroupId(0)).unwrap().buckets().to_vec();
        let count = |id: NexthopId| settled.iter().filter(|&&b| b == id).count();
        assert_eq!(count(dead), 0);
        for a in ["10.0.0.2", "10.0.0.4"] {
            let id = cp.nexthop_id(PortId(0), a.parse().unwrap()).unwrap();
            assert_eq!(count(id), 32, "{a}");
        }
        assert_eq!(
            cp.fib()
                .routes
                .lookup("198.51.100.1".parse().unwrap())
                .unwrap()
                .hash
                .policy,
            dataplane::hash::HashPolicy::L3
        );
    }

    #[test]
    fn a_tier_of_routers_sends_every_flow_to_the_same_server() {
        // Two routers with the same routes, group, seed and buckets; their own
        // port addresses differ, and the second made other nexthops first
        // (its nexthop ids differ) and resolved its servers in another order.
        let cfg = |addr: &str, extra: bool| {
            let hosts = if extra {
                "neighbors:\n  - { address: 10.5.0.100, mac: \"02:00:00:00:05:64\", port: servers }\n  - { address: 10.5.0.101, mac: \"02:00:00:00:05:65\", port: servers }\n"
            } else {
                ""
            };
            format!(
                "ports:
  - {{ name: servers, device: x, addresses: [{addr}/24] }}
hash: {{ policy: l4, seed: 77 }}
nexthop-groups:
  - name: vip
    group: resilient
    buckets: 256
    idle-timer: 1
    nexthops: [{{ via: 10.5.0.11, port: servers }}, {{ via: 10.5.0.12, port: servers }}, {{ via: 10.5.0.13, port: servers }}, {{ via: 10.5.0.14, port: servers }}]
routes:
  - {{ prefix: 198.51.100.0/24, nexthop-group: vip }}
{hosts}"
            )
        };
        let router = |addr: &str, order: [u8; 4], extra: bool| {
            let ch = Channels::default();
            let mut cp = ControlPlane::new(
                config::parse(&cfg(addr, extra), "t").unwrap(),
                &[MACS[0]],
                vec![],
                ch.clone(),
                64,
            );
            let mut t = Instant::now();
            let answer = |cp: &mut ControlPlane, t: &mut Instant, which: &[u8]| {
                for &k in which {
                    arp_reply(
                        &ch,
                        0,
                        MacAddr([2, 0, 0, 0, 5, k]),
                        Ipv4Addr::new(10, 5, 0, k),
                        addr,
                    );
                }
                *t += Duration::from_millis(400);
                cp.poll(*t);
                drain(&ch);
            };
            for k in order {
                answer(&mut cp, &mut t, &[k]);
            }
            for _ in 0..8 {
                answer(&mut cp, &mut t, &order);
            }
            cp
        };
        let one = router("10.5.0.1", [11, 12, 13, 14], false);
        let two = router("10.5.0.2", [14, 12, 11, 13], true);
        let server = |cp: &ControlPlane, i: u16| {
            let g = cp.route_get(
                "198.51.100.10".parse().unwrap(),
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 200) as u8 + 1)),
                6,
                10_000 + i,
                443,
            );
            g.nexthop.map(|n| n.0)
        };
        let mut seen = std::collections::HashSet::new();
        for i in 0..400u16 {
            let (a, b) = (server(&one, i), server(&two, i));
            assert!(a.is_some(), "flow {i} has a server");
            assert_eq!(a, b, "flow {i} reaches different servers");
            seen.insert(a);
        }
        assert_eq!(seen.len(), 4, "the flows spread over every server");
    }

    #[test]
    fn two_routers_with_the_same_config_settle_on_the_same_resilient_table() {
        // One router sees a member flap and its gateways resolve in one order;
        // the other sees no flap and another order. Once idle, same table.
        let cfg = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24] }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 128
    idle-timer: 1
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a, weight: 2 }, { via: 10.0.0.4, port: a }, { via: 10.0.0.5, port: a }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web }
";
        let run = |order: [u8; 4], flap: Option<&str>| {
            let ch = Channels::default();
            let mut cp = ControlPlane::new(
                config::parse(cfg, "t").unwrap(),
                &[MACS[0]],
                vec![],
                ch.clone(),
                16,
            );
            let mut t = Instant::now();
            for last in order {
                arp_reply(
                    &ch,
                    0,
                    MacAddr([2, 0, 0, 0, 0, last]),
                    Ipv4Addr::new(10, 0, 0, last),
                    "10.0.0.1",
                );
                for _ in 0..3 {
                    t += Duration::from_millis(20);
                    cp.poll(t);
                    drain(&ch);
                }
            }
            // Every gateway answers its probes; time passes in steps of 0.5 s.
            let answer = |cp: &mut ControlPlane, t: &mut Instant| {
                for k in 2..=5u8 {
                    arp_reply(
                        &ch,
                        0,
                        MacAddr([2, 0, 0, 0, 0, k]),
                        Ipv4Addr::new(10, 0, 0, k),
                        "10.0.0.1",
                    );
                }
                *t += Duration::from_millis(500);
                cp.poll(*t);
                drain(&ch);
            };
            if let Some(a) = flap {
                cp.set_enabled("a", a.parse().unwrap(), false).unwrap();
                for _ in 0..4 {
                    answer(&mut cp, &mut t);
                }
                cp.set_enabled("a", a.parse().unwrap(), true).unwrap();
            }
            for _ in 0..6 {
                answer(&mut cp, &mut t);
            }
            assert!(
                cp.nexthops().iter().all(|n| n.live),
                "every gateway is live"
            );
            bucket_addrs(&cp)
        };
        let one = run([2, 3, 4, 5], Some("10.0.0.3"));
        let two = run([5, 3, 2, 4], None);
        assert_eq!(one, two);
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

    #[test]
    fn api_nexthops_add_delete() {
        let mut cp = plane_resolved();
        let n = cp
            .add_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap();
        assert_eq!((n.kind, n.mac), (NexthopKind::Gateway, None));
        assert!(cp
            .add_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap_err()
            .to_string()
            .contains("exists"));
        for (port, addr, msg) in [
            ("srv9", "10.1.0.9", "unknown port"),
            ("srv1", "10.2.0.9", "not on a subnet"),
            ("srv1", "10.1.0.1", "own address"),
        ] {
            let e = cp.add_nexthop_api(port, addr.parse().unwrap()).unwrap_err();
            assert!(e.to_string().contains(msg), "{e}");
        }
        // A group member or a static neighbour cannot go; a pinned one can.
        let e = cp
            .delete_nexthop_api("srv2", "10.2.0.2".parse().unwrap())
            .unwrap_err();
        assert!(
            matches!(
                e,
                NexthopError::Static { .. } | NexthopError::InGroup { .. }
            ),
            "{e}"
        );
        cp.delete_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap();
        assert!(cp
            .nexthops()
            .iter()
            .all(|n| n.addr != "10.1.0.9".parse::<IpAddr>().unwrap()));
        assert!(cp
            .delete_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap_err()
            .to_string()
            .contains("no nexthop"));
        // It comes back with the same id.
        let again = cp
            .add_nexthop_api("srv1", "10.1.0.9".parse().unwrap())
            .unwrap();
        assert_eq!(again.id, n.id);
        // Enabling by name still finds the right view after a removal.
        let v = cp
            .set_enabled("srv1", "10.1.0.9".parse().unwrap(), false)
            .unwrap();
        assert_eq!(v.id, n.id);
    }

    #[test]
    fn api_named_groups_add_replace_delete() {
        let mut cp = plane_resolved();
        let c = cp.config().clone();
        let g1 = config::parse_named_group(
            r#"{"name": "web", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#,
            &c,
        )
        .unwrap();
        assert!(cp.set_named_group(g1.clone(), false).unwrap());
        assert!(cp
            .set_named_group(g1, false)
            .unwrap_err()
            .to_string()
            .contains("exists"));
        // A route naming it validates only with the API's groups.
        let body = r#"{"prefix": "203.0.113.0/24", "nexthop-group": "web"}"#;
        assert!(config::parse_route(body, &c).is_err());
        let spec = config::parse_route_with(body, &c, &cp.api_groups()).unwrap();
        cp.add_route(spec, Origin::Api, false).unwrap();
        let via = |cp: &ControlPlane| {
            cp.route_get(
                "203.0.113.5".parse().unwrap(),
                "10.0.0.2".parse().unwrap(),
                6,
                1,
                2,
            )
            .nexthop
            .map(|n| n.1)
        };
        assert_eq!(via(&cp).as_deref(), Some("srv1"));
        let web = |cp: &ControlPlane| cp.groups().into_iter().find(|g| g.name == "web").unwrap();
        assert_eq!((web(&cp).routes, web(&cp).origin), (1, Some(Origin::Api)));
        // Replacing the group moves its routes at once.
        let g2 = config::parse_named_group(
            r#"{"name": "web", "nexthops": [{"via": "10.2.0.2", "port": "srv2"}]}"#,
            &c,
        )
        .unwrap();
        assert!(!cp.set_named_group(g2, true).unwrap());
        assert_eq!(via(&cp).as_deref(), Some("srv2"));
        // In use: refused, and nothing changes.
        assert!(cp
            .delete_named_group("web")
            .unwrap_err()
            .to_string()
            .contains("used by 1 route"));
        assert_eq!(via(&cp).as_deref(), Some("srv2"));
        cp.delete_route(MAIN_TABLE, "203.0.113.0/24".parse().unwrap(), Origin::Api)
            .unwrap();
        cp.delete_named_group("web").unwrap();
        assert!(cp.groups().iter().all(|g| g.name != "web"));
        assert!(cp
            .delete_named_group("web")
            .unwrap_err()
            .to_string()
            .contains("no nexthop group"));
        // A family mismatch and bad fields are named.
        let e = config::parse_named_group(r#"{"name": "x", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}, {"via": "fd02::2", "port": "srv2"}]}"#, &c).unwrap_err();
        assert_eq!(e.key, "nexthops[1].via");
        let e = config::parse_named_group(
            r#"{"name": "a b", "nexthops": [{"via": "10.1.0.2", "port": "srv1"}]}"#,
            &c,
        )
        .unwrap_err();
        assert_eq!(e.key, "name");
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
        assert!(cp.fpm.object_routes.is_empty());
    }

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
