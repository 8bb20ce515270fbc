//! The control plane's errors, one enum per family of operations. Each
//! variant carries what it names, so a caller (the HTTP API) picks its
//! answer by the variant, never by the message; the message is the
//! `Display`, worded for an operator.

use dataplane::types::Prefix;
use std::net::IpAddr;

/// Why a route was not added or deleted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// An add without replace, for a route the origin already has.
    #[error("route {prefix} in table {table} from {origin} exists; use replace")]
    Exists {
        /// Its table.
        table: u32,
        /// Its prefix.
        prefix: Prefix,
        /// The origin's name.
        origin: &'static str,
    },
    /// A delete of a prefix no origin has.
    #[error("no route {prefix} in table {table}")]
    NotFound {
        /// The table asked for.
        table: u32,
        /// The prefix asked for.
        prefix: Prefix,
    },
    /// A delete of a prefix that other origins have, not this one.
    #[error("no route {prefix} in table {table} from {origin} (it has: {})", have.join(", "))]
    NotFromOrigin {
        /// The table asked for.
        table: u32,
        /// The prefix asked for.
        prefix: Prefix,
        /// The origin asked for.
        origin: &'static str,
        /// The origins that have it.
        have: Vec<&'static str>,
    },
}

/// Why a nexthop was not created, deleted or changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NexthopError {
    /// No port has this name.
    #[error("unknown port '{0}'")]
    UnknownPort(String),
    /// The address is on none of the port's subnets.
    #[error("{addr} is not on a subnet of port '{port}'")]
    NotOnSubnet {
        /// The address.
        addr: IpAddr,
        /// The port.
        port: String,
    },
    /// The address is the router's own.
    #[error("{addr} is the router's own address on '{port}'")]
    Local {
        /// The address.
        addr: IpAddr,
        /// The port.
        port: String,
    },
    /// A create of a nexthop that exists.
    #[error("nexthop {addr} on port '{port}' exists")]
    Exists {
        /// The address.
        addr: IpAddr,
        /// The port.
        port: String,
    },
    /// No room for another nexthop.
    #[error("the nexthop table is full")]
    TableFull,
    /// No such nexthop.
    #[error("no nexthop {addr} on port '{port}'")]
    NotFound {
        /// The address.
        addr: IpAddr,
        /// The port.
        port: String,
    },
    /// A static neighbour: the config file's to change.
    #[error(
        "{addr} on '{port}' is a static neighbour of the config file: edit the file and reload"
    )]
    Static {
        /// The address.
        addr: IpAddr,
        /// The port.
        port: String,
    },
    /// A member of a group: remove it there first.
    #[error("nexthop {addr} on '{port}' is a member of group '{group}': remove it there first")]
    InGroup {
        /// The address.
        addr: IpAddr,
        /// The port.
        port: String,
        /// The group's name (or its key, for an unnamed group).
        group: String,
    },
}

/// Why a named group was not set or deleted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// A group without a name.
    #[error("a named group needs a name")]
    Unnamed,
    /// An add without replace, of a name that exists.
    #[error("nexthop group '{0}' exists; use replace")]
    Exists(String),
    /// A replacement of the other family, while routes use the group.
    #[error("nexthop group '{name}' is used by {routes} route(s) of the other address family")]
    FamilyInUse {
        /// The group.
        name: String,
        /// How many routes use it.
        routes: usize,
    },
    /// No such group.
    #[error("no nexthop group '{0}'")]
    NotFound(String),
    /// A group only the config file defines.
    #[error("nexthop group '{0}' is defined in the config file: edit the file and reload")]
    InConfig(String),
    /// A delete of a group routes use.
    #[error("nexthop group '{name}' is used by {routes} route(s) (first: {} table {}); delete or change them first", first.1, first.0)]
    InUse {
        /// The group.
        name: String,
        /// How many routes use it.
        routes: usize,
        /// The first of them (table, prefix).
        first: (u32, Prefix),
    },
}

/// Why a reload changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// Keys changed that only a restart applies.
    #[error("{} changed, which needs a restart: nothing was applied (restart the router, or put the old values back)", .0.join(", "))]
    NeedsRestart(Vec<&'static str>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each message names what it is about, as an operator reads it.
    #[test]
    fn messages_name_the_object_and_what_to_do() {
        let p: Prefix = "198.51.100.0/24".parse().unwrap();
        let a: IpAddr = "10.1.0.9".parse().unwrap();
        let cases: Vec<(String, &str)> = vec![
            (
                RouteError::Exists { table: 254, prefix: p, origin: "api" }.to_string(),
                "route 198.51.100.0/24 in table 254 from api exists; use replace",
            ),
            (
                RouteError::NotFromOrigin { table: 254, prefix: p, origin: "api", have: vec!["config", "fpm"] }
                    .to_string(),
                "no route 198.51.100.0/24 in table 254 from api (it has: config, fpm)",
            ),
            (
                NexthopError::InGroup { addr: a, port: "srv1".into(), group: "web".into() }.to_string(),
                "nexthop 10.1.0.9 on 'srv1' is a member of group 'web': remove it there first",
            ),
            (
                GroupError::InConfig("web".into()).to_string(),
                "nexthop group 'web' is defined in the config file: edit the file and reload",
            ),
            (
                ReloadError::NeedsRestart(vec!["ports", "workers"]).to_string(),
                "ports, workers changed, which needs a restart: nothing was applied (restart the router, or put the old values back)",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }
}
