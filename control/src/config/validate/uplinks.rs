//! `uplinks:`: their gateways, probes and SNAT addresses.

use super::super::raw::{RawSnat, RawUplink};
use super::super::{ConfigError, UplinkConfig};
use super::Env;
use dataplane::types::PortId;
use serde_saphyr::Spanned;
use std::net::{IpAddr, Ipv4Addr};

/// The uplinks, in order.
pub(super) fn uplinks(env: &Env<'_>, raw: &[RawUplink]) -> Result<Vec<UplinkConfig>, ConfigError> {
    let mut uplinks: Vec<UplinkConfig> = Vec::new();
    for (i, u) in raw.iter().enumerate() {
        let up = uplink(env, i, u, &uplinks)?;
        uplinks.push(up);
    }
    Ok(uplinks)
}

/// Uplink `i`; `uplinks` are the ones before it.
fn uplink(
    env: &Env<'_>,
    i: usize,
    u: &RawUplink,
    uplinks: &[UplinkConfig],
) -> Result<UplinkConfig, ConfigError> {
    let (cx, ports) = (env.cx, env.ports);
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
    let snat = match &u.snat {
        Some(sn) => snat(env, i, sn, port, uplinks)?,
        None => Vec::new(),
    };
    Ok(UplinkConfig {
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
    })
}

/// An uplink's SNAT addresses: each belongs to one uplink, and to its port.
fn snat(
    env: &Env<'_>,
    i: usize,
    sn: &Spanned<RawSnat>,
    port: PortId,
    uplinks: &[UplinkConfig],
) -> Result<Vec<Ipv4Addr>, ConfigError> {
    let (cx, ports) = (env.cx, env.ports);
    let k = |f: &str| format!("uplinks[{i}].{f}");
    let mut snat = Vec::new();
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
    Ok(snat)
}
