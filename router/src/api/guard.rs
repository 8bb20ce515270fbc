//! The API's guard, in front of every `/api/v1/` route: the `Host` check
//! and the bearer token on TCP, the JSON content type on writes, and the log
//! line of each write.

use super::error;
use crate::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// Whether `got` equals `want`, in time that depends only on `want`'s
/// length: neither where the first difference is nor `got`'s length shows.
fn token_matches(got: &[u8], want: &[u8]) -> bool {
    let mut diff = (got.len() != want.len()) as u8;
    for (i, w) in want.iter().enumerate() {
        diff |= w ^ got.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// The token of an `Authorization` header, with the `Bearer` scheme in any case (RFC 7235 2.1).
fn bearer(v: &str) -> Option<&str> {
    let (scheme, rest) = v.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Whether a `Host` header names this router: an IP literal (with or without
/// a port), `localhost`, or a name from `api.hosts`. Anything else is a
/// browser sent here by DNS rebinding.
fn host_allowed(host: &str, names: &[String]) -> bool {
    let h = host.trim();
    if h.parse::<std::net::SocketAddr>().is_ok() || h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    if let Some(inner) = h.strip_prefix('[').and_then(|x| x.split(']').next()) {
        if inner.parse::<std::net::Ipv6Addr>().is_ok() {
            return true;
        }
    }
    let name = h.rsplit_once(':').map_or(h, |(n, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            n
        } else {
            h
        }
    });
    let name = name.to_ascii_lowercase();
    name == "localhost" || names.contains(&name)
}

/// The TCP API's guard (see [`guard`]).
pub(super) async fn auth_tcp(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    guard(&s, req, next, true).await
}

/// The Unix socket's guard: its file permissions are the access control,
/// so no token and no `Host` check (see [`guard`]).
pub(super) async fn auth_unix(
    State(s): State<Arc<Shared>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    guard(&s, req, next, false).await
}

/// Guards the API: on TCP the `Host` header (421); a JSON content type on
/// every write (415: a browser's form or `text/plain` POST cannot drive the
/// API, which closes CSRF); on TCP the bearer token when one is configured
/// (401). Writes are logged with their outcome.
async fn guard(
    s: &Shared,
    req: axum::extract::Request,
    next: axum::middleware::Next,
    tcp: bool,
) -> axum::response::Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let write = !matches!(
        method,
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    if let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|_| tcp)
    {
        if !host_allowed(host, &s.api_hosts) {
            s.api_counters.refused_host.fetch_add(1, Relaxed);
            control::log_limited!(warn, control::loglimit::Kind::ApiRefused, control::loglimit::source(421u16); %method, %path, host, "API: refused, Host is not this router (421)");
            return error(
                StatusCode::MISDIRECTED_REQUEST,
                "the Host header names neither an IP address, localhost, nor one of api.hosts",
            )
            .into_response();
        }
    }
    if write {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            s.api_counters.refused_content_type.fetch_add(1, Relaxed);
            control::log_limited!(warn, control::loglimit::Kind::ApiRefused, control::loglimit::source(415u16); %method, %path, "API: write refused, not Content-Type: application/json (415)");
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "writes need Content-Type: application/json (bodiless ones too)",
            )
            .into_response();
        }
    }
    let want = s
        .token
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .filter(|_| tcp);
    if let Some(want) = want {
        let got = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer);
        if !got.is_some_and(|g| token_matches(g.as_bytes(), want.as_bytes())) {
            s.api_counters.refused_token.fetch_add(1, Relaxed);
            if write {
                control::log_limited!(warn, control::loglimit::Kind::ApiRefused, control::loglimit::source(401u16); %method, %path, "API: write refused, missing or wrong token (401)");
            }
            return error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (send Authorization: Bearer <api.token>)",
            )
            .into_response();
        }
    }
    let resp = next.run(req).await;
    if write {
        let c = &s.api_counters;
        let n = if resp.status().is_success() {
            &c.write_ok
        } else {
            &c.write_failed
        };
        n.fetch_add(1, Relaxed);
        let via = if tcp { "tcp" } else { "unix" };
        control::log_limited!(info, control::loglimit::Kind::ApiWrite, control::loglimit::source((method.as_str(), path.as_str())); %method, %path, status = resp.status().as_u16(), via, "API write");
    }
    resp
}
