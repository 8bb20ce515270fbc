//! The YAML configuration: parsing, validation, and errors that point at the
//! offending key with its line and column.
//!
//! Parsing uses `serde-saphyr` (maintained, panic-free, with source
//! locations). Syntax and type errors come from the parser; semantic errors
//! (an unknown port, a gateway off-subnet, a duplicate route) are found here,
//! using the `Spanned` location of the value at fault. Either way the router
//! refuses the whole file: nothing is applied from a config that fails.
//!
//! Every key is documented in `docs/configuration.md`.
//!
//! - `raw.rs`: the serde shapes, as written;
//! - `model.rs`: the validated model ([`Config`], [`RouteSpec`], ...);
//! - `validate/`: the checks, one file per section of the file;
//! - this file: loading, parsing, errors, and the API's one-entry parsers.

mod model;
mod raw;
#[cfg(test)]
mod tests;
mod validate;

pub use model::*;
use raw::{GroupParams, RawConfig, RawGroup, RawRoute};
use validate::{parse_group, validate, Env};

use serde_saphyr::Location;
use std::fmt;
use std::path::Path;

/// Default HTTP listen address for `/metrics` and the API.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// Default IP MTU of a port.
pub const DEFAULT_MTU: u16 = 1500;
/// Upper bound of worker lcores.
pub const MAX_WORKERS: u32 = 64;
/// The main routing table (as in Linux).
pub const MAIN_TABLE: u32 = 254;
/// Default resilient idle timer (s), as Linux.
pub const DEFAULT_IDLE_TIMER_S: u64 = 120;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// File name (or `<input>`).
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: u64,
    /// 1-based column, 0 when unknown.
    pub column: u64,
    /// Key path such as `routes[0].nexthops[1].port`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// The source line and a caret under the column.
    pub snippet: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}: {}",
            self.file, self.line, self.column, self.key, self.message
        )?;
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

fn snippet(src: &str, line: u64, column: u64) -> String {
    if line == 0 {
        return String::new();
    }
    match src.lines().nth(line as usize - 1) {
        Some(l) => format!(
            "  {l}\n  {}^",
            " ".repeat(column.saturating_sub(1) as usize)
        ),
        None => String::new(),
    }
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn err(&self, at: Location, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        let (line, column) = (at.line(), at.column());
        ConfigError {
            file: self.file.to_owned(),
            line,
            column,
            key: key.into(),
            message: message.into(),
            snippet: snippet(self.src, line, column),
        }
    }
}

/// Reads and validates a config file.
///
/// # Errors
/// [`ConfigError`] for an unreadable file or any invalid key.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        line: 0,
        column: 0,
        key: "<file>".into(),
        message: format!("cannot read: {e}"),
        snippet: String::new(),
    })?;
    parse(&src, &file)
}

/// The API token systemd passed as the credential `api-token` (the unit's
/// `LoadCredential=api-token:/etc/ecmp-router/api-token`), when it is not
/// empty. The unit's `SetCredential=api-token:` is the empty fallback that
/// lets a fresh install without a token file start.
fn credential_token() -> Option<String> {
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let text = std::fs::read_to_string(Path::new(&dir).join("api-token")).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}

/// Parses and validates config text; `file` names it in errors.
///
/// # Errors
/// [`ConfigError`] for any syntax, type or semantic error.
pub fn parse(src: &str, file: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig = parse_doc(src, file)?;
    validate(&Ctx { file, src }, raw)
}

/// `key.field`, or `field` at the top of an API request.
fn join(key: &str, field: &str) -> String {
    if key.is_empty() {
        field.to_owned()
    } else {
        format!("{key}.{field}")
    }
}

