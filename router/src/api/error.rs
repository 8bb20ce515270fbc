//! The API's error answer, and the one place where a control-plane error
//! becomes an HTTP status: each variant of each family maps to its status
//! here, by its type, never by its message (after cloud-hypervisor's
//! `vmm/src/api/http`). A handler answers with `?` or `.map_err(ApiError::from)`.

use super::types::ErrorBody;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use control::state::{GroupError, NexthopError, ReloadError, RouteError};

/// An error answer: a status and an [`ErrorBody`].
pub(crate) struct ApiError(pub(super) StatusCode, pub(super) ErrorBody);

impl ApiError {
    /// The answer's status.
    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.0
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

/// An error without a field.
pub(super) fn error(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError(
        status,
        ErrorBody {
            error: msg.into(),
            field: None,
        },
    )
}

/// An error that names the bad field.
pub(super) fn field_error(status: StatusCode, msg: impl Into<String>, field: &str) -> ApiError {
    ApiError(
        status,
        ErrorBody {
            error: msg.into(),
            field: Some(field.to_owned()),
        },
    )
}

/// A config error of a request body (400, with the key).
pub(super) fn config_error(e: &control::config::ConfigError) -> ApiError {
    field_error(StatusCode::BAD_REQUEST, e.message.clone(), &e.key)
}

impl From<RouteError> for ApiError {
    fn from(e: RouteError) -> ApiError {
        let status = match e {
            RouteError::Exists { .. } => StatusCode::CONFLICT,
            RouteError::NotFound { .. } | RouteError::NotFromOrigin { .. } => StatusCode::NOT_FOUND,
        };
        error(status, e.to_string())
    }
}

impl From<NexthopError> for ApiError {
    fn from(e: NexthopError) -> ApiError {
        let msg = e.to_string();
        match e {
            NexthopError::UnknownPort(_) | NexthopError::NotFound { .. } => {
                error(StatusCode::NOT_FOUND, msg)
            }
            NexthopError::NotOnSubnet { .. } | NexthopError::Local { .. } => {
                field_error(StatusCode::BAD_REQUEST, msg, "via")
            }
            NexthopError::Exists { .. }
            | NexthopError::TableFull
            | NexthopError::Static { .. }
            | NexthopError::InGroup { .. } => error(StatusCode::CONFLICT, msg),
        }
    }
}

impl From<GroupError> for ApiError {
    fn from(e: GroupError) -> ApiError {
        let msg = e.to_string();
        match e {
            GroupError::Unnamed => field_error(StatusCode::BAD_REQUEST, msg, "name"),
            GroupError::NotFound(_) => error(StatusCode::NOT_FOUND, msg),
            GroupError::Exists(_)
            | GroupError::FamilyInUse { .. }
            | GroupError::InConfig(_)
            | GroupError::InUse { .. } => error(StatusCode::CONFLICT, msg),
        }
    }
}

impl From<ReloadError> for ApiError {
    fn from(e: ReloadError) -> ApiError {
        match e {
            ReloadError::NeedsRestart(_) => error(StatusCode::CONFLICT, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn addr() -> IpAddr {
        "10.1.0.9".parse().unwrap()
    }

    /// Every variant has its status; the body carries the message and, for a
    /// bad field, the field.
    #[test]
    fn each_variant_maps_to_its_status() {
        let p: dataplane::Prefix = "10.0.0.0/8".parse().unwrap();
        let cases: Vec<(ApiError, StatusCode)> = vec![
            (
                RouteError::Exists {
                    table: 254,
                    prefix: p,
                    origin: "api",
                }
                .into(),
                StatusCode::CONFLICT,
            ),
            (
                RouteError::NotFound {
                    table: 254,
                    prefix: p,
                }
                .into(),
                StatusCode::NOT_FOUND,
            ),
            (
                RouteError::NotFromOrigin {
                    table: 254,
                    prefix: p,
                    origin: "api",
                    have: vec!["config"],
                }
                .into(),
                StatusCode::NOT_FOUND,
            ),
            (
                NexthopError::UnknownPort("x".into()).into(),
                StatusCode::NOT_FOUND,
            ),
            (
                NexthopError::NotFound {
                    addr: addr(),
                    port: "x".into(),
                }
                .into(),
                StatusCode::NOT_FOUND,
            ),
            (
                NexthopError::NotOnSubnet {
                    addr: addr(),
                    port: "x".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                NexthopError::Local {
                    addr: addr(),
                    port: "x".into(),
                }
                .into(),
                StatusCode::BAD_REQUEST,
            ),
            (
                NexthopError::Exists {
                    addr: addr(),
                    port: "x".into(),
                }
                .into(),
                StatusCode::CONFLICT,
            ),
            (NexthopError::TableFull.into(), StatusCode::CONFLICT),
            (
                NexthopError::Static {
                    addr: addr(),
                    port: "x".into(),
                }
                .into(),
                StatusCode::CONFLICT,
            ),
            (
                NexthopError::InGroup {
                    addr: addr(),
                    port: "x".into(),
                    group: "g".into(),
                }
                .into(),
                StatusCode::CONFLICT,
            ),
            (GroupError::Unnamed.into(), StatusCode::BAD_REQUEST),
            (
                GroupError::NotFound("g".into()).into(),
                StatusCode::NOT_FOUND,
            ),
            (GroupError::Exists("g".into()).into(), StatusCode::CONFLICT),
            (
                GroupError::InConfig("g".into()).into(),
                StatusCode::CONFLICT,
            ),
            (
                GroupError::FamilyInUse {
                    name: "g".into(),
                    routes: 1,
                }
                .into(),
                StatusCode::CONFLICT,
            ),
            (
                GroupError::InUse {
                    name: "g".into(),
                    routes: 2,
                    first: (254, p),
                }
                .into(),
                StatusCode::CONFLICT,
            ),
            (
                ReloadError::NeedsRestart(vec!["ports"]).into(),
                StatusCode::CONFLICT,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.status(), want, "{}", e.1.error);
            assert!(!e.1.error.is_empty());
        }
        let e: ApiError = NexthopError::NotOnSubnet {
            addr: addr(),
            port: "srv1".into(),
        }
        .into();
        assert_eq!(e.1.field.as_deref(), Some("via"));
        assert_eq!(e.1.error, "10.1.0.9 is not on a subnet of port 'srv1'");
        let e: ApiError = GroupError::InUse {
            name: "g".into(),
            routes: 2,
            first: (254, p),
        }
        .into();
        assert_eq!(
            e.1.error,
            "nexthop group 'g' is used by 2 route(s) (first: 10.0.0.0/8 table 254); delete or change them first"
        );
    }
}
