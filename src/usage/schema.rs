//! The database layout: the `requests` table (one row per [`UsageRecord`]), the `meta` table
//! holding the schema version, the migrations, and the record ↔ row mapping.
//!
//! Invariants: migrations are additive (new tables, columns, indexes) and each runs once, in
//! order, inside one transaction with its version bump, so a crash mid-migration leaves the
//! old version. A file written by a newer build (higher version) is used as it is: additive
//! changes keep every column this build knows. Unsigned counters are stored as SQLite
//! integers, saturated at `i64::MAX` on the way in and clamped on the way out.

use rusqlite::{Connection, Row, params};

use super::UsageRecord;

/// The version this build writes. Bump it with a new entry in [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = 1;

/// `MIGRATIONS[i]` takes a database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first layout.
    "CREATE TABLE IF NOT EXISTS requests (
        id INTEGER PRIMARY KEY,
        at_unix_ms INTEGER NOT NULL,
        request_id TEXT NOT NULL,
        model TEXT NOT NULL,
        mode TEXT,
        target TEXT NOT NULL,
        decision TEXT NOT NULL,
        effort TEXT,
        reason TEXT,
        attempts INTEGER NOT NULL,
        status INTEGER NOT NULL,
        stream INTEGER NOT NULL,
        router_ms INTEGER NOT NULL,
        answer_ms INTEGER NOT NULL,
        total_ms INTEGER NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        cost_usd REAL,
        router_model TEXT,
        router_prompt_tokens INTEGER,
        router_completion_tokens INTEGER,
        router_cost_usd REAL,
        strongest_model TEXT,
        strongest_cost_usd REAL
    );
    CREATE INDEX IF NOT EXISTS requests_at ON requests (at_unix_ms);",
];

/// The columns [`from_row`] reads, in order (after `id`).
pub const COLUMNS: &str = "at_unix_ms, request_id, model, mode, target, decision, effort, \
    reason, attempts, status, stream, router_ms, answer_ms, total_ms, prompt_tokens, \
    completion_tokens, cost_usd, router_model, router_prompt_tokens, router_completion_tokens, \
    router_cost_usd, strongest_model, strongest_cost_usd";

pub const INSERT: &str = "INSERT INTO requests (at_unix_ms, request_id, model, mode, target, \
    decision, effort, reason, attempts, status, stream, router_ms, answer_ms, total_ms, \
    prompt_tokens, completion_tokens, cost_usd, router_model, router_prompt_tokens, \
    router_completion_tokens, router_cost_usd, strongest_model, strongest_cost_usd) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
    ?19, ?20, ?21, ?22, ?23)";

/// Bring the database up to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
    )?;
    let mut version = current_version(conn)?;
    if version > SCHEMA_VERSION {
        tracing::debug!(
            version,
            ours = SCHEMA_VERSION,
            "usage database written by a newer llm-router; using the columns this build knows"
        );
    }
    while let Some(sql) = usize::try_from(version)
        .ok()
        .and_then(|v| MIGRATIONS.get(v))
    {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        version += 1;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![version.to_string()],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// The stored schema version (0 for a new file).
pub fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    let v: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    Ok(v.and_then(|s| s.trim().parse().ok()).unwrap_or(0))
}

/// Insert one record with a prepared (cached) statement.
pub fn insert(conn: &Connection, r: &UsageRecord) -> rusqlite::Result<()> {
    let mut st = conn.prepare_cached(INSERT)?;
    st.execute(params![
        r.at_unix_ms,
        r.request_id,
        r.model,
        r.mode,
        r.target,
        r.decision,
        r.effort,
        r.reason,
        r.attempts,
        r.status,
        r.stream,
        to_i64(r.router_ms),
        to_i64(r.answer_ms),
        to_i64(r.total_ms),
        r.prompt_tokens.map(to_i64),
        r.completion_tokens.map(to_i64),
        r.cost_usd,
        r.router_model,
        r.router_prompt_tokens.map(to_i64),
        r.router_completion_tokens.map(to_i64),
        r.router_cost_usd,
        r.strongest_model,
        r.strongest_cost_usd,
    ])?;
    Ok(())
}

/// Read a row selected with [`COLUMNS`].
pub fn from_row(row: &Row<'_>) -> rusqlite::Result<UsageRecord> {
    let opt_u64 = |i: usize| -> rusqlite::Result<Option<u64>> {
        Ok(row.get::<_, Option<i64>>(i)?.map(to_u64))
    };
    Ok(UsageRecord {
        at_unix_ms: row.get(0)?,
        request_id: row.get(1)?,
        model: row.get(2)?,
        mode: row.get(3)?,
        target: row.get(4)?,
        decision: row.get(5)?,
        effort: row.get(6)?,
        reason: row.get(7)?,
        attempts: u32::try_from(row.get::<_, i64>(8)?.max(0)).unwrap_or(u32::MAX),
        status: u16::try_from(row.get::<_, i64>(9)?.max(0)).unwrap_or(u16::MAX),
        stream: row.get(10)?,
        router_ms: to_u64(row.get(11)?),
        answer_ms: to_u64(row.get(12)?),
        total_ms: to_u64(row.get(13)?),
        prompt_tokens: opt_u64(14)?,
        completion_tokens: opt_u64(15)?,
        cost_usd: row.get(16)?,
        router_model: row.get(17)?,
        router_prompt_tokens: opt_u64(18)?,
        router_completion_tokens: opt_u64(19)?,
        router_cost_usd: row.get(20)?,
        strongest_model: row.get(21)?,
        strongest_cost_usd: row.get(22)?,
    })
}

pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}
