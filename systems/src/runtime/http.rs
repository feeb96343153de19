//! A small HTTP/1.1 server and a pooled client, enough for JSON APIs between
//! our own nodes and clients (keep-alive, `Content-Length` bodies only).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// Largest request or response body accepted.
const MAX_BODY: usize = 256 * 1024 * 1024;

/// One parsed HTTP request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path without the query string, still percent-encoded.
    pub path: String,
    pub query: String,
    /// Header names are lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// The first header with this (lower-case) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP response; the body is sent as `application/json`.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }
}

/// Handles one request.
pub type Handler = Arc<dyn Fn(Request) -> BoxFuture<Response> + Send + Sync>;

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        421 => "Misdirected Request",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

/// Serves HTTP on `listener` forever, one task per connection.
pub async fn serve(listener: TcpListener, handler: Handler) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let handler = handler.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    if let Err(e) = serve_conn(stream, handler).await {
                        tracing::trace!("connection closed: {e}");
                    }
                });
            }
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_conn(stream: TcpStream, handler: Handler) -> io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    loop {
        let Some(req) = read_request(&mut r).await? else {
            return Ok(());
        };
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let resp = handler(req).await;
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n",
            resp.status,
            reason(resp.status),
            resp.body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )
        .into_bytes();
        out.extend_from_slice(&resp.body);
        w.write_all(&out).await?;
        if close {
            return Ok(());
        }
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Reads header lines up to the blank line; returns (first line, headers).
async fn read_head(
    r: &mut BufReader<OwnedReadHalf>,
) -> io::Result<Option<(String, Vec<(String, String)>)>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let first = line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "eof in headers",
            ));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        if headers.len() > 100 {
            return Err(bad("too many headers"));
        }
    }
    Ok(Some((first, headers)))
}

async fn read_body(
    r: &mut BufReader<OwnedReadHalf>,
    headers: &[(String, String)],
) -> io::Result<Vec<u8>> {
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse::<usize>().map_err(|_| bad("bad content-length")))
        .transpose()?
        .unwrap_or(0);
    if len > MAX_BODY {
        return Err(bad("body too large"));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(body)
}

async fn read_request(r: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<Request>> {
    let Some((first, headers)) = read_head(r).await? else {
        return Ok(None);
    };
    let mut parts = first.split_whitespace();
    let method = parts.next().ok_or_else(|| bad("no method"))?.to_string();
    let target = parts.next().ok_or_else(|| bad("no target"))?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.to_string(), String::new()),
    };
    let body = read_body(r, &headers).await?;
    Ok(Some(Request {
        method,
        path,
        query,
        headers,
        body,
    }))
}

/// Decodes `%XX` escapes in a path segment.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be made: nothing was sent.
    #[error("connect to {addr}: {msg}")]
    Connect { addr: String, msg: String },
    /// The request may have been (partly) sent; the outcome is unknown.
    #[error("request to {addr}: {msg}")]
    Io { addr: String, msg: String },
    /// No response within the deadline; the outcome is unknown.
    #[error("request to {addr} timed out")]
    Timeout { addr: String },
}

impl ClientError {
    /// True when the request was certainly not delivered.
    pub fn not_sent(&self) -> bool {
        matches!(self, ClientError::Connect { .. })
    }
}

struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

/// True when an idle pooled connection has nothing to read (no EOF, no
/// stray bytes), i.e. it can carry a new request.
async fn idle_and_open(c: &mut Conn) -> bool {
    if !c.r.buffer().is_empty() {
        return false;
    }
    let mut b = [0u8; 1];
    // `timeout` polls the peek once before looking at the (zero) deadline.
    tokio::time::timeout(Duration::ZERO, c.r.get_mut().peek(&mut b))
        .await
        .is_err()
}

/// An HTTP client with a keep-alive connection pool per address.
#[derive(Default)]
pub struct HttpClient {
    pool: Mutex<HashMap<String, Vec<Conn>>>,
}

const MAX_IDLE_PER_ADDR: usize = 64;

impl HttpClient {
    pub fn new() -> Arc<HttpClient> {
        Arc::new(HttpClient::default())
    }

