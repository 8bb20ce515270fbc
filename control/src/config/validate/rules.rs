//! `rules:` (policy routing) and `last-resort:`.

use super::super::raw::{PortOrName, RawRule};
use super::super::{
    ConfigError, Ctx, GroupConfig, RuleAction, RuleConfig, UplinkConfig, MAIN_TABLE,
};
use super::Env;
use dataplane::types::Prefix;
use serde_saphyr::Spanned;

/// The rules, in order.
pub(super) fn rules(
    env: &Env<'_>,
    raw: &[RawRule],
    uplinks: &[UplinkConfig],
    groups: &[GroupConfig],
) -> Result<Vec<RuleConfig>, ConfigError> {
    let mut rules = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        rules.push(rule(env, i, r, uplinks, groups)?);
    }
    Ok(rules)
}

/// Rule `i`: its match and its action.
fn rule(
    env: &Env<'_>,
    i: usize,
    r: &RawRule,
    uplinks: &[UplinkConfig],
    groups: &[GroupConfig],
) -> Result<RuleConfig, ConfigError> {
    let cx = env.cx;
    let k = |f: &str| format!("rules[{i}].{f}");
    let m = r.matches.as_ref();
    let prefix = |v: Option<&Spanned<String>>, key: &str| -> Result<Option<Prefix>, ConfigError> {
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
    let range = |v: Option<&Spanned<PortOrName>>, key: &str| -> Result<(u16, u16), ConfigError> {
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
    let action = rule_action(env, i, r, uplinks, groups)?;
    Ok(RuleConfig {
        in_port,
        src,
        dst,
        proto,
        sport,
        dport,
        action,
        sticky: r.sticky.unwrap_or(false),
    })
}

/// Where rule `i` sends what it matches: exactly one of uplink, group or table.
fn rule_action(
    env: &Env<'_>,
    i: usize,
    r: &RawRule,
    uplinks: &[UplinkConfig],
    groups: &[GroupConfig],
) -> Result<RuleAction, ConfigError> {
    let cx = env.cx;
    let k = |f: &str| format!("rules[{i}].{f}");
    let a = &r.action.value;
    Ok(match (&a.uplink, &a.group) {
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
    })
}

/// What a packet no rule and no route matched gets.
pub(super) fn last_resort(
    cx: &Ctx<'_>,
    raw: Option<&Spanned<String>>,
) -> Result<dataplane::policy::LastResort, ConfigError> {
    let last_resort = match raw {
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
    Ok(last_resort)
}
