//! `routes:`, and one route given through the API.

use super::super::raw::{GroupParams, RawRoute};
use super::super::{
    join, ConfigError, GroupConfig, Reject, RouteConfig, RouteGroup, RouteSpec, RouteTarget,
    MAIN_TABLE, RTPROT_STATIC,
};
use super::groups::{parse_group, parse_hash};
use super::Env;
use dataplane::types::Prefix;
use std::collections::HashSet;

/// `routes:`; a route's own group is added to `groups` (after the named ones).
pub(super) fn routes(
    env: &Env<'_>,
    raw: &[RawRoute],
    groups: &mut Vec<GroupConfig>,
) -> Result<Vec<RouteConfig>, ConfigError> {
    let cx = env.cx;
    let named = groups.clone();

    let mut routes = Vec::new();
    let mut seen: HashSet<(u32, Prefix)> = HashSet::new();
    for (i, r) in raw.iter().enumerate() {
        let key = format!("routes[{i}]");
        let v = env.route(r, &key, &named)?;
        if !seen.insert((v.table, v.prefix)) {
            return Err(cx.err(
                r.prefix.referenced,
                join(&key, "prefix"),
                format!("route {} is defined twice in table {}", v.prefix, v.table),
            ));
        }
        let target = match v.group {
            RouteGroup::Named(name) => RouteTarget::Group(
                named
                    .iter()
                    .position(|g| g.name.as_deref() == Some(name.as_str()))
                    .expect("route() checked the name"),
            ),
            RouteGroup::Inline(g) => {
                groups.push(*g);
                RouteTarget::Group(groups.len() - 1)
            }
            RouteGroup::Reject(x) => RouteTarget::Reject(x),
            RouteGroup::Object(_) | RouteGroup::Connected(_) => {
                unreachable!("a config route never names an FPM object or device")
            }
        };
        routes.push(RouteConfig {
            table: v.table,
            prefix: v.prefix,
            target,
            metric: v.metric,
            hash: v.hash,
            sticky: v.sticky,
        });
    }
    Ok(routes)
}

