//! Every routing rule of [`Engine::route`] through a scripted [`Relay`]: no sockets, and
//! tokio's paused clock where a rule waits.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;
use crate::catalog::{ModelFacts, Source, Tier};
use crate::config::RouterConfig;
use crate::engine::request::Body;
use crate::engine::{Cooldowns, DecisionSource};
use crate::upstream::UpstreamError;

fn model(id: &str, tier: Tier, price: (f64, f64)) -> ModelFacts {
    ModelFacts {
        id: id.into(),
        catalog_id: None,
        input_price: Some(price.0),
        output_price: Some(price.1),
        price_source: Source::Catalog,
        context: Some(128_000),
        max_output: Some(16_000),
        tool_call: true,
        vision: false,
        reasoning: true,
        temperature: false,
        chat: true,
        capability_source: Source::Catalog,
        tier,
        excluded: None,
    }
}

/// `small` is the cheapest, so it is also the router model.
fn pool() -> Vec<ModelFacts> {
    vec![
        model("small", Tier::Low, (0.1, 0.4)),
        model("big", Tier::Frontier, (5.0, 30.0)),
    ]
}

fn router_says(target: &str, effort: &str) -> Value {
    let content = json!({"target_model": target, "reasoning_effort": effort, "reason": "test"});
    json!({"choices": [{"message": {"content": content.to_string()}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 10}})
}

fn status(code: u16, message: &str, retry_after: Option<Duration>) -> UpstreamError {
    UpstreamError::Status {
        status: code,
        message: message.into(),
        kind: None,
        code: None,
        retry_after,
        headers: vec![("x-ratelimit-remaining-requests".into(), "0".into())],
    }
}

/// A relay whose answers are scripted per model (in order; `Ok` once a model's script is
/// used up) and that records every body it was sent.
struct Scripted {
    /// The router's answer; `None`: the router never answers.
    router: Option<Result<Value, UpstreamError>>,
    script: Mutex<HashMap<String, VecDeque<UpstreamError>>>,
    sent: Mutex<Vec<Value>>,
}

impl Scripted {
    fn new(router: Option<Result<Value, UpstreamError>>) -> Self {
        Scripted {
            router,
            script: Mutex::new(HashMap::new()),
            sent: Mutex::new(Vec::new()),
        }
    }

    fn fails(self, model: &str, errors: impl IntoIterator<Item = UpstreamError>) -> Self {
        self.script
            .lock()
            .unwrap()
            .entry(model.to_string())
            .or_default()
            .extend(errors);
        self
    }

    fn sent(&self) -> Vec<Value> {
        self.sent.lock().unwrap().clone()
    }
}

impl Relay for Scripted {
    /// The model that answered.
    type Answer = String;

    async fn router(&self, body: Bytes, _timeout: Duration) -> Result<Bytes, UpstreamError> {
        let _: Value = serde_json::from_slice(&body).expect("the router body is JSON");
        match &self.router {
            Some(r) => r.clone().map(|v| Bytes::from(v.to_string())),
            None => std::future::pending().await,
        }
    }

    async fn send(&self, body: Bytes, _stream: bool) -> Result<String, UpstreamError> {
        let v: Value = serde_json::from_slice(&body).expect("the engine sends JSON");
        let model = v["model"].as_str().unwrap_or_default().to_string();
        self.sent.lock().unwrap().push(v);
        let next = self
            .script
            .lock()
            .unwrap()
            .get_mut(&model)
            .and_then(VecDeque::pop_front);
        match next {
            Some(e) => Err(e),
            None => Ok(model),
        }
    }
}

fn engine(f: impl FnOnce(&mut RouterConfig)) -> Engine {
    let mut cfg = RouterConfig::default();
    f(&mut cfg);
    Engine::new(cfg, Arc::new(Cooldowns::new()))
}

fn request(model: &str, stream: bool) -> Request {
    let raw = json!({"model": model, "stream": stream,
        "messages": [{"role": "user", "content": "Plan a repo-wide migration"}]});
    let body = Body::scan(Bytes::from(raw.to_string())).expect("an object");
    Request::new(body, model.to_string(), stream)
}

async fn route(
    e: &Engine,
    req: &Request,
    relay: &Scripted,
    ask_usage: bool,
) -> (Result<Routed<String>, EngineError>, Trail) {
    let mut trail = Trail::default();
    let res = e.route(&pool(), req, relay, ask_usage, &mut trail).await;
    (res, trail)
}

fn outcomes(t: &Trail) -> Vec<(String, &'static str)> {
    t.attempts
        .iter()
        .map(|a| (a.model.clone(), a.outcome))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_router_that_times_out_leaves_the_decision_to_the_policy() {
    let e = engine(|c| c.timeout_ms = 1_500);
    let relay = Scripted::new(None);
    let started = tokio::time::Instant::now();
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    let answered = res.expect("the policy decided").answer;
    // The router stage's own deadline ended the wait (the paused clock jumps to it).
    assert_eq!(started.elapsed(), Duration::from_millis(1_500));
    let d = trail.decision.expect("a decision");
    assert_eq!(d.source, DecisionSource::FallbackPolicy);
    assert_eq!(trail.source, DecisionSource::FallbackPolicy);
    assert!(
        d.router_error
            .as_deref()
            .is_some_and(|m| m.contains("timed out")),
        "{:?}",
        d.router_error
    );
    assert_eq!(answered, d.target);
    // A router that timed out is charged (it was reached and did not answer).
    let charged = e.cooldowns.snapshot(std::time::Instant::now());
    assert!(
        charged
            .iter()
            .any(|v| v.model == "small" && v.failures == 1),
        "{charged:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_429_with_retry_after_waits_then_tries_again() {
    let e = engine(|c| c.max_attempts = 3);
    let wait = Duration::from_millis(1_200);
    let relay = Scripted::new(Some(Ok(router_says("big", "low"))))
        .fails("big", [status(429, "slow down", Some(wait))])
        .fails("small", [status(429, "slow down", Some(wait))]);
    let started = tokio::time::Instant::now();
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    assert_eq!(res.expect("answered").answer, "big");
    // Both candidates were rate limited: the engine waited as asked, then went again.
    assert!(started.elapsed() >= wait, "{:?}", started.elapsed());
    assert_eq!(
        outcomes(&trail),
        vec![
            ("big".to_string(), "rate_limited"),
            ("small".to_string(), "rate_limited"),
            ("big".to_string(), "ok"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_cap_is_not_waited_for() {
    let e = engine(|c| {
        c.max_attempts = 3;
        c.retry_after_cap_ms = 1_000;
    });
    let long = Some(Duration::from_secs(30));
    let relay = Scripted::new(Some(Ok(router_says("big", "low"))))
        .fails("big", [status(429, "slow down", long)])
        .fails("small", [status(429, "slow down", long)]);
    let started = tokio::time::Instant::now();
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    assert!(matches!(res, Err(EngineError::Exhausted(_))), "{res:?}");
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!(trail.attempts.len(), 2);
}

#[tokio::test]
async fn a_relay_that_cannot_be_reached_cools_no_model_down() {
    // Threshold 1: a single charged failure would start a cooldown.
    let e = engine(|c| c.cooldown_failures = 1);
    let refused = || UpstreamError::Connect("connection refused".into());
    let relay = Scripted::new(Some(Err(refused())))
        .fails("big", [refused()])
        .fails("small", [refused()]);
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    let Err(err) = res else {
        panic!("every attempt was refused")
    };
    assert!(matches!(
        err,
        EngineError::Exhausted(UpstreamError::Connect(_))
    ));
    assert_eq!(trail.attempts.len(), 2, "it still fell back");
    assert_eq!(trail.cooldowns_started, 0);
    assert!(
        e.cooldowns.snapshot(std::time::Instant::now()).is_empty(),
        "nothing charged"
    );
    // A 5xx is the model's: the same setting cools it down.
    let relay =
        Scripted::new(Some(Ok(router_says("big", "low")))).fails("big", [status(503, "x", None)]);
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    assert_eq!(res.expect("small answered").answer, "small");
    assert_eq!(trail.cooldowns_started, 1);
    assert!(e.cooldowns.is_cooling("big", std::time::Instant::now()));
}

#[tokio::test]
async fn a_rejected_effort_is_dropped_on_the_same_model() {
    let e = engine(|_| {});
    let relay = Scripted::new(Some(Ok(router_says("big", "high")))).fails(
        "big",
        [status(
            400,
            "Unsupported parameter: 'reasoning_effort'",
            None,
        )],
    );
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    assert_eq!(res.expect("answered").answer, "big");
    let sent = relay.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["reasoning_effort"], "high");
    assert!(sent[1].get("reasoning_effort").is_none(), "{}", sent[1]);
    assert_eq!(sent[1]["model"], "big");
    // A repair is not an attempt, and the decision says what was really sent.
    assert_eq!(outcomes(&trail), vec![("big".to_string(), "ok")]);
    assert_eq!(trail.decision.expect("decision").applied_effort, None);
}

#[tokio::test]
async fn rejected_stream_options_are_dropped_on_the_same_model() {
    let e = engine(|_| {});
    let relay = Scripted::new(Some(Ok(router_says("big", "none"))))
        .fails("big", [status(400, "Unknown field: stream_options", None)]);
    let (res, trail) = route(&e, &request("auto", true), &relay, true).await;
    let routed = res.expect("answered");
    assert!(!routed.usage_added, "the retry went without it");
    let sent = relay.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["stream_options"]["include_usage"], true);
    assert!(sent[1].get("stream_options").is_none(), "{}", sent[1]);
    assert_eq!(trail.attempts.len(), 1);
    // The same 400 on a pass-through request the gateway did not edit is the client's.
    let relay = Scripted::new(None).fails("big", [status(400, "stream_options", None)]);
    let (res, trail) = route(&e, &request("big", true), &relay, false).await;
    assert!(matches!(res, Err(EngineError::Upstream(_))), "{res:?}");
    assert_eq!(relay.sent().len(), 1);
    assert_eq!(trail.source, DecisionSource::Passthrough);
}

#[tokio::test]
async fn when_every_candidate_failed_the_client_gets_the_last_error_and_no_retry() {
    let e = engine(|c| c.max_attempts = 5);
    let relay = Scripted::new(Some(Ok(router_says("big", "low"))))
        .fails("big", [status(502, "bad gateway", None)])
        .fails("small", [status(503, "overloaded", None)]);
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    let Err(err) = res else {
        panic!("nothing answered")
    };
    let (api, headers) = err.to_client();
    assert_eq!(api.status, 503);
    assert!(
        api.message.contains("all attempts failed"),
        "{}",
        api.message
    );
    assert!(api.message.contains("overloaded"), "{}", api.message);
    assert!(headers.contains(&("x-should-retry".to_string(), "false".to_string())));
    // The relay's passed headers come along.
    assert!(
        headers
            .iter()
            .any(|(k, _)| k == "x-ratelimit-remaining-requests")
    );
    assert_eq!(
        outcomes(&trail),
        vec![
            ("big".to_string(), "upstream_5xx"),
            ("small".to_string(), "upstream_5xx"),
        ]
    );
}

#[tokio::test]
async fn a_final_error_is_passed_on_without_fallback() {
    let e = engine(|_| {});
    let relay = Scripted::new(Some(Ok(router_says("big", "low"))))
        .fails("big", [status(404, "no such model", None)]);
    let (res, trail) = route(&e, &request("auto", false), &relay, false).await;
    let Err(err) = res else { panic!("a 404") };
    let (api, headers) = err.to_client();
    assert_eq!(api.status, 404);
    assert!(!headers.iter().any(|(k, _)| k == "x-should-retry"));
    assert_eq!(trail.attempts.len(), 1);
    let table = e.cooldowns.snapshot(std::time::Instant::now());
    assert!(table.iter().all(|v| v.failures == 0), "{table:?}");
}

#[tokio::test]
async fn a_real_model_id_is_forwarded_once_as_it_is() {
    let e = engine(|_| {});
    let relay = Scripted::new(None);
    let req = request("big", false);
    let (res, trail) = route(&e, &req, &relay, true).await;
    assert_eq!(res.expect("answered").answer, "big");
    let sent = relay.sent();
    assert_eq!(sent.len(), 1);
    // Not a stream: nothing added, the body is the client's.
    let client: Value = serde_json::from_slice(req.body.raw()).expect("json");
    assert_eq!(sent[0], client);
    assert_eq!(trail.target.as_deref(), Some("big"));
    assert!(trail.decision.is_none());
}