/// Parses a YAML or JSON document of type `T` with key-path errors.
fn parse_doc<T: serde::de::DeserializeOwned>(src: &str, file: &str) -> Result<T, ConfigError> {
    let mut path = String::new();
    let raw: Result<T, _> = serde_saphyr::with_deserializer_from_str_with_options(
        src,
        serde_saphyr::Options {
            with_snippet: false,
            // Room for a full Internet table (1.25M routes, about 60M events);
            // the depth, alias and anchor limits stay at their defaults.
            budget: Some(serde_saphyr::Budget {
                max_reader_input_bytes: Some(1 << 30),
                max_events: 100_000_000,
                max_nodes: 50_000_000,
                max_total_scalar_bytes: 1 << 30,
                ..Default::default()
            }),
            ..Default::default()
        },
        |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                // `Spanned<T>` adds a `value` segment; operators never wrote it.
                path = e
                    .path()
                    .to_string()
                    .replace(".value[", "[")
                    .replace(".value.", ".");
                if let Some(p) = path.strip_suffix(".value") {
                    path = p.to_owned();
                }
                e.into_inner()
            })
        },
    );
    raw.map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        let mut message = e.to_string();
        // The parser repeats the position; keep only the reason.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        if let Some(rest) = message.strip_prefix("error: ") {
            message = rest
                .split_once(": ")
                .map_or(rest.to_owned(), |(_, m)| m.to_owned());
        }
        if let Some(t) = ["u8", "u16", "u32", "u64", "i64"]
            .iter()
            .find(|t| message == format!("invalid {t}"))
        {
            message = format!("expected a whole number ({t}), found something else");
        }
        let key = if path.is_empty() || path == "." {
            "<document>".to_owned()
        } else {
            path.clone()
        };
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            key,
            message,
            snippet: snippet(src, line, column),
        }
    })
}

/// Validates one route given as JSON (or YAML) against a running config: the
/// shape of a `routes[]` entry. Errors name the field (`nexthops[1].port`).
///
/// # Errors
/// [`ConfigError`] for any invalid field; nothing is applied.
pub fn parse_route(src: &str, config: &Config) -> Result<RouteSpec, ConfigError> {
    parse_route_with(src, config, &[])
}

/// Like [`parse_route`], with named groups defined beside the config (through
/// the API); those win over the config's groups of the same name.
///
/// # Errors
/// [`ConfigError`] for any invalid field; nothing is applied.
pub fn parse_route_with(
    src: &str,
    config: &Config,
    extra: &[GroupConfig],
) -> Result<RouteSpec, ConfigError> {
    let raw: RawRoute = parse_doc(src, "<request>")?;
    let cx = Ctx {
        file: "<request>",
        src,
    };
    let env = Env::of(&cx, config);
    let named: Vec<GroupConfig> = extra
        .iter()
        .chain(
            config
                .groups
                .iter()
                .filter(|g| g.name.is_some() && !extra.iter().any(|x| x.name == g.name)),
        )
        .cloned()
        .collect();
    env.route(&raw, "", &named)
}

/// Validates one named group given as JSON (or YAML): the shape of a
/// `nexthop-groups[]` entry. Errors name the field (`nexthops[0].via`).
///
/// # Errors
/// [`ConfigError`] for any invalid field; nothing is applied.
pub fn parse_named_group(src: &str, config: &Config) -> Result<GroupConfig, ConfigError> {
    let g: RawGroup = parse_doc(src, "<request>")?;
    let cx = Ctx {
        file: "<request>",
        src,
    };
    let env = Env::of(&cx, config);
    let name = g.name.value.trim().to_owned();
    if name.is_empty() || name.len() > 64 || name.contains(['/', '?', '#', ' ']) {
        return Err(cx.err(
            g.name.referenced,
            "name".to_owned(),
            format!(
                "group name '{name}' must be 1 to 64 characters without spaces, '/', '?' or '#'"
            ),
        ));
    }
    let nexthops = env.members(&g.nexthops, "nexthops", None)?;
    let params = GroupParams {
        group: &g.group,
        buckets: &g.buckets,
        idle_timer: &g.idle_timer,
        unbalanced_timer: &g.unbalanced_timer,
    };
    parse_group(&cx, &params, "", Some(name), nexthops)
}
