//! `POST /v1/chat/completions`: pass-through for real ids, route-and-fallback for virtual ones.
//!
//! Fallback loop for virtual models: decide (engine) → rewrite the body (only `model` and
//! maybe `reasoning_effort`) → call → on a retryable failure before commit, exclude the model,
//! record it in the health table and decide again, at most `router.max_attempts` times. When
//! attempts run out the client gets the last upstream status with `x-should-retry: false` so
//! SDK retries do not multiply ours. Real model ids are forwarded as they are, in one attempt.
//! One log line per request is written when the request ends (for streams: when the stream
//! ends), with the decision, attempts and durations, never prompt text or keys.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde::Deserialize;
use serde_json::Value;

use super::metrics::Observation;
use super::relay::{self, Committed, EndGuard, Outcome, UsageTap};
use super::stats::{RecentDecision, now_unix};
use super::{AppState, Body, Runtime, error_response, full};
use crate::engine::rewrite::{self, BodyFacts, Edits};
use crate::engine::{Decision, DecisionSource, Mode, RouterCallError, RouterCaller, features};
use crate::error::ApiError;
use crate::upstream::{Upstream, UpstreamError, copy_passed_headers};
use crate::usage::UsageRecord;

/// The fields every request needs, parsed without building a JSON tree of the messages
/// (a pass-through request is never fully parsed).
#[derive(Deserialize)]
struct ChatHead {
    model: Option<Value>,
    stream: Option<Value>,
    #[serde(default, deserialize_with = "is_array")]
    messages: Option<bool>,
}

/// `Some(true)` for an array (its items skipped, not built), `Some(false)` for anything else.
fn is_array<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
            while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(true)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<bool, A::Error> {
            while a
                .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                .is_some()
            {}
            Ok(false)
        }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
            Ok(false)
        }
        fn visit_unit<E>(self) -> Result<bool, E> {
            Ok(false)
        }
    }
    d.deserialize_any(V).map(Some)
}

fn parse_chat_head(body: &[u8]) -> Result<(String, bool), ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; send a JSON object",
        ));
    }
    let head: ChatHead = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!("request body is not a valid JSON object: {e}"))
    })?;
    let model = match head.model {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        _ => {
            return Err(
                ApiError::bad_request("`model` must be a non-empty string").with_param("model")
            );
        }
    };
    if head.messages != Some(true) {
        return Err(ApiError::bad_request("`messages` must be an array").with_param("messages"));
    }
    Ok((model, head.stream == Some(Value::Bool(true))))
}

/// One attempt's record.
#[derive(Debug, Clone)]
struct Attempt {
    model: String,
    outcome: &'static str,
    ms: u64,
}

/// The per-request log line and stats record, written once when dropped.
struct RequestLog {
    state: Arc<AppState>,
    request_id: String,
    model: String,
    stream: bool,
    started: Instant,
    decision: Option<Decision>,
    source: DecisionSource,
    target: Option<String>,
    attempts: Vec<Attempt>,
    status: u16,
    error: Option<String>,
    answer_ms: u64,
    outcome: &'static str,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    started_unix_ms: i64,
}

impl RequestLog {
    fn new(state: Arc<AppState>, request_id: String, model: String, stream: bool) -> Self {
        state.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        Self {
            state,
            request_id,
            model,
            stream,
            started: Instant::now(),
            decision: None,
            source: DecisionSource::Passthrough,
            target: None,
            attempts: Vec::new(),
            status: 0,
            error: None,
            answer_ms: 0,
            // Replaced on every path that finishes; what is left means the client went away.
            outcome: "client_closed",
            prompt_tokens: None,
            completion_tokens: None,
            started_unix_ms: crate::usage::now_unix_ms(),
        }
    }

