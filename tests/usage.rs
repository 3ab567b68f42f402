//! `llm-router usage` through the real binary, against a usage database the test writes with
//! the library's own writer into the isolated state dir (`TestEnv`).

use std::process::Output;
use std::time::Duration;

use llm_router::usage::{self, UsageRecord};
use serde_json::Value;

use crate::util::env::{TestEnv, stderr, stdout};

const DAY: i64 = 86_400_000;

fn ok_json(o: Output) -> Value {
    assert!(
        o.status.success(),
        "expected success\nstdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    serde_json::from_slice(&o.stdout).expect("usage --json prints JSON")
}

fn rec(id: &str, at: i64, target: &str, mode: Option<&str>, status: u16) -> UsageRecord {
    UsageRecord {
        at_unix_ms: at,
        request_id: id.into(),
        model: mode.unwrap_or(target).into(),
        mode: mode.map(Into::into),
        target: target.into(),
        decision: if mode.is_some() {
            "router"
        } else {
            "passthrough"
        }
        .into(),
        attempts: 1,
        status,
        prompt_tokens: Some(1000),
        completion_tokens: Some(100),
        cost_usd: Some(0.002),
        router_model: mode.map(|_| "router-mini".into()),
        router_cost_usd: mode.map(|_| 0.0001),
        strongest_model: Some("strong".into()),
        strongest_cost_usd: Some(0.02),
        ..Default::default()
    }
}

/// Writes: two `auto` requests to model-a (one failed), one pass-through to model-b, and one
/// request ten days ago that the default `--since 7d` leaves out.
fn seed(env: &TestEnv) {
    let now = usage::now_unix_ms();
    let (sink, writer) = usage::start(&env.state_dir().join("usage.sqlite3"), 0).expect("start");
    sink.record(rec("r1", now - 60_000, "model-a", Some("auto"), 200));
    sink.record(rec("r2", now - 30_000, "model-a", Some("auto"), 502));
    sink.record(rec("r3", now - 10_000, "model-b", None, 200));
    sink.record(rec("old", now - 10 * DAY, "model-c", Some("auto"), 200));
    writer.flush_and_stop(Duration::from_secs(10));
    assert_eq!(sink.dropped(), 0);
}

fn close(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

#[test]
fn usage_json_reports_totals_and_rows() {
    let env = TestEnv::new();
    seed(&env);

    let v = ok_json(env.run(&["usage", "--json"]));
    let t = &v["totals"];
    assert_eq!(t["requests"], 3, "{v:#}");
    assert_eq!(t["errors"], 1);
    assert_eq!(t["prompt_tokens"], 3000);
    assert_eq!(t["completion_tokens"], 300);
    assert!(close(&t["spend_usd"], 0.006), "{t}");
    assert!(close(&t["router_spend_usd"], 0.0002), "{t}");
    assert!(close(&t["saved_usd"], 0.06 - 0.006 - 0.0002), "{t}");
    assert_eq!(v["by"], "model");
    assert!(v["since"].as_str().unwrap().ends_with('Z'), "{v}");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v:#}");
    assert_eq!(rows[0]["key"], "model-a");
    assert_eq!(rows[0]["requests"], 2);
    assert_eq!(rows[1]["key"], "model-b");

    // Everything, by virtual model: the old request counts and pass-through has its own row.
    let v = ok_json(env.run(&["usage", "--json", "--since", "all", "--by", "mode"]));
    assert_eq!(v["totals"]["requests"], 4);
    let keys: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["auto", "(passthrough)"]);

    // By day since a date long ago: ten days ago and today (three if the test straddles UTC
    // midnight).
    let v = ok_json(env.run(&["usage", "--json", "--since", "2000-01-01", "--by", "day"]));
    let days = v["rows"].as_array().unwrap();
    assert!((2..=3).contains(&days.len()), "{v:#}");
    assert_eq!(days[0]["requests"], 1, "the old request is on its own day");

    // The human table names the models and the money.
    let o = env.run(&["usage"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in ["requests", "model-a", "model-b", "saved", "$0.0060"] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn usage_without_a_database_is_empty_not_an_error() {
    let env = TestEnv::new();
    let v = ok_json(env.run(&["usage", "--json"]));
    assert_eq!(v["totals"]["requests"], 0);
    assert_eq!(v["rows"].as_array().unwrap().len(), 0);
    let o = env.run(&["usage"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("No requests recorded"),
        "{}",
        stdout(&o)
    );
    assert!(
        !env.state_dir().join("usage.sqlite3").exists(),
        "reading never creates the database"
    );
}

#[test]
fn bad_since_fails_with_one_line() {
    let env = TestEnv::new();
    let o = env.run(&["usage", "--since", "bogus"]);
    assert!(!o.status.success(), "stdout: {}", stdout(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{err}");
    assert!(lines[0].starts_with("llm-router: "), "{err}");
    assert!(lines[0].contains("bogus"), "{err}");
    for form in ["7d", "24h", "2026-11-01"] {
        assert!(lines[0].contains(form), "{form} missing from: {err}");
    }
}
