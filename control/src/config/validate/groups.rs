//! `nexthop-groups:`, the members of any group, and `hash:`.

use super::super::raw::GroupParams;
use super::super::raw::{RawGroup, RawHash, RawNexthop};
use super::super::{join, ConfigError, Ctx, GroupConfig, NexthopConfig, DEFAULT_IDLE_TIMER_S};
use super::Env;
use dataplane::hash::{Field, FieldSet, HashConfig, HashPolicy};
use dataplane::nhg::{Algorithm, DEFAULT_BUCKETS, MAX_BUCKETS, MAX_WEIGHT};
use serde_saphyr::{Location, Spanned};

/// The named groups of `nexthop-groups:`, in order.
pub(super) fn named_groups(
    env: &Env<'_>,
    raw: &[RawGroup],
) -> Result<Vec<GroupConfig>, ConfigError> {
    let cx = env.cx;
    let mut groups: Vec<GroupConfig> = Vec::new();
    for (i, g) in raw.iter().enumerate() {
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
    Ok(groups)
}

impl Env<'_> {
    /// Members of a group: validated, with duplicates refused. `family`: true for IPv4.
    pub(in crate::config) fn members(
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
}

pub(super) fn parse_hash(
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

pub(in crate::config) fn parse_group(
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
