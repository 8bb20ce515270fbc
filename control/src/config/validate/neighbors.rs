//! `neighbor-table:`, `neighbors:` (static entries) and `liveness:`.

use super::super::raw::{RawLiveness, RawNeighbor, RawNeighborTable};
use super::super::{ConfigError, Ctx, Liveness, NeighborTable, StaticNeighbor};
use super::Env;
use dataplane::types::MacAddr;
use serde_saphyr::Spanned;

/// The neighbour table's limits and timers.
pub(super) fn neighbor_table(
    cx: &Ctx<'_>,
    raw: Option<&RawNeighborTable>,
) -> Result<NeighborTable, ConfigError> {
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
        match raw {
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
    Ok(neighbor_table)
}

/// Nexthop liveness probing.
pub(super) fn liveness(cx: &Ctx<'_>, raw: Option<RawLiveness>) -> Result<Liveness, ConfigError> {
    let liveness = match raw {
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
    Ok(liveness)
}

/// The static neighbours.
pub(super) fn neighbors(
    env: &Env<'_>,
    raw: &[RawNeighbor],
) -> Result<Vec<StaticNeighbor>, ConfigError> {
    let (cx, ports) = (env.cx, env.ports);
    let mut neighbors: Vec<StaticNeighbor> = Vec::new();
    for (i, n) in raw.iter().enumerate() {
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
    Ok(neighbors)
}
