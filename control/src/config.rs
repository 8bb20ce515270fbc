//! The YAML configuration: parsing, validation, and errors that point at the
//! offending key with its line and column.
//!
//! Parsing uses `serde-saphyr` (maintained, panic-free, with source
//! locations). Syntax and type errors come from the parser; semantic errors
//! (an unknown port, a gateway off-subnet, a duplicate route) are found here,
//! using the `Spanned` location of the value at fault. Either way the router
//! refuses the whole file: nothing is applied from a config that fails.
//!
//! Every key is documented in `docs/configuration.md`.

use dataplane::hash::{Field, FieldSet, HashConfig, HashPolicy};
use dataplane::nhg::{Algorithm, DEFAULT_BUCKETS, MAX_BUCKETS, MAX_WEIGHT};
use dataplane::types::{MacAddr, PortId, Prefix};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

/// Default HTTP listen address for `/metrics` and the API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// Default IP MTU of a port.
pub const DEFAULT_MTU: u16 = 1500;
/// Upper bound of worker lcores.
pub const MAX_WORKERS: u32 = 64;
/// The main routing table (as in Linux).
pub const MAIN_TABLE: u32 = 254;
/// Default resilient idle timer (s), as Linux.
pub const DEFAULT_IDLE_TIMER_S: u64 = 120;

// ---- Raw shape, as written in YAML ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    eal: Vec<String>,
    #[serde(default)]
    workers: Option<Spanned<u32>>,
    ports: Spanned<Vec<RawPort>>,
    #[serde(default)]
    hash: Option<RawHash>,
    #[serde(default, rename = "nexthop-groups")]
    nexthop_groups: Vec<RawGroup>,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    neighbors: Vec<RawNeighbor>,
    #[serde(default)]
    liveness: Option<RawLiveness>,
    #[serde(default, rename = "neighbor-table")]
    neighbor_table: Option<RawNeighborTable>,
    #[serde(default)]
    api: Option<RawApi>,
    #[serde(default)]
    fpm: Option<RawFpm>,
    #[serde(default)]
    flows: Option<RawFlows>,
    #[serde(default)]
    uplinks: Vec<RawUplink>,
    #[serde(default)]
    icmp: Option<RawIcmp>,
    #[serde(default)]
    rules: Vec<RawRule>,
    #[serde(default, rename = "last-resort")]
    last_resort: Option<Spanned<String>>,
    #[serde(default)]
    tables: BTreeMap<String, Spanned<u32>>,
    #[serde(default, rename = "kernel-interfaces")]
    kernel_interfaces: Option<Spanned<bool>>,
    #[serde(default, rename = "punt-policer")]
    punt_policer: Option<RawPuntPolicer>,
    #[serde(default, rename = "kernel-routes")]
    kernel_routes: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPuntPolicer {
    #[serde(default)]
    routing: Option<RawIcmp>,
    #[serde(default)]
    arp_nd: Option<RawIcmp>,
    #[serde(default)]
    icmp: Option<RawIcmp>,
    #[serde(default)]
    other: Option<RawIcmp>,
    #[serde(default)]
    peers: Vec<Spanned<String>>,
}

/// A routing table: its id, or a name from `tables:` (`main` is 254).
#[derive(Deserialize)]
#[serde(untagged)]
enum RawTable {
    Id(u32),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default, rename = "match")]
    matches: Option<RawMatch>,
    action: Spanned<RawAction>,
    #[serde(default)]
    sticky: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMatch {
    #[serde(default)]
    in_port: Option<Spanned<String>>,
    #[serde(default)]
    src: Option<Spanned<String>>,
    #[serde(default)]
    dst: Option<Spanned<String>>,
    #[serde(default)]
    proto: Option<Spanned<PortOrName>>,
    #[serde(default)]
    sport: Option<Spanned<PortOrName>>,
    #[serde(default)]
    dport: Option<Spanned<PortOrName>>,
}

/// A number, or a name / range written as text.
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
enum PortOrName {
    Num(u32),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(default)]
    uplink: Option<Spanned<String>>,
    #[serde(default)]
    group: Option<Spanned<String>>,
    #[serde(default)]
    table: Option<Spanned<RawTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawIcmp {
    #[serde(default)]
    rate: Option<Spanned<u32>>,
    #[serde(default)]
    burst: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawUplink {
    name: Spanned<String>,
    port: Spanned<String>,
    gateway: Spanned<String>,
    probe: RawProbe,
    #[serde(default)]
    snat: Option<Spanned<RawSnat>>,
}

/// `snat:` is an address, a list of addresses, or `masquerade`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSnat {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProbe {
    targets: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    interval_ms: Option<Spanned<u64>>,
    #[serde(default)]
    timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    down_after: Option<Spanned<u32>>,
    #[serde(default)]
    up_after: Option<Spanned<u32>>,
    #[serde(default)]
    max_loss: Option<Spanned<u32>>,
    #[serde(default)]
    max_rtt_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFlows {
    #[serde(default)]
    capacity: Option<Spanned<u64>>,
    #[serde(default)]
    tcp_established: Option<Spanned<u64>>,
    #[serde(default)]
    tcp_transitory: Option<Spanned<u64>>,
    #[serde(default)]
    tcp_closing: Option<Spanned<u64>>,
    #[serde(default)]
    udp: Option<Spanned<u64>>,
    #[serde(default)]
    icmp: Option<Spanned<u64>>,
    #[serde(default)]
    other: Option<Spanned<u64>>,
    #[serde(default)]
    on_uplink_down: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFpm {
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    stale_time: Option<Spanned<u64>>,
    #[serde(default)]
    max_routes: Option<Spanned<u64>>,
    #[serde(default)]
    max_nexthops: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLiveness {
    #[serde(default)]
    probe_interval_ms: Option<Spanned<u64>>,
    #[serde(default)]
    probe_failures: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawGroup {
    name: Spanned<String>,
    #[serde(default)]
    group: Option<Spanned<String>>,
    #[serde(default)]
    buckets: Option<Spanned<u32>>,
    #[serde(default)]
    idle_timer: Option<Spanned<u64>>,
    #[serde(default)]
    unbalanced_timer: Option<Spanned<u64>>,
    nexthops: Spanned<Vec<RawNexthop>>,
}

/// The group parameters of a named group or a route.
struct GroupParams<'a> {
    group: &'a Option<Spanned<String>>,
    buckets: &'a Option<Spanned<u32>>,
    idle_timer: &'a Option<Spanned<u64>>,
    unbalanced_timer: &'a Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPort {
    name: Spanned<String>,
    device: Spanned<String>,
    #[serde(default)]
    addresses: Vec<Spanned<String>>,
    #[serde(default)]
    mtu: Option<Spanned<u32>>,
    #[serde(default, rename = "monitor-link")]
    monitor_link: Option<Spanned<RawMonitorLink>>,
    #[serde(default, rename = "kernel-interface")]
    kernel_interface: Option<Spanned<bool>>,
}

/// `monitor-link:` is `true`, `false` or `auto`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawMonitorLink {
    Flag(bool),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHash {
    #[serde(default)]
    policy: Option<Spanned<String>>,
    #[serde(default)]
    seed: Option<u32>,
    #[serde(default)]
    fields: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRoute {
    prefix: Spanned<String>,
    #[serde(default)]
    table: Option<Spanned<RawTable>>,
    #[serde(default)]
    nexthops: Option<Spanned<Vec<RawNexthop>>>,
    #[serde(default)]
    nexthop_group: Option<Spanned<String>>,
    #[serde(default)]
    group: Option<Spanned<String>>,
    #[serde(default)]
    buckets: Option<Spanned<u32>>,
    #[serde(default)]
    idle_timer: Option<Spanned<u64>>,
    #[serde(default)]
    unbalanced_timer: Option<Spanned<u64>>,
    #[serde(default)]
    hash: Option<RawHash>,
    #[serde(default)]
    sticky: Option<bool>,
    #[serde(default, rename = "type")]
    route_type: Option<Spanned<String>>,
    #[serde(default)]
    metric: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNexthop {
    via: Spanned<String>,
    port: Spanned<String>,
    #[serde(default)]
    weight: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    address: Spanned<String>,
    mac: Spanned<String>,
    port: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNeighborTable {
    #[serde(default)]
    max_hosts: Option<Spanned<u32>>,
    #[serde(default)]
    max_incomplete: Option<Spanned<u32>>,
    #[serde(default)]
    solicit_rate: Option<Spanned<u32>>,
    #[serde(default)]
    retries: Option<Spanned<u32>>,
    #[serde(default)]
    reachable_time: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "kebab-case")]
struct RawApi {
    #[serde(default)]
    listen: Option<Spanned<String>>,
    #[serde(default)]
    token: Option<Spanned<String>>,
    #[serde(default)]
    token_file: Option<Spanned<String>>,
    #[serde(default)]
    hosts: Vec<Spanned<String>>,
    #[serde(default)]
    socket: Option<Spanned<String>>,
    #[serde(default)]
    socket_group: Option<Spanned<String>>,
}

// ---- Validated config ----

/// An address on a port with its subnet length, e.g. `10.0.0.1/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfAddr {
    /// The address itself.
    pub addr: IpAddr,
    /// Subnet length.
    pub len: u8,
}

impl IfAddr {
    /// The connected subnet.
    pub fn subnet(&self) -> Prefix {
        Prefix::new_truncating(self.addr, self.len)
    }
}

impl fmt::Display for IfAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// A port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Operator's name (metric label, route reference).
    pub name: String,
    /// DPDK devargs.
    pub device: String,
    /// Addresses with subnet lengths.
    pub addresses: Vec<IfAddr>,
    /// IP MTU.
    pub mtu: u16,
    /// `monitor-link` as written (`auto` when absent).
    pub monitor_link_setting: MonitorLink,
    /// The effective value: take the port's nexthops down when the PMD
    /// reports its link down ([`MonitorLink::effective`]).
    pub monitor_link: bool,
    /// The port has a kernel interface of its name (`kernel-interfaces`,
    /// unless the port says `kernel-interface: false`).
    pub kernel_interface: bool,
}

/// `punt-policer`: the budget of each class of packets to the kernel
/// interfaces, and the routing peers known in advance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PuntPolicerConfig {
    /// By [`dataplane::punt::PuntClass`] index.
    pub limits: [dataplane::punt::Limit; dataplane::punt::PuntClass::COUNT],
    /// Peers whose BGP/BFD/OSPF count as `routing` from the start (others
    /// are learned from what the host's daemons send).
    pub peers: Vec<IpAddr>,
}

impl Default for PuntPolicerConfig {
    fn default() -> Self {
        use dataplane::punt::Limit;
        PuntPolicerConfig {
            limits: [
                Limit {
                    rate: 20_000,
                    burst: 2_000,
                },
                Limit {
                    rate: 2_000,
                    burst: 500,
                },
                Limit {
                    rate: 1_000,
                    burst: 200,
                },
                Limit {
                    rate: 2_000,
                    burst: 500,
                },
            ],
            peers: Vec::new(),
        }
    }
}

/// Why `name` cannot name a Linux interface, if it cannot (the kernel's
/// `dev_valid_name`, and names iproute2 gives a meaning).
pub fn interface_name_problem(name: &str) -> Option<&'static str> {
    if name.len() > 15 {
        Some("is longer than 15 characters (IFNAMSIZ)")
    } else if matches!(name, "lo" | "all" | "default" | "." | "..") {
        Some("is reserved")
    } else {
        None
    }
}

/// The `monitor-link` setting of a port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonitorLink {
    /// Use the PMD's link state where it means something (see [`MonitorLink::effective`]).
    Auto,
    /// Always use it.
    On,
    /// Never use it.
    Off,
}

/// DPDK virtual devices whose reported link state says nothing about the
/// wire: `net_tap` reads its interface by name in the router's namespace (it
/// reports "down" once the interface moves to another one), and `net_ring`,
/// `net_null` and `net_pcap` have no wire at all.
const LINKLESS_DRIVERS: [&str; 5] = ["net_tap", "net_tun", "net_ring", "net_null", "net_pcap"];

impl MonitorLink {
    /// The setting's name, as written in the config.
    pub fn name(self) -> &'static str {
        match self {
            MonitorLink::Auto => "auto",
            MonitorLink::On => "true",
            MonitorLink::Off => "false",
        }
    }

    /// Whether the link state of a port on `device` (DPDK devargs) is used.
    /// `auto` uses it for PCI devices, `net_af_packet` and every other driver,
    /// but not for [`LINKLESS_DRIVERS`].
    pub fn effective(self, device: &str) -> bool {
        match self {
            MonitorLink::On => true,
            MonitorLink::Off => false,
            MonitorLink::Auto => {
                let driver = device.split(',').next().unwrap_or("").trim();
                !LINKLESS_DRIVERS.iter().any(|d| {
                    driver.strip_prefix(d).is_some_and(|rest| {
                        // net_tap0, net_tap_lab1; not net_tapx-something else.
                        rest.is_empty()
                            || rest.starts_with('_')
                            || rest.starts_with(|c: char| c.is_ascii_digit())
                    })
                })
            }
        }
    }
}

/// One member of a multipath route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NexthopConfig {
    /// Gateway address.
    pub via: IpAddr,
    /// Egress port.
    pub port: PortId,
    /// Weight, 1..=65535.
    pub weight: u32,
}