    /// Headers that say what happened.
    fn apply(&self, h: &mut HeaderMap) {
        // Constant names: a `&str` name is parsed and validated on every insert.
        const ORIGINAL: HeaderName = HeaderName::from_static("x-llm-router-original-model");
        const TARGET: HeaderName = HeaderName::from_static("x-llm-router-target-model");
        const DECISION: HeaderName = HeaderName::from_static("x-llm-router-decision");
        const ATTEMPTS: HeaderName = HeaderName::from_static("x-llm-router-attempts");
        const ROUTER: HeaderName = HeaderName::from_static("x-llm-router-router-model");
        const EFFORT: HeaderName = HeaderName::from_static("x-llm-router-reasoning-effort");
        fn set(h: &mut HeaderMap, k: HeaderName, v: &str) {
            if let Ok(v) = HeaderValue::from_str(v) {
                h.insert(k, v);
            }
        }
        set(h, ORIGINAL, &self.model);
        if let Some(t) = &self.target {
            set(h, TARGET, t);
        }
        h.insert(DECISION, HeaderValue::from_static(self.source.as_str()));
        let attempts = self.attempts.len().max(1);
        if attempts == 1 {
            h.insert(ATTEMPTS, HeaderValue::from_static("1"));
        } else {
            h.insert(ATTEMPTS, HeaderValue::from(attempts));
        }
        if let Some(d) = &self.decision {
            if let Some(r) = &d.router_model {
                set(h, ROUTER, r);
            }
            if let Some(e) = d.applied_effort {
                h.insert(EFFORT, HeaderValue::from_static(e));
            }
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        // Dropped by a panic's unwind (or right after it, see `panic_net`): the request is
        // an error, whatever was recorded so far; the caller answers 500 or ends the stream.
        let panicked = super::panic_net::after_panic();
        if panicked {
            super::panic_net::note_recorded();
            self.status = 500;
            self.outcome = "panic";
            self.error = Some("the handler panicked".into());
        }
        let stats = &self.state.stats;
        stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        let attempts: Vec<String> = self
            .attempts
            .iter()
            .map(|a| format!("{}:{}:{}ms", a.model, a.outcome, a.ms))
            .collect();
        let d = self.decision.as_ref();
        tracing::info!(
            target: "llm_router::request",
            request_id = %self.request_id,
            model = %self.model,
            target_model = self.target.as_deref().unwrap_or(""),
            decision = self.source.as_str(),
            router_model = d.and_then(|d| d.router_model.as_deref()).unwrap_or(""),
            router_ms = d.map_or(0, |d| d.router_ms),
            router_error = d.and_then(|d| d.router_error.as_deref()).unwrap_or(""),
            effort = d.and_then(|d| d.applied_effort).unwrap_or(""),
            task_type = d.and_then(|d| d.task_type.as_deref()).unwrap_or(""),
            attempts = %attempts.join(","),
            status = self.status,
            stream = self.stream,
            answer_ms = self.answer_ms,
            prompt_tokens = self.prompt_tokens.unwrap_or(0),
            completion_tokens = self.completion_tokens.unwrap_or(0),
            total_ms = self.started.elapsed().as_millis() as u64,
            outcome = self.outcome,
            error = self.error.as_deref().unwrap_or(""),
            "request"
        );
        let recent = d.map(|d| RecentDecision {
            at_unix: now_unix(),
            request_id: self.request_id.clone(),
            model: self.model.clone(),
            target: self.target.clone().unwrap_or_default(),
            decision: self.source.as_str().to_string(),
            effort: d.applied_effort.map(str::to_string),
            reason: d.reason.clone(),
            router_model: d.router_model.clone(),
            router_ms: d.router_ms,
            attempts: self.attempts.len() as u32,
            status: self.status,
        });
        let models = self.state.models.load();
        // Counters keyed by model name use bounded labels: the names come from the client.
        let target_label = self
            .target
            .as_deref()
            .map(|t| super::metrics::label(t, &models));
        stats.record(self.status, target_label, recent);
        let target = self.target.as_deref().unwrap_or("");
        let total_ms = self.started.elapsed().as_millis() as u64;
        let tokens = (self.prompt_tokens, self.completion_tokens);
        let cost = models.get(target).and_then(|f| token_cost(f, tokens));
        self.state.metrics.observe(&Observation {
            model: super::metrics::label(&self.model, &models),
            target: target_label.unwrap_or(""),
            status: self.status,
            routed: d.is_some(),
            router_ms: d.map_or(0, |d| d.router_ms),
            answer_ms: self.answer_ms,
            total_ms,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cost_usd: cost,
            router_cost_usd: d.and_then(|d| d.router_cost),
            fallback_policy: self.source == DecisionSource::FallbackPolicy,
            extra_attempts: self.attempts.len().saturating_sub(1) as u64,
        });
        if let Some(sink) = self.state.usage.get()
            && sink.is_enabled()
            // Requests rejected before a model was involved are not usage; a panic is
            // recorded wherever it happened, so usage shows the failure.
            && (self.target.is_some() || panicked)
        {
            let (strongest_model, strongest_cost_usd) = match d {
                Some(d) => {
                    let cands: Vec<&crate::catalog::ModelFacts> =
                        d.candidates.iter().filter_map(|c| models.get(c)).collect();
                    if cands.is_empty() {
                        (None, None)
                    } else {
                        let s = crate::engine::policy::strongest(&cands);
                        (Some(s.id.clone()), token_cost(s, tokens))
                    }
                }
                None => (None, None),
            };
            sink.record(UsageRecord {
                at_unix_ms: self.started_unix_ms + total_ms as i64,
                request_id: self.request_id.clone(),
                model: self.model.clone(),
                mode: d.map(|d| d.mode.as_str().to_string()),
                target: target.to_string(),
                decision: self.source.as_str().to_string(),
                effort: d.and_then(|d| d.applied_effort).map(str::to_string),
                reason: d.map(|d| d.reason.clone()).filter(|r| !r.is_empty()),
                attempts: self.attempts.len() as u32,
                status: self.status,
                stream: self.stream,
                router_ms: d.map_or(0, |d| d.router_ms),
                answer_ms: self.answer_ms,
                total_ms,
                prompt_tokens: self.prompt_tokens,
                completion_tokens: self.completion_tokens,
                cost_usd: cost,
                router_model: d.and_then(|d| d.router_model.clone()),
                router_prompt_tokens: d.and_then(|d| d.router_prompt_tokens),
                router_completion_tokens: d.and_then(|d| d.router_completion_tokens),
                router_cost_usd: d.and_then(|d| d.router_cost),
                strongest_model,
                strongest_cost_usd,
            });
        }
    }
}

/// What `tokens` cost on `model`; None when no token count is known at all.
fn token_cost(
    model: &crate::catalog::ModelFacts,
    tokens: (Option<u64>, Option<u64>),
) -> Option<f64> {
    match tokens {
        (None, None) => None,
        (p, c) => model.cost(p.unwrap_or(0), c.unwrap_or(0)),
    }
}

impl EndGuard for RequestLog {
    fn finished(&mut self, outcome: Outcome, usage: &UsageTap) {
        self.prompt_tokens = usage.prompt_tokens;
        self.completion_tokens = usage.completion_tokens;
        match outcome {
            Outcome::Completed => self.outcome = "ok",
            Outcome::UpstreamFailed {
                status, message, ..
            } => {
                self.outcome = "upstream_failed_after_commit";
                self.error = Some(message);
                // The head said 200, but the answer ended in the error event: the log, stats,
                // metrics and usage record the event's status so the request counts as an
                // error (a truncated stream must not look like a success anywhere).
                self.status = status;
            }
        }
    }
}

/// The router model's door to the relay.
pub struct RelayRouter<'a> {
    pub upstream: &'a Upstream,
    pub request_id: &'a str,
}

