//! The one accounting sink: every chat request ends as one [`RequestOutcome`] handed to
//! [`account`], which settles its costs once (the answer, the router call, and the
//! counterfactual "strongest candidate") and feeds the log line, the stats, the metrics and
//! the usage store from that one value.
//!
//! Exactly once, whatever happens: the front door holds the outcome in an [`Accounted`]
//! guard whose drop hands it to the sink. A request that finishes drops it when its answer
//! is built (a stream: when the stream ends); one whose client went away, or whose handler
//! panicked (see `panic_net`), drops it on the way out and is still counted. Every request
//! reaches the sink, failed ones included; the usage store gets every request that named a
//! model (a body that is not a request at all is in the log, stats and metrics only).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::AppState;
use super::metrics::{self, Observation};
use super::models::ModelState;
use super::relay::{EndGuard, Outcome, UsageTap};
use super::stats::{RecentDecision, now_unix};
use crate::catalog::ModelFacts;
use crate::engine::{DecisionSource, Trail, policy};
use crate::usage::UsageRecord;

/// What became of one request.
#[derive(Debug, Clone)]
pub struct RequestOutcome {
    pub request_id: String,
    /// The model the client asked for (empty when the body was not a request).
    pub model: String,
    pub stream: bool,
    pub started: Instant,
    pub started_unix_ms: i64,
    /// The decision, the attempts and the target, as far as routing got.
    pub trail: Trail,
    pub status: u16,
    pub error: Option<String>,
    /// `ok`, `error`, `upstream_failed_after_commit`, `panic`, or `client_closed` (what is
    /// left when nothing finished the request: the client went away).
    pub outcome: &'static str,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

impl RequestOutcome {
    pub fn new(request_id: String, model: String, stream: bool) -> Self {
        Self {
            request_id,
            model,
            stream,
            started: Instant::now(),
            started_unix_ms: crate::usage::now_unix_ms(),
            trail: Trail::default(),
            status: 0,
            error: None,
            outcome: "client_closed",
            prompt_tokens: None,
            completion_tokens: None,
        }
    }

