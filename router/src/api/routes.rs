//! Routes: the listing (paged), writes, deletes, `route get`, and the FPM
//! routes held but not installed.

use super::types::{
    ErrorBody, Hash, Member, NotInstalled, Route, RouteDeleteQuery, RouteGet, RouteGetQuery,
    RouteInput, RoutesQuery, Via, Written,
};
use super::{config_error, error, field_error, kebab_keys, page, ApiError};
use crate::Shared;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;

/// Prefixes per `GET /api/v1/routes` page by default.
const ROUTES_PAGE: usize = 1000;
/// The largest page.
const ROUTES_PAGE_MAX: usize = 10_000;

/// A routes cursor, `TABLE:PREFIX`.
fn parse_cursor(c: &str) -> Option<(u32, dataplane::Prefix)> {
    let (t, p) = c.split_once(':')?;
    Some((t.parse().ok()?, p.parse().ok()?))
}

fn route_body(v: &control::state::RouteView, ports: &[String]) -> Route {
    use control::config::RouteGroup;
    let s = &v.spec;
    let fields = match s.hash.policy {
        dataplane::hash::HashPolicy::Fields(f) => {
            Some(f.names().into_iter().map(str::to_owned).collect())
        }
        _ => None,
    };
    // A route through an FPM nexthop object shows the object's id and what it is now.
    let (nhid, group) = match (&s.group, &v.resolved) {
        (RouteGroup::Object(id), r) => (Some(*id), r.as_ref()),
        (g, _) => (None, Some(g)),
    };
    let port = |i: usize| ports.get(i).cloned();
    let mut r = Route {
        table: s.table,
        prefix: s.prefix.to_string(),
        origin: v.origin.name().into(),
        protocol: control::config::protocol_name(s.protocol).into_owned(),
        metric: s.metric,
        active: v.active,
        hash: Hash {
            policy: s.hash.policy.name().to_owned(),
            fields,
            seed: s.hash.seed,
        },
        sticky: s.sticky.then_some(true),
        nhid,
        kind: match group {
            Some(RouteGroup::Reject(x)) => x.name(),
            _ => "unicast",
        }
        .into(),
        dev: None,
        nexthop_group: None,
        group: None,
        nexthops: None,
    };
    match group {
        None | Some(RouteGroup::Reject(_)) | Some(RouteGroup::Object(_)) => {}
        Some(RouteGroup::Connected(p)) => r.dev = Some(port(p.index()).unwrap_or_default()),
        Some(RouteGroup::Named(n)) => r.nexthop_group = Some(n.clone()),
        Some(RouteGroup::Inline(g)) => {
            r.group = Some(g.algorithm.name().into());
            r.nexthops = Some(
                g.nexthops
                    .iter()
                    .map(|n| Member {
                        via: n.via.to_string(),
                        port: port(n.port.index()),
                        weight: Some(n.weight),
                    })
                    .collect(),
            );
        }
    }
    r
}