impl RouterCaller for RelayRouter<'_> {
    async fn call(&self, body: Value, timeout: Duration) -> Result<Value, RouterCallError> {
        let failed = |e: String| RouterCallError::Failed(e);
        let fut = async {
            let resp = self
                .upstream
                .send_chat_within(
                    Bytes::from(body.to_string()),
                    self.request_id,
                    &HeaderMap::new(),
                    timeout,
                )
                .await
                .map_err(|e| {
                    if is_relay_fault(&e) {
                        RouterCallError::RelayUnreachable(e.to_string())
                    } else {
                        failed(e.to_string())
                    }
                })?;
            let bytes = resp.bytes().await.map_err(|e| failed(e.to_string()))?;
            serde_json::from_slice::<Value>(&bytes)
                .map_err(|e| failed(format!("router answer is not JSON: {e}")))
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| failed(format!("router timed out after {} ms", timeout.as_millis())))?
    }
}

/// Whether a failure is the relay's rather than the model's: the relay could not be reached
/// at all (connect refused or reset, or the connect timed out) before any response. There is
/// one relay for every model, so charging such a failure to the model would put every model
/// in cooldown during an outage, and the first request after the relay came back would find
/// nothing healthy to try. Such failures still end the attempt and fail over.
pub(crate) fn is_relay_fault(e: &UpstreamError) -> bool {
    matches!(
        e,
        UpstreamError::Connect(_) | UpstreamError::Timeout("connection")
    )
}

