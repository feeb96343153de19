//! The harness's own HTTP client (reqwest, plain HTTP/1.1, no proxy), used
//! by the clients of the `faultline-http` protocol and by the readiness and
//! leader probes. It shares no code with the systems' own client, so a
//! protocol bug on both ends cannot hide itself.
//!
//! Errors say whether the request may have reached the node: a connect
//! error (nothing was sent) is [`HttpError::Connect`]; a timeout or a
//! connection lost mid-exchange may have taken effect.

use serde_json::Value;
use std::time::Duration;

/// Why an exchange did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The connection could not be made: the request was never sent.
    #[error("connect {addr}: {msg}")]
    Connect { addr: String, msg: String },
    /// The connection broke after the request may have been sent.
    #[error("{addr}: {msg}")]
    Io { addr: String, msg: String },
    /// No answer in time.
    #[error("{addr}: timed out")]
    Timeout { addr: String },
}

/// A pooled HTTP client. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

/// The innermost error message (reqwest wraps hyper wraps io).
fn root_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

impl Http {
    pub fn new() -> Http {
        let client = reqwest::Client::builder()
            // Never send node traffic anywhere but the node (no
            // HTTP_PROXY from the environment).
            .no_proxy()
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(2))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("build the HTTP client");
        Http { client }
    }

    /// One exchange with `addr` (`HOST:PORT`): the status and body, or why
    /// there is none. `body` is sent as JSON when given.
    pub async fn request(
        &self,
        addr: &str,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), HttpError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| HttpError::Io {
            addr: addr.to_string(),
            msg: format!("bad method: {e}"),
        })?;
        let url = format!("http://{addr}{path}");
        let mut req = self.client.request(method, &url).timeout(timeout);
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b);
        }
        let classify = |e: reqwest::Error| {
            if e.is_connect() {
                HttpError::Connect {
                    addr: addr.to_string(),
                    msg: root_message(&e),
                }
            } else if e.is_timeout() {
                HttpError::Timeout {
                    addr: addr.to_string(),
                }
            } else {
                HttpError::Io {
                    addr: addr.to_string(),
                    msg: root_message(&e),
                }
            }
        };
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(classify)?;
        Ok((status, bytes.to_vec()))
    }

    /// `GET path`; the JSON document when the node answers 200 with JSON
    /// within `timeout`.
    pub async fn get_json(&self, addr: &str, path: &str, timeout: Duration) -> Option<Value> {
        match self.request(addr, "GET", path, None, timeout).await {
            Ok((200, body)) => serde_json::from_slice(&body).ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot HTTP server on loopback answering `answer` to the first
    /// request (or holding the connection open when `answer` is None).
    fn one_shot(answer: Option<&'static str>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            buf.truncate(n);
            match answer {
                Some(a) => s.write_all(a.as_bytes()).unwrap(),
                None => std::thread::sleep(Duration::from_millis(800)),
            }
            buf
        });
        (addr, h)
    }

    #[tokio::test]
    async fn answers_refusals_and_timeouts_are_told_apart() {
        let http = Http::new();
        let (addr, h) = one_shot(Some(
            "HTTP/1.1 409 Conflict\r\ncontent-length: 18\r\nconnection: close\r\n\r\n{\"error\":\"locked\"}",
        ));
        let r = http
            .request(
                &addr,
                "POST",
                "/x",
                Some(b"{}".to_vec()),
                Duration::from_secs(2),
            )
            .await;
        assert_eq!(r.unwrap().0, 409);
        let sent = String::from_utf8(h.join().unwrap()).unwrap();
        assert!(sent.starts_with("POST /x HTTP/1.1"), "{sent}");
        assert!(sent
            .to_lowercase()
            .contains("content-type: application/json"));

        // A port nobody listens on: nothing was sent.
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let dead = free.local_addr().unwrap().to_string();
        drop(free);
        let r = http
            .request(&dead, "GET", "/", None, Duration::from_secs(1))
            .await;
        assert!(matches!(r, Err(HttpError::Connect { .. })), "{r:?}");

        // A node that accepts and never answers: a timeout.
        let (addr, h) = one_shot(None);
        let r = http
            .request(&addr, "GET", "/", None, Duration::from_millis(200))
            .await;
        assert!(matches!(r, Err(HttpError::Timeout { .. })), "{r:?}");
        h.join().unwrap();
    }
}