/// Routes of every table and origin, in (table, prefix) order, one page.
#[utoipa::path(get, path = "/api/v1/routes", tag = "routes", params(RoutesQuery),
    responses(
        (status = 200, description = "The page; X-Next-Cursor gives after= for the next one, when there is one.",
            body = Vec<Route>, headers(("x-next-cursor" = String, description = "TABLE:PREFIX"))),
        (status = 400, description = "A bad parameter: `field` names it.", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token.", body = ErrorBody)))]
pub(super) async fn list_routes(
    State(s): State<Arc<Shared>>,
    Query(q): Query<RoutesQuery>,
) -> Result<Response, ApiError> {
    let table = match q.table.as_deref().map(str::parse::<u32>) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "table: expected a table id such as 254",
            ))
        }
    };
    let within: Option<dataplane::Prefix> = match q.prefix.as_deref().map(str::parse) {
        None => None,
        Some(Ok(p)) => Some(p),
        Some(Err(e)) => {
            return Err(field_error(
                StatusCode::BAD_REQUEST,
                format!("{e}"),
                "prefix",
            ))
        }
    };
    let origin = match q.origin.as_deref() {
        None => None,
        Some(o @ ("api" | "config" | "fpm" | "kernel")) => Some(o.to_owned()),
        Some(o) => {
            return Err(field_error(
                StatusCode::BAD_REQUEST,
                format!("unknown origin '{o}' (expected api, config or fpm)"),
                "origin",
            ))
        }
    };
    let limit = match q
        .limit
        .as_deref()
        .map_or(Ok(ROUTES_PAGE), str::parse::<usize>)
    {
        Ok(l) if (1..=ROUTES_PAGE_MAX).contains(&l) => l,
        _ => {
            return Err(field_error(
                StatusCode::BAD_REQUEST,
                format!("limit: expected 1..={ROUTES_PAGE_MAX}"),
                "limit",
            ))
        }
    };
    if q.offset.is_some() {
        return Err(field_error(
            StatusCode::BAD_REQUEST,
            "offset is gone: page with after=CURSOR from the X-Next-Cursor header",
            "offset",
        ));
    }
    let after = match q.after.as_deref().map(parse_cursor) {
        None => None,
        Some(Some(c)) => Some(c),
        Some(None) => {
            return Err(field_error(
                StatusCode::BAD_REQUEST,
                "after: expected a cursor TABLE:PREFIX (from X-Next-Cursor)",
                "after",
            ))
        }
    };
    // The lock is held for one page only; the JSON is rendered after it.
    let (views, next, ports) = {
        let cp = s.cp();
        let ports: Vec<String> = cp.config().ports.iter().map(|p| p.name.clone()).collect();
        let (views, next) = cp.routes_page(table, after, limit, |v| {
            within
                .is_none_or(|w| w.len() <= v.spec.prefix.len() && w.contains(v.spec.prefix.addr()))
                && origin.as_deref().is_none_or(|o| o == v.origin.name())
        });
        (views, next, ports)
    };
    let routes = views.iter().map(|v| route_body(v, &ports)).collect();
    Ok(page(routes, next.map(|(t, p)| format!("{t}:{p}"))))
}

async fn put_route(s: Arc<Shared>, body: String, replace: bool) -> Result<Response, ApiError> {
    let mut cp = s.cp();
    let spec = control::config::parse_route_with(&kebab_keys(&body), cp.config(), &cp.api_groups())
        .map_err(|e| config_error(&e))?;
    cp.add_route(spec, control::state::Origin::Api, replace)?;
    let code = if replace {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        code,
        Json(Written {
            ok: true,
            fib_generation: cp.fib().generation,
        }),
    )
        .into_response())
}

/// Add a route (origin api); 409 when the API has one for the prefix.
#[utoipa::path(post, path = "/api/v1/routes", tag = "routes", request_body = RouteInput,
    responses(
        (status = 201, description = "Added.", body = Written),
        (status = 400, description = "A bad field: `field` names it.", body = ErrorBody),
        (status = 409, description = "It exists.", body = ErrorBody)))]
pub(super) async fn add_route(
    State(s): State<Arc<Shared>>,
    body: String,
) -> Result<Response, ApiError> {
    put_route(s, body, false).await
}

/// Add or replace a route (origin api).
#[utoipa::path(put, path = "/api/v1/routes", tag = "routes", request_body = RouteInput,
    responses(
        (status = 200, description = "In place.", body = Written),
        (status = 400, description = "A bad field: `field` names it.", body = ErrorBody),
        (status = 409, description = "It cannot be applied.", body = ErrorBody)))]
pub(super) async fn replace_route(
    State(s): State<Arc<Shared>>,
    body: String,
) -> Result<Response, ApiError> {
    put_route(s, body, true).await
}

/// Delete the API's route for a prefix.
#[utoipa::path(delete, path = "/api/v1/routes", tag = "routes", params(RouteDeleteQuery),
    responses(
        (status = 200, description = "Deleted.", body = Written),
        (status = 400, description = "A bad parameter.", body = ErrorBody),
        (status = 404, description = "The API has no such route.", body = ErrorBody)))]
pub(super) async fn delete_route(
    State(s): State<Arc<Shared>>,
    Query(q): Query<RouteDeleteQuery>,
) -> Result<Json<Written>, ApiError> {
    let Some(prefix) = q.prefix else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "prefix: missing (?prefix=198.51.100.0/24)",
        ));
    };
    let prefix: dataplane::Prefix =
        prefix.parse().map_err(|e: dataplane::types::PrefixError| {
            field_error(StatusCode::BAD_REQUEST, e.to_string(), "prefix")
        })?;
    let table = match q.table.as_deref().map(str::parse::<u32>) {
        None => control::config::MAIN_TABLE,
        Some(Ok(t)) => t,
        Some(Err(_)) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "table: expected a table id such as 254",
            ))
        }
    };
    let mut cp = s.cp();
    cp.delete_route(table, prefix, control::state::Origin::Api)?;
    Ok(Json(Written {
        ok: true,
        fib_generation: cp.fib().generation,
    }))
}

