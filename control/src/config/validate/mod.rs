//! Validation: the raw shapes (`raw.rs`) into the model (`model.rs`). One
//! file per section of the config; each error names the key and points at
//! the value at fault.

mod api;
mod flows;
mod groups;
mod neighbors;
mod ports;
mod punt;
mod routes;
mod rules;
mod uplinks;
mod vrfs;

use super::raw::{RawConfig, RawTable};
use super::{Config, ConfigError, Ctx, PortConfig, MAIN_TABLE, MAX_WORKERS};
use dataplane::hash::HashConfig;
use dataplane::types::PortId;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::net::IpAddr;

pub(super) use groups::parse_group;

/// Validates a whole file: every section, in the order later ones need
/// (ports, then tables and groups, then routes, uplinks and rules).
pub(super) fn validate(cx: &Ctx<'_>, raw: RawConfig) -> Result<Config, ConfigError> {
    let workers = match &raw.workers {
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

    let vrfs = vrfs::vrfs(cx, &raw.vrfs)?;
    let ports = ports::ports(cx, &raw, &vrfs)?;
    let default_hash = groups::parse_hash(cx, raw.hash.as_ref(), "hash", HashConfig::default())?;
    let tables = ports::tables(cx, &raw.tables)?;
    let env = Env {
        cx,
        ports: &ports,
        default_hash,
        tables: &tables,
        vrfs: &vrfs,
    };
    let mut groups = groups::named_groups(&env, &raw.nexthop_groups)?;
    let routes = routes::routes(&env, &raw.routes, &mut groups)?;
    let neighbor_table = neighbors::neighbor_table(cx, raw.neighbor_table.as_ref())?;
    let liveness = neighbors::liveness(cx, raw.liveness)?;
    let flows = flows::flows(cx, raw.flows.as_ref())?;
    let (icmp_rate, icmp_burst) = punt::icmp(cx, raw.icmp.as_ref())?;
    let punt_policer = punt::punt_policer(cx, raw.punt_policer.as_ref())?;
    let uplinks = uplinks::uplinks(&env, &raw.uplinks)?;
    let rules = rules::rules(&env, &raw.rules, &uplinks, &groups)?;
    let last_resort = rules::last_resort(cx, raw.last_resort.as_ref())?;
    let neighbors = neighbors::neighbors(&env, &raw.neighbors)?;
    let api = api::api(cx, raw.api)?;
    let fpm = api::fpm(cx, raw.fpm)?;
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
        vrfs,
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
        listen: api.listen,
        token: api.token,
        api_hosts: api.hosts,
        api_socket: api.socket,
        api_socket_group: api.socket_group,
        fpm,
    })
}

/// What validating a route needs: the ports and the default hash.
pub(super) struct Env<'a> {
    pub(super) cx: &'a Ctx<'a>,
    pub(super) ports: &'a [PortConfig],
    pub(super) default_hash: HashConfig,
    pub(super) tables: &'a BTreeMap<String, u32>,
    pub(super) vrfs: &'a [super::VrfConfig],
}

impl<'a> Env<'a> {
    /// What a request's one entry is checked against: a running config.
    pub(in crate::config) fn of(cx: &'a Ctx<'a>, config: &'a Config) -> Env<'a> {
        Env {
            cx,
            ports: &config.ports,
            default_hash: config.hash,
            tables: &config.tables,
            vrfs: &config.vrfs,
        }
    }

    /// A table id, or a name from `tables:`.
    pub(super) fn table(&self, t: &Spanned<RawTable>, key: String) -> Result<u32, ConfigError> {
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

    pub(super) fn port(&self, s: &Spanned<String>, key: String) -> Result<PortId, ConfigError> {
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

    pub(super) fn ip(&self, s: &Spanned<String>, key: String) -> Result<IpAddr, ConfigError> {
        s.value.trim().parse().map_err(|_| {
            self.cx.err(
                s.referenced,
                key,
                format!("'{}' is not an IP address", s.value),
            )
        })
    }

    /// Refuses `a` unless it is on a subnet of `port`; `what` names it in the message.
    pub(super) fn require_on_subnet(
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

    pub(super) fn on_subnet(&self, port: PortId, a: IpAddr) -> bool {
        self.ports[port.index()]
            .addresses
            .iter()
            .any(|ia| ia.subnet().contains(a))
    }

    pub(super) fn subnets_of(&self, port: PortId) -> String {
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
}