    fn tokens(&self) -> (Option<u64>, Option<u64>) {
        (self.prompt_tokens, self.completion_tokens)
    }
}

/// The costs of an outcome, settled once against the model table.
struct Costs {
    answer: Option<f64>,
    strongest_model: Option<String>,
    strongest: Option<f64>,
}

fn settle(o: &RequestOutcome, models: &ModelState) -> Costs {
    let tokens = o.tokens();
    let target = o.trail.target.as_deref().unwrap_or("");
    let answer = models.get(target).and_then(|f| token_cost(f, tokens));
    // What the same tokens would have cost on the strongest candidate of the decision.
    let strongest = o.trail.decision.as_ref().and_then(|d| {
        let cands: Vec<&ModelFacts> = d.candidates.iter().filter_map(|c| models.get(c)).collect();
        (!cands.is_empty()).then(|| policy::strongest(&cands))
    });
    Costs {
        answer,
        strongest_model: strongest.map(|s| s.id.clone()),
        strongest: strongest.and_then(|s| token_cost(s, tokens)),
    }
}

/// What `tokens` cost on `model`; None when no token count is known at all.
fn token_cost(model: &ModelFacts, tokens: (Option<u64>, Option<u64>)) -> Option<f64> {
    match tokens {
        (None, None) => None,
        (p, c) => model.cost(p.unwrap_or(0), c.unwrap_or(0)),
    }
}

/// The sink: one outcome into the log line, stats, metrics and usage.
pub fn account(state: &AppState, o: &RequestOutcome) {
    let models = state.models.load();
    let total_ms = o.started.elapsed().as_millis() as u64;
    let costs = settle(o, &models);
    log_line(o, total_ms);
    // Counters keyed by model name use bounded labels: the names come from the client.
    let target_label = o
        .trail
        .target
        .as_deref()
        .map(|t| metrics::label(t, &models));
    state.stats.record(o.status, target_label, recent(o));
    let d = o.trail.decision.as_ref();
    for _ in 0..o.trail.cooldowns_started {
        state.metrics.cooldown();
    }
    state.metrics.observe(&Observation {
        model: metrics::label(&o.model, &models),
        target: target_label.unwrap_or(""),
        status: o.status,
        routed: d.is_some(),
        router_ms: d.map_or(0, |d| d.router_ms),
        answer_ms: o.trail.answer_ms,
        total_ms,
        prompt_tokens: o.prompt_tokens,
        completion_tokens: o.completion_tokens,
        cost_usd: costs.answer,
        router_cost_usd: d.and_then(|d| d.router_cost),
        fallback_policy: o.trail.source == DecisionSource::FallbackPolicy,
        extra_attempts: o.trail.attempts.len().saturating_sub(1) as u64,
    });
    if let Some(sink) = state.usage.get()
        && sink.is_enabled()
        && (!o.model.is_empty() || o.outcome == "panic")
    {
        sink.record(usage_record(o, total_ms, costs));
    }
}

/// The request's one log line: the decision, attempts and durations, never prompt text.
fn log_line(o: &RequestOutcome, total_ms: u64) {
    let attempts: Vec<String> = o
        .trail
        .attempts
        .iter()
        .map(|a| format!("{}:{}:{}ms", a.model, a.outcome, a.ms))
        .collect();
    let d = o.trail.decision.as_ref();
    tracing::info!(
        target: "llm_router::request",
        request_id = %o.request_id,
        model = %o.model,
        target_model = o.trail.target.as_deref().unwrap_or(""),
        decision = o.trail.source.as_str(),
        router_model = d.and_then(|d| d.router_model.as_deref()).unwrap_or(""),
        router_ms = d.map_or(0, |d| d.router_ms),
        router_error = d.and_then(|d| d.router_error.as_deref()).unwrap_or(""),
        effort = d.and_then(|d| d.applied_effort).unwrap_or(""),
        task_type = d.and_then(|d| d.task_type.as_deref()).unwrap_or(""),
        attempts = %attempts.join(","),
        status = o.status,
        stream = o.stream,
        answer_ms = o.trail.answer_ms,
        prompt_tokens = o.prompt_tokens.unwrap_or(0),
        completion_tokens = o.completion_tokens.unwrap_or(0),
        total_ms,
        outcome = o.outcome,
        error = o.error.as_deref().unwrap_or(""),
        "request"
    );
}

/// The `status` view of a routed request.
fn recent(o: &RequestOutcome) -> Option<RecentDecision> {
    let d = o.trail.decision.as_ref()?;
    Some(RecentDecision {
        at_unix: now_unix(),
        request_id: o.request_id.clone(),
        model: o.model.clone(),
        target: o.trail.target.clone().unwrap_or_default(),
        decision: o.trail.source.as_str().to_string(),
        effort: d.applied_effort.map(str::to_string),
        reason: d.reason.clone(),
        router_model: d.router_model.clone(),
        router_ms: d.router_ms,
        attempts: o.trail.attempts.len() as u32,
        status: o.status,
    })
}

fn usage_record(o: &RequestOutcome, total_ms: u64, costs: Costs) -> UsageRecord {
    let d = o.trail.decision.as_ref();
    UsageRecord {
        at_unix_ms: o.started_unix_ms + total_ms as i64,
        request_id: o.request_id.clone(),
        model: o.model.clone(),
        mode: d
            .map(|d| d.mode.as_str().to_string())
            .or_else(|| crate::engine::Mode::from_model(&o.model).map(|m| m.as_str().to_string())),
        target: o.trail.target.clone().unwrap_or_default(),
        decision: o.trail.source.as_str().to_string(),
        effort: d.and_then(|d| d.applied_effort).map(str::to_string),
        reason: d.map(|d| d.reason.clone()).filter(|r| !r.is_empty()),
        attempts: o.trail.attempts.len() as u32,
        status: o.status,
        stream: o.stream,
        router_ms: d.map_or(0, |d| d.router_ms),
        answer_ms: o.trail.answer_ms,
        total_ms,
        prompt_tokens: o.prompt_tokens,
        completion_tokens: o.completion_tokens,
        cost_usd: costs.answer,
        router_model: d.and_then(|d| d.router_model.clone()),
        router_prompt_tokens: d.and_then(|d| d.router_prompt_tokens),
        router_completion_tokens: d.and_then(|d| d.router_completion_tokens),
        router_cost_usd: d.and_then(|d| d.router_cost),
        strongest_model: costs.strongest_model,
        strongest_cost_usd: costs.strongest,
    }
}

/// The drop guard that hands a request's outcome to the sink, exactly once.
pub struct Accounted {
    state: Arc<AppState>,
    pub outcome: RequestOutcome,
}

impl Accounted {
    /// Start accounting for a request (it is in flight until the guard is dropped).
    pub fn new(state: Arc<AppState>, outcome: RequestOutcome) -> Self {
        state.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        Self { state, outcome }
    }

    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }
}

