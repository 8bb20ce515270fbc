//! The config as written in YAML: serde shapes with the source location of
//! each value (`Spanned`), before any check. `validate/` turns them into the
//! model (`model.rs`).

use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) eal: Vec<String>,
    #[serde(default)]
    pub(super) workers: Option<Spanned<u32>>,
    pub(super) ports: Spanned<Vec<RawPort>>,
    #[serde(default)]
    pub(super) hash: Option<RawHash>,
    #[serde(default, rename = "nexthop-groups")]
    pub(super) nexthop_groups: Vec<RawGroup>,
    #[serde(default)]
    pub(super) routes: Vec<RawRoute>,
    #[serde(default)]
    pub(super) neighbors: Vec<RawNeighbor>,
    #[serde(default)]
    pub(super) liveness: Option<RawLiveness>,
    #[serde(default, rename = "neighbor-table")]
    pub(super) neighbor_table: Option<RawNeighborTable>,
    #[serde(default)]
    pub(super) api: Option<RawApi>,
    #[serde(default)]
    pub(super) fpm: Option<RawFpm>,
    #[serde(default)]
    pub(super) flows: Option<RawFlows>,
    #[serde(default)]
    pub(super) uplinks: Vec<RawUplink>,
    #[serde(default)]
    pub(super) icmp: Option<RawIcmp>,
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
    #[serde(default, rename = "last-resort")]
    pub(super) last_resort: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) tables: BTreeMap<String, Spanned<u32>>,
    #[serde(default)]
    pub(super) vrfs: BTreeMap<String, Spanned<RawVrf>>,
    #[serde(default, rename = "kernel-interfaces")]
    pub(super) kernel_interfaces: Option<Spanned<bool>>,
    #[serde(default, rename = "punt-policer")]
    pub(super) punt_policer: Option<RawPuntPolicer>,
    #[serde(default, rename = "kernel-routes")]
    pub(super) kernel_routes: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawPuntPolicer {
    #[serde(default)]
    pub(super) routing: Option<RawIcmp>,
    #[serde(default)]
    pub(super) arp_nd: Option<RawIcmp>,
    #[serde(default)]
    pub(super) icmp: Option<RawIcmp>,
    #[serde(default)]
    pub(super) other: Option<RawIcmp>,
    #[serde(default)]
    pub(super) peers: Vec<Spanned<String>>,
}

/// A routing table: its id, or a name from `tables:` (`main` is 254).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawTable {
    Id(u32),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    #[serde(default, rename = "match")]
    pub(super) matches: Option<RawMatch>,
    pub(super) action: Spanned<RawAction>,
    #[serde(default)]
    pub(super) sticky: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawMatch {
    #[serde(default)]
    pub(super) in_port: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) src: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) dst: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) proto: Option<Spanned<PortOrName>>,
    #[serde(default)]
    pub(super) sport: Option<Spanned<PortOrName>>,
    #[serde(default)]
    pub(super) dport: Option<Spanned<PortOrName>>,
}

/// A number, or a name / range written as text.
#[derive(Deserialize, Clone, Debug)]
#[serde(untagged)]
pub(super) enum PortOrName {
    Num(u32),
    Text(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAction {
    #[serde(default)]
    pub(super) uplink: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) group: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) table: Option<Spanned<RawTable>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawIcmp {
    #[serde(default)]
    pub(super) rate: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) burst: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawUplink {
    pub(super) name: Spanned<String>,
    pub(super) port: Spanned<String>,
    pub(super) gateway: Spanned<String>,
    pub(super) probe: RawProbe,
    #[serde(default)]
    pub(super) snat: Option<Spanned<RawSnat>>,
}

/// `snat:` is an address, a list of addresses, or `masquerade`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawSnat {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawProbe {
    pub(super) targets: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub(super) interval_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) down_after: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) up_after: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) max_loss: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) max_rtt_ms: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawFlows {
    #[serde(default)]
    pub(super) capacity: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) tcp_established: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) tcp_transitory: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) tcp_closing: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) udp: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) icmp: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) other: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) on_uplink_down: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawFpm {
    #[serde(default)]
    pub(super) listen: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) stale_time: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) max_routes: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) max_nexthops: Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawLiveness {
    #[serde(default)]
    pub(super) probe_interval_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) probe_failures: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawGroup {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) group: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) buckets: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) idle_timer: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) unbalanced_timer: Option<Spanned<u64>>,
    pub(super) nexthops: Spanned<Vec<RawNexthop>>,
}