/// A successful answer, not yet sent.
enum Answer {
    Json {
        headers: HeaderMap,
        body: Bytes,
        usage: crate::upstream::TokenUsage,
    },
    Stream {
        headers: HeaderMap,
        committed: Committed,
    },
}

async fn call(
    rt: &Runtime,
    request_id: &str,
    fwd: &HeaderMap,
    body: Bytes,
    stream: bool,
) -> Result<Answer, UpstreamError> {
    if stream {
        let sent = Instant::now();
        let resp = rt.upstream.send_chat(body, request_id, fwd).await?;
        let (headers, bytes) = resp.into_parts();
        let committed =
            relay::lookahead(bytes, sent + rt.upstream.first_byte_timeout, sent).await?;
        Ok(Answer::Stream { headers, committed })
    } else {
        let (headers, body, usage) = rt.upstream.chat_json(body, request_id, fwd).await?;
        Ok(Answer::Json {
            headers,
            body,
            usage,
        })
    }
}

/// One answer attempt on one model, including the two repairs that do not count as
/// attempts: a 400 caused by the `reasoning_effort` or the `stream_options` we added is
/// retried once without it.
struct AttemptResult {
    res: Result<Answer, UpstreamError>,
    facts: BodyFacts,
    effort: Option<&'static str>,
    ms: u64,
}

async fn attempt(
    rt: &Runtime,
    request_id: &str,
    fwd: &HeaderMap,
    body: &Bytes,
    model: Option<&str>,
    mut effort: Option<&'static str>,
    stream: bool,
) -> AttemptResult {
    let mut include_usage = stream && rt.config.usage.stream_usage;
    let started = Instant::now();
    loop {
        let (b, facts) = if model.is_none() && effort.is_none() && !include_usage {
            // Pass-through without edits: the body is forwarded as received.
            (body.clone(), BodyFacts::default())
        } else {
            let edits = Edits {
                model,
                effort,
                include_usage,
            };
            rewrite::edit(body, &edits).unwrap_or_else(|_| (body.clone(), BodyFacts::default()))
        };
        let res = call(rt, request_id, fwd, b, stream).await;
        if let Err(e) = &res
            && e.status() == 400
        {
            let msg = e.to_string().to_ascii_lowercase();
            if effort.is_some() && msg.contains("reasoning") {
                effort = None;
                continue;
            }
            if facts.usage_added
                && (msg.contains("stream_options") || msg.contains("include_usage"))
            {
                include_usage = false;
                continue;
            }
        }
        return AttemptResult {
            res,
            facts,
            effort,
            ms: started.elapsed().as_millis() as u64,
        };
    }
}

/// Turn an answer into the client response; the log travels with a stream until it ends.
fn respond(rt: &Runtime, mut log: RequestLog, answer: Answer, facts: BodyFacts) -> Response<Body> {
    log.status = 200;
    match answer {
        Answer::Json {
            headers,
            body,
            usage,
        } => {
            log.outcome = "ok";
            (log.prompt_tokens, log.completion_tokens) = usage;
            let mut r = full(200, "application/json", body);
            log.apply(r.headers_mut());
            copy_passed_headers(&headers, r.headers_mut());
            r
        }
        Answer::Stream { headers, committed } => {
            log.answer_ms = committed.first_event.as_millis() as u64;
            let mut h = HeaderMap::new();
            log.apply(&mut h);
            copy_passed_headers(&headers, &mut h);
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("text/event-stream"));
            // Usage chunks we asked for are removed; ones the client asked for stay.
            let tap = UsageTap::new(facts.usage_added);
            let drain_over = log.state.drain_over.clone();
            let body = relay::relay_body(committed, rt.upstream.idle_timeout, tap, drain_over, log)
                .map(|b| Ok::<_, std::convert::Infallible>(Frame::data(b)));
            let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(body)));
            let rh = r.headers_mut();
            rh.extend(h);
            rh.insert(http::header::CONTENT_TYPE, content_type);
            rh.insert(
                http::header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            );
            // Tell a user's own nginx in front of us not to buffer the stream.
            rh.insert(
                HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            );
            r
        }
    }
}

fn fail(mut log: RequestLog, err: &ApiError, extra: &[(String, String)]) -> Response<Body> {
    log.status = err.status;
    log.outcome = "error";
    log.error = Some(err.message.clone());
    let mut r = error_response(err, extra);
    log.apply(r.headers_mut());
    r
}