impl Env<'_> {
    /// Validates one route against the ports and the named groups.
    pub(in crate::config) fn route(
        &self,
        r: &RawRoute,
        key: &str,
        named: &[GroupConfig],
    ) -> Result<RouteSpec, ConfigError> {
        let cx = self.cx;
        let prefix: Prefix = r
            .prefix
            .value
            .trim()
            .parse()
            .map_err(|e| cx.err(r.prefix.referenced, join(key, "prefix"), format!("{e}")))?;
        let table = match (&r.table, &r.vrf) {
            (None, None) => MAIN_TABLE,
            (Some(t), None) => self.table(t, join(key, "table"))?,
            (None, Some(v)) => {
                match super::vrfs::vrf_ref(cx, self.vrfs, Some(v), &join(key, "vrf"))? {
                    0 => MAIN_TABLE,
                    n => self.vrfs[n as usize - 1].table,
                }
            }
            (Some(t), Some(_)) => {
                return Err(cx.err(
                    t.referenced,
                    join(key, "table"),
                    "a route has a table or a VRF (whose table it is), not both",
                ))
            }
        };
        let reject = match &r.route_type {
            None => None,
            Some(t) => match t.value.trim() {
                "unicast" => None,
                other => match Reject::parse(other) {
                    Some(x) => Some(x),
                    None => {
                        return Err(cx.err(
                            t.referenced,
                            join(key, "type"),
                            format!("unknown route type '{other}' (expected unicast, blackhole, unreachable or prohibit)"),
                        ))
                    }
                },
            },
        };
        if let Some(x) = reject {
            return self.reject_route(r, key, (table, prefix), x);
        }
        let group = self.route_group(r, key, prefix, named)?;
        self.same_vrf(r, key, table, &group, named)?;
        let hash = parse_hash(cx, r.hash.as_ref(), &join(key, "hash"), self.default_hash)?;
        Ok(RouteSpec {
            table,
            prefix,
            group,
            hash,
            sticky: r.sticky.unwrap_or(false),
            protocol: RTPROT_STATIC,
            metric: r.metric.unwrap_or(0),
        })
    }

    /// A route of the default VRF (table main) or of a VRF's table goes
    /// through that VRF's interfaces only: no route leaks between VRFs.
    /// (Policy tables, which the default VRF's rules look up, are not
    /// checked.)
    fn same_vrf(
        &self,
        r: &RawRoute,
        key: &str,
        table: u32,
        group: &RouteGroup,
        named: &[GroupConfig],
    ) -> Result<(), ConfigError> {
        let vrf = match self.vrfs.iter().position(|v| v.table == table) {
            Some(i) => i as u8 + 1,
            None if table == MAIN_TABLE => 0,
            None => return Ok(()),
        };
        let members = match group {
            RouteGroup::Inline(g) => &g.nexthops,
            RouteGroup::Named(n) => match named.iter().find(|g| g.name.as_deref() == Some(n)) {
                Some(g) => &g.nexthops,
                None => return Ok(()),
            },
            _ => return Ok(()),
        };
        let name = |v: u8| match v {
            0 => "default".to_owned(),
            n => self.vrfs[n as usize - 1].name.clone(),
        };
        for nh in members {
            let p = &self.ports[nh.port.index()];
            if p.vrf != vrf {
                let at = r
                    .nexthops
                    .as_ref()
                    .map(|n| n.referenced)
                    .or(r.nexthop_group.as_ref().map(|g| g.referenced))
                    .unwrap_or(r.prefix.referenced);
                return Err(self.cx.err(
                    at,
                    join(key, if r.nexthops.is_some() { "nexthops" } else { "nexthop-group" }),
                    format!(
                        "port '{}' is in VRF {}, the route in VRF {}: a route goes through its own VRF's interfaces (no leaks between VRFs)",
                        p.name,
                        name(p.vrf),
                        name(vrf)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A route of type blackhole, unreachable or prohibit: no nexthops, no hash.
    fn reject_route(
        &self,
        r: &RawRoute,
        key: &str,
        (table, prefix): (u32, Prefix),
        x: Reject,
    ) -> Result<RouteSpec, ConfigError> {
        let cx = self.cx;
        let extra = [
            r.nexthops.as_ref().map(|v| (v.referenced, "nexthops")),
            r.nexthop_group
                .as_ref()
                .map(|v| (v.referenced, "nexthop-group")),
            r.group.as_ref().map(|v| (v.referenced, "group")),
            r.buckets.as_ref().map(|v| (v.referenced, "buckets")),
        ];
        if let Some((at, k)) = extra.into_iter().flatten().next() {
            return Err(cx.err(
                at,
                join(key, k),
                format!(
                    "a route of type {} has no nexthops: leave out {k}",
                    x.name()
                ),
            ));
        }
        if r.hash.is_some() || r.sticky.is_some() {
            return Err(cx.err(
                r.prefix.referenced,
                join(key, if r.hash.is_some() { "hash" } else { "sticky" }),
                format!(
                    "a route of type {} forwards nothing: hash and sticky do not apply",
                    x.name()
                ),
            ));
        }
        Ok(RouteSpec {
            table,
            prefix,
            group: RouteGroup::Reject(x),
            hash: self.default_hash,
            sticky: false,
            protocol: RTPROT_STATIC,
            metric: r.metric.unwrap_or(0),
        })
    }

    /// The group of a forwarding route: its own nexthops, or a named group.
    fn route_group(
        &self,
        r: &RawRoute,
        key: &str,
        prefix: Prefix,
        named: &[GroupConfig],
    ) -> Result<RouteGroup, ConfigError> {
        let cx = self.cx;
        Ok(match (&r.nexthops, &r.nexthop_group) {
            (Some(list), None) => {
                let nexthops =
                    self.members(list, &join(key, "nexthops"), Some(prefix.addr().is_ipv4()))?;
                let params = GroupParams {
                    group: &r.group,
                    buckets: &r.buckets,
                    idle_timer: &r.idle_timer,
                    unbalanced_timer: &r.unbalanced_timer,
                };
                RouteGroup::Inline(Box::new(parse_group(cx, &params, key, None, nexthops)?))
            }
            (None, Some(name)) => {
                if let Some(p) = r
                    .group
                    .as_ref()
                    .map(|g| g.referenced)
                    .or(r.buckets.as_ref().map(|b| b.referenced))
                {
                    return Err(cx.err(p, join(key, "group"), "a route that names a nexthop-group takes the algorithm from that group; set it there"));
                }
                let Some(g) = named
                    .iter()
                    .find(|g| g.name.as_deref() == Some(name.value.trim()))
                else {
                    let known: Vec<_> = named.iter().filter_map(|g| g.name.clone()).collect();
                    let known = if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    };
                    return Err(cx.err(
                        name.referenced,
                        join(key, "nexthop-group"),
                        format!(
                            "unknown nexthop group '{}' (groups are: {known})",
                            name.value
                        ),
                    ));
                };
                if g.nexthops[0].via.is_ipv4() != prefix.addr().is_ipv4() {
                    return Err(cx.err(
                        name.referenced,
                        join(key, "nexthop-group"),
                        format!(
                            "group '{}' is of the other address family than {prefix}",
                            name.value
                        ),
                    ));
                }
                RouteGroup::Named(name.value.trim().to_owned())
            }
            (Some(list), Some(_)) => {
                return Err(cx.err(
                    list.referenced,
                    join(key, "nexthops"),
                    "give either nexthops or nexthop-group, not both",
                ))
            }
            (None, None) => {
                return Err(cx.err(
                    r.prefix.referenced,
                    if key.is_empty() {
                        "prefix".to_owned()
                    } else {
                        key.to_owned()
                    },
                    "a route needs nexthops, a nexthop-group, or a type (blackhole, unreachable, prohibit)",
                ))
            }
        })
    }
}
