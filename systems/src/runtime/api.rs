//! The error shape every bundled system answers with: HTTP status, a short
//! code, and whether the operation certainly did not take effect.

use serde_json::{json, Value};

use super::http::Response;

/// An error answered to a client. `definite` is true when the operation
/// certainly did not take effect.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub definite: bool,
    pub leader: Option<String>,
    pub current: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, definite: bool, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            definite,
            leader: None,
            current: None,
        }
    }

    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid", true, msg)
    }

    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(404, "not-found", true, msg)
    }

    pub fn cas_mismatch(current: Value) -> ApiError {
        let mut e = ApiError::new(
            409,
            "cas-mismatch",
            true,
            format!("current value is {current}"),
        );
        e.current = Some(current);
        e
    }

    pub fn not_leader(leader: Option<String>) -> ApiError {
        let mut e = ApiError::new(
            421,
            "not-leader",
            true,
            match &leader {
                Some(l) => format!("not the leader; try {l}"),
                None => "not the leader; leader unknown".to_string(),
            },
        );
        e.leader = leader;
        e
    }

    /// The operation was not attempted (no leader, too few replicas reachable
    /// before anything was sent, ...).
    pub fn unavailable(msg: impl Into<String>) -> ApiError {
        ApiError::new(503, "unavailable", true, msg)
    }

    /// The operation may or may not have taken effect.
    pub fn timeout(msg: impl Into<String>) -> ApiError {
        ApiError::new(504, "timeout", false, msg)
    }

    pub fn indefinite(code: &str, msg: impl Into<String>) -> ApiError {
        ApiError::new(502, code, false, msg)
    }

    /// Reads never change state, so any read error is definite.
    pub fn for_read(mut self) -> ApiError {
        self.definite = true;
        self
    }

    pub fn to_json(&self) -> Value {
        json!({
            "error": self.code,
            "message": self.message,
            "definite": self.definite,
            "leader": self.leader,
            "current": self.current,
        })
    }

    /// Parses an error answer from another node.
    pub fn from_response(status: u16, body: &[u8]) -> ApiError {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        ApiError {
            status,
            code: v["error"].as_str().unwrap_or("internal").to_string(),
            message: v["message"]
                .as_str()
                .unwrap_or("bad error body")
                .to_string(),
            definite: v["definite"].as_bool().unwrap_or(false),
            leader: v["leader"].as_str().map(String::from),
            current: v.get("current").filter(|c| !c.is_null()).cloned(),
        }
    }
}

/// The HTTP answer for an error.
pub fn error_response(e: &ApiError) -> Response {
    Response::json(e.status, &e.to_json())
}
