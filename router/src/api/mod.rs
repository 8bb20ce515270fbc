//! The HTTP API (`/api/v1/`) and `/metrics`, served on TCP and on the Unix
//! socket.
//!
//! - `types`: the request and response bodies (serde and utoipa derives);
//! - `routes`: routes, route lookups, FPM routes not installed;
//! - `nexthops`: nexthops, neighbours and groups;
//! - `status`: ports, flows, uplinks, reload, `/metrics`;
//! - `guard`: the `Host`, content-type and token checks;
//! - `error`: the error answer, and the one place where each control-plane
//!   error becomes an HTTP status.
//!
//! Each handler carries its `#[utoipa::path]`, and [`build`] registers them
//! through utoipa-axum: what is served and what `/api/v1/openapi.json`
//! describes come from one list. docs/openapi.json is that description
//! (`ecmp-router --openapi`); a test fails when the two differ.

mod error;
mod guard;
mod nexthops;
mod routes;
mod status;
pub(crate) mod types;

use crate::Shared;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::Arc;
use types::ErrorBody;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use error::ApiError;
use error::{config_error, error, field_error};
pub(crate) use status::do_reload;

/// What the API's guard refused and the writes it let through, by outcome
/// (every one is also a line of the rate-limited log).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    /// 421: a `Host` that is not this router.
    pub refused_host: std::sync::atomic::AtomicU64,
    /// 415: a write without the JSON content type.
    pub refused_content_type: std::sync::atomic::AtomicU64,
    /// 401: a missing or wrong token.
    pub refused_token: std::sync::atomic::AtomicU64,
    /// Writes answered 2xx.
    pub write_ok: std::sync::atomic::AtomicU64,
    /// Writes answered 4xx or 5xx (a bad body, an unknown object).
    pub write_failed: std::sync::atomic::AtomicU64,
}

/// The description's fixed part; the paths and schemas come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ecmp-router API",
        description = "Routes, nexthops, groups, neighbours, flows, uplinks and reload of a running ecmp-router. \
            Responses have snake_case keys. Route and group bodies are config entries and also take the config's \
            kebab-case keys. On TCP, a configured token is required (Authorization: Bearer TOKEN); the Unix socket \
            needs none. Writes need Content-Type: application/json. See docs/api.md.",
        license(name = "Apache-2.0")
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerToken)
)]
struct ApiDoc;

/// The bearer token, as a security scheme every operation may need.
struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        if let Some(c) = doc.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
        }
        doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// Every `/api/v1/` route, and the OpenAPI description of them.
fn build() -> (axum::Router<Arc<Shared>>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            routes::list_routes,
            routes::add_route,
            routes::replace_route,
            routes::delete_route
        ))
        .routes(routes!(routes::route_get))
        .routes(routes!(routes::fpm_not_installed))
        .routes(routes!(nexthops::list_nexthops, nexthops::add_nexthop))
        .routes(routes!(nexthops::delete_nexthop))
        .routes(routes!(nexthops::set_nexthop))
        .routes(routes!(nexthops::list_neighbors))
        .routes(routes!(nexthops::flush_neighbors))
        .routes(routes!(
            nexthops::list_groups,
            nexthops::add_group,
            nexthops::replace_group
        ))
        .routes(routes!(nexthops::delete_group))
        .routes(routes!(status::list_ports))
        .routes(routes!(status::list_vrfs))
        .routes(routes!(status::list_flows))
        .routes(routes!(status::list_uplinks))
        .routes(routes!(status::reload))
        .split_for_parts()
}

/// The OpenAPI description the router serves, `/metrics` and itself included.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = build().1;
    doc.merge(MetricsDoc::openapi());
    doc
}

#[derive(OpenApi)]
#[openapi(paths(status::metrics, openapi_json))]
struct MetricsDoc;

/// This description (OpenAPI 3.1), as docs/openapi.json has it.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI description.", content_type = "application/json")))]
async fn openapi_json() -> Response {
    Json(openapi()).into_response()
}