/// The group parameters of a named group or a route.
pub(super) struct GroupParams<'a> {
    pub(super) group: &'a Option<Spanned<String>>,
    pub(super) buckets: &'a Option<Spanned<u32>>,
    pub(super) idle_timer: &'a Option<Spanned<u64>>,
    pub(super) unbalanced_timer: &'a Option<Spanned<u64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPort {
    pub(super) name: Spanned<String>,
    #[serde(default)]
    pub(super) device: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) bond: Option<Spanned<RawBond>>,
    #[serde(default)]
    pub(super) addresses: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) mtu: Option<Spanned<u32>>,
    #[serde(default, rename = "monitor-link")]
    pub(super) monitor_link: Option<Spanned<RawMonitorLink>>,
    #[serde(default, rename = "kernel-interface")]
    pub(super) kernel_interface: Option<Spanned<bool>>,
    #[serde(default)]
    pub(super) vlans: Vec<Spanned<RawVlan>>,
    #[serde(default)]
    pub(super) vrf: Option<Spanned<String>>,
}

/// `vrfs.NAME`: a VRF and the table its interfaces forward with.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVrf {
    #[serde(default)]
    pub(super) table: Option<Spanned<u32>>,
}

/// `ports[].bond`: a link aggregate the router builds from its members.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBond {
    #[serde(default)]
    pub(super) members: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) mode: Option<Spanned<String>>,
    #[serde(default, rename = "xmit-hash-policy")]
    pub(super) xmit_hash_policy: Option<Spanned<String>>,
}

/// `ports[].vlans[]`: an 802.1Q sub-interface.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVlan {
    pub(super) id: Spanned<i64>,
    #[serde(default)]
    pub(super) name: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) addresses: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) mtu: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) vrf: Option<Spanned<String>>,
}

/// `monitor-link:` is `true`, `false` or `auto`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawMonitorLink {
    Flag(bool),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHash {
    #[serde(default)]
    pub(super) policy: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) seed: Option<u32>,
    #[serde(default)]
    pub(super) fields: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawRoute {
    pub(super) prefix: Spanned<String>,
    #[serde(default)]
    pub(super) table: Option<Spanned<RawTable>>,
    #[serde(default)]
    pub(super) vrf: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) nexthops: Option<Spanned<Vec<RawNexthop>>>,
    #[serde(default)]
    pub(super) nexthop_group: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) group: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) buckets: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) idle_timer: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) unbalanced_timer: Option<Spanned<u64>>,
    #[serde(default)]
    pub(super) hash: Option<RawHash>,
    #[serde(default)]
    pub(super) sticky: Option<bool>,
    #[serde(default, rename = "type")]
    pub(super) route_type: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) metric: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNexthop {
    pub(super) via: Spanned<String>,
    pub(super) port: Spanned<String>,
    #[serde(default)]
    pub(super) weight: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNeighbor {
    pub(super) address: Spanned<String>,
    pub(super) mac: Spanned<String>,
    pub(super) port: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawNeighborTable {
    #[serde(default)]
    pub(super) max_hosts: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) max_incomplete: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) solicit_rate: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) retries: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) reachable_time: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "kebab-case")]
pub(super) struct RawApi {
    #[serde(default)]
    pub(super) listen: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) token: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) token_file: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) socket: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) socket_group: Option<Spanned<String>>,
}