    /// One client (and connection pool) for the whole process.
    pub fn shared() -> Arc<HttpClient> {
        static C: std::sync::OnceLock<Arc<HttpClient>> = std::sync::OnceLock::new();
        C.get_or_init(HttpClient::new).clone()
    }

    fn take(&self, addr: &str) -> Option<Conn> {
        self.pool
            .lock()
            .unwrap()
            .get_mut(addr)
            .and_then(|v| v.pop())
    }

    fn give(&self, addr: &str, conn: Conn) {
        let mut pool = self.pool.lock().unwrap();
        let v = pool.entry(addr.to_string()).or_default();
        if v.len() < MAX_IDLE_PER_ADDR {
            v.push(conn);
        }
    }

    /// Drops every idle connection to `addr`.
    pub fn forget(&self, addr: &str) {
        self.pool.lock().unwrap().remove(addr);
    }

    /// Sends one request and returns (status, body). A failure on a pooled
    /// connection is reported as [`ClientError::Io`] (outcome unknown).
    pub async fn request(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        match tokio::time::timeout(
            timeout,
            self.request_inner(addr, method, path, headers, body),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(ClientError::Timeout {
                addr: addr.to_string(),
            }),
        }
    }

    /// Like [`request`](Self::request) but retries once on a fresh connection
    /// when a pooled one fails. Only for idempotent requests.
    pub async fn request_idempotent(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        body: &[u8],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let start = tokio::time::Instant::now();
        match self.request(addr, method, path, &[], body, timeout).await {
            Err(ClientError::Io { .. }) => {
                self.forget(addr);
                let left = timeout.saturating_sub(start.elapsed());
                self.request(addr, method, path, &[], body, left).await
            }
            r => r,
        }
    }

    async fn request_inner(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ClientError> {
        // A pooled connection the peer has closed (e.g. it was killed and
        // restarted) would turn a request that was never read into an
        // indefinite error: skip those.
        let pooled = loop {
            match self.take(addr) {
                Some(mut c) => {
                    if idle_and_open(&mut c).await {
                        break Some(c);
                    }
                }
                None => break None,
            }
        };
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(addr)
                    .await
                    .map_err(|e| ClientError::Connect {
                        addr: addr.to_string(),
                        msg: e.to_string(),
                    })?;
                let _ = s.set_nodelay(true);
                let (r, w) = s.into_split();
                Conn {
                    r: BufReader::new(r),
                    w,
                }
            }
        };
        let io_err = |e: io::Error| ClientError::Io {
            addr: addr.to_string(),
            msg: e.to_string(),
        };
        let mut out = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        conn.w.write_all(&bytes).await.map_err(io_err)?;
        let (first, headers) = read_head(&mut conn.r)
            .await
            .map_err(io_err)?
            .ok_or_else(|| {
                io_err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed before response",
                ))
            })?;
        let status = first
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| io_err(bad(format!("bad status line {first:?}"))))?;
        let body = read_body(&mut conn.r, &headers).await.map_err(io_err)?;
        let close = headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close"));
        if !close {
            self.give(addr, conn);
        }
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
    }

    #[tokio::test]
    async fn round_trip_with_keep_alive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handler: Handler = Arc::new(|req: Request| {
            Box::pin(async move {
                Response {
                    status: 200,
                    body: [
                        req.method.as_bytes(),
                        b" ",
                        req.path.as_bytes(),
                        b" ",
                        &req.body,
                    ]
                    .concat(),
                }
            })
        });
        tokio::spawn(serve(listener, handler));
        let client = HttpClient::new();
        for i in 0..3 {
            let body = format!("b{i}");
            let (status, got) = client
                .request(
                    &addr,
                    "POST",
                    "/x",
                    &[],
                    body.as_bytes(),
                    Duration::from_secs(2),
                )
                .await
                .unwrap();
            assert_eq!(status, 200);
            assert_eq!(String::from_utf8(got).unwrap(), format!("POST /x b{i}"));
        }
        assert_eq!(client.pool.lock().unwrap()[&addr].len(), 1);
    }
}
