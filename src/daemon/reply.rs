//! The running gateway's state as control-protocol replies: the one place where server,
//! engine and usage types become the wire types of `protocol.rs` (which knows none of
//! them). The control server sends these; `route-test` in-process uses [`decision`] too, so
//! both paths print the same thing.

use std::time::Instant;

use super::info::DaemonInfo;
use super::protocol::{self, PROTOCOL_VERSION};
use crate::config::paths;
use crate::engine::Decision;
use crate::error::ApiError;
use crate::server::AppState;
use crate::server::Runtime;
use crate::server::assembly::{self, RelayClient};
use crate::server::models::{ModelState, display_url, loaded};
use crate::server::route_test;

/// The `status` reply (documented in docs/daemon.md; `status --json` prints it).
pub fn status(st: &AppState, info: &DaemonInfo) -> protocol::Status {
    let rt = st.runtime.load_full();
    let models = st.models.load_full();
    let stats = st.stats.view();
    protocol::Status {
        running: true,
        pid: info.pid,
        version: env!("CARGO_PKG_VERSION").to_string(),
        protocol: PROTOCOL_VERSION,
        uptime_secs: st.started.elapsed().as_secs(),
        started_at: info.started_at,
        url: info.url.clone(),
        host: info.host.clone(),
        port: info.port,
        config_path: info.config_path.clone(),
        log_path: info.log_path.clone(),
        socket: info.socket.clone(),
        lock_path: paths::lock_file(),
        demo: st.demo,
        draining: st.shutdown.is_cancelled(),
        drain_secs: rt.config.server.drain_secs,
        upstream: protocol::UpstreamStatus {
            base_url: display_url(rt.upstream.base()),
            reachable: models.reachable(),
            error: models.error.clone(),
            last_refresh_unix: models.fetched_unix,
        },
        router_model: router_model(&rt, &models),
        models: models.facts.len(),
        stats: protocol::Stats {
            requests: stats.requests,
            errors: stats.errors,
            fallbacks: stats.fallbacks,
            in_flight: stats.in_flight,
            per_target: stats.per_target,
            recent: stats
                .recent
                .into_iter()
                .map(|d| protocol::RecentDecision {
                    at_unix: d.at_unix,
                    request_id: d.request_id,
                    model: d.model,
                    target: d.target,
                    decision: d.decision,
                    effort: d.effort,
                    reason: d.reason,
                    router_model: d.router_model,
                    router_ms: d.router_ms,
                    attempts: d.attempts,
                    status: d.status,
                })
                .collect(),
        },
        cooldowns: st
            .cooldowns
            .snapshot(Instant::now())
            .into_iter()
            .map(|h| protocol::ModelCooldown {
                model: h.model,
                consecutive_failures: h.consecutive_failures,
                cooldown_remaining_secs: h.cooldown_remaining_secs,
                failures: h.failures,
                successes: h.successes,
            })
            .collect(),
        usage: usage(st),
        process: None,
    }
}

/// The `models` reply: the live table and the router model.
pub fn models(st: &AppState) -> protocol::Models {
    let rt = st.runtime.load_full();
    let models = st.models.load_full();
    protocol::Models {
        models: models
            .facts
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .collect(),
        router_model: router_model(&rt, &models),
        fetched_unix: models.fetched_unix,
        error: models.error.clone(),
    }
}

/// The `stop` reply.
pub fn stopping(st: &AppState, info: &DaemonInfo) -> protocol::Stopping {
    protocol::Stopping {
        stopping: true,
        pid: info.pid,
        drain_secs: st.runtime.load().config.server.drain_secs,
        in_flight: st.stats.view().in_flight,
    }
}

/// The `reload` reply.
pub fn reloaded(r: assembly::Reloaded) -> protocol::Reloaded {
    protocol::Reloaded {
        reloaded: true,
        config_path: r.config_path,
        notes: r.notes,
        relay_client_kept: r.relay_client == RelayClient::Kept,
    }
}