/// A nexthop group: named (`nexthop-groups`) or a route's own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupConfig {
    /// The name, for named groups.
    pub name: Option<String>,
    /// Selection algorithm.
    pub algorithm: Algorithm,
    /// Resilient: bucket count.
    pub buckets: usize,
    /// Resilient: a busy bucket may move once idle this long (ms).
    pub idle_timer_ms: u64,
    /// Resilient: busy buckets move once unbalanced this long (ms; 0 = never).
    pub unbalanced_timer_ms: u64,
    /// Members, at least one.
    pub nexthops: Vec<NexthopConfig>,
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// Routing table (254 = main, the one the dataplane forwards with).
    pub table: u32,
    /// Destination prefix.
    pub prefix: Prefix,
    /// Its group, or that it rejects.
    pub target: RouteTarget,
    /// Its metric.
    pub metric: u32,
    /// Hash policy and seed for this route.
    pub hash: HashConfig,
    /// Keep each flow on the nexthop its first packet got.
    pub sticky: bool,
}

/// The bounded pool of hosts learned or resolved on connected subnets
/// (`neighbor-table`), apart from nexthops (config, API, FPM, uplinks), which
/// are never evicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborTable {
    /// Hosts in the pool; a new one past it evicts the least recently used.
    pub max_hosts: u32,
    /// Hosts being resolved at once; a new one past it is not created (counted).
    pub max_incomplete: u32,
    /// Solicitations (ARP requests, NS) per second for hosts, burst included.
    pub solicit_rate: u32,
    /// Unanswered solicitations before a host is FAILED (for 20 s); also the
    /// unicast probes of a PROBE entry.
    pub retries: u32,
    /// Seconds a host stays REACHABLE after it was last heard from, then
    /// STALE (the kernel's `base_reachable_time`).
    pub reachable_time_s: u32,
}

impl Default for NeighborTable {
    fn default() -> NeighborTable {
        NeighborTable {
            max_hosts: 16_384,
            max_incomplete: 256,
            solicit_rate: 100,
            retries: 3,
            reachable_time_s: 30,
        }
    }
}

/// What a configured route points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    /// An index into [`Config::groups`].
    Group(usize),
    /// A route of type blackhole, unreachable or prohibit.
    Reject(Reject),
}

/// Nexthop reachability probing (in the spirit of RFC 4861 NUD).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Liveness {
    /// Interval between probes of each gateway (ms).
    pub probe_interval_ms: u64,
    /// Unanswered probes after which a gateway is down.
    pub probe_failures: u32,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            probe_interval_ms: 1000,
            probe_failures: 3,
        }
    }
}

/// A permanent neighbour entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaticNeighbor {
    /// Neighbour address.
    pub address: IpAddr,
    /// Its MAC.
    pub mac: MacAddr,
    /// Port it is on.
    pub port: PortId,
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Extra EAL arguments.
    pub eal: Vec<String>,
    /// Worker lcores.
    pub workers: u32,
    /// Ports, indexed by [`PortId`].
    pub ports: Vec<PortConfig>,
    /// Default hash policy and seed.
    pub hash: HashConfig,
    /// Nexthop groups: named ones first, then each route's own.
    pub groups: Vec<GroupConfig>,
    /// Static routes.
    pub routes: Vec<RouteConfig>,
    /// Reachability probing.
    pub liveness: Liveness,
    /// The pool of learned hosts (`neighbor-table`).
    pub neighbor_table: NeighborTable,
    /// Permanent neighbours.
    pub neighbors: Vec<StaticNeighbor>,
    /// HTTP listen address.
    pub listen: SocketAddr,
    /// Bearer token the API requires (mandatory off loopback), from
    /// `api.token` or the file `api.token-file` names.
    pub token: Option<String>,
    /// Host names the TCP API answers to besides IP literals and `localhost`
    /// (`api.hosts`; anything else gets 421, which stops DNS rebinding).
    pub api_hosts: Vec<String>,
    /// `api.socket`: the API on a Unix socket as well (mode 0660).
    pub api_socket: Option<std::path::PathBuf>,
    /// `api.socket-group`: the socket's group, by name.
    pub api_socket_group: Option<String>,
    /// The FPM server for FRR, if enabled.
    pub fpm: Option<FpmConfig>,
    /// Each worker's flow table (used by sticky routes).
    pub flows: FlowsConfig,
    /// Uplinks with health probes.
    pub uplinks: Vec<UplinkConfig>,
    /// ICMP errors each worker may send per second, and its burst.
    pub icmp_rate: u32,
    /// Burst allowance of the ICMP error limit.
    pub icmp_burst: u32,
    /// Policy rules, in order.
    pub rules: Vec<RuleConfig>,
    /// What happens when rules matched but none was usable.
    pub last_resort: dataplane::policy::LastResort,
    /// Names of routing tables (`tables:`), name -> id.
    pub tables: BTreeMap<String, u32>,
    /// `punt-policer`.
    pub punt_policer: PuntPolicerConfig,
    /// `kernel-routes`: mirror the kernel's main table (routes through the
    /// kernel interfaces) into the RIB, origin `kernel`.
    pub kernel_routes: bool,
}

/// Where a policy rule sends packets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// An uplink by name (its gateway).
    Uplink(String),
    /// A named nexthop group.
    Group(String),
    /// A lookup in a routing table other than main.
    Table(u32),
}

/// A validated policy rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleConfig {
    /// Input port.
    pub in_port: Option<PortId>,
    /// Source prefix.
    pub src: Option<Prefix>,
    /// Destination prefix.
    pub dst: Option<Prefix>,
    /// Protocol number.
    pub proto: Option<u8>,
    /// Source port range.
    pub sport: (u16, u16),
    /// Destination port range.
    pub dport: (u16, u16),
    /// Where matching packets go.
    pub action: RuleAction,
    /// Keep each flow on its first nexthop.
    pub sticky: bool,
}

/// An uplink: a gateway on a port, taken out of every group when probes to
/// targets beyond it fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UplinkConfig {
    /// Its name (API, metrics).
    pub name: String,
    /// The port it is on.
    pub port: PortId,
    /// The upstream router (a nexthop of the groups that use this uplink).
    pub gateway: IpAddr,
    /// Addresses beyond the uplink that answer ICMP echo.
    pub targets: Vec<IpAddr>,
    /// Time between probe rounds (ms).
    pub interval_ms: u64,
    /// A reply later than this counts as lost (ms).
    pub timeout_ms: u64,
    /// Consecutive failed rounds that take the uplink down.
    pub down_after: u32,
    /// Consecutive good rounds that bring it back.
    pub up_after: u32,
    /// A round also fails while loss over the last 10 rounds exceeds this (%; 100 = off).
    pub max_loss_pct: u32,
    /// A reply slower than this fails its round (ms; 0 = off).
    pub max_rtt_ms: u64,
    /// Source addresses flows leaving through this uplink are translated to
    /// (empty: no SNAT; `masquerade` is resolved to the port's address).
    pub snat: Vec<Ipv4Addr>,
}

/// The per-worker flow table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowsConfig {
    /// Flows per worker (rounded up to a power of two); also the SNAT
    /// bindings per worker.
    pub capacity: usize,
    /// Idle timeouts.
    pub timeouts: dataplane::flowtable::Timeouts,
    /// What happens to a translated flow whose uplink goes down.
    pub on_uplink_down: dataplane::nat::OnDown,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig {
            capacity: 65_536,
            timeouts: dataplane::flowtable::Timeouts::default(),
            on_uplink_down: dataplane::nat::OnDown::Repick,
        }
    }
}

/// The FPM server (FRR's zebra `dplane_fpm_nl` connects to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpmConfig {
    /// Listen address (loopback only: FPM has no authentication).
    pub listen: SocketAddr,
    /// When a session ends, its routes are kept this long (ms), then removed
    /// unless a new session has re-sent them.
    pub stale_time_ms: u64,
    /// Routes one session may hold; a new route past it is refused and counted.
    pub max_routes: usize,
    /// Nexthop objects one session may hold; likewise.
    pub max_nexthops: usize,
}

/// Default `fpm.max-routes`: a full Internet table in both families, twice over.
pub const DEFAULT_FPM_MAX_ROUTES: usize = 4_000_000;
/// Table names and ids iproute2 reserves (`/etc/iproute2/rt_tables`); `all`
/// has no id (`ip route show table all`).
const RESERVED_TABLES: [(&str, u32); 4] =
    [("main", 254), ("default", 253), ("local", 255), ("all", 0)];

/// Default `fpm.max-nexthops`.
pub const DEFAULT_FPM_MAX_NEXTHOPS: usize = 65_536;

impl Config {
    /// The port named `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .map(|i| PortId(i as u16))
    }
}

/// A refused configuration: where, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// File name (or `<input>`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// Key path such as `routes[0].nexthops[1].port`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// The source line and a caret under the column.
    pub snippet: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.key, self.message
        )?;
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

fn snippet(src: &str, line: u64, column: u64) -> String {
    if line == 0 {
        return String::new();
    }
    match src.lines().nth(line as usize - 1) {
        Some(l) => format!(
            "  {l}\n  {}^",
            " ".repeat(column.saturating_sub(1) as usize)
        ),
        None => String::new(),
    }
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn err(&self, at: Location, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let (line, column) = (at.line(), at.column());
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            snippet: snippet(self.src, line, column),
        }
    }
}

/// Reads and validates a config file.
///
/// # Errors
/// [`ConfigError`] for an unreadable file or any invalid key.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 0,
        column: 0,
        key: "<file>".into(),
        message: format!("cannot read: {e}"),
        snippet: String::new(),
    })?;
    parse(&src, &file)
}

/// The API token systemd passed as the credential `api-token` (the unit's
/// `LoadCredential=api-token:/etc/ecmp-router/api-token`), when it is not
/// empty. The unit's `SetCredential=api-token:` is the empty fallback that
/// lets a fresh install without a token file start.
fn credential_token() -> Option<String> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let text = std::fs::read_to_string(Path::new(&dir).join("api-token")).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Parses and validates config text; `file` names it in errors.
///
/// # Errors
/// [`ConfigError`] for any syntax, type or semantic error.
pub fn parse(src: &str, file: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = parse_doc(src, file)?;
    validate(&Ctx { file, src }, raw)
}

fn parse_ifaddr(s: &str) -> Option<IfAddr> {
    let (a, l) = s.split_once('/')?;
    let addr: IpAddr = a.parse().ok()?;
    let len: u8 = l.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max && !addr.is_unspecified() && !addr.is_multicast() && !addr.is_loopback())
        .then_some(IfAddr { addr, len })
}

fn parse_hash(
    cx: &Ctx<'_>,
    raw: Option<&RawHash>,
    key: &str,
    default: HashConfig,
) -> Result<HashConfig, ConfigError> {
    let Some(h) = raw else { return Ok(default) };
    let fields = match &h.fields {
        None => None,
        Some(list) => {
            let mut set = FieldSet::default();
            for (i, f) in list.value.iter().enumerate() {
                let Some(field) = Field::parse(f.value.trim()) else {
                    let all: Vec<_> = Field::ALL.iter().map(|x| x.1).collect();
                    return Err(cx.err(
                        f.referenced,
                        format!("{key}.fields[{i}]"),
                        format!(
                            "unknown field '{}' (fields are: {})",
                            f.value,
                            all.join(", ")
                        ),
                    ));
                };
                set = set.with(field);
            }
            if set == FieldSet::default() {
                return Err(cx.err(
                    list.referenced,
                    format!("{key}.fields"),
                    "choose at least one field",
                ));
            }
            Some((set, list.referenced))
        }
    };
    let policy = match &h.policy {
        None if fields.is_some() => "fields",
        None => default.policy.name(),
        Some(p) => p.value.trim(),
    };
    let at = h.policy.as_ref().map(|p| p.referenced);
    let policy = match (policy, fields) {
        ("fields", Some((set, _))) => HashPolicy::Fields(set),
        ("fields", None) => match default.policy {
            HashPolicy::Fields(set) if h.policy.is_none() => HashPolicy::Fields(set),
            _ => return Err(cx.err(at.unwrap_or(Location::UNKNOWN), format!("{key}.fields"), "policy 'fields' needs a fields list")),
        },
        (_, Some((_, loc))) => return Err(cx.err(loc, format!("{key}.fields"), "fields is only allowed with policy 'fields'")),
        ("l3", None) => HashPolicy::L3,
        ("l4", None) => HashPolicy::L4,
        ("l3-inner", None) => HashPolicy::L3Inner,
        ("l4-inner", None) => HashPolicy::L4Inner,
        ("flowlabel", None) => HashPolicy::FlowLabel,
        ("per-packet", None) => HashPolicy::PerPacket,
        (other, None) => {
            return Err(cx.err(
                at.unwrap_or(Location::UNKNOWN),
                format!("{key}.policy"),
                format!("unknown hash policy '{other}' (expected l3, l4, l3-inner, l4-inner, fields, flowlabel or per-packet)"),
            ))
        }
    };
    Ok(HashConfig {
        policy,
        seed: h.seed.unwrap_or(default.seed),
    })
}

