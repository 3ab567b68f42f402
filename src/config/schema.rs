//! The configuration schema: every key, its default, and its validation.
//!
//! Invariants: `Config::default()` is a valid config except that `upstream.base_url` is empty
//! (the gateway then refuses to start and says to run `llm-router init`). Unknown keys are
//! rejected so typos are caught, with the key named in the error.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::ModelOverride;

/// The whole configuration file (`config.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub router: RouterConfig,
    pub log: LogConfig,
    pub usage: UsageConfig,
    /// Per-model overrides, keyed by the upstream model id.
    pub models: BTreeMap<String, ModelOverride>,
}

/// The gateway's own listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to bind. Loopback by default; anything else requires `api_key`.
    pub host: String,
    /// TCP port (env `PORT`, `LLM_ROUTER_SERVER_PORT`).
    pub port: u16,
    /// Router key clients must send (`Authorization: Bearer` or `x-api-key`); empty = open
    /// (env `ROUTER_API_KEY`).
    pub api_key: String,
    /// Extra values accepted in the `Host` header besides localhost/127.0.0.1/[::1] (with port).
    pub allowed_hosts: Vec<String>,
    /// Largest accepted request body in MiB (base64 images are large).
    pub body_limit_mb: u64,
    /// How long in-flight requests may take to finish on stop/SIGTERM, in seconds.
    pub drain_secs: u64,
    /// How long a request body may take to arrive once the gateway reads it, in seconds
    /// (a stalled or trickled upload gets 408).
    pub body_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8787,
            api_key: String::new(),
            allowed_hosts: Vec::new(),
            body_limit_mb: 32,
            drain_secs: 30,
            body_timeout_secs: 60,
        }
    }
}

/// The OpenAI-compatible relay requests are forwarded to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL, with or without a trailing `/v1` (env `UPSTREAM_BASE_URL`).
    pub base_url: String,
    /// The relay key (env `UPSTREAM_API_KEY`). Prefer `api_key_env`.
    pub api_key: String,
    /// Name of an environment variable holding the relay key, read at start.
    pub api_key_env: String,
    /// TCP+TLS connect timeout in ms.
    pub connect_timeout_ms: u64,
    /// Request sent → response headers (and, for streams, the first event) in ms
    /// (env `UPSTREAM_TIMEOUT_MS`).
    pub first_byte_timeout_ms: u64,
    /// Longest silence between two stream chunks in ms.
    pub idle_timeout_ms: u64,
    /// Whole non-streaming answer in ms. Streams have no total timeout.
    pub total_timeout_ms: u64,
    /// How often the upstream model list is refreshed, in seconds.
    pub models_refresh_secs: u64,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            api_key: String::new(),
            api_key_env: String::new(),
            connect_timeout_ms: 10_000,
            first_byte_timeout_ms: 120_000,
            idle_timeout_ms: 300_000,
            total_timeout_ms: 600_000,
            models_refresh_secs: 300,
        }
    }
}

/// Stage 1 (the router model) and fallback behaviour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouterConfig {
    /// Router model id; empty = the cheapest priced capable chat model.
    pub model: String,
    /// Timeout of the router call in ms; on expiry the fallback policy decides.
    pub timeout_ms: u64,
    /// `max_tokens` of the router call.
    pub max_tokens: u32,
    /// Answer attempts per request for virtual models (env `AUTO_MAX_ATTEMPTS`).
    pub max_attempts: u32,
    /// Longest `retry-after` honoured before a retry, in ms; longer ones re-route at once.
    pub retry_after_cap_ms: u64,
    /// Consecutive failures after which a model cools down.
    pub cooldown_failures: u32,
    /// How long a cooled-down model is skipped, in seconds.
    pub cooldown_secs: u64,
    /// Characters of conversation text the router sees (head and tail kept).
    pub conversation_budget_chars: usize,
    /// Model used when routing must be decided without the router and the policy has no
    /// better idea; empty = policy decides from tiers.
    pub default_model: String,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            model: String::new(),
            timeout_ms: 8_000,
            max_tokens: 300,
            max_attempts: 2,
            retry_after_cap_ms: 5_000,
            cooldown_failures: 3,
            cooldown_secs: 60,
            conversation_budget_chars: 6_000,
            default_model: String::new(),
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace`, or a full tracing filter.
    pub level: String,
    /// `auto` (JSON when stderr is not a terminal), `json` or `pretty`.
    pub format: String,
    /// When the daemon starts a new log file: `daily`, `hourly` or `never`.
    pub rotation: String,
    /// Log files kept when rotating (the current one included); 0 keeps them all.
    pub max_files: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "auto".into(),
            rotation: "daily".into(),
            max_files: 7,
        }
    }
}

/// Usage accounting (the SQLite store behind `llm-router usage`, `/admin` and `status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UsageConfig {
    /// Record every request (tokens, cost, decision) in the state dir's usage database.
    pub enabled: bool,
    /// Days of records kept; 0 keeps them forever.
    pub retention_days: u32,
    /// Ask the relay for usage on streams (`stream_options.include_usage`) so streamed
    /// requests are accounted too; the extra chunk is removed for clients that did not ask.
    pub stream_usage: bool,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 90,
            stream_usage: true,
        }
    }
}
