//! The API client: one HTTP/1.1 request per call, by hyper, over the API's
//! Unix socket or TCP, with a connect timeout and a response timeout.
//!
//! hyper reads the response (chunked or not) as bytes, and the body becomes
//! text only once it is whole, so a character split across chunks stays one
//! character.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long a connection may take before the router counts as unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the router may take to answer.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// A response: its status, its head as `name: value` lines (names in lower
/// case), and its body.
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// `METHOD path` to the API at `api` (a socket path starting with `/`, or
/// ADDR:PORT), with `body` as JSON and `token` as a bearer token. An error
/// that starts with "cannot reach" means the router did not answer at all.
pub fn request(
    api: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    token: Option<&str>,
) -> Result<Response, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("starting the client: {e}"))?;
    rt.block_on(async {
        let unreachable = |e: String| {
            format!("cannot reach the router API at {api}: {e} (set --api or ECMP_ROUTER_API)")
        };
        let host = if api.starts_with('/') {
            "localhost"
        } else {
            api
        };
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, host)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        let req = match token {
            Some(t) => req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}")),
            None => req,
        };
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("building the request: {e}"))?;
        if api.starts_with('/') {
            let s = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::UnixStream::connect(api))
                .await
                .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))?
                .map_err(|e| unreachable(e.to_string()))?;
            send(s, req, api).await
        } else {
            let s = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(api))
                .await
                .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))?
                .map_err(|e| unreachable(e.to_string()))?;
            send(s, req, api).await
        }
    })
}

async fn send<S>(stream: S, req: hyper::Request<Full<Bytes>>, api: &str) -> Result<Response, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("talking to {api}: {e}"))?;
    tokio::spawn(conn);
    let answer = async {
        let resp = tx
            .send_request(req)
            .await
            .map_err(|e| format!("sending to {api}: {e}"))?;
        let status = resp.status().as_u16();
        let head = resp
            .headers()
            .iter()
            .map(|(k, v)| format!("{}: {}\n", k.as_str(), v.to_str().unwrap_or("")))
            .collect();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading from {api}: {e}"))?
            .to_bytes();
        let body = match String::from_utf8(bytes.to_vec()) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Response { status, head, body })
    };
    tokio::time::timeout(RESPONSE_TIMEOUT, answer)
        .await
        .map_err(|_| format!("{api} did not answer within {RESPONSE_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A server that answers one request with `reply`, on a port of its own.
    fn serve_once(reply: &'static [u8]) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            s.write_all(reply).unwrap();
        });
        addr
    }

    #[test]
    fn a_character_split_across_chunks_stays_whole() {
        // "é" is C3 A9: the first chunk ends between its two bytes.
        let addr = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Next-Cursor: 254:10.0.0.0/8\r\n\r\n3\r\n[\"\xc3\r\n3\r\n\xa9\"]\r\n0\r\n\r\n",
        );
        let r = request(&addr, "GET", "/x", None, None).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "[\"é\"]");
        assert!(
            r.head.contains("x-next-cursor: 254:10.0.0.0/8\n"),
            "{}",
            r.head
        );
    }

    #[test]
    fn no_listener_is_unreachable() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = request(&addr, "GET", "/x", None, None).err().unwrap();
        assert!(e.starts_with("cannot reach the router API at"), "{e}");
    }
}