/// The TCP app and, with `unix`, the Unix socket's: `/metrics` without a
/// guard (Prometheus), the API behind its guard.
pub(crate) fn apps(shared: &Arc<Shared>, unix: bool) -> (axum::Router, Option<axum::Router>) {
    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    let api = build().0.route("/api/v1/openapi.json", get(openapi_json));
    let unix_app = unix.then(|| {
        axum::Router::new()
            .route("/metrics", get(status::metrics))
            .merge(
                api.clone()
                    .route_layer(from_fn_with_state(shared.clone(), guard::auth_unix)),
            )
            .with_state(shared.clone())
    });
    let tcp = axum::Router::new()
        .route("/metrics", get(status::metrics))
        .merge(api.route_layer(from_fn_with_state(shared.clone(), guard::auth_tcp)))
        .with_state(shared.clone());
    (tcp, unix_app)
}

/// A route or group body with its keys in the config's spelling: the config
/// parser takes kebab-case (`nexthop-group`), the API's key style is
/// snake_case (`nexthop_group`), and both are accepted. Keys of the body's
/// objects, nested ones too, get `-` for `_`; values are left alone.
/// A body that is not JSON is passed on as it is, for the parser's error.
fn kebab_keys(body: &str) -> String {
    fn walk(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => m
                .into_iter()
                .map(|(k, v)| (k.replace('_', "-"), walk(v)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
            serde_json::Value::Array(a) => a.into_iter().map(walk).collect(),
            v => v,
        }
    }
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) if body.contains('_') => walk(v).to_string(),
        _ => body.to_owned(),
    }
}

/// A body of JSON with a cursor header for the next page, when there is one.
fn page<T: serde::Serialize>(items: Vec<T>, next: Option<String>) -> Response {
    let body = Json(items);
    match next {
        Some(c) => ([("x-next-cursor", c)], body).into_response(),
        None => body.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/openapi.json is what the router serves, schemas and all.
    /// After an API change: `ecmp-router --openapi > docs/openapi.json`.
    #[test]
    fn docs_openapi_json_is_the_served_description() {
        let served = serde_json::to_value(openapi()).expect("serializes");
        let docs: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/openapi.json")).expect("valid JSON");
        assert!(
            served == docs,
            "docs/openapi.json differs from the served description: run `ecmp-router --openapi > docs/openapi.json`"
        );
        // The description has what it should: every path with its schemas.
        let paths = served["paths"].as_object().expect("paths");
        assert!(paths.len() >= 15, "{} paths", paths.len());
        for (p, ops) in paths {
            for (m, op) in ops.as_object().expect("operations") {
                assert!(op.get("responses").is_some(), "{m} {p}: no responses");
            }
        }
        let schemas = served["components"]["schemas"]
            .as_object()
            .expect("schemas");
        for s in [
            "Route",
            "RouteInput",
            "Nexthop",
            "Group",
            "ErrorBody",
            "Flow",
            "Port",
            "Uplink",
        ] {
            assert!(schemas.contains_key(s), "no schema {s}");
        }
        assert_eq!(
            served["paths"]["/api/v1/routes"]["get"]["responses"]["200"]["content"]
                ["application/json"]["schema"]["items"]["$ref"],
            "#/components/schemas/Route"
        );
    }

    #[test]
    fn kebab_keys_takes_either_spelling() {
        let b = kebab_keys(
            r#"{"prefix":"10.0.0.0/8","nexthop_group":"g_1","hash":{"policy":"l4"},"idle_timer":5}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["nexthop-group"], "g_1", "values keep their underscores");
        assert_eq!(v["idle-timer"], 5);
        assert_eq!(kebab_keys("not json_"), "not json_");
        assert_eq!(
            kebab_keys(r#"{"nexthop-group":"g"}"#),
            r#"{"nexthop-group":"g"}"#
        );
    }
}