/// Client headers worth forwarding (never authorization).
fn forwarded(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for name in &crate::upstream::FORWARDED_REQUEST_HEADERS {
        if let Some(v) = headers.get(name) {
            out.insert(name.clone(), v.clone());
        }
    }
    out
}

pub async fn chat(
    state: Arc<AppState>,
    rt: Arc<Runtime>,
    request_id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let (model, stream) = match parse_chat_head(&body) {
        Ok(h) => h,
        Err(e) => {
            let log = RequestLog::new(state, request_id, String::new(), false);
            return fail(log, &e, &[]);
        }
    };
    let mut log = RequestLog::new(state.clone(), request_id, model.clone(), stream);
    let fwd = forwarded(&headers);
    let Some(mode) = Mode::from_model(&model) else {
        // A real model id: straight through, one attempt, the upstream is the authority on
        // whether the id exists (our list may be stale).
        log.target = Some(model.clone());
        let a = attempt(&rt, &log.request_id, &fwd, &body, None, None, stream).await;
        log.answer_ms = a.ms;
        return match a.res {
            Ok(ans) => {
                log.attempts.push(Attempt {
                    model,
                    outcome: "ok",
                    ms: a.ms,
                });
                respond(&rt, log, ans, a.facts)
            }
            Err(e) => {
                log.attempts.push(Attempt {
                    model,
                    outcome: e.code(),
                    ms: a.ms,
                });
                let headers = upstream_error_headers(&e);
                fail(log, &e.to_api_error(), &headers)
            }
        };
    };
    // Boxed: the routing path's future is large, and pass-through requests need none of it.
    Box::pin(routed(state, rt, log, mode, fwd, body)).await
}

fn upstream_error_headers(e: &UpstreamError) -> Vec<(String, String)> {
    match e {
        UpstreamError::Status { headers, .. } => headers.clone(),
        _ => Vec::new(),
    }
}

async fn routed(
    state: Arc<AppState>,
    rt: Arc<Runtime>,
    mut log: RequestLog,
    mode: Mode,
    fwd: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return fail(
                log,
                &ApiError::bad_request(format!("invalid JSON: {e}")),
                &[],
            );
        }
    };
    let feats = features::extract(&parsed);
    let mut models = state.models.load_full();
    if models.facts.is_empty() {
        // Degraded start: try once more now rather than failing the first requests (one
        // fetch shared by every request that arrives meanwhile).
        super::models::refresh_shared(&state).await;
        models = state.models.load_full();
        if models.facts.is_empty() {
            let why = models
                .error
                .clone()
                .unwrap_or_else(|| "the model list is empty".into());
            let e = ApiError::new(
                503,
                "upstream_error",
                "upstream_unavailable",
                format!(
                    "the upstream model list is unavailable, so `{}` cannot be routed: {why}",
                    mode.as_str()
                ),
            );
            return fail(log, &e, &[]);
        }
    }
    let settings = &rt.engine.settings;
    let max_attempts = settings.max_attempts.max(1);
    let cooldown = Duration::from_secs(settings.cooldown_secs);
    let mut excluded: Vec<String> = Vec::new();
    let mut last_err: Option<UpstreamError> = None;
    let router = RelayRouter {
        upstream: &rt.upstream,
        request_id: &log.request_id,
    };
    while (log.attempts.len() as u32) < max_attempts {
        let decision = match rt
            .engine
            .decide(&models.facts, mode, &parsed, &feats, &excluded, &router)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                // Nothing left to try: if a model failed with a short retry-after, wait
                // and give the failed models another chance.
                if let Some(wait) = last_err
                    .as_ref()
                    .and_then(UpstreamError::retry_after)
                    .filter(|w| *w <= Duration::from_millis(settings.retry_after_cap_ms))
                    && !excluded.is_empty()
                {
                    tokio::time::sleep(wait).await;
                    excluded.clear();
                    continue;
                }
                return match last_err {
                    Some(le) => break_with(log, &le),
                    None => fail(log, &e, &[]),
                };
            }
        };
        log.source = decision.source;
        log.target = Some(decision.target.clone());
        let effort = decision.applied_effort;
        log.decision = Some(decision);
        let target = log.target.clone().unwrap_or_default();
        let a = attempt(
            &rt,
            &log.request_id,
            &fwd,
            &body,
            Some(&target),
            effort,
            feats.stream,
        )
        .await;
        log.answer_ms = a.ms;
        if let Some(d) = log.decision.as_mut() {
            d.applied_effort = a.effort;
        }
        match a.res {
            Ok(ans) => {
                rt.engine.cooldowns.success(&target);
                log.attempts.push(Attempt {
                    model: target.clone(),
                    outcome: "ok",
                    ms: a.ms,
                });
                return respond(&rt, log, ans, a.facts);
            }
            Err(e) => {
                log.attempts.push(Attempt {
                    model: target.clone(),
                    outcome: e.code(),
                    ms: a.ms,
                });
                if !e.retryable() {
                    let headers = upstream_error_headers(&e);
                    return fail(log, &e.to_api_error(), &headers);
                }
                if !is_relay_fault(&e)
                    && rt.engine.cooldowns.failure(
                        &target,
                        settings.cooldown_failures,
                        cooldown,
                        Instant::now(),
                    )
                {
                    tracing::warn!(model = %target, secs = settings.cooldown_secs, "model cooling down after repeated failures");
                    state.metrics.cooldown();
                }
                tracing::debug!(request_id = %log.request_id, model = %target, error = %e, "attempt failed; re-routing");
                excluded.push(target.clone());
                last_err = Some(e);
            }
        }
    }
    match last_err {
        Some(e) => break_with(log, &e),
        None => fail(log, &ApiError::no_candidates("no attempt was made"), &[]),
    }
}

