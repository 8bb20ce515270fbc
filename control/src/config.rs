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

use dataplane::hash::{HashConfig, HashPolicy, DEFAULT_SEED};
use dataplane::nhg::MAX_WEIGHT;
use dataplane::types::{MacAddr, PortId, Prefix};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// Default HTTP listen address for `/metrics` and the API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// Default IP MTU of a port.
pub const DEFAULT_MTU: u16 = 1500;
/// Upper bound of worker lcores.
pub const MAX_WORKERS: u32 = 64;

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
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    neighbors: Vec<RawNeighbor>,
    #[serde(default)]
    api: Option<RawApi>,
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHash {
    #[serde(default)]
    policy: Option<Spanned<String>>,
    #[serde(default)]
    seed: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    prefix: Spanned<String>,
    nexthops: Spanned<Vec<RawNexthop>>,
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
#[serde(deny_unknown_fields)]
struct RawApi {
    #[serde(default)]
    listen: Option<Spanned<String>>,
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
}

/// One member of a multipath route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NexthopConfig {
    /// Gateway address.
    pub via: IpAddr,
    /// Egress port.
    pub port: PortId,
    /// Weight, 1..=65535.
    pub weight: u32,
}

/// A static route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// Destination prefix.
    pub prefix: Prefix,
    /// Members, at least one.
    pub nexthops: Vec<NexthopConfig>,
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
    /// Static routes.
    pub routes: Vec<RouteConfig>,
    /// Permanent neighbours.
    pub neighbors: Vec<StaticNeighbor>,
    /// HTTP listen address.
    pub listen: SocketAddr,
}

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

/// Parses and validates config text; `file` names it in errors.
///
/// # Errors
/// [`ConfigError`] for any syntax, type or semantic error.
pub fn parse(src: &str, file: &str) -> Result<Config, ConfigError> {
    let cx = Ctx { file, src };
    let mut path = String::new();
    let raw: Result<RawConfig, _> = serde_saphyr::with_deserializer_from_str_with_options(
        src,
        serde_saphyr::Options {
            with_snippet: false,
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
    let raw = raw.map_err(|e| {
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
    })?;
    validate(&cx, raw)
}

fn parse_ifaddr(s: &str) -> Option<IfAddr> {
    let (a, l) = s.split_once('/')?;
    let addr: IpAddr = a.parse().ok()?;
    let len: u8 = l.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max && !addr.is_unspecified() && !addr.is_multicast() && !addr.is_loopback())
        .then_some(IfAddr { addr, len })
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
        ports.push(PortConfig {
            name: name.to_owned(),
            device: p.device.value.trim().to_owned(),
            addresses,
            mtu,
        });
    }
    let port_names = || {
        ports
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let lookup_port = |s: &Spanned<String>, key: String| -> Result<PortId, ConfigError> {
        names.get(s.value.trim()).copied().ok_or_else(|| {
            cx.err(
                s.referenced,
                key,
                format!("unknown port '{}' (ports are: {})", s.value, port_names()),
            )
        })
    };
    let on_subnet = |port: PortId, a: IpAddr| {
        ports[port.index()]
            .addresses
            .iter()
            .any(|ia| ia.subnet().contains(a))
    };
    let subnets_of = |port: PortId| {
        let v: Vec<String> = ports[port.index()]
            .addresses
            .iter()
            .map(|ia| ia.subnet().to_string())
            .collect();
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };

    let hash = match raw.hash {
        None => HashConfig::default(),
        Some(h) => {
            let policy = match h.policy {
                None => HashPolicy::default(),
                Some(p) => match p.value.as_str() {
                    "l3" => HashPolicy::L3,
                    "l4" => HashPolicy::L4,
                    other => {
                        return Err(cx.err(
                            p.referenced,
                            "hash.policy",
                            format!("unknown hash policy '{other}' (expected l3 or l4)"),
                        ))
                    }
                },
            };
            HashConfig {
                policy,
                seed: h.seed.unwrap_or(DEFAULT_SEED),
            }
        }
    };

    let mut routes = Vec::new();
    let mut seen_prefixes: HashSet<Prefix> = HashSet::new();
    for (i, r) in raw.routes.iter().enumerate() {
        let prefix: Prefix = r.prefix.value.trim().parse().map_err(|e| {
            cx.err(
                r.prefix.referenced,
                format!("routes[{i}].prefix"),
                format!("{e}"),
            )
        })?;
        if !seen_prefixes.insert(prefix) {
            return Err(cx.err(
                r.prefix.referenced,
                format!("routes[{i}].prefix"),
                format!("route {prefix} is defined twice"),
            ));
        }
        if r.nexthops.value.is_empty() {
            return Err(cx.err(
                r.nexthops.referenced,
                format!("routes[{i}].nexthops"),
                "a route needs at least one nexthop",
            ));
        }
        let mut nexthops: Vec<NexthopConfig> = Vec::new();
        for (j, n) in r.nexthops.value.iter().enumerate() {
            let k = |f: &str| format!("routes[{i}].nexthops[{j}].{f}");
            let via: IpAddr = n.via.value.trim().parse().map_err(|_| {
                cx.err(
                    n.via.referenced,
                    k("via"),
                    format!("'{}' is not an IP address", n.via.value),
                )
            })?;
            if via.is_ipv4() != prefix.addr().is_ipv4() {
                return Err(cx.err(
                    n.via.referenced,
                    k("via"),
                    format!("gateway {via} is not of the same address family as {prefix}"),
                ));
            }
            let port = lookup_port(&n.port, k("port"))?;
            if !on_subnet(port, via) {
                return Err(cx.err(
                    n.via.referenced,
                    k("via"),
                    format!(
                        "gateway {via} is not on a subnet of port '{}' ({})",
                        ports[port.index()].name,
                        subnets_of(port)
                    ),
                ));
            }
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
            if nexthops.iter().any(|x| x.via == via && x.port == port) {
                return Err(cx.err(
                    n.via.referenced,
                    k("via"),
                    format!(
                        "nexthop {via} on port '{}' is listed twice in this route",
                        ports[port.index()].name
                    ),
                ));
            }
            nexthops.push(NexthopConfig { via, port, weight });
        }
        routes.push(RouteConfig { prefix, nexthops });
    }

    let mut neighbors: Vec<StaticNeighbor> = Vec::new();
    for (i, n) in raw.neighbors.iter().enumerate() {
        let k = |f: &str| format!("neighbors[{i}].{f}");
        let address: IpAddr = n.address.value.trim().parse().map_err(|_| {
            cx.err(
                n.address.referenced,
                k("address"),
                format!("'{}' is not an IP address", n.address.value),
            )
        })?;
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
        let port = lookup_port(&n.port, k("port"))?;
        if !on_subnet(port, address) {
            return Err(cx.err(
                n.address.referenced,
                k("address"),
                format!(
                    "{address} is not on a subnet of port '{}' ({})",
                    ports[port.index()].name,
                    subnets_of(port)
                ),
            ));
        }
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

    let listen = match raw.api.and_then(|a| a.listen) {
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

    Ok(Config {
        eal: raw.eal,
        workers,
        ports,
        hash,
        routes,
        neighbors,
        listen,
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
            c.routes[0].nexthops[1],
            NexthopConfig {
                via: "10.2.0.2".parse().unwrap(),
                port: PortId(2),
                weight: 2
            }
        );
        assert_eq!(c.hash.policy, HashPolicy::L4);
        assert_eq!(c.hash.seed, DEFAULT_SEED);
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
}