/// FPM routes held but not installed, and why.
#[utoipa::path(get, path = "/api/v1/fpm/not-installed", tag = "routes",
    responses((status = 200, description = "The routes.", body = Vec<NotInstalled>)))]
pub(super) async fn fpm_not_installed(State(s): State<Arc<Shared>>) -> Json<Vec<NotInstalled>> {
    let list = s
        .cp()
        .fpm_not_installed()
        .into_iter()
        .map(|v| NotInstalled {
            table: v.table,
            prefix: v.prefix.to_string(),
            reason: v.reason.name().into(),
            rtm_type: match v.reason {
                control::state::NotInstalled::RouteType(t) => Some(t),
                _ => None,
            },
        })
        .collect();
    Json(list)
}

/// The route, group member and hash the workers would give a packet
/// (policy rules first, then the route's hash), as `ip route get` asks.
#[utoipa::path(get, path = "/api/v1/route/get", tag = "routes", params(RouteGetQuery),
    responses(
        (status = 200, description = "What the workers would do.", body = RouteGet),
        (status = 400, description = "A bad parameter.", body = ErrorBody)))]
pub(super) async fn route_get(
    State(s): State<Arc<Shared>>,
    Query(q): Query<RouteGetQuery>,
) -> Result<Json<RouteGet>, ApiError> {
    let addr = |k: &str, v: Option<&String>, d: Option<std::net::IpAddr>| match v {
        None => d.ok_or_else(|| format!("{k}: missing")),
        Some(v) => v
            .parse::<std::net::IpAddr>()
            .map_err(|_| format!("{k}: '{v}' is not an IP address")),
    };
    let num = |k: &str, v: Option<&String>| match v {
        None => Ok(0u16),
        Some(v) => v
            .parse::<u16>()
            .map_err(|_| format!("{k}: '{v}' is not a port number")),
    };
    let parsed = (|| {
        let dst = addr("dst", q.dst.as_ref(), None)?;
        let any: std::net::IpAddr = if dst.is_ipv4() {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        };
        let src = addr("src", q.src.as_ref(), Some(any))?;
        let proto = match q.proto.as_deref() {
            None | Some("tcp") => 6,
            Some("udp") => 17,
            Some("sctp") => 132,
            Some("icmp") => 1,
            Some(n) => n
                .parse::<u8>()
                .map_err(|_| format!("proto: '{n}' is not tcp, udp, sctp, icmp or a number"))?,
        };
        Ok::<_, String>((
            dst,
            src,
            proto,
            num("sport", q.sport.as_ref())?,
            num("dport", q.dport.as_ref())?,
        ))
    })();
    let (dst, src, proto, sport, dport) = parsed.map_err(|e| error(StatusCode::BAD_REQUEST, e))?;
    let cp = s.cp();
    let iif = match q.iif.as_deref() {
        None => None,
        Some(name) => Some(cp.config().port_id(name).ok_or_else(|| {
            field_error(
                StatusCode::BAD_REQUEST,
                format!("iif: unknown port '{name}'"),
                "iif",
            )
        })?),
    };
    let vrf = match q.vrf.as_deref() {
        None => 0,
        Some(name) => cp.config().vrf_id(name).ok_or_else(|| {
            field_error(
                StatusCode::BAD_REQUEST,
                format!("vrf: unknown VRF '{name}'"),
                "vrf",
            )
        })?,
    };
    let g = cp.route_get_from(dst, src, proto, (sport, dport), iif, vrf);
    Ok(Json(RouteGet {
        prefix: g.route.map(|r| r.0.to_string()),
        origin: g.route.map(|r| r.1.name().into()),
        kind: g.kind.into(),
        hash: g.hash,
        nexthop: g.nexthop.map(|n| Via {
            via: n.0.to_string(),
            port: n.1,
        }),
    }))
}