/// The `route_test` reply: the gateway's dry run on its live state. The control server and
/// `route-test` without a daemon both answer through here, on a gateway assembled the same
/// way, so they decide alike.
pub async fn route_test(
    st: &AppState,
    req: protocol::RouteTest,
) -> Result<protocol::RouteDecision, ApiError> {
    // Right after start the first model fetch may still be running: share it (or fetch on
    // demand when the relay was down at start).
    let models = loaded(st).await;
    let rt = st.runtime.load_full();
    route_test::route_test(&rt, &models.facts, &req.mode, &req.body)
        .await
        .map(|d| decision(&d))
}

/// The engine's decision on the wire.
pub fn decision(d: &Decision) -> protocol::RouteDecision {
    protocol::RouteDecision {
        mode: d.mode.as_str().to_string(),
        target: d.target.clone(),
        effort: d.effort.map(|e| e.as_str().to_string()),
        applied_effort: d.applied_effort.map(str::to_string),
        task_type: d.task_type.clone(),
        difficulty: d.difficulty.clone(),
        confidence: d.confidence,
        reason: d.reason.clone(),
        source: d.source.as_str().to_string(),
        router_model: d.router_model.clone(),
        router_ms: d.router_ms,
        router_prompt_tokens: d.router_prompt_tokens,
        router_completion_tokens: d.router_completion_tokens,
        router_cost: d.router_cost,
        router_error: d.router_error.clone(),
        candidates: d.candidates.clone(),
    }
}

/// The router model the engine would use now, else the configured one.
fn router_model(rt: &Runtime, models: &ModelState) -> Option<String> {
    rt.engine
        .router_model(&models.facts)
        .map(|m| m.id.clone())
        .or_else(|| {
            let configured = rt.config.router.model.trim();
            (!configured.is_empty()).then(|| configured.to_string())
        })
}

/// Today's and the last 7 days' totals from the usage database, when accounting is on.
fn usage(st: &AppState) -> Option<protocol::Usage> {
    let db = st.usage_db.get()?;
    let now = crate::usage::now_unix_ms();
    let read = || -> Result<(protocol::Totals, protocol::Totals), crate::usage::UsageError> {
        let r = crate::usage::UsageReader::open(db)?;
        Ok((
            totals(r.totals(crate::usage::utc_day_start(now))?),
            totals(r.totals(now - 7 * 24 * 3600 * 1000)?),
        ))
    };
    Some(match read() {
        Ok((today, week)) => protocol::Usage {
            db: db.clone(),
            today: Some(today),
            last_7_days: Some(week),
            error: None,
        },
        Err(e) => protocol::Usage {
            db: db.clone(),
            today: None,
            last_7_days: None,
            error: Some(e.to_string()),
        },
    })
}

fn totals(t: crate::usage::Totals) -> protocol::Totals {
    protocol::Totals {
        requests: t.requests,
        errors: t.errors,
        fallbacks: t.fallbacks,
        prompt_tokens: t.prompt_tokens,
        completion_tokens: t.completion_tokens,
        spend_usd: t.spend_usd,
        router_spend_usd: t.router_spend_usd,
        router_prompt_tokens: t.router_prompt_tokens,
        router_completion_tokens: t.router_completion_tokens,
        strongest_spend_usd: t.strongest_spend_usd,
        saved_usd: t.saved_usd,
        unpriced: t.unpriced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{DecisionSource, Effort, Mode};

    /// The wire form of a decision is the engine's own serialisation: `route-test --json`
    /// prints the same fields whichever side made it.
    #[test]
    fn a_decision_on_the_wire_matches_the_engines_json() {
        let d = Decision {
            mode: Mode::Coding,
            target: "gpt-5.4".into(),
            effort: Some(Effort::High),
            applied_effort: Some("high"),
            task_type: Some("coding".into()),
            difficulty: Some("hard".into()),
            confidence: Some(0.75),
            reason: "refactor".into(),
            source: DecisionSource::FallbackPolicy,
            router_model: Some("gpt-4.1-nano".into()),
            router_ms: 12,
            router_prompt_tokens: Some(100),
            router_completion_tokens: Some(20),
            router_cost: Some(0.0001),
            router_error: Some("timeout".into()),
            candidates: vec!["gpt-5.4".into(), "gpt-5.5".into()],
        };
        let engine = serde_json::to_value(&d).unwrap();
        let wire = serde_json::to_value(decision(&d)).unwrap();
        assert_eq!(wire, engine);
    }
}
