//! The read side: aggregates for the admin page, `status` and `llm-router usage`.
//!
//! Invariants:
//! - Read-only: the file is opened with `SQLITE_OPEN_READ_ONLY`, so a reader can never
//!   change or lock out the daemon's writes (WAL mode lets both run at once).
//! - A missing file, or one the writer has created but not yet given its tables, reads as
//!   "no data": zero totals and empty lists. The connection is opened lazily on each query
//!   until the file is there, so a long-lived reader (the daemon's admin page) picks up a
//!   database created after it.
//! - `UsageReader` is `Send + Sync` (the connection sits behind a mutex), so one can be
//!   shared; callers on an async runtime still run its queries with `spawn_blocking`.
//! - Money sums treat an unknown cost as contributing nothing; `saved_usd` only counts
//!   records whose answer cost, strongest-model cost and (when a router ran) router cost are
//!   all known, so an unpriced model never shows up as a saving.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};
use serde::{Deserialize, Serialize};

use super::{DECISION_FALLBACK, UsageError, UsageRecord, schema};

/// A reader waits this long for the writer's checkpoint lock before giving up on a query.
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// Totals over a period (`since_unix_ms` up to now).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub requests: u64,
    /// Requests answered with status >= 400.
    pub errors: u64,
    /// Requests the deterministic fallback policy decided (the router model failed).
    pub fallbacks: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// What the answers cost (records with a known cost).
    pub spend_usd: f64,
    /// What the router model's own calls cost.
    pub router_spend_usd: f64,
    pub router_prompt_tokens: u64,
    pub router_completion_tokens: u64,
    /// What the same tokens would have cost on the strongest candidate.
    pub strongest_spend_usd: f64,
    /// `strongest - (spend + router_spend)` over records where all of those are known.
    /// Negative when routing cost more than always using the strongest model.
    pub saved_usd: f64,
    /// Requests whose answer cost is unknown (no price or no token counts): the sums above
    /// leave them out.
    pub unpriced: u64,
}

/// How [`UsageReader::breakdown`] groups rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// By the model that answered (`target`).
    Model,
    /// By UTC day (`2026-11-01`).
    Day,
    /// By virtual model (`auto`, `auto-coding`, …); pass-through requests group under
    /// [`GroupBy::PASSTHROUGH_KEY`].
    Mode,
}

impl GroupBy {
    /// The key pass-through requests (no virtual model) get in a by-mode breakdown.
    pub const PASSTHROUGH_KEY: &str = "(passthrough)";

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Model => "model",
            GroupBy::Day => "day",
            GroupBy::Mode => "mode",
        }
    }

    /// The SQL expression grouped on, and the ORDER BY that reads best for it.
    fn sql(self) -> (&'static str, &'static str) {
        match self {
            GroupBy::Model => ("target", "requests DESC, key"),
            GroupBy::Day => (
                "strftime('%Y-%m-%d', at_unix_ms / 1000, 'unixepoch')",
                "key",
            ),
            GroupBy::Mode => ("COALESCE(mode, '(passthrough)')", "requests DESC, key"),
        }
    }
}

impl FromStr for GroupBy {
    type Err = UsageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "model" | "target" => Ok(GroupBy::Model),
            "day" => Ok(GroupBy::Day),
            "mode" => Ok(GroupBy::Mode),
            _ => Err(UsageError::BadGroupBy {
                value: s.to_string(),
            }),
        }
    }
}

impl std::fmt::Display for GroupBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One group of a breakdown.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BreakdownRow {
    /// The target model, the UTC day or the virtual model.
    pub key: String,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub spend_usd: f64,
    pub router_spend_usd: f64,
    pub saved_usd: f64,
}

/// Answer spend of one target model on one UTC day (the admin page's chart).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DaySpend {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub model: String,
    pub spend_usd: f64,
}

/// The aggregate columns shared by totals and breakdowns.
const AGGREGATES: &str = "COUNT(*) AS requests,
    COALESCE(SUM(status >= 400), 0),
    COALESCE(SUM(prompt_tokens), 0),
    COALESCE(SUM(completion_tokens), 0),
    COALESCE(SUM(cost_usd), 0.0),
    COALESCE(SUM(router_cost_usd), 0.0),
    COALESCE(SUM(CASE WHEN cost_usd IS NOT NULL AND strongest_cost_usd IS NOT NULL
                       AND (router_model IS NULL OR router_cost_usd IS NOT NULL)
                  THEN strongest_cost_usd - cost_usd - COALESCE(router_cost_usd, 0.0) END), 0.0)";

/// Read-only access to the usage database.
#[derive(Debug)]
pub struct UsageReader {
    path: PathBuf,
    /// `None` until the file exists and has its tables.
    conn: Mutex<Option<Connection>>,
}

