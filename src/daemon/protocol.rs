//! The control protocol: one JSON request line, one JSON reply line, over a unix socket.
//!
//! This module owns the wire types, and only them: the requests, the envelope, and one
//! reply struct per request, shared by the daemon (`control.rs`, filled in by `reply.rs`) and
//! the CLI (`client.rs` and the commands), so neither side reads JSON by string path. It
//! depends on nothing but serde, so it can be read (and changed) without knowing the
//! gateway: the daemon converts its state into these types, the CLI prints them.
//!
//! Every reply carries [`PROTOCOL_VERSION`] and the daemon's version; a client that sees a
//! different protocol tells the user to restart the daemon instead of misreading it. Reply
//! fields a newer daemon may add are ignored by older clients (no `deny_unknown_fields`);
//! fields the CLI can live without default, so a reply never fails on a missing count.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Bumped on any incompatible change of requests or replies.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request to the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Pid, version, uptime, paths, upstream, router model, stats, recent decisions:
    /// answered with [`Status`].
    Status,
    /// Re-read the config file; the old config stays if the new one is bad: [`Reloaded`].
    Reload,
    /// Route a request without answering it: [`RouteDecision`].
    RouteTest(RouteTest),
    /// The live model table (joined facts) and the router model: [`Models`].
    Models,
    /// Drain and exit: [`Stopping`].
    Stop,
}

/// What `route-test` asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteTest {
    /// `auto`, `auto-coding` or `auto-longtext`.
    pub mode: String,
    /// The chat body to route (at least `messages`; `tools` and images count). A chat body
    /// is the client's document, so it travels as JSON, not as a type of ours.
    pub body: Value,
}

impl RouteTest {
    /// A one-message request, optionally with an image URL and a dummy tool.
    pub fn from_prompt(mode: &str, prompt: &str, image: Option<&str>, tools: bool) -> Self {
        let content = match image {
            Some(url) => serde_json::json!([
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": url}}
            ]),
            None => Value::String(prompt.to_string()),
        };
        let mut body = serde_json::json!({
            "model": mode,
            "messages": [{"role": "user", "content": content}],
        });
        if tools && let Value::Object(o) = &mut body {
            o.insert(
                "tools".into(),
                serde_json::json!([{"type": "function", "function": {"name": "example_tool",
                    "description": "a tool offered by route-test --tools",
                    "parameters": {"type": "object", "properties": {}}}}]),
            );
        }
        Self {
            mode: mode.to_string(),
            body,
        }
    }
}

/// The daemon's answer: an envelope around one of the reply types below.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub protocol: u32,
    pub version: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    /// The reply for the request (one of the types below), `null` on error. Kept as JSON in
    /// the envelope so the protocol version can be checked before its shape is trusted.
    #[serde(default)]
    pub data: Value,
}

/// The part of a reply a client reads first: a different protocol means the rest may not
/// have the shape this binary knows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub protocol: u32,
    #[serde(default)]
    pub version: Option<String>,
}

impl Reply {
    /// A successful reply carrying `data`.
    pub fn ok(data: &impl Serialize) -> Self {
        match serde_json::to_value(data) {
            Ok(data) => Self {
                protocol: PROTOCOL_VERSION,
                version: env!("CARGO_PKG_VERSION").to_string(),
                ok: true,
                error: None,
                data,
            },
            Err(e) => Self::err(format!("cannot serialise the reply: {e}")),
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

/// The `status` reply; `status --json` prints it (with `process` filled in by the CLI).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub running: bool,
    pub pid: u32,
    pub version: String,
    pub protocol: u32,
    pub uptime_secs: u64,
    /// Unix seconds.
    pub started_at: u64,
    /// What clients use: `http://HOST:PORT/v1`.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub config_path: PathBuf,
    /// Empty when the daemon logs to stderr (the foreground).
    pub log_path: PathBuf,
    pub socket: PathBuf,
    pub lock_path: PathBuf,
    pub demo: bool,
    pub draining: bool,
    pub drain_secs: u64,
    pub upstream: UpstreamStatus,
    /// The router model the engine would use now, else the configured one.
    pub router_model: Option<String>,
    /// How many models the relay lists.
    pub models: usize,
    pub stats: Stats,
    /// Models with a cooldown record (cooling down or not).
    #[serde(alias = "health")]
    pub cooldowns: Vec<ModelCooldown>,
    /// Today's and the last 7 days' totals; `None` when usage accounting is off.
    pub usage: Option<Usage>,
    /// CPU and memory of the daemon process, sampled by the CLI (the daemon sends `null`).
    #[serde(default)]
    pub process: Option<ProcessUsage>,
}

/// The relay as the daemon sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamStatus {
    /// Without credentials.
    pub base_url: String,
    pub reachable: bool,
    /// The last model-list refresh error.
    pub error: Option<String>,
    pub last_refresh_unix: Option<u64>,
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub fallbacks: u64,
    pub in_flight: u64,
    pub per_target: BTreeMap<String, u64>,
    /// Newest first.
    pub recent: Vec<RecentDecision>,
}

/// One recent routing decision.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecentDecision {
    pub at_unix: u64,
    pub request_id: String,
    /// What the client asked for (`auto`, or a real id).
    pub model: String,
    pub target: String,
    /// `router`, `fallback-policy` or `passthrough`.
    pub decision: String,
    pub effort: Option<String>,
    pub reason: String,
    pub router_model: Option<String>,
    pub router_ms: u64,
    pub attempts: u32,
    pub status: u16,
}

