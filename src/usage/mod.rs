//! Usage accounting: one row per finished request in an embedded SQLite database
//! (`paths::usage_db()`, bundled SQLite, no server).
//!
//! Two sides that share nothing but the file:
//! - the **writer** ([`start`] → [`UsageSink`] + [`UsageWriterHandle`]): the gateway hands each
//!   finished request to [`UsageSink::record`], which only `try_send`s into a bounded channel.
//!   A dedicated `std::thread` (rusqlite is blocking; SQLite never runs on the async runtime)
//!   writes batches in one transaction each. A full channel, a full disk or a locked database
//!   drops records and counts them ([`UsageSink::dropped`]); it never blocks or fails a request.
//! - the **reader** ([`UsageReader`]): the admin page, `status` and `llm-router usage` open the
//!   file read-only and aggregate with SQL. WAL mode lets them read while the daemon writes. A
//!   missing file is "no data yet", not an error, so the CLI works before the first request.
//!
//! Invariants: the database file is 0600 (its directory 0700 when this module creates it);
//! schema changes are additive migrations recorded in the `meta` table, so an older reader
//! still reads a newer file; no prompt or answer text is ever stored (only the router's short
//! `reason`). This module prints nothing and reaches no other module of the crate.

mod reader;
mod schema;
pub(crate) mod time;
mod writer;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use reader::{BreakdownRow, DaySpend, GroupBy, Totals, UsageReader};
pub use time::{format_utc_ms, now_unix_ms, parse_since, utc_day_start};
pub use writer::{UsageSink, UsageWriterHandle, start};

/// One finished request. Written by the gateway off the hot path.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// When the request finished (unix milliseconds, UTC).
    pub at_unix_ms: i64,
    pub request_id: String,
    /// What the client asked for (`auto`, `auto-coding`, or a real model id).
    pub model: String,
    /// The virtual model (`auto`, `auto-coding`, …); `None` for pass-through.
    pub mode: Option<String>,
    /// The model that answered (or was tried last).
    pub target: String,
    /// `router` | `fallback-policy` | `passthrough`.
    pub decision: String,
    pub effort: Option<String>,
    /// The router's one-line reason (never prompt text).
    pub reason: Option<String>,
    pub attempts: u32,
    /// The HTTP status the client got.
    pub status: u16,
    pub stream: bool,
    pub router_ms: u64,
    pub answer_ms: u64,
    pub total_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// The answer's cost from catalog prices; `None` when the price or tokens are unknown.
    pub cost_usd: Option<f64>,
    pub router_model: Option<String>,
    pub router_prompt_tokens: Option<u64>,
    pub router_completion_tokens: Option<u64>,
    pub router_cost_usd: Option<f64>,
    /// The strongest candidate, and what the same tokens would have cost on it.
    pub strongest_model: Option<String>,
    pub strongest_cost_usd: Option<f64>,
}

/// Decision values with a meaning in the aggregates.
pub const DECISION_ROUTER: &str = "router";
pub const DECISION_FALLBACK: &str = "fallback-policy";
pub const DECISION_PASSTHROUGH: &str = "passthrough";

/// Everything that can go wrong opening or querying the usage database. Each message names
/// the file and, where there is one, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("cannot create the usage database directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot create the usage database {path}: {source}")]
    CreateFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot open the usage database {path}: {source} (check its permissions and free disk space, or move it aside to start a new one)"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot query the usage database {path}: {source}")]
    Query {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot start the usage writer thread: {0}")]
    Thread(std::io::Error),
    #[error(
        "invalid --since value {value:?}: use a duration like 30m, 24h, 7d, 4w, a UTC date like 2026-11-01, or all"
    )]
    BadSince { value: String },
    #[error("invalid grouping {value:?}: use model, day or mode")]
    BadGroupBy { value: String },
}
