//! The API's request and response bodies: one set of types for the
//! server, the OpenAPI description and `ecmpctl`'s typed client (which
//! includes this file). Responses are these structs, serialized with
//! snake_case keys; docs/openapi.json is generated from them
//! (`ecmp-router --openapi`), and a test compares the two. A renamed field
//! breaks `ecmpctl`'s build, not its output.
//!
//! The route and group bodies are config entries: the handlers hand them to
//! the config's own parser (`control::config::parse_route_with`), so that an
//! API route and a config route are checked by the same code. Their structs
//! here ([`RouteInput`], [`GroupInput`]) describe them; they take snake_case
//! keys and also the config's kebab-case spelling (`nexthop_group` or
//! `nexthop-group`), see [`super::kebab_keys`].

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An error: a sentence a person can act on, and the bad field when there is one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What is wrong, and how to fix it.
    pub error: String,
    /// The bad field, such as `nexthops[1].port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A write that changed the FIB: the generation that holds it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Written {
    pub ok: bool,
    /// The FIB generation the workers run once the change is in.
    pub fib_generation: u64,
}

/// A write that needed no new FIB.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Done {
    pub ok: bool,
}

/// `POST /api/v1/neighbors/flush`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Flushed {
    /// Learned hosts removed.
    pub flushed: usize,
}

/// A nexthop (gateway) or a learned host, with its resolution state.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Nexthop {
    /// The router's id, stable while the nexthop exists (`ip nexthop`'s id).
    pub id: u32,
    pub address: String,
    pub port: String,
    /// `gateway` (a route's nexthop) or `host` (learned on a connected subnet).
    #[schema(example = "gateway")]
    pub kind: String,
    pub mac: Option<String>,
    /// Takes traffic: resolved, enabled, link up, uplink up.
    pub live: bool,
    pub enabled: bool,
    pub link_down: bool,
    pub unreachable: bool,
    pub uplink_down: bool,
    /// `permanent`, `incomplete`, `failed`, `reachable`, `stale`, `delay` or `probe`.
    pub state: String,
    pub permanent: bool,
    pub last_seen_ms: Option<u64>,
    pub probes_unanswered: u32,
}

/// `POST /api/v1/nexthops`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NexthopInput {
    /// The gateway's address, on a subnet of `port`.
    pub via: String,
    /// A port name from the config.
    pub port: String,
}

/// One end of a flow.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Endpoint {
    pub addr: String,
    pub port: u16,
}

/// Where a flow or a lookup goes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Via {
    pub via: String,
    pub port: String,
}

/// A flow of a worker's table (sticky routes).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Flow {
    pub worker: usize,
    pub proto: u8,
    pub a: Endpoint,
    pub b: Endpoint,
    pub nexthop: Option<Via>,
    /// `-`, `opening`, `established`, `half-closed` or `closing`.
    pub tcp_state: String,
    pub packets: u64,
    pub idle_ms: u32,
    pub expires_in_ms: u32,
}

/// `GET /api/v1/flows`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FlowsQuery {
    /// Only flows with this address at either end.
    pub addr: Option<String>,
    /// Only flows with this port at either end.
    #[param(value_type = Option<u16>)]
    pub port: Option<String>,
    /// `tcp`, `udp`, `icmp` or a protocol number.
    pub proto: Option<String>,
    /// Only this worker's table.
    #[param(value_type = Option<u32>)]
    pub worker: Option<String>,
    /// At most this many flows (default 1000).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The cursor from the previous page's `X-Next-Cursor` header (`WORKER:SLOT`).
    pub after: Option<String>,
    /// Refused: paging is by `after`.
    #[param(ignore)]
    pub offset: Option<String>,
}

/// A probe target of an uplink.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UplinkTarget {
    pub addr: String,
    pub sent: u64,
    pub answered: u64,
    pub last_rtt_us: Option<u64>,
}

/// An uplink and its probes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Uplink {
    pub name: String,
    pub port: String,
    pub gateway: String,
    /// `up` or `down`.
    pub state: String,
    pub since_ms: u64,
    pub loss_pct: u32,
    pub rounds: u64,
    pub transitions: u64,
    pub targets: Vec<UplinkTarget>,
}

/// A port: its config, link state and counters.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Port {
    pub name: String,
    pub device: String,
    pub mac: Option<String>,
    pub addresses: Vec<String>,
    pub mtu: u16,
    /// The config's `monitor-link`: `auto`, `true` or `false`.
    pub monitor_link: String,
    /// What `auto` came to on this port.
    pub monitor_link_effective: bool,
    pub link_up: bool,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub rx_nombuf: u64,
    pub tx_errors: u64,
    /// A VLAN sub-interface: the trunk it is on (its counters are the
    /// trunk's device's, so they show 0 here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// A VLAN sub-interface's 802.1Q VID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<u16>,
    /// A bond: its mode and members (`ports[].bond`, or a `net_bonding` device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond: Option<Bond>,
    /// The VRF it is in (absent: the default VRF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
}

