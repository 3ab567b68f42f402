//! `llm-router usage`: what the gateway answered and what it cost, from the usage database.
//!
//! Reads `paths::usage_db()` directly, read-only, so it works the same whether or not the
//! daemon runs (WAL mode lets it read while the daemon writes). No database yet means zero
//! requests, not an error. Totals are over `--since` (default 7 days) up to now; the breakdown
//! groups the same records by target model, UTC day or virtual model.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::config::paths;
use crate::ui;
use crate::usage::{self, BreakdownRow, GroupBy, Totals, UsageReader};

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router usage                    # last 7 days by model\n  llm-router usage --since 24h --by mode\n  llm-router usage --since 2026-11-01 --by day\n  llm-router usage --json | jq .totals.saved_usd"
)]
pub struct Args {
    /// Start of the period: 30m, 24h, 7d, 4w (back from now), a UTC date (2026-11-01), or all.
    #[arg(long, value_name = "WHEN", default_value = "7d")]
    pub since: String,
    /// Group the breakdown by the model that answered, the UTC day, or the virtual model.
    #[arg(long, value_name = "GROUP", default_value = "model", value_parser = ["model", "day", "mode"])]
    pub by: String,
    /// Print JSON: `{"since", "since_unix_ms", "by", "db", "totals", "rows"}`.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` output.
#[derive(Debug, Serialize)]
struct Report {
    /// The start of the period as an RFC 3339 UTC timestamp.
    since: String,
    since_unix_ms: i64,
    by: GroupBy,
    db: String,
    totals: Totals,
    rows: Vec<BreakdownRow>,
}

pub fn run(args: &Args, _config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let now = usage::now_unix_ms();
    let since = usage::parse_since(&args.since, now)?;
    let by: GroupBy = args.by.parse()?;
    let db = paths::usage_db();
    let reader = UsageReader::open(&db)?;
    let totals = reader
        .totals(since)
        .with_context(|| format!("reading totals from {}", db.display()))?;
    let rows = reader
        .breakdown(since, by)
        .with_context(|| format!("reading the breakdown from {}", db.display()))?;
    let report = Report {
        since: usage::format_utc_ms(since),
        since_unix_ms: since,
        by,
        db: db.display().to_string(),
        totals,
        rows,
    };
    if args.json {
        ui::json(&report);
    } else {
        print_human(&report, &args.since, db.exists());
    }
    Ok(ExitCode::SUCCESS)
}

fn print_human(r: &Report, since_arg: &str, db_exists: bool) {
    let when = if r.since_unix_ms == 0 {
        "all time".to_string()
    } else {
        format!("since {} ({since_arg})", r.since.replace('T', " "))
    };
    let t = &r.totals;
    if t.requests == 0 {
        let hint = if db_exists {
            String::new()
        } else {
            format!(
                "; no usage database yet at {} (the gateway creates it on its first request)",
                r.db
            )
        };
        ui::out(format!("No requests recorded {when}{hint}."));
        return;
    }
    ui::out(format!("Usage {when}\n"));
    let mut pairs = vec![
        ("requests", t.requests.to_string()),
        (
            "errors",
            format!("{} ({})", t.errors, percent(t.errors, t.requests)),
        ),
        ("fallbacks", t.fallbacks.to_string()),
        (
            "tokens",
            format!(
                "{} in / {} out",
                ui::tokens(Some(t.prompt_tokens)),
                ui::tokens(Some(t.completion_tokens))
            ),
        ),
        ("spend", usd(t.spend_usd)),
        ("router spend", usd(t.router_spend_usd)),
        (
            "saved",
            format!(
                "{} vs always-strongest ({})",
                usd(t.saved_usd),
                usd(t.strongest_spend_usd)
            ),
        ),
    ];
    if t.unpriced > 0 {
        pairs.push((
            "unpriced",
            format!(
                "{} requests without a known price (not in spend)",
                t.unpriced
            ),
        ));
    }
    ui::out(ui::kv(&pairs));
    ui::out("");
    let rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            vec![
                row.key.clone(),
                row.requests.to_string(),
                row.errors.to_string(),
                ui::tokens(Some(row.prompt_tokens)),
                ui::tokens(Some(row.completion_tokens)),
                usd(row.spend_usd),
                usd(row.router_spend_usd),
                usd(row.saved_usd),
            ]
        })
        .collect();
    ui::out(ui::table(
        &[
            r.by.as_str(),
            "requests",
            "errors",
            "tokens in",
            "tokens out",
            "spend",
            "router",
            "saved",
        ],
        rows,
    ));
}

/// Dollars with enough digits that a cheap router's spend is not shown as `$0.00`.
fn usd(v: f64) -> String {
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    if a == 0.0 {
        "$0".into()
    } else if a < 0.0001 {
        format!("{sign}<$0.0001")
    } else if a < 10.0 {
        format!("{sign}${a:.4}")
    } else {
        format!("{sign}${a:.2}")
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money() {
        assert_eq!(usd(0.0), "$0");
        assert_eq!(usd(0.0123), "$0.0123");
        assert_eq!(usd(0.00001), "<$0.0001");
        assert_eq!(usd(-0.5), "-$0.5000");
        assert_eq!(usd(1234.567), "$1234.57");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "0%");
    }
}