impl Drop for Accounted {
    fn drop(&mut self) {
        // Dropped by a panic's unwind (or right after it, see `panic_net`): the request is
        // an error, whatever was recorded so far; the caller answers 500 or ends the stream.
        if super::panic_net::after_panic() {
            super::panic_net::note_recorded();
            self.outcome.status = 500;
            self.outcome.outcome = "panic";
            self.outcome.error = Some("the handler panicked".into());
        }
        self.state.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        account(&self.state, &self.outcome);
    }
}

impl EndGuard for Accounted {
    fn finished(&mut self, outcome: Outcome, usage: &UsageTap) {
        let o = &mut self.outcome;
        o.prompt_tokens = usage.prompt_tokens;
        o.completion_tokens = usage.completion_tokens;
        match outcome {
            Outcome::Completed => o.outcome = "ok",
            Outcome::UpstreamFailed {
                status, message, ..
            } => {
                o.outcome = "upstream_failed_after_commit";
                o.error = Some(message);
                // The head said 200, but the answer ended in the error event: the log, stats,
                // metrics and usage record the event's status so the request counts as an
                // error (a truncated stream must not look like a success anywhere).
                o.status = status;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Cooldowns;
    use crate::server::{Runtime, panic_net};

    fn test_state() -> Arc<AppState> {
        let mut cfg = crate::config::Config::default();
        cfg.upstream.base_url = "http://127.0.0.1:9".into();
        let cooldowns = Arc::new(Cooldowns::new());
        let rt = Runtime::build(cfg, 80, cooldowns.clone(), None).expect("runtime");
        AppState::new(rt, "127.0.0.1:80".parse().expect("addr"), cooldowns, false)
    }

    fn guard(state: &Arc<AppState>, id: &str) -> Accounted {
        let o = RequestOutcome::new(id.into(), "auto".into(), false);
        Accounted::new(state.clone(), o)
    }

    #[tokio::test]
    async fn a_panic_with_an_outcome_in_flight_counts_as_one_error() {
        let state = test_state();
        let st = state.clone();
        let r = panic_net::catch(async move {
            let mut log = guard(&st, "req_x");
            log.outcome.outcome = "ok";
            log.outcome.status = 200;
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("a bug in the handler");
            }
            drop(log);
        })
        .await;
        assert!(r.expect_err("caught").recorded);
        let v = state.stats.view();
        assert_eq!((v.requests, v.errors, v.in_flight), (1, 1, 0));
        let text = state.metrics.render(&Default::default());
        assert!(text.contains("status=\"500\""), "{text}");
        // A normal drop is not an error.
        drop(guard(&state, "req_y"));
        let v = state.stats.view();
        assert_eq!((v.requests, v.errors), (2, 1));
    }

    #[test]
    fn costs_are_settled_once_with_the_counterfactual() {
        let raw: Vec<serde_json::Value> = crate::sim::default_models();
        let facts = crate::catalog::join(
            &raw,
            crate::catalog::Catalog::embedded(),
            &Default::default(),
        );
        let priced: Vec<&ModelFacts> = facts.iter().filter(|f| f.input_price.is_some()).collect();
        assert!(priced.len() >= 2, "the simulated relay lists priced models");
        let cheap = policy::cheapest(&priced).id.clone();
        let ids: Vec<String> = priced.iter().map(|f| f.id.clone()).collect();
        let models = ModelState::new(raw, facts.clone(), Some(1));
        let mut o = RequestOutcome::new("req_z".into(), "auto".into(), false);
        // No tokens known: nothing to price.
        o.trail.target = Some(cheap.clone());
        assert_eq!(settle(&o, &models).answer, None);
        (o.prompt_tokens, o.completion_tokens) = (Some(1_000), Some(100));
        let decision = crate::engine::Decision {
            mode: crate::engine::Mode::Auto,
            target: cheap.clone(),
            effort: None,
            applied_effort: None,
            task_type: None,
            difficulty: None,
            confidence: None,
            reason: String::new(),
            source: DecisionSource::Router,
            router_model: None,
            router_ms: 0,
            router_prompt_tokens: None,
            router_completion_tokens: None,
            router_cost: None,
            router_error: None,
            candidates: ids,
        };
        o.trail.decision = Some(decision);
        let c = settle(&o, &models);
        let strongest = policy::strongest(&priced);
        assert_eq!(c.strongest_model.as_deref(), Some(strongest.id.as_str()));
        assert_eq!(
            c.answer,
            models.get(&cheap).and_then(|f| f.cost(1_000, 100))
        );
        assert_eq!(c.strongest, strongest.cost(1_000, 100));
    }
}
