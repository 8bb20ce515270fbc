//! `api:` (listen address, token, hosts, socket) and `fpm:`.

use super::super::raw::{RawApi, RawFpm};
use super::super::{
    credential_token, ConfigError, Ctx, FpmConfig, DEFAULT_FPM_MAX_NEXTHOPS,
    DEFAULT_FPM_MAX_ROUTES, DEFAULT_LISTEN,
};
use serde_saphyr::{Location, Spanned};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The `api:` section, validated.
pub(super) struct Api {
    pub(super) listen: SocketAddr,
    pub(super) token: Option<String>,
    pub(super) hosts: Vec<String>,
    pub(super) socket: Option<PathBuf>,
    pub(super) socket_group: Option<String>,
}

/// The HTTP API: a token is required beyond loopback.
pub(super) fn api(cx: &Ctx<'_>, raw: Option<RawApi>) -> Result<Api, ConfigError> {
    let (listen_raw, token_raw, token_file, hosts_raw, socket_raw, group_raw) = match raw {
        Some(a) => (
            a.listen,
            a.token,
            a.token_file,
            a.hosts,
            a.socket,
            a.socket_group,
        ),
        None => (None, None, None, Vec::new(), None, None),
    };
    let api_socket = match socket_raw {
        None => None,
        Some(p) if p.value.trim().starts_with('/') && p.value.trim().len() < 108 => {
            Some(std::path::PathBuf::from(p.value.trim()))
        }
        Some(p) => {
            return Err(cx.err(
                p.referenced,
                "api.socket",
                format!("'{}' is not an absolute path of at most 107 bytes", p.value),
            ))
        }
    };
    let api_socket_group = match group_raw {
        Some(g) if api_socket.is_none() => {
            return Err(cx.err(
                g.referenced,
                "api.socket-group",
                "api.socket-group needs api.socket",
            ))
        }
        Some(g) => Some(g.value.trim().to_owned()),
        None => None,
    };
    let mut api_hosts = Vec::new();
    for (i, h) in hosts_raw.iter().enumerate() {
        let name = h.value.trim().to_ascii_lowercase();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(cx.err(
                h.referenced,
                format!("api.hosts[{i}]"),
                format!("'{}' is not a host name", h.value),
            ));
        }
        api_hosts.push(name);
    }
    let token_raw = match (token_raw, token_file) {
        (Some(_), Some(f)) => {
            return Err(cx.err(
                f.referenced,
                "api.token-file",
                "give api.token or api.token-file, not both",
            ))
        }
        (Some(t), None) => Some(t),
        (None, Some(f)) => {
            let text = std::fs::read_to_string(f.value.trim()).map_err(|e| {
                cx.err(
                    f.referenced,
                    "api.token-file",
                    format!("cannot read {}: {e}", f.value.trim()),
                )
            })?;
            Some(Spanned {
                value: text.trim().to_owned(),
                referenced: f.referenced,
                defined: f.defined,
            })
        }
        // Neither in the config: the unit's credential, when systemd passed one.
        (None, None) => credential_token().map(|value| Spanned {
            value,
            referenced: Location::UNKNOWN,
            defined: Location::UNKNOWN,
        }),
    };
    let listen_at = listen_raw.as_ref().map(|l| l.referenced);
    let listen: SocketAddr = match listen_raw {
        None => DEFAULT_LISTEN
            .parse()
            .expect("default listen address parses"),
        Some(l) => l.value.trim().parse().map_err(|_| {
            cx.err(
                l.referenced,
                "api.listen",
                format!("'{}' is not an address:port like 127.0.0.1:9464", l.value),
            )
        })?,
    };

    let token = match token_raw {
        None => None,
        Some(t) if t.value.trim().len() >= 16 => Some(t.value.trim().to_owned()),
        Some(t) => {
            return Err(cx.err(
                t.referenced,
                if t.referenced == Location::UNKNOWN {
                    "api.token (the systemd credential api-token)"
                } else {
                    "api.token"
                },
                "the token must be at least 16 characters",
            ))
        }
    };
    if !listen.ip().is_loopback() && token.is_none() {
        return Err(cx.err(
            listen_at.unwrap_or(Location::UNKNOWN),
            "api.listen",
            format!("{listen} is not a loopback address: set api.token to expose the API beyond this host"),
        ));
    }
    Ok(Api {
        listen,
        token,
        hosts: api_hosts,
        socket: api_socket,
        socket_group: api_socket_group,
    })
}

/// The FPM server (zebra's dplane_fpm_nl): loopback only.
pub(super) fn fpm(cx: &Ctx<'_>, raw: Option<RawFpm>) -> Result<Option<FpmConfig>, ConfigError> {
    let fpm = match raw {
        None => None,
        Some(f) => {
            let listen: SocketAddr = match &f.listen {
                None => "127.0.0.1:2620"
                    .parse()
                    .expect("default FPM address parses"),
                Some(l) => l.value.trim().parse().map_err(|_| {
                    cx.err(
                        l.referenced,
                        "fpm.listen",
                        format!("'{}' is not an address:port like 127.0.0.1:2620", l.value),
                    )
                })?,
            };
            if !listen.ip().is_loopback() {
                let at = f
                    .listen
                    .as_ref()
                    .map_or(Location::UNKNOWN, |l| l.referenced);
                return Err(cx.err(at, "fpm.listen", format!("{listen} is not a loopback address: FPM has no authentication, so zebra must run on this host")));
            }
            let stale_time_ms = match &f.stale_time {
                None => 10_000,
                Some(t) if t.value <= 3600 => t.value * 1000,
                Some(t) => {
                    return Err(cx.err(
                        t.referenced,
                        "fpm.stale-time",
                        format!("{} s is more than an hour", t.value),
                    ))
                }
            };
            let limit = |v: &Option<Spanned<u64>>, key: &str, default: usize| match v {
                None => Ok(default),
                Some(n) if (1..=100_000_000).contains(&n.value) => Ok(n.value as usize),
                Some(n) => Err(cx.err(
                    n.referenced,
                    format!("fpm.{key}"),
                    format!("{} is not between 1 and 100000000", n.value),
                )),
            };
            Some(FpmConfig {
                listen,
                stale_time_ms,
                max_routes: limit(&f.max_routes, "max-routes", DEFAULT_FPM_MAX_ROUTES)?,
                max_nexthops: limit(&f.max_nexthops, "max-nexthops", DEFAULT_FPM_MAX_NEXTHOPS)?,
            })
        }
    };
    Ok(fpm)
}