impl UsageReader {
    /// Open `path` read-only. A missing file is not an error: queries return no data until
    /// the daemon creates it. A file that exists but cannot be opened (permissions, not a
    /// database) is.
    pub fn open(path: &Path) -> Result<UsageReader, UsageError> {
        let reader = UsageReader {
            path: path.to_path_buf(),
            conn: Mutex::new(None),
        };
        {
            let mut guard = reader.conn.lock().unwrap_or_else(PoisonError::into_inner);
            *guard = reader.try_open()?;
        }
        Ok(reader)
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn totals(&self, since_unix_ms: i64) -> Result<Totals, UsageError> {
        let sql = format!(
            "SELECT {AGGREGATES},
                COALESCE(SUM(decision = ?2), 0),
                COALESCE(SUM(router_prompt_tokens), 0),
                COALESCE(SUM(router_completion_tokens), 0),
                COALESCE(SUM(strongest_cost_usd), 0.0),
                COALESCE(SUM(cost_usd IS NULL), 0)
             FROM requests WHERE at_unix_ms >= ?1"
        );
        self.with_conn(Totals::default(), |c| {
            c.query_row(&sql, params![since_unix_ms, DECISION_FALLBACK], |r| {
                Ok(Totals {
                    requests: u(r.get(0)?),
                    errors: u(r.get(1)?),
                    prompt_tokens: u(r.get(2)?),
                    completion_tokens: u(r.get(3)?),
                    spend_usd: r.get(4)?,
                    router_spend_usd: r.get(5)?,
                    saved_usd: r.get(6)?,
                    fallbacks: u(r.get(7)?),
                    router_prompt_tokens: u(r.get(8)?),
                    router_completion_tokens: u(r.get(9)?),
                    strongest_spend_usd: r.get(10)?,
                    unpriced: u(r.get(11)?),
                })
            })
        })
    }

    /// Totals per target model, UTC day or virtual model since `since_unix_ms`.
    pub fn breakdown(
        &self,
        since_unix_ms: i64,
        by: GroupBy,
    ) -> Result<Vec<BreakdownRow>, UsageError> {
        let (key, order) = by.sql();
        let sql = format!(
            "SELECT {key} AS key, {AGGREGATES}
             FROM requests WHERE at_unix_ms >= ?1
             GROUP BY key ORDER BY {order}"
        );
        self.with_conn(Vec::new(), |c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([since_unix_ms], |r| {
                Ok(BreakdownRow {
                    key: r.get(0)?,
                    requests: u(r.get(1)?),
                    errors: u(r.get(2)?),
                    prompt_tokens: u(r.get(3)?),
                    completion_tokens: u(r.get(4)?),
                    spend_usd: r.get(5)?,
                    router_spend_usd: r.get(6)?,
                    saved_usd: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The newest `limit` records, newest first.
    pub fn recent(&self, limit: usize) -> Result<Vec<UsageRecord>, UsageError> {
        let sql = format!(
            "SELECT {} FROM requests ORDER BY at_unix_ms DESC, id DESC LIMIT ?1",
            schema::COLUMNS
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(Vec::new(), |c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map([limit], schema::from_row)?;
            rows.collect()
        })
    }

    /// Answer spend per UTC day per target model since `since_unix_ms`, ordered by day then
    /// model. Days without requests are absent (the chart fills gaps).
    pub fn spend_per_day(&self, since_unix_ms: i64) -> Result<Vec<DaySpend>, UsageError> {
        let sql = "SELECT strftime('%Y-%m-%d', at_unix_ms / 1000, 'unixepoch') AS day, target,
                COALESCE(SUM(cost_usd), 0.0)
             FROM requests WHERE at_unix_ms >= ?1
             GROUP BY day, target ORDER BY day, target";
        self.with_conn(Vec::new(), |c| {
            let mut st = c.prepare(sql)?;
            let rows = st.query_map([since_unix_ms], |r| {
                Ok(DaySpend {
                    day: r.get(0)?,
                    model: r.get(1)?,
                    spend_usd: r.get(2)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Run `f` on the connection, opening it first if the file has appeared; `empty` when
    /// there is still nothing to read.
    fn with_conn<T>(
        &self,
        empty: T,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, UsageError> {
        // A panic while holding the lock cannot leave a connection half-changed: queries are
        // read-only, so a poisoned lock is safe to reuse.
        let mut guard = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            *guard = self.try_open()?;
        }
        match guard.as_ref() {
            None => Ok(empty),
            Some(c) => f(c).map_err(|source| UsageError::Query {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// A read-only connection, or `None` when the file or its tables do not exist yet.
    fn try_open(&self) -> Result<Option<Connection>, UsageError> {
        if !self.path.exists() {
            return Ok(None);
        }
        let open_err = |source| UsageError::Open {
            path: self.path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(READ_BUSY_TIMEOUT).map_err(open_err)?;
        let has_table: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'requests')",
                [],
                |r| r.get(0),
            )
            .map_err(open_err)?;
        Ok(has_table.then_some(conn))
    }
}

/// SQLite sums are signed; counts and token sums are never negative in practice.
fn u(v: i64) -> u64 {
    schema::to_u64(v)
}
