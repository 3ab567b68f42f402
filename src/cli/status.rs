//! `llm-router status`: is the daemon running, and what is it doing.
//!
//! Exit code 0 when running, 3 when not (scripts: `llm-router status >/dev/null && …`).
//! "Running" is decided by the daemon lock; the details come from the control socket's
//! `status` reply, plus CPU and memory sampled from the OS for the daemon's pid only.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;

use crate::config::paths;
use crate::daemon::client::{Client, ClientError};
use crate::daemon::lock;
use crate::daemon::process;
use crate::daemon::protocol::{ProcessUsage, Status, Totals};
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
            s.process = process::usage(s.pid).map(|u| ProcessUsage {
                cpu_percent: u.cpu_percent,
                memory_bytes: u.memory_bytes,
            });
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
fn usage_line(
    s: &Status,
    period: fn(&crate::daemon::protocol::Usage) -> Option<&Totals>,
) -> String {
    let Some(u) = &s.usage else {
        return "usage accounting is off (usage.enabled)".into();
    };
    let Some(t) = period(u) else {
        return match &u.error {
            Some(e) => format!("usage unavailable: {e}"),
            None => "usage unavailable".into(),
        };
    };
    format!(
        "{} requests, ${:.4} spent (${:.4} on routing), saved ${:.4} vs always-strongest",
        t.requests, t.spend_usd, t.router_spend_usd, t.saved_usd,
    )
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

fn print_human(s: &Status, recent: usize) {
    ui::out(match (s.draining, s.demo) {
        (true, _) => "llm-router is running (draining: stopping after open requests finish)",
        (false, true) => "llm-router is running (demo: simulated relay)",
        (false, false) => "llm-router is running",
    });

    let up = &s.upstream;
    let upstream = if up.reachable {
        format!("{} (reachable)", up.base_url)
    } else {
        match &up.error {
            Some(e) => format!("{} (unreachable: {})", up.base_url, truncate(e, 80)),
            None => format!("{} (not checked yet)", up.base_url),
        }
    };
    let process = match &s.process {
        Some(p) => (format!("{:.1}%", p.cpu_percent), bytes(p.memory_bytes)),
        None => ("?".into(), "?".into()),
    };
    let st = &s.stats;
    let requests = format!(
        "{} ({} errors, {} by fallback policy, {} in flight)",
        st.requests, st.errors, st.fallbacks, st.in_flight,
    );
    let log = if s.log_path.as_os_str().is_empty() {
        "stderr (running in the foreground)".to_string()
    } else {
        s.log_path.display().to_string()
    };
    ui::out(ui::kv(&[
        ("PID", s.pid.to_string()),
        ("Version", s.version.clone()),
        ("Uptime", duration(s.uptime_secs)),
        ("URL", s.url.clone()),
        ("Config", s.config_path.display().to_string()),
        ("Log", log),
        ("Upstream", upstream),
        (
            "Router model",
            s.router_model
                .clone()
                .unwrap_or_else(|| "none yet (no priced model listed)".into()),
        ),
        ("Models", s.models.to_string()),
        ("CPU", process.0),
        ("Memory", process.1),
        ("Requests", requests),
        ("Today", usage_line(s, |u| u.today.as_ref())),
        ("Last 7 days", usage_line(s, |u| u.last_7_days.as_ref())),
    ]));

    if !st.per_target.is_empty() {
        let mut rows: Vec<(&String, u64)> = st.per_target.iter().map(|(k, &n)| (k, n)).collect();
        rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ui::out("");
        ui::out("Requests per model");
        ui::out(ui::table(
            &["model", "requests"],
            rows.into_iter()
                .map(|(k, n)| vec![k.clone(), n.to_string()])
                .collect(),
        ));
    }

    if !st.recent.is_empty() && recent > 0 {
        let now = crate::server::stats::now_unix();
        let rows: Vec<Vec<String>> = st
            .recent
            .iter()
            .take(recent)
            .map(|d| {
                let ago = now.saturating_sub(d.at_unix);
                vec![
                    format!("{} ago", duration(ago)),
                    format!("{} → {}", d.model, d.target),
                    d.decision.clone(),
                    d.effort.clone().unwrap_or_else(|| "-".into()),
                    d.status.to_string(),
                    truncate(&d.reason, 60),
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

    let cooling: Vec<Vec<String>> = s
        .cooldowns
        .iter()
        .filter_map(|h| {
            let secs = h.cooldown_remaining_secs?;
            Some(vec![
                h.model.clone(),
                format!("{secs}s"),
                h.failures.to_string(),
            ])
        })
        .collect();
    if !cooling.is_empty() {
        ui::out("");
        ui::out("Cooling down (skipped after repeated failures)");
        ui::out(ui::table(&["model", "remaining", "failures"], cooling));
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
