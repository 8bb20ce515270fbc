//! Nexthops, neighbours (every adjacency, as `ip neigh` shows them) and
//! nexthop groups.

use super::types::{
    DevQuery, Done, ErrorBody, Flushed, Group, GroupInput, GroupMember, GroupWritten, Nexthop,
    NexthopInput, PortQuery, Written,
};
use super::{config_error, error, field_error, kebab_keys, ApiError};
use crate::Shared;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use control::state::{ControlPlane, GroupView, NexthopKind, NexthopView};
use std::sync::Arc;

fn nexthop_body(n: &NexthopView) -> Nexthop {
    Nexthop {
        id: ControlPlane::listed_nexthop_id(n.id),
        address: n.addr.to_string(),
        port: n.port.clone(),
        kind: match n.kind {
            NexthopKind::Gateway => "gateway",
            NexthopKind::Host => "host",
        }
        .into(),
        mac: n.mac.map(|m| m.to_string()),
        live: n.live,
        enabled: !n.admin_down,
        link_down: n.link_down,
        unreachable: n.unreachable,
        uplink_down: n.uplink_down,
        state: n.state.name().into(),
        permanent: n.permanent,
        last_seen_ms: n.last_seen_ms,
        probes_unanswered: n.probes_unanswered,
    }
}

fn group_body(g: &GroupView) -> Group {
    Group {
        id: g.id,
        name: g.name.clone(),
        kind: g.kind.into(),
        origin: g.origin.map(|o| o.name().into()),
        algorithm: g.algorithm.into(),
        members: g
            .members
            .iter()
            .map(|m| GroupMember {
                id: m.id,
                via: m.via.to_string(),
                port: m.port.clone(),
                weight: m.weight,
                live: m.live,
            })
            .collect(),
        live: g.live,
        routes: g.routes,
    }
}

/// An address of a path, or 400.
fn path_addr(address: &str) -> Result<std::net::IpAddr, ApiError> {
    address.parse().map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("'{address}' is not an IP address"),
        )
    })
}

/// Every nexthop with its state.
#[utoipa::path(get, path = "/api/v1/nexthops", tag = "nexthops",
    responses((status = 200, description = "The nexthops.", body = Vec<Nexthop>)))]
pub(super) async fn list_nexthops(State(s): State<Arc<Shared>>) -> Json<Vec<Nexthop>> {
    Json(s.cp().nexthops().iter().map(nexthop_body).collect())
}

/// Create a nexthop (origin api).
#[utoipa::path(post, path = "/api/v1/nexthops", tag = "nexthops", request_body = NexthopInput,
    responses(
        (status = 201, description = "Created.", body = Nexthop),
        (status = 400, description = "A bad field: `field` names it.", body = ErrorBody),
        (status = 409, description = "It exists, or the nexthop table is full.", body = ErrorBody)))]
pub(super) async fn add_nexthop(
    State(s): State<Arc<Shared>>,
    body: String,
) -> Result<Response, ApiError> {
    let input: NexthopInput = serde_json::from_str(&body).map_err(|e| {
        let msg = e.to_string();
        // serde names the field in its message: `unknown field `x``, `missing field `via``.
        let field = msg
            .split('`')
            .nth(1)
            .filter(|_| msg.contains("field"))
            .unwrap_or("body")
            .to_owned();
        field_error(StatusCode::BAD_REQUEST, format!("body: {msg}"), &field)
    })?;
    let addr: std::net::IpAddr = input.via.parse().map_err(|_| {
        field_error(
            StatusCode::BAD_REQUEST,
            format!("'{}' is not an IP address", input.via),
            "via",
        )
    })?;
    let mut cp = s.cp();
    // The port is a field of the body here (elsewhere it is in the path, a 404).
    if cp.config().port_id(&input.port).is_none() {
        let e = control::state::NexthopError::UnknownPort(input.port);
        return Err(field_error(StatusCode::BAD_REQUEST, e.to_string(), "port"));
    }
    let n = cp.add_nexthop_api(&input.port, addr)?;
    Ok((StatusCode::CREATED, Json(nexthop_body(&n))).into_response())
}

/// Delete a nexthop that no group uses.
#[utoipa::path(delete, path = "/api/v1/nexthops/{port}/{address}", tag = "nexthops",
    params(("port" = String, Path, description = "Its port."), ("address" = String, Path, description = "Its address.")),
    responses(
        (status = 200, description = "Deleted.", body = Done),
        (status = 404, description = "No such nexthop.", body = ErrorBody),
        (status = 409, description = "A group uses it.", body = ErrorBody)))]
pub(super) async fn delete_nexthop(
    State(s): State<Arc<Shared>>,
    Path((port, address)): Path<(String, String)>,
) -> Result<Json<Done>, ApiError> {
    let addr = path_addr(&address)?;
    s.cp().delete_nexthop_api(&port, addr)?;
    Ok(Json(Done { ok: true }))
}

/// Enable or disable a nexthop (a disabled one takes no new traffic).
#[utoipa::path(post, path = "/api/v1/nexthops/{port}/{address}/{action}", tag = "nexthops",
    params(("port" = String, Path, description = "Its port."), ("address" = String, Path, description = "Its address."),
        ("action" = String, Path, description = "`enable` or `disable`.")),
    responses(
        (status = 200, description = "Its new state.", body = Nexthop),
        (status = 404, description = "No such nexthop or action.", body = ErrorBody)))]