/// A VRF: its table and its interfaces (`ip vrf show`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Vrf {
    pub name: String,
    /// The table its interfaces forward with.
    pub table: u32,
    /// Its interfaces, in config order.
    pub interfaces: Vec<String>,
}

/// A bond (link aggregate) and its members.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Bond {
    /// `802.3ad`, or the bonding PMD's mode number for another mode.
    pub mode: String,
    /// `layer2`, `layer2+3` or `layer3+4` (a `bond:` port's config).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<String>,
    /// Members the bond sends and receives on.
    pub active_members: usize,
    /// Every member, in the bond's order.
    pub members: Vec<BondMember>,
}

/// A member of a bond.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BondMember {
    /// Its DPDK device name.
    pub name: String,
    /// The PMD reports its link up.
    pub link_up: bool,
    /// The bond sends and receives on it (802.3ad: collecting and distributing).
    pub active: bool,
    pub rx_packets: u64,
    pub tx_packets: u64,
    /// 802.3ad: its LACP state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp: Option<Lacp>,
}

/// A member's LACP state (IEEE 802.1AX).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Lacp {
    /// The selection logic picked its aggregator.
    pub selected: bool,
    /// The aggregator (the DPDK port id of the member that heads it).
    pub aggregator_id: u16,
    /// This end.
    pub actor: LacpPort,
    /// The far end, from its LACPDUs.
    pub partner: LacpPort,
}

/// One end of a LACP link.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LacpPort {
    pub system_priority: u16,
    /// System id (a MAC).
    pub system: String,
    pub key: u16,
    pub port_priority: u16,
    pub port: u16,
    /// The state octet (iproute2's `ad_actor_oper_port_state`).
    pub state: u8,
    /// Its bits by name: active, short_timeout, aggregating, in_sync,
    /// collecting, distributing, defaulted, expired.
    pub state_flags: Vec<String>,
}

impl From<&dataplane::stats::BondState> for Bond {
    fn from(b: &dataplane::stats::BondState) -> Bond {
        let side = |p: &dataplane::stats::LacpPort| LacpPort {
            system_priority: p.system_priority,
            system: p.system.to_string(),
            key: p.key,
            port_priority: p.port_priority,
            port: p.port,
            state: p.state,
            state_flags: p.state_names().into_iter().map(String::from).collect(),
        };
        Bond {
            mode: if b.mode == 4 {
                "802.3ad".into()
            } else {
                b.mode.to_string()
            },
            xmit_hash_policy: None,
            active_members: b.members.iter().filter(|m| m.active).count(),
            members: b
                .members
                .iter()
                .map(|m| BondMember {
                    name: m.name.clone(),
                    link_up: m.link_up,
                    active: m.active,
                    rx_packets: m.stats.rx_packets,
                    tx_packets: m.stats.tx_packets,
                    lacp: m.lacp.map(|l| Lacp {
                        selected: l.selected,
                        aggregator_id: l.aggregator,
                        actor: side(&l.actor),
                        partner: side(&l.partner),
                    }),
                })
                .collect(),
        }
    }
}

/// A member of a group.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupMember {
    /// The nexthop's id.
    pub id: u32,
    pub via: String,
    pub port: String,
    pub weight: u32,
    pub live: bool,
}

/// A nexthop group: named, shared by routes, or a route's own.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Group {
    /// The router's id (`ip nexthop`'s group id), after every nexthop id.
    pub id: u32,
    pub name: String,
    /// `named`, `shared` or `route`.
    pub kind: String,
    /// `api`, `config` or `fpm`.
    pub origin: Option<String>,
    pub algorithm: String,
    pub members: Vec<GroupMember>,
    /// Members that take traffic.
    pub live: usize,
    /// Routes through the group.
    pub routes: usize,
}

/// A group just written, and the FIB generation that holds it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupWritten {
    #[serde(flatten)]
    pub group: Option<Group>,
    pub fib_generation: u64,
}

/// One member of a config-style nexthop list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Member {
    /// Gateway address, on a subnet of `port`.
    pub via: String,
    /// Port name from the config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// 1 to 65535; 1 when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A route's flow hash.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Hash {
    /// `l3`, `l4`, `l3-inner`, `l4-inner`, `fields`, `flowlabel` or `per-packet`.
    pub policy: String,
    /// With `fields`: the fields hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    pub seed: u32,
}

/// A route's flow hash, as a request gives it (a config `hash:` entry).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct HashInput {
    /// `l3`, `l4`, `l3-inner`, `l4-inner`, `fields`, `flowlabel` or `per-packet`
    /// (default: the config's `hash`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// With `fields`: the fields hashed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Default: the config's seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
}