fn parse_group(
    cx: &Ctx<'_>,
    p: &GroupParams<'_>,
    key: &str,
    name: Option<String>,
    nexthops: Vec<NexthopConfig>,
) -> Result<GroupConfig, ConfigError> {
    let algorithm = match &p.group {
        None => Algorithm::HashThreshold,
        Some(g) => match g.value.trim() {
            "hash-threshold" => Algorithm::HashThreshold,
            "resilient" => Algorithm::Resilient,
            "modulo" => Algorithm::Modulo,
            other => return Err(cx.err(g.referenced, format!("{key}.group"), format!("unknown group algorithm '{other}' (expected hash-threshold, resilient or modulo)"))),
        },
    };
    let resilient_only = [
        p.buckets.as_ref().map(|b| (b.referenced, "buckets")),
        p.idle_timer.as_ref().map(|b| (b.referenced, "idle-timer")),
        p.unbalanced_timer
            .as_ref()
            .map(|b| (b.referenced, "unbalanced-timer")),
    ];
    if algorithm != Algorithm::Resilient {
        if let Some((at, k)) = resilient_only.iter().flatten().next() {
            return Err(cx.err(
                *at,
                format!("{key}.{k}"),
                format!(
                    "{k} applies to resilient groups only (this group is {})",
                    algorithm.name()
                ),
            ));
        }
    }
    let buckets = match &p.buckets {
        None => DEFAULT_BUCKETS,
        Some(b) if (1..=MAX_BUCKETS as u32).contains(&b.value) => b.value as usize,
        Some(b) => {
            return Err(cx.err(
                b.referenced,
                format!("{key}.buckets"),
                format!("{} is outside 1..={MAX_BUCKETS}", b.value),
            ))
        }
    };
    if buckets < nexthops.len() {
        let at = p
            .buckets
            .as_ref()
            .map_or(Location::UNKNOWN, |b| b.referenced);
        return Err(cx.err(
            at,
            format!("{key}.buckets"),
            format!("{buckets} buckets cannot hold {} members", nexthops.len()),
        ));
    }
    let secs = |v: &Option<Spanned<u64>>, k: &str, d: u64| match v {
        None => Ok(d),
        Some(t) if t.value <= 86_400 => Ok(t.value * 1000),
        Some(t) => Err(cx.err(
            t.referenced,
            format!("{key}.{k}"),
            format!("{} s is more than a day", t.value),
        )),
    };
    let idle_timer_ms = secs(p.idle_timer, "idle-timer", DEFAULT_IDLE_TIMER_S * 1000)?;
    let unbalanced_timer_ms = secs(p.unbalanced_timer, "unbalanced-timer", 0)?;
    Ok(GroupConfig {
        name,
        algorithm,
        buckets,
        idle_timer_ms,
        unbalanced_timer_ms,
        nexthops,
    })
}

/// `key.field`, or `field` at the top of an API request.
fn join(key: &str, field: &str) -> String {
    if key.is_empty() {
        field.to_owned()
    } else {
        format!("{key}.{field}")
    }
}

/// What validating a route needs: the ports and the default hash.
struct Env<'a> {
    cx: &'a Ctx<'a>,
    ports: &'a [PortConfig],
    default_hash: HashConfig,
    tables: &'a BTreeMap<String, u32>,
}

/// The group a validated route uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteGroup {
    /// A named group from `nexthop-groups`.
    Named(String),
    /// The route's own group.
    Inline(GroupConfig),
    /// No nexthops: a route of type blackhole, unreachable or prohibit.
    Reject(Reject),
    /// An FPM nexthop object (zebra's nexthop group, RTA_NH_ID): the routes
    /// that use it share its group, and a change to it is one group update.
    /// Never in a config file or an API body.
    Object(u32),
    /// A device route from FPM (`dev X`, no gateway): the prefix is on this
    /// port, like a connected subnet. Never in a config file or an API body.
    Connected(PortId),
}

/// A route that drops what it matches, as the kernel's route types do
/// (`ip route add blackhole|unreachable|prohibit PREFIX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reject {
    /// Dropped silently.
    Blackhole,
    /// Dropped with ICMP Host Unreachable (ICMPv6 No Route).
    Unreachable,
    /// Dropped with ICMP Administratively Prohibited.
    Prohibit,
}

impl Reject {
    /// Its name, as `ip route` and the config write it.
    pub fn name(self) -> &'static str {
        match self {
            Reject::Blackhole => "blackhole",
            Reject::Unreachable => "unreachable",
            Reject::Prohibit => "prohibit",
        }
    }

    /// The route type named `s`; `None` for `unicast` and anything unknown.
    pub fn parse(s: &str) -> Option<Reject> {
        [Reject::Blackhole, Reject::Unreachable, Reject::Prohibit]
            .into_iter()
            .find(|r| r.name() == s)
    }

    /// What the dataplane does with it.
    pub fn target(self) -> dataplane::fib::Target {
        match self {
            Reject::Blackhole => dataplane::fib::Target::Blackhole,
            Reject::Unreachable => dataplane::fib::Target::Unreachable,
            Reject::Prohibit => dataplane::fib::Target::Prohibit,
        }
    }
}

/// A validated route, as the API and a reload see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// Routing table (254 = main).
    pub table: u32,
    /// Destination.
    pub prefix: Prefix,
    /// Its group.
    pub group: RouteGroup,
    /// Its hash config.
    pub hash: HashConfig,
    /// Keep each flow on the nexthop its first packet got.
    pub sticky: bool,
    /// The routing protocol that installed it (`rtm_protocol`; config and
    /// API routes are [`RTPROT_STATIC`]).
    pub protocol: u8,
    /// Its metric (`RTA_PRIORITY`; `metric:` in the config).
    pub metric: u32,
}

/// `rtm_protocol` of config and API routes.
pub const RTPROT_STATIC: u8 = 4;

/// The name iproute2 gives a route protocol number (its `rt_protos`, with
/// FRR's additions), or the number itself.
pub fn protocol_name(p: u8) -> std::borrow::Cow<'static, str> {
    let name = match p {
        0 => "unspec",
        1 => "redirect",
        2 => "kernel",
        3 => "boot",
        4 => "static",
        8 => "gated",
        9 => "ra",
        10 => "mrt",
        11 => "zebra",
        12 => "bird",
        13 => "dnrouted",
        14 => "xorp",
        15 => "ntk",
        16 => "dhcp",
        18 => "keepalived",
        42 => "babel",
        186 => "bgp",
        187 => "isis",
        188 => "ospf",
        189 => "rip",
        191 => "nhrp",
        192 => "eigrp",
        193 => "ldp",
        194 => "sharp",
        195 => "pbr",
        196 => "static",
        197 => "openfabric",
        198 => "srte",
        _ => return std::borrow::Cow::Owned(p.to_string()),
    };
    std::borrow::Cow::Borrowed(name)
}

impl Env<'_> {
    /// A table id, or a name from `tables:`.
    fn table(&self, t: &Spanned<RawTable>, key: String) -> Result<u32, ConfigError> {
        match &t.value {
            RawTable::Id(0) => {
                Err(self
                    .cx
                    .err(t.referenced, key, "table ids start at 1 (254 is main)"))
            }
            RawTable::Id(n) => Ok(*n),
            RawTable::Name(n) if n.trim() == "main" => Ok(MAIN_TABLE),
            RawTable::Name(n) => self.tables.get(n.trim()).copied().ok_or_else(|| {
                let known: Vec<&str> = self.tables.keys().map(String::as_str).collect();
                self.cx.err(
                    t.referenced,
                    key,
                    format!(
                        "unknown table '{}' (tables are: main{}{})",
                        n.trim(),
                        if known.is_empty() { "" } else { ", " },
                        known.join(", ")
                    ),
                )
            }),
        }
    }

    fn port(&self, s: &Spanned<String>, key: String) -> Result<PortId, ConfigError> {
        match self.ports.iter().position(|p| p.name == s.value.trim()) {
            Some(i) => Ok(PortId(i as u16)),
            None => {
                let names: Vec<&str> = self.ports.iter().map(|p| p.name.as_str()).collect();
                Err(self.cx.err(
                    s.referenced,
                    key,
                    format!(
                        "unknown port '{}' (ports are: {})",
                        s.value,
                        names.join(", ")
                    ),
                ))
            }
        }
    }

    fn ip(&self, s: &Spanned<String>, key: String) -> Result<IpAddr, ConfigError> {
        s.value.trim().parse().map_err(|_| {
            self.cx.err(
                s.referenced,
                key,
                format!("'{}' is not an IP address", s.value),
            )
        })
    }

    /// Refuses `a` unless it is on a subnet of `port`; `what` names it in the message.
    fn require_on_subnet(
        &self,
        port: PortId,
        a: IpAddr,
        what: &str,
        at: &Spanned<String>,
        key: String,
    ) -> Result<(), ConfigError> {
        if self.on_subnet(port, a) {
            return Ok(());
        }
        Err(self.cx.err(
            at.referenced,
            key,
            format!(
                "{what}{a} is not on a subnet of port '{}' ({})",
                self.ports[port.index()].name,
                self.subnets_of(port)
            ),
        ))
    }

    fn on_subnet(&self, port: PortId, a: IpAddr) -> bool {
        self.ports[port.index()]
            .addresses
            .iter()
            .any(|ia| ia.subnet().contains(a))
    }

    fn subnets_of(&self, port: PortId) -> String {
        let v: Vec<String> = self.ports[port.index()]
            .addresses
            .iter()
            .map(|ia| ia.subnet().to_string())
            .collect();
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    }

    /// Members of a group: validated, with duplicates refused. `family`: true for IPv4.
    fn members(
        &self,
        list: &Spanned<Vec<RawNexthop>>,
        key: &str,
        family: Option<bool>,
    ) -> Result<Vec<NexthopConfig>, ConfigError> {
        let cx = self.cx;
        if list.value.is_empty() {
            return Err(cx.err(
                list.referenced,
                key.to_owned(),
                "a group needs at least one nexthop",
            ));
        }
        let mut out: Vec<NexthopConfig> = Vec::new();
        for (j, n) in list.value.iter().enumerate() {
            let k = |f: &str| format!("{key}[{j}].{f}");
            let via = self.ip(&n.via, k("via"))?;
            let want_v4 = family.or(out.first().map(|x| x.via.is_ipv4()));
            if want_v4.is_some_and(|v4| v4 != via.is_ipv4()) {
                return Err(cx.err(n.via.referenced, k("via"), format!("gateway {via} is not of the same address family as the group's other members or its route")));
            }
            let port = self.port(&n.port, k("port"))?;
            self.require_on_subnet(port, via, "gateway ", &n.via, k("via"))?;
            let weight = match &n.weight {
                None => 1,
                Some(w) if (1..=MAX_WEIGHT).contains(&w.value) => w.value,
                Some(w) => {
                    return Err(cx.err(
                        w.referenced,
                        k("weight"),
                        format!("{} is outside 1..={MAX_WEIGHT}", w.value),
                    ))
                }
            };
            if out.iter().any(|x| x.via == via && x.port == port) {
                return Err(cx.err(
                    n.via.referenced,
                    k("via"),
                    format!(
                        "nexthop {via} on port '{}' is listed twice in this group",
                        self.ports[port.index()].name
                    ),
                ));
            }
            out.push(NexthopConfig { via, port, weight });
        }
        Ok(out)
    }

    /// Validates one route against the ports and the named groups.
    fn route(
        &self,
        r: &RawRoute,
        key: &str,
        named: &[GroupConfig],
    ) -> Result<RouteSpec, ConfigError> {
        let cx = self.cx;
        let prefix: Prefix = r
            .prefix
            .value
            .trim()
            .parse()
            .map_err(|e| cx.err(r.prefix.referenced, join(key, "prefix"), format!("{e}")))?;
        let table = match &r.table {
            None => MAIN_TABLE,
            Some(t) => self.table(t, join(key, "table"))?,
        };
        let reject = match &r.route_type {
            None => None,
            Some(t) => match t.value.trim() {
                "unicast" => None,
                other => match Reject::parse(other) {
                    Some(x) => Some(x),
                    None => {
                        return Err(cx.err(
                            t.referenced,
                            join(key, "type"),
                            format!("unknown route type '{other}' (expected unicast, blackhole, unreachable or prohibit)"),
                        ))
                    }
                },
            },
        };
        if let Some(x) = reject {
            let extra = [
                r.nexthops.as_ref().map(|v| (v.referenced, "nexthops")),
                r.nexthop_group
                    .as_ref()
                    .map(|v| (v.referenced, "nexthop-group")),
                r.group.as_ref().map(|v| (v.referenced, "group")),
                r.buckets.as_ref().map(|v| (v.referenced, "buckets")),
            ];
            if let Some((at, k)) = extra.into_iter().flatten().next() {
                return Err(cx.err(
                    at,
                    join(key, k),
                    format!(
                        "a route of type {} has no nexthops: leave out {k}",
                        x.name()
                    ),
                ));
            }
            if r.hash.is_some() || r.sticky.is_some() {
                return Err(cx.err(
                    r.prefix.referenced,
                    join(key, if r.hash.is_some() { "hash" } else { "sticky" }),
                    format!(
                        "a route of type {} forwards nothing: hash and sticky do not apply",
                        x.name()
                    ),
                ));
            }
            return Ok(RouteSpec {
                table,
                prefix,
                group: RouteGroup::Reject(x),
                hash: self.default_hash,
                sticky: false,
                protocol: RTPROT_STATIC,
                metric: r.metric.unwrap_or(0),
            });
        }
        let group = match (&r.nexthops, &r.nexthop_group) {
            (Some(list), None) => {
                let nexthops =
                    self.members(list, &join(key, "nexthops"), Some(prefix.addr().is_ipv4()))?;
                let params = GroupParams {
                    group: &r.group,
                    buckets: &r.buckets,
                    idle_timer: &r.idle_timer,
                    unbalanced_timer: &r.unbalanced_timer,
                };
                RouteGroup::Inline(parse_group(cx, &params, key, None, nexthops)?)
            }
            (None, Some(name)) => {
                if let Some(p) = r
                    .group
                    .as_ref()
                    .map(|g| g.referenced)
                    .or(r.buckets.as_ref().map(|b| b.referenced))
                {
                    return Err(cx.err(p, join(key, "group"), "a route that names a nexthop-group takes the algorithm from that group; set it there"));
                }
                let Some(g) = named
                    .iter()
                    .find(|g| g.name.as_deref() == Some(name.value.trim()))
                else {
                    let known: Vec<_> = named.iter().filter_map(|g| g.name.clone()).collect();
                    let known = if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    };
                    return Err(cx.err(
                        name.referenced,
                        join(key, "nexthop-group"),
                        format!(
                            "unknown nexthop group '{}' (groups are: {known})",
                            name.value
                        ),
                    ));
                };
                if g.nexthops[0].via.is_ipv4() != prefix.addr().is_ipv4() {
                    return Err(cx.err(
                        name.referenced,
                        join(key, "nexthop-group"),
                        format!(
                            "group '{}' is of the other address family than {prefix}",
                            name.value
                        ),
                    ));
                }
                RouteGroup::Named(name.value.trim().to_owned())
            }
            (Some(list), Some(_)) => {
                return Err(cx.err(
                    list.referenced,
                    join(key, "nexthops"),
                    "give either nexthops or nexthop-group, not both",
                ))
            }
            (None, None) => {
                return Err(cx.err(
                    r.prefix.referenced,
                    if key.is_empty() {
                        "prefix".to_owned()
                    } else {
                        key.to_owned()
                    },
                    "a route needs nexthops, a nexthop-group, or a type (blackhole, unreachable, prohibit)",
                ))
            }
        };
        let hash = parse_hash(cx, r.hash.as_ref(), &join(key, "hash"), self.default_hash)?;
        Ok(RouteSpec {
            table,
            prefix,
            group,
            hash,
            sticky: r.sticky.unwrap_or(false),
            protocol: RTPROT_STATIC,
            metric: r.metric.unwrap_or(0),
        })
    }
}