pub(super) async fn set_nexthop(
    State(s): State<Arc<Shared>>,
    Path((port, address, action)): Path<(String, String, String)>,
) -> Result<Json<Nexthop>, ApiError> {
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        other => {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("unknown action '{other}' (expected enable or disable)"),
            ))
        }
    };
    let addr = path_addr(&address)?;
    let n = s.cp().set_enabled(&port, addr, enabled)?;
    Ok(Json(nexthop_body(&n)))
}

/// Every adjacency (gateways and hosts) with its resolution state.
#[utoipa::path(get, path = "/api/v1/neighbors", tag = "nexthops", params(PortQuery),
    responses(
        (status = 200, description = "The neighbours.", body = Vec<Nexthop>),
        (status = 404, description = "No such port.", body = ErrorBody)))]
pub(super) async fn list_neighbors(
    State(s): State<Arc<Shared>>,
    Query(q): Query<PortQuery>,
) -> Result<Json<Vec<Nexthop>>, ApiError> {
    let cp = s.cp();
    if let Some(p) = &q.port {
        if cp.config().port_id(p).is_none() {
            return Err(field_error(
                StatusCode::NOT_FOUND,
                format!("unknown port '{p}'"),
                "port",
            ));
        }
    }
    Ok(Json(
        cp.nexthops()
            .iter()
            .filter(|n| q.port.as_ref().is_none_or(|p| *p == n.port))
            .map(nexthop_body)
            .collect(),
    ))
}

/// Remove the learned hosts, as `ip neigh flush` does.
#[utoipa::path(post, path = "/api/v1/neighbors/flush", tag = "nexthops", params(DevQuery),
    responses(
        (status = 200, description = "How many went.", body = Flushed),
        (status = 400, description = "No such port.", body = ErrorBody)))]
pub(super) async fn flush_neighbors(
    State(s): State<Arc<Shared>>,
    Query(q): Query<DevQuery>,
) -> Result<Json<Flushed>, ApiError> {
    let mut cp = s.cp();
    let port = match q.dev.as_deref() {
        None => None,
        Some(d) => Some(cp.config().port_id(d).ok_or_else(|| {
            field_error(
                StatusCode::BAD_REQUEST,
                format!("unknown port '{d}'"),
                "dev",
            )
        })?),
    };
    let n = cp.flush_neighbors(port);
    control::log_limited!(info, control::loglimit::Kind::ApiWrite, control::loglimit::source("flush"); flushed = n, "neighbours flushed");
    Ok(Json(Flushed { flushed: n }))
}

/// Every group: named, shared and per route.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    responses((status = 200, description = "The groups.", body = Vec<Group>)))]
pub(super) async fn list_groups(State(s): State<Arc<Shared>>) -> Json<Vec<Group>> {
    Json(s.cp().groups().iter().map(group_body).collect())
}

async fn put_group(s: Arc<Shared>, body: String, replace: bool) -> Result<Response, ApiError> {
    let mut cp = s.cp();
    let gc = control::config::parse_named_group(&kebab_keys(&body), cp.config())
        .map_err(|e| config_error(&e))?;
    let name = gc.name.clone().unwrap_or_default();
    let created = cp.set_named_group(gc, replace)?;
    let group = cp.groups().iter().find(|g| g.name == name).map(group_body);
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        code,
        Json(GroupWritten {
            group,
            fib_generation: cp.fib().generation,
        }),
    )
        .into_response())
}

/// Add a named group; 409 when the name exists.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = GroupInput,
    responses(
        (status = 201, description = "Added.", body = GroupWritten),
        (status = 400, description = "A bad field: `field` names it.", body = ErrorBody),
        (status = 409, description = "It exists.", body = ErrorBody)))]
pub(super) async fn add_group(
    State(s): State<Arc<Shared>>,
    body: String,
) -> Result<Response, ApiError> {
    put_group(s, body, false).await
}

/// Add or replace a named group.
#[utoipa::path(put, path = "/api/v1/groups", tag = "groups", request_body = GroupInput,
    responses(
        (status = 200, description = "Replaced.", body = GroupWritten),
        (status = 201, description = "Added.", body = GroupWritten),
        (status = 400, description = "A bad field: `field` names it.", body = ErrorBody),
        (status = 409, description = "It cannot be applied.", body = ErrorBody)))]
pub(super) async fn replace_group(
    State(s): State<Arc<Shared>>,
    body: String,
) -> Result<Response, ApiError> {
    put_group(s, body, true).await
}

/// Delete a named group that no route uses.
#[utoipa::path(delete, path = "/api/v1/groups/{name}", tag = "groups",
    params(("name" = String, Path, description = "The group's name.")),
    responses(
        (status = 200, description = "Deleted.", body = Written),
        (status = 404, description = "No such group.", body = ErrorBody),
        (status = 409, description = "A route uses it.", body = ErrorBody)))]
pub(super) async fn delete_group(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Json<Written>, ApiError> {
    let mut cp = s.cp();
    cp.delete_named_group(&name)?;
    Ok(Json(Written {
        ok: true,
        fib_generation: cp.fib().generation,
    }))
}