/// The final answer once fallback is exhausted: the last upstream error, and a header that
/// stops SDKs from multiplying our retries.
fn break_with(log: RequestLog, e: &UpstreamError) -> Response<Body> {
    let mut headers = upstream_error_headers(e);
    headers.push(("x-should-retry".into(), "false".into()));
    let mut err = e.to_api_error();
    err.message = format!("all attempts failed; last error: {}", err.message);
    fail(log, &err, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreachable_relay_is_a_relay_fault() {
        assert!(is_relay_fault(&UpstreamError::Connect(
            "connection refused".into()
        )));
        assert!(is_relay_fault(&UpstreamError::Timeout("connection")));
        // Reached the relay: the model (or the relay's route to it) is at fault.
        assert!(!is_relay_fault(&UpstreamError::Timeout("first byte")));
        assert!(!is_relay_fault(&UpstreamError::Stream("closed".into())));
        assert!(!is_relay_fault(&UpstreamError::Status {
            status: 503,
            message: "overloaded".into(),
            kind: None,
            code: None,
            retry_after: None,
            headers: Vec::new(),
        }));
    }

    #[test]
    fn head_validation() {
        assert!(parse_chat_head(b"").is_err());
        assert!(parse_chat_head(b"{").is_err());
        assert_eq!(
            parse_chat_head(br#"{"model":"","messages":[]}"#)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
        assert_eq!(
            parse_chat_head(br#"{"model":"x","messages":{}}"#)
                .unwrap_err()
                .param
                .as_deref(),
            Some("messages")
        );
        assert_eq!(
            parse_chat_head(br#"{"model":"x","messages":[],"stream":true}"#).unwrap(),
            ("x".to_string(), true)
        );
        assert_eq!(
            parse_chat_head(br#"{"model":"x","messages":[],"stream":"true"}"#).unwrap(),
            ("x".to_string(), false)
        );
    }

    fn test_state() -> Arc<AppState> {
        let mut cfg = crate::config::Config::default();
        cfg.upstream.base_url = "http://127.0.0.1:9".into();
        let health = Arc::new(crate::engine::Cooldowns::new());
        let rt = super::super::Runtime::build(cfg, 80, health.clone(), None).expect("runtime");
        AppState::new(rt, "127.0.0.1:80".parse().expect("addr"), health, false)
    }

    #[tokio::test]
    async fn a_panic_with_a_request_log_counts_as_one_error() {
        let state = test_state();
        let st = state.clone();
        let r = super::super::panic_net::catch(async move {
            let mut log = RequestLog::new(st, "req_x".into(), "auto".into(), false);
            log.outcome = "ok";
            log.status = 200;
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
        drop(RequestLog::new(
            state.clone(),
            "req_y".into(),
            "auto".into(),
            false,
        ));
        let v = state.stats.view();
        assert_eq!((v.requests, v.errors), (2, 1));
    }
}