/// A table: its id, or a name (`main`, or one of the config's `tables`).
/// `ecmpctl` writes it; the server hands the body to the config's parser.
#[allow(dead_code)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TableRef {
    /// A table id.
    Id(u32),
    /// A table name.
    Name(String),
}

/// A route of one table and origin.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Route {
    pub table: u32,
    pub prefix: String,
    /// `api`, `config`, `fpm` or `kernel`: who gave the route to the router.
    pub origin: String,
    /// rtm_protocol as iproute2 names it (bgp, static, ...; a number when it has no name).
    pub protocol: String,
    pub metric: u32,
    /// This origin's entry is the one in use (api > config > fpm).
    pub active: bool,
    pub hash: Hash,
    /// Flows keep the nexthop their first packet got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<bool>,
    /// The FPM nexthop object the route goes through.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nhid: Option<u32>,
    /// `unicast`, `blackhole`, `unreachable` or `prohibit`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A connected route's port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// The named group the route uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthop_group: Option<String>,
    /// The route's own group's algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthops: Option<Vec<Member>>,
}

/// `POST`/`PUT /api/v1/routes`: one `routes[]` entry of the config, as JSON.
/// `nexthops` (with optional group parameters), `nexthop_group`, or a `type`
/// that has no nexthops. Kebab-case keys (`nexthop-group`) are taken too.
/// The router hands the body to the config's own parser; `ecmpctl` writes
/// it from this struct, and a test feeds what it writes to that parser.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct RouteInput {
    pub prefix: String,
    /// A table id, `main`, or a name from the config's `tables` (default main, 254).
    #[schema(value_type = Option<String>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<TableRef>,
    /// A VRF from the config's `vrfs`: the route is in its table (not with `table`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthops: Option<Vec<Member>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nexthop_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<HashInput>,
    /// `unicast` (the default), `blackhole`, `unreachable` or `prohibit`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sticky: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    /// `hash-threshold` (the default), `modulo` or `resilient`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Resilient: the bucket count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u32>,
    /// Resilient: seconds a bucket must be idle to move.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timer: Option<u32>,
    /// Resilient: seconds before busy buckets move (0: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unbalanced_timer: Option<u32>,
}

/// `POST`/`PUT /api/v1/groups`: one `nexthop-groups[]` entry of the config.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct GroupInput {
    pub name: String,
    pub nexthops: Vec<Member>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timer: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unbalanced_timer: Option<u32>,
}

/// `GET /api/v1/routes`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoutesQuery {
    /// Only this table.
    #[param(value_type = Option<u32>)]
    pub table: Option<String>,
    /// Only routes inside this prefix.
    pub prefix: Option<String>,
    /// Only this origin: `api`, `config`, `fpm` or `kernel`.
    pub origin: Option<String>,
    /// At most this many prefixes (default 1000, at most 10000).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The cursor from the previous page's `X-Next-Cursor` header (`TABLE:PREFIX`).
    pub after: Option<String>,
    /// Refused: paging is by `after`.
    #[param(ignore)]
    pub offset: Option<String>,
}

/// `DELETE /api/v1/routes`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteDeleteQuery {
    /// The route's prefix.
    pub prefix: Option<String>,
    /// Its table (default 254, main).
    #[param(value_type = Option<u32>)]
    pub table: Option<String>,
}

/// An FPM route the router holds but did not install, and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotInstalled {
    pub table: u32,
    pub prefix: String,
    /// `no_port_for_gateway`, `ipv6_nexthop_onlink` or `route_type`.
    pub reason: String,
    /// With `route_type`: the rtm_type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtm_type: Option<u8>,
}

/// `GET /api/v1/route/get`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteGetQuery {
    /// The destination address.
    pub dst: Option<String>,
    /// The source address (default unspecified).
    pub src: Option<String>,
    /// `tcp` (the default), `udp`, `sctp`, `icmp` or a number.
    pub proto: Option<String>,
    #[param(value_type = Option<u16>)]
    pub sport: Option<String>,
    #[param(value_type = Option<u16>)]
    pub dport: Option<String>,
    /// The port the packet arrives on (policy rules match on it; the
    /// lookup is in its VRF).
    pub iif: Option<String>,
    /// The VRF to look up in, without `iif` (default: the default VRF).
    pub vrf: Option<String>,
}

/// What the workers would do with a packet.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RouteGet {
    pub prefix: Option<String>,
    pub origin: Option<String>,
    /// `group`, `connected`, `local`, `blackhole`, `unreachable`, `prohibit` or `none`.
    pub kind: String,
    /// The flow hash the pick used.
    pub hash: Option<u32>,
    pub nexthop: Option<Via>,
}

/// `GET /api/v1/neighbors`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PortQuery {
    /// Only this port's.
    pub port: Option<String>,
}

/// `POST /api/v1/neighbors/flush`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DevQuery {
    /// Only this port's learned hosts.
    pub dev: Option<String>,
}
