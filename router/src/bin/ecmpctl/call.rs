//! The typed calls: every answer of the API is read as its type from
//! `crate::types` (the server's own), and a refusal as the router's
//! `ErrorBody`. An answer that is not its type is an error that says so,
//! never a `?` in the output.

use crate::types::ErrorBody;
use serde::de::DeserializeOwned;

/// One HTTP/1.1 request; returns (status, body).
pub fn http(
    api: &str,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, String), String> {
    http_with_head(api, method, path, body).map(|(s, _, b)| (s, b))
}

/// One HTTP/1.1 request; returns (status, head with lower-case names, body).
fn http_with_head(
    api: &str,
    method: &str,
    path: &str,
    body: Option<String>,
) -> Result<(u16, String, String), String> {
    let token = crate::TOKEN.get().cloned().flatten();
    let r = crate::client::request(api, method, path, body, token.as_deref())?;
    Ok((r.status, r.head, r.body))
}

/// The router's refusal, as a line: its message, and the field it names.
fn refusal(text: &str) -> String {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(ErrorBody {
            error,
            field: Some(f),
        }) if !error.contains(&f) => format!("{error} [{f}]"),
        Ok(e) => e.error,
        Err(_) if text.trim().is_empty() => "request refused".to_owned(),
        Err(_) => text.trim().to_owned(),
    }
}

/// The answer to `method path` as the API type `T`.
fn parse<T: DeserializeOwned>(method: &str, path: &str, text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| {
        format!("the router's answer to {method} {path} is not what this ecmpctl reads ({e}): are the router and ecmpctl the same version?")
    })
}

/// Every page of the listing at `base` (`query` starts with `?` or is
/// empty), following `X-Next-Cursor`; `each` gets each page as it arrives.
pub fn pages<T: DeserializeOwned>(
    api: &str,
    base: &str,
    query: &str,
    mut each: impl FnMut(Vec<T>),
) -> Result<(), String> {
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.is_empty() { "?" } else { "&" };
        let path = match &cursor {
            None => format!("{base}{query}"),
            Some(c) => format!("{base}{query}{sep}after={}", crate::enc(c)),
        };
        let (status, head, text) = http_with_head(api, "GET", &path, None)?;
        if status >= 400 {
            return Err(refusal(&text));
        }
        each(parse("GET", &path, &text)?);
        cursor = head
            .lines()
            .find_map(|l| l.strip_prefix("x-next-cursor:"))
            .map(|c| c.trim().to_owned());
        if cursor.is_none() {
            return Ok(());
        }
    }
}

/// `method path` with a JSON `body`; the answer as the API type `T`.
pub fn call<T: DeserializeOwned>(
    api: &str,
    method: &str,
    path: &str,
    body: Option<&dyn erased::Body>,
) -> Result<T, String> {
    let body = body.map(erased::Body::json);
    let (status, text) = http(api, method, path, body)?;
    if status >= 400 {
        return Err(refusal(&text));
    }
    parse(method, path, &text)
}

/// A GET of the API type `T`.
pub fn get<T: DeserializeOwned>(api: &str, path: &str) -> Result<T, String> {
    call(api, "GET", path, None)
}

/// Request bodies of any serializable type, behind one reference.
mod erased {
    /// A body that serializes to JSON.
    pub trait Body {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Body for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