/// Parses a YAML or JSON document of type `T` with key-path errors.
fn parse_doc<T: serde::de::DeserializeOwned>(src: &str, file: &str) -> Result<T, ConfigError> {
    let mut path = String::new();
    let raw: Result<T, _> = serde_saphyr::with_deserializer_from_str_with_options(
        src,
        serde_saphyr::Options {
            with_snippet: false,
            // Room for a full Internet table (1.25M routes, about 60M events);
            // the depth, alias and anchor limits stay at their defaults.
            budget: Some(serde_saphyr::Budget {
                max_reader_input_bytes: Some(1 << 30),
                max_events: 100_000_000,
                max_nodes: 50_000_000,
                max_total_scalar_bytes: 1 << 30,
                ..Default::default()
            }),
            ..Default::default()
        },
        |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                // `Spanned<T>` adds a `value` segment; operators never wrote it.
                path = e
                    .path()
                    .to_string()
                    .replace(".value[", "[")
                    .replace(".value.", ".");
                if let Some(p) = path.strip_suffix(".value") {
                    path = p.to_owned();
                }
                e.into_inner()
            })
        },
    );
    raw.map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = e.to_string();
        // The parser repeats the position; keep only the reason.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        if let Some(rest) = message.strip_prefix("error: ") {
            message = rest
                .split_once(": ")
                .map_or(rest.to_owned(), |(_, m)| m.to_owned());
        }
        if let Some(t) = ["u8", "u16", "u32", "u64", "i64"]
            .iter()
            .find(|t| message == format!("invalid {t}"))
        {
            message = format!("expected a whole number ({t}), found something else");
        }
        let key = if path.is_empty() || path == "." {
            "<document>".to_owned()
        } else {
            path.clone()
        };
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            key,
            message,
            snippet: snippet(src, line, column),
        }
    })
}

/// Validates one route given as JSON (or YAML) against a running config: the
/// shape of a `routes[]` entry. Errors name the field (`nexthops[1].port`).
///
/// # Errors
/// [`ConfigError`] for any invalid field; nothing is applied.
pub fn parse_route(src: &str, config: &Config) -> Result<RouteSpec, ConfigError> {
    parse_route_with(src, config, &[])
}

/// Like [`parse_route`], with named groups defined beside the config (through
/// the API); those win over the config's groups of the same name.
///
/// # Errors
/// [`ConfigError`] for any invalid field; nothing is applied.
pub fn parse_route_with(
    src: &str,
    config: &Config,
    extra: &[GroupConfig],
) -> Result<RouteSpec, ConfigError> {
    let raw: RawRoute = parse_doc(src, "<request>")?;
    let cx = Ctx {
        file: "<request>",
        src,
    };
    let env = Env {
        cx: &cx,
        ports: &config.ports,
        default_hash: config.hash,
        tables: &config.tables,
    };
    let named: Vec<GroupConfig> = extra
        .iter()
        .chain(
            config
                .groups
                .iter()
                .filter(|g| g.name.is_some() && !extra.iter().any(|x| x.name == g.name)),
        )
        .cloned()
        .collect();
    env.route(&raw, "", &named)
}

/// Validates one named group given as JSON (or YAML): the shape of a
/// `nexthop-groups[]` entry. Errors name the field (`nexthops[0].via`).
///
/// # Errors
/// [`ConfigError`] for any invalid field; nothing is applied.
pub fn parse_named_group(src: &str, config: &Config) -> Result<GroupConfig, ConfigError> {
    let g: RawGroup = parse_doc(src, "<request>")?;
    let cx = Ctx {
        file: "<request>",
        src,
    };
    let env = Env {
        cx: &cx,
        ports: &config.ports,
        default_hash: config.hash,
        tables: &config.tables,
    };
    let name = g.name.value.trim().to_owned();
    if name.is_empty() || name.len() > 64 || name.contains(['/', '?', '#', ' ']) {
        return Err(cx.err(
            g.name.referenced,
            "name".to_owned(),
            format!(
                "group name '{name}' must be 1 to 64 characters without spaces, '/', '?' or '#'"
            ),
        ));
    }
    let nexthops = env.members(&g.nexthops, "nexthops", None)?;
    let params = GroupParams {
        group: &g.group,
        buckets: &g.buckets,
        idle_timer: &g.idle_timer,
        unbalanced_timer: &g.unbalanced_timer,
    };
    parse_group(&cx, &params, "", Some(name), nexthops)
}