/// One model's cooldown record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ModelCooldown {
    pub model: String,
    pub consecutive_failures: u32,
    /// Set while the model is skipped.
    pub cooldown_remaining_secs: Option<u64>,
    pub failures: u64,
    pub successes: u64,
}

/// The usage database's totals, or why they could not be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub db: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub today: Option<Totals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_7_days: Option<Totals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Totals over a period (the usage reader's `Totals`, on the wire).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub fallbacks: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub spend_usd: f64,
    pub router_spend_usd: f64,
    pub router_prompt_tokens: u64,
    pub router_completion_tokens: u64,
    pub strongest_spend_usd: f64,
    pub saved_usd: f64,
    pub unpriced: u64,
}

/// CPU and memory of a process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessUsage {
    /// Percent of one core.
    pub cpu_percent: f32,
    pub memory_bytes: u64,
}

/// The `reload` reply (a refused reload is an error reply, never this).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reloaded {
    pub reloaded: bool,
    pub config_path: Option<PathBuf>,
    /// Settings that only a restart applies.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Whether the relay client (and its open connections) was kept: it is, unless the
    /// upstream settings changed.
    #[serde(default)]
    pub relay_client_kept: bool,
}

/// The `models` reply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Models {
    /// The joined model facts, one JSON object per model, as the catalog renders them: the
    /// CLI shows them (and `models --json` prints them) without reinterpreting them.
    pub models: Vec<Value>,
    pub router_model: Option<String>,
    pub fetched_unix: Option<u64>,
    /// The last refresh error (the list may then be stale).
    pub error: Option<String>,
}

/// The `stop` reply; the drain starts after it is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopping {
    pub stopping: bool,
    pub pid: u32,
    pub drain_secs: u64,
    pub in_flight: u64,
}

/// The `route_test` reply: the engine's decision as the wire carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteDecision {
    pub mode: String,
    pub target: String,
    /// Effort the decision asked for.
    pub effort: Option<String>,
    /// Effort actually sent to the target.
    pub applied_effort: Option<String>,
    pub task_type: Option<String>,
    pub difficulty: Option<String>,
    pub confidence: Option<f64>,
    pub reason: String,
    /// `router`, `fallback-policy` or `passthrough`.
    pub source: String,
    pub router_model: Option<String>,
    pub router_ms: u64,
    pub router_prompt_tokens: Option<u64>,
    pub router_completion_tokens: Option<u64>,
    pub router_cost: Option<f64>,
    /// Why the router did not decide, when the policy did.
    pub router_error: Option<String>,
    pub candidates: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_wire_form() {
        let cases = [
            (Request::Status, r#"{"cmd":"status"}"#),
            (Request::Reload, r#"{"cmd":"reload"}"#),
            (Request::Models, r#"{"cmd":"models"}"#),
            (Request::Stop, r#"{"cmd":"stop"}"#),
        ];
        for (req, wire) in cases {
            assert_eq!(serde_json::to_string(&req).unwrap(), wire);
            assert_eq!(serde_json::from_str::<Request>(wire).unwrap(), req);
        }
        let rt = Request::RouteTest(RouteTest::from_prompt("auto-coding", "fix it", None, true));
        let v = serde_json::to_value(&rt).unwrap();
        assert_eq!(v["cmd"], "route_test");
        assert_eq!(v["mode"], "auto-coding");
        assert_eq!(v["body"]["messages"][0]["content"], "fix it");
        assert_eq!(v["body"]["tools"][0]["function"]["name"], "example_tool");
        assert_eq!(serde_json::from_value::<Request>(v).unwrap(), rt);
    }

    #[test]
    fn an_image_prompt_is_a_two_part_message() {
        let rt = RouteTest::from_prompt("auto", "what is this", Some("https://x/y.png"), false);
        let content = &rt.body["messages"][0]["content"];
        assert_eq!(content[0]["text"], "what is this");
        assert_eq!(content[1]["image_url"]["url"], "https://x/y.png");
        assert!(rt.body.get("tools").is_none());
    }

    #[test]
    fn usage_shows_totals_or_the_error_not_both_as_nulls() {
        let ok = Usage {
            db: "/u.sqlite3".into(),
            today: Some(Totals::default()),
            last_7_days: Some(Totals::default()),
            error: None,
        };
        let v = serde_json::to_value(&ok).unwrap();
        assert!(
            v.get("error").is_none() && v["today"]["requests"] == 0,
            "{v}"
        );
        let failed = Usage {
            db: "/u.sqlite3".into(),
            today: None,
            last_7_days: None,
            error: Some("locked".into()),
        };
        let v = serde_json::to_value(&failed).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"db": "/u.sqlite3", "error": "locked"})
        );
        assert_eq!(serde_json::from_value::<Usage>(v).unwrap(), failed);
    }
}
