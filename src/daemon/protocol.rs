//! The control protocol: one JSON request line, one JSON reply line, over a unix socket.
//!
//! Every reply carries [`PROTOCOL_VERSION`] and the daemon's version; a client that sees a
//! different protocol tells the user to restart the daemon instead of misreading it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::server::route_test::RouteTestRequest;

/// Bumped on any incompatible change of requests or replies.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request to the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Pid, version, uptime, paths, upstream, router model, stats, recent decisions.
    Status,
    /// Re-read the config file; the old config stays if the new one is bad.
    Reload,
    /// Route a request without answering it.
    RouteTest(RouteTestRequest),
    /// The live model table (joined facts) and the router model.
    Models,
    /// Drain and exit.
    Stop,
}

/// The daemon's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub protocol: u32,
    pub version: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub data: Value,
}

impl Reply {
    pub fn ok(data: Value) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ok: true,
            error: None,
            data,
        }
    }

    pub fn err(message: impl Into<String>) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ok: false,
            error: Some(message.into()),
            data: Value::Null,
        }
    }
}
