//! The validated config: what the control plane and the API work from. Every
//! value here has passed `validate/`.

use dataplane::hash::HashConfig;
use dataplane::nhg::Algorithm;
use dataplane::types::{MacAddr, PortId, Prefix};
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

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
    /// DPDK devargs (for a `bond:` port, the bonding PMD's, made from it).
    pub device: String,
    /// `Some`: a bond the router builds from its members (`ports[].bond`).
    pub bond: Option<BondConfig>,
    /// The VRF it is in: 0 is the default VRF (table main), `n` is
    /// `Config::vrfs[n - 1]`.
    pub vrf: u8,
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
    /// `Some`: an 802.1Q VLAN sub-interface of another port (`ports[].vlans`),
    /// not a device. Sub-interfaces come after every device port, so a
    /// device port's id is its DPDK port's index.
    pub vlan: Option<VlanOf>,
}

/// `vrfs.NAME`: a VRF. Its interfaces forward with its table, which holds
/// their connected and local routes; nothing leaks between VRFs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrfConfig {
    /// Its name (`vrf: NAME` on interfaces and routes).
    pub name: String,
    /// Its routing table (`ip route show vrf NAME` is `table N`).
    pub table: u32,
}

/// `ports[].bond`: an 802.3ad (LACP) aggregate of member devices, run by
/// DPDK's bonding PMD in mode 4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BondConfig {
    /// Each member's DPDK devargs; the router probes them before the bond.
    pub members: Vec<String>,
    /// Which headers pick a flow's member.
    pub xmit_hash_policy: XmitHashPolicy,
}

/// A bond's transmit hash, in Linux's names (`xmit_hash_policy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum XmitHashPolicy {
    /// MAC addresses: one member per neighbour.
    Layer2,
    /// MAC and IP addresses.
    Layer23,
    /// IP addresses and L4 ports: flows of one neighbour spread. The
    /// default here (Linux's is layer2), since a router's traffic on a link
    /// goes to few MACs.
    #[default]
    Layer34,
}

impl XmitHashPolicy {
    /// Every policy, with its config (Linux) name.
    pub const ALL: [(XmitHashPolicy, &'static str); 3] = [
        (XmitHashPolicy::Layer2, "layer2"),
        (XmitHashPolicy::Layer23, "layer2+3"),
        (XmitHashPolicy::Layer34, "layer3+4"),
    ];
    /// Its config (Linux) name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("layer3+4", |(_, n)| n)
    }
    /// The bonding PMD's `xmit_policy` devarg.
    pub fn devarg(self) -> &'static str {
        match self {
            XmitHashPolicy::Layer2 => "l2",
            XmitHashPolicy::Layer23 => "l23",
            XmitHashPolicy::Layer34 => "l34",
        }
    }
}

/// Where a VLAN sub-interface is: the device port it is on, and its VID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanOf {
    /// The device port (trunk) it is on.
    pub parent: PortId,
    /// Its 802.1Q VLAN id, 1..=4094.
    pub id: u16,
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
    /// `vrfs:`, in name order: VRF `n` (a port's `vrf`) is `vrfs[n - 1]`.
    pub vrfs: Vec<VrfConfig>,
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
pub(super) const RESERVED_TABLES: [(&str, u32); 4] =
    [("main", 254), ("default", 253), ("local", 255), ("all", 0)];

/// Default `fpm.max-nexthops`.
pub const DEFAULT_FPM_MAX_NEXTHOPS: usize = 65_536;

impl Config {
    /// How many ports are devices (DPDK ports): the first ones; the rest
    /// are VLAN sub-interfaces ([`PortConfig::vlan`]).
    pub fn devices(&self) -> usize {
        self.ports.iter().take_while(|p| p.vlan.is_none()).count()
    }

    /// The device port an interface is on: itself, or a VLAN's parent.
    pub fn device_of(&self, port: PortId) -> PortId {
        match self.ports.get(port.index()).and_then(|p| p.vlan) {
            Some(v) => v.parent,
            None => port,
        }
    }

    /// The VLAN sub-interface of device port `parent` with VID `id`.
    pub fn vlan_port(&self, parent: PortId, id: u16) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.vlan == Some(VlanOf { parent, id }))
            .map(|i| PortId(i as u16))
    }

    /// The port named `name`.
    pub fn port_id(&self, name: &str) -> Option<PortId> {
        self.ports
            .iter()
            .position(|p| p.name == name)
            .map(|i| PortId(i as u16))
    }

    /// The table VRF `vrf` forwards with (0: main).
    pub fn vrf_table(&self, vrf: u8) -> u32 {
        match vrf {
            0 => super::MAIN_TABLE,
            n => self
                .vrfs
                .get(n as usize - 1)
                .map_or(super::MAIN_TABLE, |v| v.table),
        }
    }

    /// The VRF whose table is `table` (0 for main and every table no VRF
    /// has: policy tables, looked up by the default VRF's rules).
    pub fn vrf_of_table(&self, table: u32) -> u8 {
        self.vrfs
            .iter()
            .position(|v| v.table == table)
            .map_or(0, |i| i as u8 + 1)
    }

    /// The VRF named `name` (`main`, `default`: 0).
    pub fn vrf_id(&self, name: &str) -> Option<u8> {
        if name == "main" || name == "default" {
            return Some(0);
        }
        self.vrfs
            .iter()
            .position(|v| v.name == name)
            .map(|i| i as u8 + 1)
    }

    /// VRF `vrf`'s name (`default` for 0).
    pub fn vrf_name(&self, vrf: u8) -> &str {
        match vrf {
            0 => "default",
            n => self
                .vrfs
                .get(n as usize - 1)
                .map_or("?", |v| v.name.as_str()),
        }
    }
}

/// A refused configuration: where, which key, and why.

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteGroup {
    /// A named group from `nexthop-groups`.
    Named(String),
    /// The route's own group.
    Inline(Box<GroupConfig>),
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
