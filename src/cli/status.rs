//! `llm-router status`: is the daemon running, and what is it doing.
//!
//! Exit code 0 when running, 3 when not (scripts: `llm-router status >/dev/null && …`).
//! "Running" is decided by the daemon lock; the details come from the control socket's
//! `status` reply, plus CPU and memory sampled from the OS for the daemon's pid only.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::paths;
use crate::daemon::client::{Client, ClientError};
use crate::daemon::lock;
use crate::daemon::process;
use crate::ui;

/// Exit code for "not running" (as `systemctl status` and LSB init scripts use).
pub const NOT_RUNNING: u8 = 3;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router status\n  llm-router status --json | jq .stats"
)]
pub struct Args {
    /// Print JSON for scripts (`{"running": false}` when not running).
    #[arg(long)]
    pub json: bool,
    /// How many recent routing decisions to show.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub recent: usize,
}

pub fn run(args: &Args, _config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let Some(holder) = lock::probe(&paths::lock_file())? else {
        if args.json {
            ui::json(&json!({"running": false}));
        } else {
            ui::out(
                "llm-router is not running; start it with `llm-router start` (or `llm-router start --demo` to try it without a relay)",
            );
        }
        return Ok(ExitCode::from(NOT_RUNNING));
    };
    match Client::default_socket()
        .with_timeout(Duration::from_secs(5))
        .status()
    {
        Ok(mut s) => {
            let usage = s
                .get("pid")
                .and_then(Value::as_u64)
                .and_then(|p| u32::try_from(p).ok())
                .and_then(process::usage);
            if let Value::Object(o) = &mut s {
                o.insert("process".into(), json!(usage));
            }
            if args.json {
                ui::json(&s);
            } else {
                print_human(&s, args.recent);
            }
        }
        Err(e) => {
            // The lock is held, so it runs; it just does not answer properly (starting up,
            // stuck, or a different protocol version).
            let needs_restart = matches!(e, ClientError::Protocol { .. });
            if args.json {
                ui::json(&json!({
                    "running": true,
                    "pid": holder.pid,
                    "version": holder.version,
                    "healthy": false,
                    "needs_restart": needs_restart,
                    "error": e.to_string(),
                }));
            } else {
                let pid = holder.pid.map_or_else(|| "?".into(), |p| p.to_string());
                ui::out(if needs_restart {
                    format!("llm-router is running (pid {pid}) but needs a restart")
                } else {
                    format!("llm-router is running (pid {pid}) but does not answer")
                });
                ui::out(ui::kv(&[
                    ("Version", holder.version.unwrap_or_else(|| "?".into())),
                    ("Reason", e.to_string()),
                    ("Log", paths::log_file().display().to_string()),
                ]));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// "12 requests, $0.0421 spent ($0.0009 on routing), saved $0.3100 vs always-strongest".
fn usage_line(s: &Value, period: &str) -> String {
    let Some(t) = get(s, &["usage", period]) else {
        return match get(s, &["usage", "error"]).and_then(Value::as_str) {
            Some(e) => format!("usage unavailable: {e}"),
            None => "usage accounting is off (usage.enabled)".into(),
        };
    };
    let f = |k: &str| t.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    format!(
        "{} requests, ${:.4} spent (${:.4} on routing), saved ${:.4} vs always-strongest",
        t.get("requests").and_then(Value::as_u64).unwrap_or(0),
        f("spend_usd"),
        f("router_spend_usd"),
        f("saved_usd"),
    )
}

fn str_of<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    get(v, path).and_then(Value::as_str)
}

fn u64_of(v: &Value, path: &[&str]) -> Option<u64> {
    get(v, path).and_then(Value::as_u64)
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// `2h 05m`, `3m 12s`, `42s`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

fn bytes(n: u64) -> String {
    let mib = n as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.1} MiB")
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn print_human(s: &Value, recent: usize) {
    let text = |path: &[&str]| str_of(s, path).unwrap_or("?").to_string();
    let draining = get(s, &["draining"]).and_then(Value::as_bool) == Some(true);
    let demo = get(s, &["demo"]).and_then(Value::as_bool) == Some(true);
    ui::out(match (draining, demo) {
        (true, _) => "llm-router is running (draining: stopping after open requests finish)",
        (false, true) => "llm-router is running (demo: simulated relay)",
        (false, false) => "llm-router is running",
    });

    let upstream = {
        let url = text(&["upstream", "base_url"]);
        match get(s, &["upstream", "reachable"]).and_then(Value::as_bool) {
            Some(true) => format!("{url} (reachable)"),
            _ => match str_of(s, &["upstream", "error"]) {
                Some(e) => format!("{url} (unreachable: {})", truncate(e, 80)),
                None => format!("{url} (not checked yet)"),
            },
        }
    };
    let process = match get(s, &["process"]).filter(|p| !p.is_null()) {
        Some(p) => (
            format!(
                "{:.1}%",
                get(p, &["cpu_percent"])
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
            ),
            bytes(u64_of(p, &["memory_bytes"]).unwrap_or(0)),
        ),
        None => ("?".into(), "?".into()),
    };
    let requests = format!(
        "{} ({} errors, {} by fallback policy, {} in flight)",
        u64_of(s, &["stats", "requests"]).unwrap_or(0),
        u64_of(s, &["stats", "errors"]).unwrap_or(0),
        u64_of(s, &["stats", "fallbacks"]).unwrap_or(0),
        u64_of(s, &["stats", "in_flight"]).unwrap_or(0),
    );
    ui::out(ui::kv(&[
        (
            "PID",
            u64_of(s, &["pid"]).map_or_else(|| "?".into(), |p| p.to_string()),
        ),
        ("Version", text(&["version"])),
        (
            "Uptime",
            u64_of(s, &["uptime_secs"]).map_or_else(|| "?".into(), duration),
        ),
        ("URL", text(&["url"])),
        ("Config", text(&["config_path"])),
        (
            "Log",
            match str_of(s, &["log_path"]) {
                Some("") => "stderr (running in the foreground)".to_string(),
                other => other.unwrap_or("?").to_string(),
            },
        ),
        ("Upstream", upstream),
        (
            "Router model",
            str_of(s, &["router_model"])
                .unwrap_or("none yet (no priced model listed)")
                .to_string(),
        ),
        (
            "Models",
            u64_of(s, &["models"]).map_or_else(|| "?".into(), |n| n.to_string()),
        ),
        ("CPU", process.0),
        ("Memory", process.1),
        ("Requests", requests),
        ("Today", usage_line(s, "today")),
        ("Last 7 days", usage_line(s, "last_7_days")),
    ]));

    if let Some(per) = get(s, &["stats", "per_target"]).and_then(Value::as_object)
        && !per.is_empty()
    {
        let mut rows: Vec<(String, u64)> = per
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
            .collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ui::out("");
        ui::out("Requests per model");
        ui::out(ui::table(
            &["model", "requests"],
            rows.into_iter()
                .map(|(k, n)| vec![k, n.to_string()])
                .collect(),
        ));
    }

    if let Some(list) = get(s, &["stats", "recent"]).and_then(Value::as_array)
        && !list.is_empty()
        && recent > 0
    {
        let now = crate::server::stats::now_unix();
        let rows: Vec<Vec<String>> = list
            .iter()
            .take(recent)
            .map(|d| {
                let ago = now.saturating_sub(u64_of(d, &["at_unix"]).unwrap_or(now));
                vec![
                    format!("{} ago", duration(ago)),
                    format!(
                        "{} → {}",
                        str_of(d, &["model"]).unwrap_or("?"),
                        str_of(d, &["target"]).unwrap_or("?")
                    ),
                    str_of(d, &["decision"]).unwrap_or("?").to_string(),
                    str_of(d, &["effort"]).unwrap_or("-").to_string(),
                    u64_of(d, &["status"]).map_or_else(|| "?".into(), |c| c.to_string()),
                    truncate(str_of(d, &["reason"]).unwrap_or(""), 60),
                ]
            })
            .collect();
        ui::out("");
        ui::out("Recent decisions");
        ui::out(ui::table(
            &["when", "model → target", "by", "effort", "status", "reason"],
            rows,
        ));
    }

    if let Some(health) = get(s, &["health"]).and_then(Value::as_array) {
        let cooling: Vec<Vec<String>> = health
            .iter()
            .filter_map(|h| {
                let secs = u64_of(h, &["cooldown_remaining_secs"])?;
                Some(vec![
                    str_of(h, &["model"]).unwrap_or("?").to_string(),
                    format!("{secs}s"),
                    u64_of(h, &["failures"]).unwrap_or(0).to_string(),
                ])
            })
            .collect();
        if !cooling.is_empty() {
            ui::out("");
            ui::out("Cooling down (skipped after repeated failures)");
            ui::out(ui::table(&["model", "remaining", "failures"], cooling));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(125), "2m 05s");
        assert_eq!(duration(7_500), "2h 05m");
        assert_eq!(duration(90_000), "1d 1h");
    }

    #[test]
    fn long_reasons_are_cut() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }
}