fn validate(cx: &Ctx<'_>, raw: RawConfig) -> Result<Config, ConfigError> {
    let workers = match raw.workers {
        None => 1,
        Some(w) if (1..=MAX_WORKERS).contains(&w.value) => w.value,
        Some(w) => {
            return Err(cx.err(
                w.referenced,
                "workers",
                format!("{} is outside 1..={MAX_WORKERS}", w.value),
            ))
        }
    };

    if raw.ports.value.is_empty() {
        return Err(cx.err(
            raw.ports.referenced,
            "ports",
            "at least one port is required",
        ));
    }
    let mut ports = Vec::new();
    let mut names: HashMap<String, PortId> = HashMap::new();
    let mut all_addrs: HashSet<IpAddr> = HashSet::new();
    for (i, p) in raw.ports.value.iter().enumerate() {
        let k = |f: &str| format!("ports[{i}].{f}");
        let name = p.name.value.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(cx.err(
                p.name.referenced,
                k("name"),
                format!(
                    "'{}' is not a valid port name (letters, digits, '-', '_', '.')",
                    p.name.value
                ),
            ));
        }
        if names.insert(name.to_owned(), PortId(i as u16)).is_some() {
            return Err(cx.err(
                p.name.referenced,
                k("name"),
                format!("port '{name}' is defined twice"),
            ));
        }
        if p.device.value.trim().is_empty() {
            return Err(cx.err(
                p.device.referenced,
                k("device"),
                "device (DPDK devargs) is empty",
            ));
        }
        let mtu = match &p.mtu {
            None => DEFAULT_MTU,
            Some(m) if (68..=9600).contains(&m.value) => m.value as u16,
            Some(m) => {
                return Err(cx.err(
                    m.referenced,
                    k("mtu"),
                    format!("{} is outside 68..=9600", m.value),
                ))
            }
        };
        let mut addresses = Vec::new();
        for (j, a) in p.addresses.iter().enumerate() {
            let Some(ia) = parse_ifaddr(&a.value) else {
                return Err(cx.err(
                    a.referenced,
                    format!("ports[{i}].addresses[{j}]"),
                    format!(
                        "'{}' is not an interface address like 10.0.0.1/24 or fd00::1/64",
                        a.value
                    ),
                ));
            };
            if !all_addrs.insert(ia.addr) {
                return Err(cx.err(
                    a.referenced,
                    format!("ports[{i}].addresses[{j}]"),
                    format!("address {} is already used", ia.addr),
                ));
            }
            if ia.addr.is_ipv6() && mtu < 1280 {
                return Err(cx.err(
                    a.referenced,
                    format!("ports[{i}].addresses[{j}]"),
                    format!("IPv6 needs an MTU of at least 1280, port has {mtu}"),
                ));
            }
            addresses.push(ia);
        }
        let monitor_link_setting = match p.monitor_link.as_ref() {
            None => MonitorLink::Auto,
            Some(m) => match &m.value {
                RawMonitorLink::Flag(true) => MonitorLink::On,
                RawMonitorLink::Flag(false) => MonitorLink::Off,
                RawMonitorLink::Word(w) if w == "auto" => MonitorLink::Auto,
                RawMonitorLink::Word(w) => {
                    return Err(cx.err(
                        m.referenced,
                        k("monitor-link"),
                        format!(
                            "'{w}' is not a monitor-link setting (expected true, false or auto)"
                        ),
                    ))
                }
            },
        };
        let kernel_interface = raw.kernel_interfaces.as_ref().is_some_and(|k| k.value)
            && p.kernel_interface.as_ref().is_none_or(|k| k.value);
        if kernel_interface {
            if let Some(why) = interface_name_problem(name) {
                return Err(cx.err(
                    p.name.referenced,
                    k("name"),
                    format!("'{name}' {why}: with kernel-interfaces the port's kernel interface has its name (or set kernel-interface: false on the port)"),
                ));
            }
            let iface = p
                .device
                .value
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("iface="));
            if iface == Some(name) {
                return Err(cx.err(
                    p.device.referenced,
                    k("device"),
                    format!("the PMD's own interface is named '{name}' too (iface=): with kernel-interfaces, '{name}' is the router's kernel interface; give the PMD another iface= name"),
                ));
            }
        }
        ports.push(PortConfig {
            kernel_interface,
            name: name.to_owned(),
            device: p.device.value.trim().to_owned(),
            addresses,
            mtu,
            monitor_link_setting,
            monitor_link: monitor_link_setting.effective(p.device.value.trim()),
        });
    }
    let default_hash = parse_hash(cx, raw.hash.as_ref(), "hash", HashConfig::default())?;
    let mut tables = BTreeMap::new();
    for (name, id) in &raw.tables {
        let key = format!("tables.{name}");
        // iproute2's reserved names and ids (rt_tables): ecmpctl and
        // operators read them as `ip route show table ...` does.
        if RESERVED_TABLES.iter().any(|(n, _)| n == name)
            || name.is_empty()
            || name.parse::<u32>().is_ok()
        {
            return Err(cx.err(
                id.referenced,
                key,
                format!("'{name}' cannot name a table (main 254, default 253, local 255 and all are iproute2's; a name is not a number)"),
            ));
        }
        if id.value == 0 {
            return Err(cx.err(id.referenced, key, "table ids are 1 or more"));
        }
        if let Some((n, _)) = RESERVED_TABLES.iter().find(|(_, v)| *v == id.value) {
            return Err(cx.err(
                id.referenced,
                key,
                format!("{}: that id is iproute2's table '{n}'", id.value),
            ));
        }
        if let Some((other, _)) = tables.iter().find(|(_, &v)| v == id.value) {
            return Err(cx.err(
                id.referenced,
                key,
                format!("id {} is also table '{other}'", id.value),
            ));
        }
        tables.insert(name.clone(), id.value);
    }
    let env = Env {
        cx,
        ports: &ports,
        default_hash,
        tables: &tables,
    };

    let mut groups: Vec<GroupConfig> = Vec::new();
    for (i, g) in raw.nexthop_groups.iter().enumerate() {
        let key = format!("nexthop-groups[{i}]");
        let name = g.name.value.trim().to_owned();
        if name.is_empty()
            || groups
                .iter()
                .any(|x| x.name.as_deref() == Some(name.as_str()))
        {
            return Err(cx.err(
                g.name.referenced,
                format!("{key}.name"),
                format!("group name '{name}' is empty or defined twice"),
            ));
        }
        let nexthops = env.members(&g.nexthops, &join(&key, "nexthops"), None)?;
        let params = GroupParams {
            group: &g.group,
            buckets: &g.buckets,
            idle_timer: &g.idle_timer,
            unbalanced_timer: &g.unbalanced_timer,
        };
        groups.push(parse_group(cx, &params, &key, Some(name), nexthops)?);
    }
    let named = groups.clone();

    let mut routes = Vec::new();
    let mut seen: HashSet<(u32, Prefix)> = HashSet::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let key = format!("routes[{i}]");
        let v = env.route(r, &key, &named)?;
        if !seen.insert((v.table, v.prefix)) {
            return Err(cx.err(
                r.prefix.referenced,
                join(&key, "prefix"),
                format!("route {} is defined twice in table {}", v.prefix, v.table),
            ));
        }
        let target = match v.group {
            RouteGroup::Named(name) => RouteTarget::Group(
                named
                    .iter()
                    .position(|g| g.name.as_deref() == Some(name.as_str()))
                    .expect("route() checked the name"),
            ),
            RouteGroup::Inline(g) => {
                groups.push(g);
                RouteTarget::Group(groups.len() - 1)
            }
            RouteGroup::Reject(x) => RouteTarget::Reject(x),
            RouteGroup::Object(_) | RouteGroup::Connected(_) => {
                unreachable!("a config route never names an FPM object or device")
            }
        };
        routes.push(RouteConfig {
            table: v.table,
            prefix: v.prefix,
            target,
            metric: v.metric,
            hash: v.hash,
            sticky: v.sticky,
        });
    }

    let neighbor_table = {
        let d = NeighborTable::default();
        let get = |v: &Option<Spanned<u32>>, key: &str, lo: u32, hi: u32, dflt: u32| match v {
            None => Ok(dflt),
            Some(n) if (lo..=hi).contains(&n.value) => Ok(n.value),
            Some(n) => Err(cx.err(
                n.referenced,
                format!("neighbor-table.{key}"),
                format!("{} is not between {lo} and {hi}", n.value),
            )),
        };
        match &raw.neighbor_table {
            None => d,
            Some(t) => NeighborTable {
                max_hosts: get(&t.max_hosts, "max-hosts", 16, 32_768, d.max_hosts)?,
                max_incomplete: get(
                    &t.max_incomplete,
                    "max-incomplete",
                    1,
                    32_768,
                    d.max_incomplete,
                )?,
                solicit_rate: get(&t.solicit_rate, "solicit-rate", 1, 100_000, d.solicit_rate)?,
                retries: get(&t.retries, "retries", 1, 10, d.retries)?,
                reachable_time_s: get(
                    &t.reachable_time,
                    "reachable-time",
                    1,
                    3600,
                    d.reachable_time_s,
                )?,
            },
        }
    };
    let liveness = match raw.liveness {
        None => Liveness::default(),
        Some(l) => {
            let d = Liveness::default();
            let probe_interval_ms = match l.probe_interval_ms {
                None => d.probe_interval_ms,
                Some(v) if (10..=60_000).contains(&v.value) => v.value,
                Some(v) => {
                    return Err(cx.err(
                        v.referenced,
                        "liveness.probe-interval-ms",
                        format!("{} is outside 10..=60000", v.value),
                    ))
                }
            };
            let probe_failures = match l.probe_failures {
                None => d.probe_failures,
                Some(v) if (1..=100).contains(&v.value) => v.value,
                Some(v) => {
                    return Err(cx.err(
                        v.referenced,
                        "liveness.probe-failures",
                        format!("{} is outside 1..=100", v.value),
                    ))
                }
            };
            Liveness {
                probe_interval_ms,
                probe_failures,
            }
        }
    };

    let flows = match &raw.flows {
        None => FlowsConfig::default(),
        Some(f) => {
            let d = FlowsConfig::default();
            let capacity = match &f.capacity {
                None => d.capacity,
                Some(v) if (64..=(1 << 26)).contains(&v.value) => v.value as usize,
                Some(v) => {
                    return Err(cx.err(
                        v.referenced,
                        "flows.capacity",
                        format!("{} is outside 64..=67108864", v.value),
                    ))
                }
            };
            let secs = |v: &Option<Spanned<u64>>, key: &str, dflt_ms: u32| match v {
                None => Ok(dflt_ms),
                Some(v) if (1..=4_000_000).contains(&v.value) => Ok(v.value as u32 * 1000),
                Some(v) => Err(cx.err(
                    v.referenced,
                    format!("flows.{key}"),
                    format!("{} seconds is outside 1..=4000000", v.value),
                )),
            };
            let t = d.timeouts;
            let on_uplink_down = match &f.on_uplink_down {
                None => d.on_uplink_down,
                Some(v) => match v.value.trim() {
                    "repick" => dataplane::nat::OnDown::Repick,
                    "flush" => dataplane::nat::OnDown::Flush,
                    other => {
                        return Err(cx.err(
                            v.referenced,
                            "flows.on-uplink-down",
                            format!("'{other}' is not one of: repick, flush"),
                        ))
                    }
                },
            };
            FlowsConfig {
                capacity,
                on_uplink_down,
                timeouts: dataplane::flowtable::Timeouts {
                    tcp_established_ms: secs(
                        &f.tcp_established,
                        "tcp-established",
                        t.tcp_established_ms,
                    )?,
                    tcp_transitory_ms: secs(
                        &f.tcp_transitory,
                        "tcp-transitory",
                        t.tcp_transitory_ms,
                    )?,
                    tcp_closing_ms: secs(&f.tcp_closing, "tcp-closing", t.tcp_closing_ms)?,
                    udp_ms: secs(&f.udp, "udp", t.udp_ms)?,
                    icmp_ms: secs(&f.icmp, "icmp", t.icmp_ms)?,
                    other_ms: secs(&f.other, "other", t.other_ms)?,
                },
            }
        }
    };

    let (icmp_rate, icmp_burst) = {
        let get = |v: Option<&Spanned<u32>>, key: &str, hi: u32, d: u32| match v {
            None => Ok(d),
            Some(v) if v.value <= hi => Ok(v.value),
            Some(v) => Err(cx.err(
                v.referenced,
                key.to_owned(),
                format!("{} is outside 0..={hi}", v.value),
            )),
        };
        let i = raw.icmp.as_ref();
        (
            get(
                i.and_then(|i| i.rate.as_ref()),
                "icmp.rate",
                1_000_000,
                1000,
            )?,
            get(i.and_then(|i| i.burst.as_ref()), "icmp.burst", 100_000, 100)?,
        )
    };

    let punt_policer = {
        let mut c = PuntPolicerConfig::default();
        if let Some(pp) = &raw.punt_policer {
            let classes = [&pp.routing, &pp.arp_nd, &pp.icmp, &pp.other];
            for (i, (class, l)) in dataplane::punt::PuntClass::ALL
                .iter()
                .zip(classes)
                .enumerate()
            {
                let Some(l) = l else { continue };
                for (v, field, hi) in [
                    (&l.rate, "rate", 10_000_000u32),
                    (&l.burst, "burst", 1_000_000),
                ] {
                    let Some(v) = v else { continue };
                    if v.value > hi {
                        return Err(cx.err(
                            v.referenced,
                            format!("punt-policer.{}.{field}", class.name()),
                            format!("{} is outside 0..={hi}", v.value),
                        ));
                    }
                    if field == "rate" {
                        c.limits[i].rate = v.value;
                    } else {
                        c.limits[i].burst = v.value;
                    }
                }
            }
            for (j, a) in pp.peers.iter().enumerate() {
                let Ok(ip) = a.value.trim().parse::<IpAddr>() else {
                    return Err(cx.err(
                        a.referenced,
                        format!("punt-policer.peers[{j}]"),
                        format!("'{}' is not an IP address", a.value),
                    ));
                };
                c.peers.push(ip);
            }
        }
        c
    };

    let mut uplinks: Vec<UplinkConfig> = Vec::new();
    for (i, u) in raw.uplinks.iter().enumerate() {
        let k = |f: &str| format!("uplinks[{i}].{f}");
        let name = u.name.value.trim().to_owned();
        if name.is_empty() || uplinks.iter().any(|x| x.name == name) {
            return Err(cx.err(
                u.name.referenced,
                k("name"),
                format!("uplink name '{name}' is empty or used twice"),
            ));
        }
        let port = env.port(&u.port, k("port"))?;
        let gateway = env.ip(&u.gateway, k("gateway"))?;
        env.require_on_subnet(port, gateway, "gateway ", &u.gateway, k("gateway"))?;
        let p = &u.probe;
        if p.targets.value.is_empty() {
            return Err(cx.err(
                p.targets.referenced,
                k("probe.targets"),
                "at least one target is needed",
            ));
        }
        let mut targets = Vec::new();
        for (j, t) in p.targets.value.iter().enumerate() {
            let a = env.ip(t, k(&format!("probe.targets[{j}]")))?;
            if !ports[port.index()]
                .addresses
                .iter()
                .any(|x| x.addr.is_ipv4() == a.is_ipv4())
            {
                return Err(cx.err(
                    t.referenced,
                    k(&format!("probe.targets[{j}]")),
                    format!(
                        "{a}: port '{}' has no address of that family to probe from",
                        ports[port.index()].name
                    ),
                ));
            }
            targets.push(a);
        }
        let range = |v: &Option<Spanned<u64>>, key: &str, lo: u64, hi: u64, d: u64| match v {
            None => Ok(d),
            Some(v) if (lo..=hi).contains(&v.value) => Ok(v.value),
            Some(v) => Err(cx.err(
                v.referenced,
                k(key),
                format!("{} is outside {lo}..={hi}", v.value),
            )),
        };
        let range32 = |v: &Option<Spanned<u32>>, key: &str, lo: u32, hi: u32, d: u32| match v {
            None => Ok(d),
            Some(v) if (lo..=hi).contains(&v.value) => Ok(v.value),
            Some(v) => Err(cx.err(
                v.referenced,
                k(key),
                format!("{} is outside {lo}..={hi}", v.value),
            )),
        };
        let interval_ms = range(&p.interval_ms, "probe.interval-ms", 10, 60_000, 1000)?;
        let timeout_ms = range(
            &p.timeout_ms,
            "probe.timeout-ms",
            1,
            interval_ms,
            interval_ms,
        )?;
        let mut snat = Vec::new();
        if let Some(sn) = &u.snat {
            let own_v4 = ports[port.index()]
                .addresses
                .iter()
                .find_map(|a| match a.addr {
                    IpAddr::V4(v) => Some(v),
                    IpAddr::V6(_) => None,
                });
            let list: Vec<String> = match &sn.value {
                RawSnat::One(a) => vec![a.clone()],
                RawSnat::Many(v) => v.clone(),
            };
            if list.is_empty() {
                return Err(cx.err(
                    sn.referenced,
                    k("snat"),
                    "an empty list: give an address, a list or masquerade",
                ));
            }
            for (j, a) in list.iter().enumerate() {
                let key = if matches!(sn.value, RawSnat::One(_)) {
                    k("snat")
                } else {
                    k(&format!("snat[{j}]"))
                };
                let addr = match a.trim() {
                    "masquerade" => own_v4.ok_or_else(|| {
                        cx.err(
                            sn.referenced,
                            key.clone(),
                            format!(
                                "masquerade: port '{}' has no IPv4 address",
                                ports[port.index()].name
                            ),
                        )
                    })?,
                    t => match t.parse::<IpAddr>() {
                        Ok(IpAddr::V4(v))
                            if !v.is_unspecified()
                                && !v.is_broadcast()
                                && !v.is_multicast()
                                && !v.is_loopback() =>
                        {
                            v
                        }
                        Ok(IpAddr::V4(v)) => {
                            return Err(cx.err(
                                sn.referenced,
                                key,
                                format!("{v} cannot be a source address"),
                            ))
                        }
                        Ok(IpAddr::V6(v)) => {
                            return Err(cx.err(
                                sn.referenced,
                                key,
                                format!("{v}: SNAT is IPv4 only (NAT66 is not built)"),
                            ))
                        }
                        Err(_) => {
                            return Err(cx.err(
                                sn.referenced,
                                key,
                                format!("'{t}' is not an IPv4 address or masquerade"),
                            ))
                        }
                    },
                };
                if snat.contains(&addr)
                    || uplinks
                        .iter()
                        .any(|x: &UplinkConfig| x.snat.contains(&addr))
                {
                    return Err(cx.err(
                        sn.referenced,
                        key,
                        format!("{addr} is used twice: each SNAT address belongs to one uplink"),
                    ));
                }
                if let Some((other, _)) = ports.iter().enumerate().find(|(pi, p)| {
                    *pi != port.index() && p.addresses.iter().any(|x| x.addr == IpAddr::V4(addr))
                }) {
                    return Err(cx.err(
                        sn.referenced,
                        key,
                        format!(
                            "{addr} is an address of port '{}', not of this uplink's port",
                            ports[other].name
                        ),
                    ));
                }
                snat.push(addr);
            }
            if snat.len() > 64 {
                return Err(cx.err(
                    sn.referenced,
                    k("snat"),
                    format!("{} addresses: at most 64 per uplink", snat.len()),
                ));
            }
        }
        uplinks.push(UplinkConfig {
            snat,
            name,
            port,
            gateway,
            targets,
            interval_ms,
            timeout_ms,
            down_after: range32(&p.down_after, "probe.down-after", 1, 100, 3)?,
            up_after: range32(&p.up_after, "probe.up-after", 1, 100, 2)?,
            max_loss_pct: range32(&p.max_loss, "probe.max-loss", 0, 100, 100)?,
            max_rtt_ms: range(&p.max_rtt_ms, "probe.max-rtt-ms", 0, 60_000, 0)?,
        });
    }

    let mut rules = Vec::new();
    for (i, r) in raw.rules.iter().enumerate() {
        let k = |f: &str| format!("rules[{i}].{f}");
        let m = r.matches.as_ref();
        let prefix =
            |v: Option<&Spanned<String>>, key: &str| -> Result<Option<Prefix>, ConfigError> {
                v.map(|p| {
                    p.value
                        .trim()
                        .parse::<Prefix>()
                        .map_err(|e| cx.err(p.referenced, k(key), format!("{e}")))
                })
                .transpose()
            };
        let src = prefix(m.and_then(|m| m.src.as_ref()), "match.src")?;
        let dst = prefix(m.and_then(|m| m.dst.as_ref()), "match.dst")?;
        if let (Some(s), Some(d), Some(at)) = (src, dst, m.and_then(|m| m.dst.as_ref())) {
            if s.addr().is_ipv4() != d.addr().is_ipv4() {
                return Err(cx.err(
                    at.referenced,
                    k("match.dst"),
                    "src and dst are of different address families: the rule could never match",
                ));
            }
        }
        let in_port = match m.and_then(|m| m.in_port.as_ref()) {
            None => None,
            Some(p) => Some(env.port(p, k("match.in-port"))?),
        };
        let proto = match m.and_then(|m| m.proto.as_ref()) {
            None => None,
            Some(p) => Some(match &p.value {
                PortOrName::Num(n) if *n <= 255 => *n as u8,
                PortOrName::Text(t) if t == "tcp" => 6,
                PortOrName::Text(t) if t == "udp" => 17,
                PortOrName::Text(t) if t == "icmp" => 1,
                PortOrName::Text(t) if t == "icmpv6" => 58,
                PortOrName::Text(t) if t == "sctp" => 132,
                other => {
                    return Err(cx.err(
                        p.referenced,
                        k("match.proto"),
                        format!("{other:?}: expected tcp, udp, icmp, icmpv6, sctp or 0..=255"),
                    ))
                }
            }),
        };
        let range =
            |v: Option<&Spanned<PortOrName>>, key: &str| -> Result<(u16, u16), ConfigError> {
                let Some(v) = v else {
                    return Ok((0, u16::MAX));
                };
                let bad = || {
                    cx.err(
                        v.referenced,
                        k(key),
                        format!(
                            "{:?}: expected a port (0..=65535) or a range such as 1000-2000",
                            v.value
                        ),
                    )
                };
                match &v.value {
                    PortOrName::Num(n) if *n <= 65535 => Ok((*n as u16, *n as u16)),
                    PortOrName::Text(t) => {
                        let (a, b) = t.split_once('-').ok_or_else(bad)?;
                        let (a, b) = (a.trim().parse::<u16>(), b.trim().parse::<u16>());
                        match (a, b) {
                            (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                            _ => Err(bad()),
                        }
                    }
                    _ => Err(bad()),
                }
            };
        let sport = range(m.and_then(|m| m.sport.as_ref()), "match.sport")?;
        let dport = range(m.and_then(|m| m.dport.as_ref()), "match.dport")?;
        let a = &r.action.value;
        let action = match (&a.uplink, &a.group) {
            (None, None) if a.table.is_some() => {
                let t = a.table.as_ref().expect("checked");
                let id = env.table(t, k("action.table"))?;
                if id == MAIN_TABLE {
                    return Err(cx.err(
                        t.referenced,
                        k("action.table"),
                        "a rule looks up in a table other than main (254): main is where packets no rule sends elsewhere go",
                    ));
                }
                RuleAction::Table(id)
            }
            _ if a.table.is_some() => {
                return Err(cx.err(
                    r.action.referenced,
                    k("action"),
                    "give exactly one of uplink, group or table",
                ))
            }
            (Some(u), None) => {
                let name = u.value.trim();
                if !uplinks.iter().any(|x| x.name == name) {
                    let known: Vec<_> = uplinks.iter().map(|x| x.name.clone()).collect();
                    return Err(cx.err(
                        u.referenced,
                        k("action.uplink"),
                        format!(
                            "unknown uplink '{name}' (uplinks are: {})",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
                RuleAction::Uplink(name.to_owned())
            }
            (None, Some(g)) => {
                let name = g.value.trim();
                if !groups.iter().any(|x| x.name.as_deref() == Some(name)) {
                    return Err(cx.err(
                        g.referenced,
                        k("action.group"),
                        format!("unknown nexthop group '{name}'"),
                    ));
                }
                RuleAction::Group(name.to_owned())
            }
            _ => {
                return Err(cx.err(
                    r.action.referenced,
                    k("action"),
                    "give exactly one of uplink, group or table",
                ))
            }
        };
        rules.push(RuleConfig {
            in_port,
            src,
            dst,
            proto,
            sport,
            dport,
            action,
            sticky: r.sticky.unwrap_or(false),
        });
    }
    let last_resort = match &raw.last_resort {
        None => dataplane::policy::LastResort::Default,
        Some(v) => match v.value.trim() {
            "default" => dataplane::policy::LastResort::Default,
            "unreachable" => dataplane::policy::LastResort::Unreachable,
            "blackhole" => dataplane::policy::LastResort::Blackhole,
            other => {
                return Err(cx.err(
                    v.referenced,
                    "last-resort",
                    format!("'{other}': expected default, unreachable or blackhole"),
                ))
            }
        },
    };

    let mut neighbors: Vec<StaticNeighbor> = Vec::new();
    for (i, n) in raw.neighbors.iter().enumerate() {
        let k = |f: &str| format!("neighbors[{i}].{f}");
        let address = env.ip(&n.address, k("address"))?;
        let mac: MacAddr = n.mac.value.trim().parse().map_err(|e| {
            cx.err(
                n.mac.referenced,
                k("mac"),
                format!("'{}': {e}", n.mac.value),
            )
        })?;
        if mac.is_multicast() || mac == MacAddr::ZERO {
            return Err(cx.err(
                n.mac.referenced,
                k("mac"),
                format!("{mac} is not a unicast MAC address"),
            ));
        }
        let port = env.port(&n.port, k("port"))?;
        env.require_on_subnet(port, address, "", &n.address, k("address"))?;
        if neighbors
            .iter()
            .any(|x| x.address == address && x.port == port)
        {
            return Err(cx.err(
                n.address.referenced,
                k("address"),
                format!(
                    "neighbour {address} on port '{}' is listed twice",
                    ports[port.index()].name
                ),
            ));
        }
        neighbors.push(StaticNeighbor { address, mac, port });
    }

    let (listen_raw, token_raw, token_file, hosts_raw, socket_raw, group_raw) = match raw.api {
        Some(a) => (
            a.listen,
            a.token,
            a.token_file,
            a.hosts,
            a.socket,
            a.socket_group,
        ),
        None => (None, None, None, Vec::new(), None, None),
    };
    let api_socket = match socket_raw {
        None => None,
        Some(p) if p.value.trim().starts_with('/') && p.value.trim().len() < 108 => {
            Some(std::path::PathBuf::from(p.value.trim()))
        }
        Some(p) => {
            return Err(cx.err(
                p.referenced,
                "api.socket",
                format!("'{}' is not an absolute path of at most 107 bytes", p.value),
            ))
        }
    };
    let api_socket_group = match group_raw {
        Some(g) if api_socket.is_none() => {
            return Err(cx.err(
                g.referenced,
                "api.socket-group",
                "api.socket-group needs api.socket",
            ))
        }
        Some(g) => Some(g.value.trim().to_owned()),
        None => None,
    };
    let mut api_hosts = Vec::new();
    for (i, h) in hosts_raw.iter().enumerate() {
        let name = h.value.trim().to_ascii_lowercase();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(cx.err(
                h.referenced,
                format!("api.hosts[{i}]"),
                format!("'{}' is not a host name", h.value),
            ));
        }
        api_hosts.push(name);
    }
    let token_raw = match (token_raw, token_file) {
        (Some(_), Some(f)) => {
            return Err(cx.err(
                f.referenced,
                "api.token-file",
                "give api.token or api.token-file, not both",
            ))
        }
        (Some(t), None) => Some(t),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f.value.trim()).map_err(|e| {
                cx.err(
                    f.referenced,
                    "api.token-file",
                    format!("cannot read {}: {e}", f.value.trim()),
                )
            })?;
            Some(Spanned {
                value: text.trim().to_owned(),
                referenced: f.referenced,
                defined: f.defined,
            })
        }
        // Neither in the config: the unit's credential, when systemd passed one.
        (None, None) => credential_token().map(|value| Spanned {
            value,
            referenced: Location::UNKNOWN,
            defined: Location::UNKNOWN,
        }),
    };
    let listen_at = listen_raw.as_ref().map(|l| l.referenced);
    let listen: SocketAddr = match listen_raw {
        None => DEFAULT_LISTEN
            .parse()
            .expect("default listen address parses"),
        Some(l) => l.value.trim().parse().map_err(|_| {
            cx.err(
                l.referenced,
                "api.listen",
                format!("'{}' is not an address:port like 127.0.0.1:9464", l.value),
            )
        })?,
    };

    let token = match token_raw {
        None => None,
        Some(t) if t.value.trim().len() >= 16 => Some(t.value.trim().to_owned()),
        Some(t) => {
            return Err(cx.err(
                t.referenced,
                if t.referenced == Location::UNKNOWN {
                    "api.token (the systemd credential api-token)"
                } else {
                    "api.token"
                },
                "the token must be at least 16 characters",
            ))
        }
    };
    if !listen.ip().is_loopback() && token.is_none() {
        return Err(cx.err(
            listen_at.unwrap_or(Location::UNKNOWN),
            "api.listen",
            format!("{listen} is not a loopback address: set api.token to expose the API beyond this host"),
        ));
    }

    let fpm = match raw.fpm {
        None => None,
        Some(f) => {
            let listen: SocketAddr = match &f.listen {
                None => "127.0.0.1:2620"
                    .parse()
                    .expect("default FPM address parses"),
                Some(l) => l.value.trim().parse().map_err(|_| {
                    cx.err(
                        l.referenced,
                        "fpm.listen",
                        format!("'{}' is not an address:port like 127.0.0.1:2620", l.value),
                    )
                })?,
            };
            if !listen.ip().is_loopback() {
                let at = f
                    .listen
                    .as_ref()
                    .map_or(Location::UNKNOWN, |l| l.referenced);
                return Err(cx.err(at, "fpm.listen", format!("{listen} is not a loopback address: FPM has no authentication, so zebra must run on this host")));
            }
            let stale_time_ms = match &f.stale_time {
                None => 10_000,
                Some(t) if t.value <= 3600 => t.value * 1000,
                Some(t) => {
                    return Err(cx.err(
                        t.referenced,
                        "fpm.stale-time",
                        format!("{} s is more than an hour", t.value),
                    ))
                }
            };
            let limit = |v: &Option<Spanned<u64>>, key: &str, default: usize| match v {
                None => Ok(default),
                Some(n) if (1..=100_000_000).contains(&n.value) => Ok(n.value as usize),
                Some(n) => Err(cx.err(
                    n.referenced,
                    format!("fpm.{key}"),
                    format!("{} is not between 1 and 100000000", n.value),
                )),
            };
            Some(FpmConfig {
                listen,
                stale_time_ms,
                max_routes: limit(&f.max_routes, "max-routes", DEFAULT_FPM_MAX_ROUTES)?,
                max_nexthops: limit(&f.max_nexthops, "max-nexthops", DEFAULT_FPM_MAX_NEXTHOPS)?,
            })
        }
    };

    let kernel_routes = match &raw.kernel_routes {
        Some(k) if k.value && !ports.iter().any(|p| p.kernel_interface) => {
            return Err(cx.err(
                k.referenced,
                "kernel-routes",
                "kernel-routes mirrors routes through the kernel interfaces, and no port has one (set kernel-interfaces: true)",
            ))
        }
        Some(k) => k.value,
        None => false,
    };

    Ok(Config {
        kernel_routes,
        punt_policer,
        rules,
        last_resort,
        tables,
        flows,
        uplinks,
        icmp_rate,
        icmp_burst,
        eal: raw.eal,
        workers,
        ports,
        hash: default_hash,
        groups,
        routes,
        liveness,
        neighbor_table,
        neighbors,
        listen,
        token,
        api_hosts,
        api_socket,
        api_socket_group,
        fpm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the README and issue #2.
    pub const EXAMPLE: &str = r#"eal: [--no-huge, --no-shconf, -m, "512", --file-prefix, lab]   # extra EAL arguments (optional)
ports:
  - name: lan
    device: net_tap0,iface=lan
    addresses: [10.0.0.1/24, fd00::1/64]
  - name: srv1
    device: net_tap1,iface=srv1
    addresses: [10.1.0.1/24, fd01::1/64]
  - name: srv2
    device: net_tap2,iface=srv2
    addresses: [10.2.0.1/24, fd02::1/64]
hash: { policy: l4 }
routes:
  - prefix: 198.51.100.0/24
    nexthops:
      - { via: 10.1.0.2, port: srv1, weight: 1 }
      - { via: 10.2.0.2, port: srv2, weight: 2 }
api: { listen: 127.0.0.1:9464 }
"#;

    fn err(src: &str) -> ConfigError {
        parse(src, "t.yaml").expect_err("config should be refused")
    }

    #[test]
    fn example_parses() {
        let c = parse(EXAMPLE, "t.yaml").unwrap();
        assert_eq!(c.ports.len(), 3);
        assert_eq!(
            c.eal,
            [
                "--no-huge",
                "--no-shconf",
                "-m",
                "512",
                "--file-prefix",
                "lab"
            ]
        );
        assert_eq!(
            c.groups[match c.routes[0].target {
                RouteTarget::Group(g) => g,
                RouteTarget::Reject(_) => panic!(),
            }]
            .nexthops[1],
            NexthopConfig {
                via: "10.2.0.2".parse().unwrap(),
                port: PortId(2),
                weight: 2
            }
        );
        assert_eq!(c.hash.policy, HashPolicy::L4);
        assert_eq!(c.hash.seed, dataplane::hash::DEFAULT_SEED);
        assert_eq!(c.listen, "127.0.0.1:9464".parse().unwrap());
        assert_eq!(c.workers, 1);
        assert_eq!(c.ports[0].addresses[1].to_string(), "fd00::1/64");
    }

    #[test]
    fn unknown_port_names_key_line_and_column() {
        let e = err(&EXAMPLE.replace("port: srv2,", "port: srv3,"));
        assert_eq!(
            (e.key.as_str(), e.line, e.column),
            ("routes[0].nexthops[1].port", 17, 32)
        );
        assert!(e.message.contains("unknown port 'srv3'"), "{e}");
        assert!(e.to_string().starts_with("t.yaml:17:32: routes[0].nexthops[1].port: unknown port 'srv3' (ports are: lan, srv1, srv2)"), "{e}");
    }

    #[test]
    fn type_error_names_key() {
        let e = err(&EXAMPLE.replace("weight: 2", "weight: two"));
        assert_eq!(e.key, "routes[0].nexthops[1].weight");
        assert_eq!(e.line, 17);
        let e = err(&EXAMPLE.replace("weight: 2", "weight: 70000"));
        assert_eq!(e.key, "routes[0].nexthops[1].weight");
        assert!(e.message.contains("outside 1..=65535"));
    }

    #[test]
    fn flows_and_sticky() {
        let c = parse(
            &format!("{EXAMPLE}\nflows: {{ capacity: 1024, udp: 30, tcp-closing: 5 }}\n").replace(
                "  - prefix: 198.51.100.0/24\n",
                "  - prefix: 198.51.100.0/24\n    sticky: true\n",
            ),
            "t",
        )
        .unwrap();
        assert_eq!(c.flows.capacity, 1024);
        assert_eq!(c.flows.timeouts.udp_ms, 30_000);
        assert_eq!(c.flows.timeouts.tcp_closing_ms, 5_000);
        assert!(c.routes[0].sticky);
        for (bad, key) in [
            ("flows: { capacity: 3 }", "flows.capacity"),
            ("flows: { udp: 0 }", "flows.udp"),
            (
                "flows: { tcp-established: 9999999 }",
                "flows.tcp-established",
            ),
            ("flows: { udpp: 3 }", "flows"),
        ] {
            let e = err(&format!("{EXAMPLE}\n{bad}\n"));
            assert!(e.key.starts_with(key), "{bad}: {e}");
        }
    }

    #[test]
    fn rules_and_last_resort() {
        let up = "uplinks:\n  - { name: isp1, port: srv1, gateway: 10.1.0.2, probe: { targets: [192.0.2.1] } }\n";
        let rule = "rules:\n  - { match: { in-port: lan, src: 10.0.0.0/24, proto: tcp, dport: 8000-8100, sport: 40000 }, action: { uplink: isp1 }, sticky: true }\nlast-resort: blackhole\n";
        let c = parse(&format!("{EXAMPLE}\n{up}{rule}"), "t").unwrap();
        let r = &c.rules[0];
        assert_eq!(
            (r.proto, r.dport, r.sport, r.sticky),
            (Some(6), (8000, 8100), (40000, 40000), true)
        );
        assert_eq!(r.in_port, Some(PortId(0)));
        assert_eq!(c.last_resort, dataplane::policy::LastResort::Blackhole);
        for (from, to, key) in [
            ("uplink: isp1", "uplink: isp9", "rules[0].action.uplink"),
            ("{ uplink: isp1 }", "{ }", "rules[0].action"),
            (
                "dport: 8000-8100",
                "dport: 8100-8000",
                "rules[0].match.dport",
            ),
            ("proto: tcp", "proto: tcpx", "rules[0].match.proto"),
            ("src: 10.0.0.0/24", "src: 10.0.0.1/24", "rules[0].match.src"),
            ("in-port: lan", "in-port: wan", "rules[0].match.in-port"),
            (
                "last-resort: blackhole",
                "last-resort: maybe",
                "last-resort",
            ),
            (
                "src: 10.0.0.0/24",
                "src: 10.0.0.0/24, dst: 'fd00::/64'",
                "rules[0].match.dst",
            ),
        ] {
            let e = err(&format!("{EXAMPLE}\n{up}{}", rule.replace(from, to)));
            assert_eq!(e.key, key, "{to}: {e}");
        }
    }

    #[test]
    fn icmp_limit() {
        let c = parse(&format!("{EXAMPLE}\nicmp: {{ rate: 5, burst: 0 }}\n"), "t").unwrap();
        assert_eq!((c.icmp_rate, c.icmp_burst), (5, 0));
        let d = parse(EXAMPLE, "t").unwrap();
        assert_eq!((d.icmp_rate, d.icmp_burst), (1000, 100));
        let e = err(&format!("{EXAMPLE}\nicmp: {{ rate: 2000000 }}\n"));
        assert_eq!(e.key, "icmp.rate");
    }

    #[test]
    fn shipped_examples_parse() {
        // Every file in deploy/examples is a config the docs point operators at.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/examples");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().is_some_and(|x| x == "yaml") {
                let src = std::fs::read_to_string(&path).unwrap();
                if let Err(e) = parse(&src, &path.display().to_string()) {
                    panic!("{e}");
                }
                n += 1;
            }
        }
        assert!(n >= 2, "found {n} examples");
        let c = parse(
            include_str!("../../deploy/examples/dual-wan.yaml"),
            "dual-wan",
        )
        .unwrap();
        assert_eq!(c.uplinks[1].snat.len(), 2);
        assert!(matches!(c.rules[2].action, RuleAction::Table(200)));
    }

    #[test]
    fn named_tables() {
        let with = |extra: &str| {
            EXAMPLE.replace(
                "api:",
                &format!("  - {{ prefix: 0.0.0.0/0, table: guest, nexthops: [{{ via: 10.2.0.2, port: srv2 }}] }}\nrules:\n  - {{ match: {{ src: 10.0.200.0/24 }}, action: {{ table: guest }} }}\n{extra}api:"),
            )
        };
        let c = parse(&with("tables: { guest: 200, voice: 201 }\n"), "t").unwrap();
        assert_eq!(c.tables["guest"], 200);
        assert_eq!(c.routes.iter().filter(|r| r.table == 200).count(), 1);
        assert!(matches!(c.rules[0].action, RuleAction::Table(200)));
        let e = err(&with(""));
        assert_eq!(e.key, "routes[1].table");
        assert!(
            e.message
                .contains("unknown table 'guest' (tables are: main)"),
            "{}",
            e.message
        );
        let e = err(&with("tables: { guest: 200, voice: 200 }\n"));
        assert!(e.message.contains("also table 'guest'"), "{}", e.message);
        let e = err(&with("tables: { guest: 254 }\n"));
        assert_eq!(e.key, "tables.guest");
        for (t, says) in [
            ("{ guest: 200, local: 201 }", "'local' cannot name a table"),
            (
                "{ guest: 200, default: 201 }",
                "'default' cannot name a table",
            ),
            ("{ guest: 200, all: 201 }", "'all' cannot name a table"),
            ("{ guest: 255 }", "iproute2's table 'local'"),
            ("{ guest: 253 }", "iproute2's table 'default'"),
        ] {
            let e = err(&with(&format!("tables: {t}\n")));
            assert!(e.message.contains(says), "{t}: {}", e.message);
            assert!(e.key.starts_with("tables."), "{t}: {}", e.key);
        }
        let e = err(&EXAMPLE.replace(
            "api:",
            "rules:\n  - { match: { proto: udp }, action: { table: main } }\napi:",
        ));
        assert_eq!(e.key, "rules[0].action.table");
    }

    #[test]
    fn snat_forms_and_errors() {
        let up = |snat: &str| {
            format!(
                "{EXAMPLE}\nuplinks:\n  - {{ name: isp1, port: srv1, gateway: 10.1.0.2, probe: {{ targets: [192.0.2.1] }}, snat: {snat} }}\n  - {{ name: isp2, port: srv2, gateway: 10.2.0.2, probe: {{ targets: [192.0.2.1] }} }}\n"
            )
        };
        let c = parse(&up("masquerade"), "t").unwrap();
        assert_eq!(c.uplinks[0].snat, vec![Ipv4Addr::new(10, 1, 0, 1)]);
        assert!(c.uplinks[1].snat.is_empty());
        let c = parse(&up("[10.1.0.50, 10.1.0.51]"), "t").unwrap();
        assert_eq!(c.uplinks[0].snat.len(), 2);
        assert_eq!(
            parse(&up("10.1.0.50"), "t").unwrap().uplinks[0].snat,
            vec![Ipv4Addr::new(10, 1, 0, 50)]
        );
        for (snat, key, words) in [
            ("fd01::9", "uplinks[0].snat", "IPv4 only"),
            (
                "[10.1.0.5, nope]",
                "uplinks[0].snat[1]",
                "not an IPv4 address",
            ),
            ("[10.1.0.5, 10.1.0.5]", "uplinks[0].snat[1]", "used twice"),
            ("10.2.0.1", "uplinks[0].snat", "address of port 'srv2'"),
            ("255.255.255.255", "uplinks[0].snat", "cannot be a source"),
            ("[]", "uplinks[0].snat", "empty list"),
        ] {
            let e = err(&up(snat));
            assert_eq!(e.key, key, "{snat}");
            assert!(e.message.contains(words), "{snat}: {}", e.message);
        }
        // Several workers share the port space (dataplane::nat::owner).
        let c = parse(&format!("workers: 2\n{}", up("masquerade")), "t").unwrap();
        assert_eq!(c.workers, 2);
        let e = err(&format!(
            "{}flows: {{ on-uplink-down: sometimes }}\n",
            up("masquerade")
        ));
        assert_eq!(e.key, "flows.on-uplink-down");
        let c = parse(
            &format!("{}flows: {{ on-uplink-down: flush }}\n", up("masquerade")),
            "t",
        )
        .unwrap();
        assert_eq!(c.flows.on_uplink_down, dataplane::nat::OnDown::Flush);
    }

    #[test]
    fn uplink_errors_name_the_field() {
        let good = "uplinks:\n  - { name: isp1, port: srv1, gateway: 10.1.0.2, probe: { targets: [192.0.2.1] } }\n";
        let c = parse(&format!("{EXAMPLE}\n{good}"), "t").unwrap();
        assert_eq!(c.uplinks[0].interval_ms, 1000);
        assert_eq!((c.uplinks[0].down_after, c.uplinks[0].up_after), (3, 2));
        for (from, to, key) in [
            (
                "gateway: 10.1.0.2",
                "gateway: 10.9.0.2",
                "uplinks[0].gateway",
            ),
            (
                "port: srv1, gateway",
                "port: srv7, gateway",
                "uplinks[0].port",
            ),
            (
                "targets: [192.0.2.1]",
                "targets: []",
                "uplinks[0].probe.targets",
            ),
            (
                "targets: [192.0.2.1]",
                "targets: [nope]",
                "uplinks[0].probe.targets[0]",
            ),
            (
                "targets: [192.0.2.1] }",
                "targets: [192.0.2.1], interval-ms: 5 }",
                "uplinks[0].probe.interval-ms",
            ),
            (
                "targets: [192.0.2.1] }",
                "targets: [192.0.2.1], timeout-ms: 5000 }",
                "uplinks[0].probe.timeout-ms",
            ),
            (
                "targets: [192.0.2.1] }",
                "targets: [192.0.2.1], down-after: 0 }",
                "uplinks[0].probe.down-after",
            ),
        ] {
            let e = err(&format!("{EXAMPLE}\n{}", good.replace(from, to)));
            assert_eq!(e.key, key, "{to}: {e}");
        }
    }

    #[test]
    fn unknown_key_refused() {
        let e = err(&EXAMPLE.replace("hash: { policy: l4 }", "hash: { polcy: l4 }"));
        assert!(e.message.contains("unknown field `polcy`"), "{e}");
        assert_eq!(e.line, 12);
    }

    #[test]
    fn semantic_errors() {
        for (from, to, key, msg) in [
            (
                "198.51.100.0/24",
                "198.51.100.1/24",
                "routes[0].prefix",
                "host bits",
            ),
            (
                "via: 10.2.0.2",
                "via: 10.9.0.2",
                "routes[0].nexthops[1].via",
                "not on a subnet of port 'srv2'",
            ),
            (
                "via: 10.2.0.2",
                "via: fd02::2",
                "routes[0].nexthops[1].via",
                "same address family",
            ),
            (
                "policy: l4",
                "policy: l5",
                "hash.policy",
                "unknown hash policy",
            ),
            ("name: srv2", "name: srv1", "ports[2].name", "defined twice"),
            (
                "10.2.0.1/24",
                "10.2.0.1/33",
                "ports[2].addresses[0]",
                "not an interface address",
            ),
            (
                "listen: 127.0.0.1:9464",
                "listen: localhost",
                "api.listen",
                "address:port",
            ),
            (
                "weight: 1 }",
                "weight: 0 }",
                "routes[0].nexthops[0].weight",
                "outside",
            ),
        ] {
            let e = err(&EXAMPLE.replacen(from, to, 1));
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(msg), "{e}");
            assert!(e.line > 0 && e.column > 0, "{e}");
        }
    }

    #[test]
    fn neighbors_and_syntax() {
        let c = parse(&format!("{EXAMPLE}neighbors: [{{ address: 10.1.0.2, mac: \"02:00:00:00:00:01\", port: srv1 }}]\n"), "t").unwrap();
        assert_eq!(c.neighbors[0].mac, MacAddr([2, 0, 0, 0, 0, 1]));
        let e = err(&format!(
            "{EXAMPLE}neighbors: [{{ address: 10.1.0.2, mac: \"02:00:00:00:01\", port: srv1 }}]\n"
        ));
        assert_eq!(e.key, "neighbors[0].mac");
        let e = err("ports: [ { name: a\n");
        assert!(e.line > 0, "{e}");
        let e = err("ports: []\n");
        assert_eq!(e.key, "ports");
        let e = err("routes: []\n");
        assert!(e.message.contains("ports"), "{e}");
    }

    #[test]
    fn reject_routes() {
        let with = |extra: &str| EXAMPLE.replace("api: {", &format!("{extra}api: {{"));
        let c = parse(
            &with("  - { prefix: 192.0.2.0/24, type: blackhole }\n  - { prefix: 198.18.0.0/24, type: unreachable, metric: 7 }\n  - { prefix: \"2001:db8:dead::/48\", type: prohibit }\n"),
            "t",
        )
        .unwrap();
        let n = c.routes.len();
        assert_eq!(
            c.routes[n - 3..]
                .iter()
                .map(|r| (r.target, r.metric))
                .collect::<Vec<_>>(),
            [
                (RouteTarget::Reject(Reject::Blackhole), 0),
                (RouteTarget::Reject(Reject::Unreachable), 7),
                (RouteTarget::Reject(Reject::Prohibit), 0)
            ]
        );
        let e = err(&with("  - { prefix: 192.0.2.0/24, type: blackhole, nexthops: [{ via: 10.1.0.2, port: srv1 }] }\n"));
        assert!(
            e.key.ends_with(".nexthops") && e.message.contains("blackhole"),
            "{e}"
        );
        let e = err(&with("  - { prefix: 192.0.2.0/24, type: throw }\n"));
        assert!(
            e.key.ends_with(".type") && e.message.contains("throw"),
            "{e}"
        );
    }

    #[test]
    fn kernel_interfaces_are_per_port_with_valid_names() {
        let c = parse(
            "kernel-interfaces: true\nports:\n  - { name: spine1, device: \"net_tap0,iface=sp1-wire\" }\n  - { name: hosts, device: \"net_tap1\", kernel-interface: false }\n",
            "t",
        )
        .unwrap();
        assert!(c.ports[0].kernel_interface);
        assert!(!c.ports[1].kernel_interface);
        // Off by default.
        let c = parse("ports:\n  - { name: a, device: net_null0 }\n", "t").unwrap();
        assert!(!c.ports[0].kernel_interface);
        let e = err("kernel-interfaces: true\nports:\n  - { name: a-very-long-port-name, device: net_null0 }\n");
        assert_eq!(e.key, "ports[0].name");
        assert!(e.message.contains("15 characters"), "{}", e.message);
        let e = err("kernel-interfaces: true\nports:\n  - { name: lo, device: net_null0 }\n");
        assert!(e.message.contains("reserved"), "{}", e.message);
        // A long name is fine for a port without a kernel interface.
        parse("kernel-interfaces: true\nports:\n  - { name: a-very-long-port-name, device: net_null0, kernel-interface: false }\n", "t").unwrap();
        let e = err("kernel-interfaces: true\nports:\n  - { name: spine1, device: \"net_tap0,iface=spine1\" }\n");
        assert_eq!(e.key, "ports[0].device");
        assert!(e.message.contains("another iface="), "{}", e.message);
    }

    #[test]
    fn kernel_routes_need_kernel_interfaces() {
        let e = err("kernel-routes: true\nports:\n  - { name: a, device: net_null0 }\n");
        assert_eq!(e.key, "kernel-routes");
        let c = parse("kernel-interfaces: true\nkernel-routes: true\nports:\n  - { name: a, device: net_null0 }\n", "t").unwrap();
        assert!(c.kernel_routes);
        assert!(
            !parse("ports:\n  - { name: a, device: net_null0 }\n", "t")
                .unwrap()
                .kernel_routes
        );
    }

    #[test]
    fn punt_policer_classes_and_peers() {
        let c = parse("ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  routing: { rate: 500 }\n  other: { rate: 10, burst: 5 }\n  peers: [10.1.0.2, fd01::2]\n", "t").unwrap();
        let d = PuntPolicerConfig::default();
        assert_eq!(c.punt_policer.limits[0].rate, 500);
        assert_eq!(c.punt_policer.limits[0].burst, d.limits[0].burst);
        assert_eq!(
            c.punt_policer.limits[3],
            dataplane::punt::Limit { rate: 10, burst: 5 }
        );
        assert_eq!(c.punt_policer.limits[1], d.limits[1]);
        assert_eq!(c.punt_policer.peers.len(), 2);
        let e = err(
            "ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  peers: [10.1.0.300]\n",
        );
        assert_eq!(e.key, "punt-policer.peers[0]");
        let e = err("ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  arp-nd: { burst: 2000000 }\n");
        assert_eq!(e.key, "punt-policer.arp-nd.burst");
        let e =
            err("ports:\n  - { name: a, device: net_null0 }\npunt-policer:\n  bgp: { rate: 1 }\n");
        assert!(e.message.contains("bgp"), "{}", e.message);
    }

    #[test]
    fn monitor_link_defaults_to_auto_by_device() {
        let cfg = |dev: &str, ml: &str| {
            parse(
                &format!(
                    "ports:\n  - {{ name: a, device: \"{dev}\", addresses: [10.0.0.1/24]{ml} }}\n"
                ),
                "t",
            )
            .map(|c| (c.ports[0].monitor_link_setting, c.ports[0].monitor_link))
        };
        // The default follows the device: the PMD's link state only where it means something.
        for dev in [
            "net_tap0,iface=lan",
            "net_tap_lab1,iface=x",
            "net_null0,no-rx=1",
            "net_ring0",
            "net_pcap0,rx_pcap=a.pcap",
        ] {
            assert_eq!(cfg(dev, "").unwrap(), (MonitorLink::Auto, false), "{dev}");
        }
        for dev in [
            "0000:03:00.0",
            "net_af_packet0,iface=eth1",
            "net_memif0",
            "net_tapper0",
        ] {
            assert_eq!(cfg(dev, "").unwrap(), (MonitorLink::Auto, true), "{dev}");
        }
        assert_eq!(
            cfg("net_tap0", ", monitor-link: true").unwrap(),
            (MonitorLink::On, true)
        );
        assert_eq!(
            cfg("0000:03:00.0", ", monitor-link: false").unwrap(),
            (MonitorLink::Off, false)
        );
        assert_eq!(
            cfg("net_tap0", ", monitor-link: auto").unwrap(),
            (MonitorLink::Auto, false)
        );
        let e = cfg("net_tap0", ", monitor-link: sometimes").unwrap_err();
        assert_eq!(e.key, "ports[0].monitor-link", "{e}");
        assert!(e.message.contains("auto"), "{e}");
    }

    const GROUPS: &str = "ports:
  - { name: a, device: x, addresses: [10.0.0.1/24, fd00::1/64], monitor-link: false }
hash: { policy: fields, fields: [src-ip, dst-port], seed: 7 }
nexthop-groups:
  - name: web
    group: resilient
    buckets: 512
    idle-timer: 30
    unbalanced-timer: 600
    nexthops: [{ via: 10.0.0.2, port: a }, { via: 10.0.0.3, port: a, weight: 3 }]
routes:
  - { prefix: 198.51.100.0/24, nexthop-group: web }
  - { prefix: 203.0.113.0/24, nexthop-group: web, hash: { policy: l3-inner } }
  - prefix: 2001:db8::/32
    group: modulo
    hash: { policy: flowlabel, seed: 9 }
    nexthops: [{ via: fd00::2, port: a }]
liveness: { probe-interval-ms: 250, probe-failures: 2 }
";

    #[test]
    fn groups_policies_and_liveness() {
        let c = parse(GROUPS, "t").unwrap();
        assert_eq!(
            c.hash,
            HashConfig {
                policy: HashPolicy::Fields(
                    FieldSet::default().with(Field::SrcIp).with(Field::DstPort)
                ),
                seed: 7
            }
        );
        assert_eq!(c.groups.len(), 2);
        let web = &c.groups[0];
        assert_eq!(
            (
                web.algorithm,
                web.buckets,
                web.idle_timer_ms,
                web.unbalanced_timer_ms
            ),
            (Algorithm::Resilient, 512, 30_000, 600_000)
        );
        assert_eq!(
            (c.routes[0].target, c.routes[1].target, c.routes[2].target),
            (
                RouteTarget::Group(0),
                RouteTarget::Group(0),
                RouteTarget::Group(1)
            )
        );
        assert_eq!(c.routes[0].hash, c.hash);
        assert_eq!(
            c.routes[1].hash,
            HashConfig {
                policy: HashPolicy::L3Inner,
                seed: 7
            },
            "an override inherits the default seed"
        );
        assert_eq!(
            c.routes[2].hash,
            HashConfig {
                policy: HashPolicy::FlowLabel,
                seed: 9
            }
        );
        assert_eq!(c.groups[1].algorithm, Algorithm::Modulo);
        assert_eq!(
            c.liveness,
            Liveness {
                probe_interval_ms: 250,
                probe_failures: 2
            }
        );
        assert!(!c.ports[0].monitor_link);
    }

    #[test]
    fn group_and_policy_errors() {
        for (from, to, key, msg) in [
            (
                "fields: [src-ip, dst-port]",
                "fields: [src-ip, dest-port]",
                "hash.fields[1]",
                "unknown field 'dest-port'",
            ),
            (
                "{ policy: fields, fields: [src-ip, dst-port], seed: 7 }",
                "{ policy: l4, fields: [src-ip] }",
                "hash.fields",
                "only allowed with policy 'fields'",
            ),
            (
                "{ policy: fields, fields: [src-ip, dst-port], seed: 7 }",
                "{ policy: fields }",
                "hash.fields",
                "needs a fields list",
            ),
            (
                "policy: l3-inner",
                "policy: l7",
                "routes[1].hash.policy",
                "unknown hash policy 'l7'",
            ),
            (
                "group: resilient",
                "group: random",
                "nexthop-groups[0].group",
                "unknown group algorithm",
            ),
            (
                "group: modulo",
                "group: modulo\n    buckets: 64",
                "routes[2].buckets",
                "resilient groups only",
            ),
            (
                "nexthop-group: web }",
                "nexthop-group: webb }",
                "routes[0].nexthop-group",
                "unknown nexthop group 'webb' (groups are: web)",
            ),
            (
                "buckets: 512",
                "buckets: 1",
                "nexthop-groups[0].buckets",
                "cannot hold 2 members",
            ),
            (
                "probe-failures: 2",
                "probe-failures: 0",
                "liveness.probe-failures",
                "outside",
            ),
            (
                "{ prefix: 203.0.113.0/24, nexthop-group: web,",
                "{ prefix: 203.0.113.0/24, nexthop-group: web, group: modulo,",
                "routes[1].group",
                "takes the algorithm from that group",
            ),
        ] {
            assert!(GROUPS.contains(from), "{from}");
            let e = err(&GROUPS.replacen(from, to, 1));
            assert_eq!(e.key, key, "{e}");
            assert!(e.message.contains(msg), "{e}");
        }
        let e = err(&GROUPS.replace(
            "- { prefix: 198.51.100.0/24, nexthop-group: web }",
            "- { prefix: 2001:db9::/32, nexthop-group: web }",
        ));
        assert!(e.message.contains("other address family"), "{e}");
        let e = err(&GROUPS.replace(
            "- { prefix: 198.51.100.0/24, nexthop-group: web }",
            "- { prefix: 198.51.100.0/24 }",
        ));
        assert!(
            e.message
                .contains("needs nexthops, a nexthop-group, or a type"),
            "{e}"
        );
    }

    #[test]
    fn api_off_loopback_needs_a_token() {
        let e = err(&EXAMPLE.replace("listen: 127.0.0.1:9464", "listen: 0.0.0.0:9464"));
        assert_eq!(e.key, "api.listen");
        assert!(e.message.contains("set api.token"), "{e}");
        let e = err(&EXAMPLE.replace(
            "listen: 127.0.0.1:9464",
            "listen: 0.0.0.0:9464, token: short",
        ));
        assert_eq!(e.key, "api.token");
        let c = parse(
            &EXAMPLE.replace(
                "listen: 127.0.0.1:9464",
                "listen: \"[::]:9464\", token: 0123456789abcdef",
            ),
            "t",
        )
        .unwrap();
        assert_eq!(c.token.as_deref(), Some("0123456789abcdef"));
    }

    #[test]
    fn fpm_section() {
        let c = parse(&format!("{EXAMPLE}fpm: {{ stale-time: 5 }}\n"), "t").unwrap();
        assert_eq!(
            c.fpm,
            Some(FpmConfig {
                listen: "127.0.0.1:2620".parse().unwrap(),
                stale_time_ms: 5000,
                max_routes: DEFAULT_FPM_MAX_ROUTES,
                max_nexthops: DEFAULT_FPM_MAX_NEXTHOPS,
            })
        );
        let c = parse(
            &format!("{EXAMPLE}fpm: {{ max-routes: 10, max-nexthops: 3 }}\n"),
            "t",
        )
        .unwrap();
        let f = c.fpm.unwrap();
        assert_eq!((f.max_routes, f.max_nexthops), (10, 3));
        let e = err(&format!("{EXAMPLE}fpm: {{ max-routes: 0 }}\n"));
        assert_eq!(e.key, "fpm.max-routes");
        assert_eq!(
            parse(EXAMPLE, "t").unwrap().fpm,
            None,
            "off unless configured"
        );
        let e = err(&format!("{EXAMPLE}fpm: {{ listen: 0.0.0.0:2620 }}\n"));
        assert_eq!(e.key, "fpm.listen");
        assert!(e.message.contains("loopback"), "{e}");
    }
}
