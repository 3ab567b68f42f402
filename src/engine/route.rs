//! Routing end to end: [`Engine::route`] takes one [`Request`] to an answer through a
//! [`Relay`], or to the error the client gets.
//!
//! A real model id is forwarded as it is, in one attempt. A virtual model runs the loop:
//! decide (candidates, the router call, or the policy) → rewrite the body (only `model`, and
//! maybe `reasoning_effort` and `stream_options`) → send → on a failure that another model
//! may fix ([`verdict`]), charge the model in the cooldown table unless the relay itself was
//! unreachable, exclude it and decide again, at most `router.max_attempts` times. When no
//! candidate is left but the last failure asked to retry after a short wait (within
//! `router.retry_after_cap_ms`), wait and give the failed models another chance. A 400 about
//! something we added is repaired on the same model without counting an attempt
//! ([`repair`]). When attempts run out the client gets the last error with
//! `x-should-retry: false`, so SDK retries do not multiply ours.
//!
//! What happened is written into a [`Trail`] as it happens (not returned at the end), so a
//! request dropped mid-way (client gone, panic) still leaves its decision and attempts for
//! the accounting sink.

use std::time::{Duration, Instant};

use super::relay::{Relay, Repair, RouterVia, Verdict, repair, verdict};
use super::request::Request;
use super::rewrite::Edits;
use super::{Decision, DecisionSource, Engine};
use crate::catalog::ModelFacts;
use crate::error::ApiError;
use crate::upstream::UpstreamError;

/// One answer attempt on one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub model: String,
    /// `ok`, or the error's short code (`rate_limited`, `timeout`, …).
    pub outcome: &'static str,
    pub ms: u64,
}

/// What routing did for one request, filled in as it goes.
#[derive(Debug, Clone)]
pub struct Trail {
    /// The last decision (for a virtual model), with the effort actually sent.
    pub decision: Option<Decision>,
    pub source: DecisionSource,
    /// The model the last attempt went to.
    pub target: Option<String>,
    pub attempts: Vec<Attempt>,
    /// The last attempt's time to its answer (to the first event for a stream).
    pub answer_ms: u64,
    /// How many models this request put into cooldown.
    pub cooldowns_started: u32,
}

impl Default for Trail {
    fn default() -> Self {
        Trail {
            decision: None,
            source: DecisionSource::Passthrough,
            target: None,
            attempts: Vec::new(),
            answer_ms: 0,
            cooldowns_started: 0,
        }
    }
}

/// A successful answer and what the client's body was sent as.
#[derive(Debug)]
pub struct Routed<A> {
    pub answer: A,
    /// `stream_options` was added by us: the usage chunk is ours to remove.
    pub usage_added: bool,
}

/// Why a request got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// Nothing can serve it (no candidates, no model list): 503 with the reason.
    #[error("{0}")]
    Unroutable(ApiError),
    /// The relay's final answer on an attempt (a 4xx about the request, say), passed on.
    #[error("{0}")]
    Upstream(UpstreamError),
    /// Every attempt failed; the last error.
    #[error("all attempts failed; last error: {0}")]
    Exhausted(UpstreamError),
}

impl EngineError {
    /// The client's error and the extra headers it carries (the relay's passed headers; and
    /// `x-should-retry: false` once our own retries are spent).
    pub fn to_client(&self) -> (ApiError, Vec<(String, String)>) {
        match self {
            EngineError::Unroutable(e) => (e.clone(), Vec::new()),
            EngineError::Upstream(e) => (e.to_api_error(), passed_headers(e)),
            EngineError::Exhausted(e) => {
                let mut headers = passed_headers(e);
                headers.push(("x-should-retry".into(), "false".into()));
                let mut err = e.to_api_error();
                err.message = format!("all attempts failed; last error: {}", err.message);
                (err, headers)
            }
        }
    }
}

fn passed_headers(e: &UpstreamError) -> Vec<(String, String)> {
    match e {
        UpstreamError::Status { headers, .. } => headers.clone(),
        UpstreamError::Connect(_)
        | UpstreamError::Timeout(_)
        | UpstreamError::Stream(_)
        | UpstreamError::Invalid(_) => Vec::new(),
    }
}

/// One attempt's result, repairs included.
struct Tried<A> {
    res: Result<A, UpstreamError>,
    usage_added: bool,
    effort: Option<&'static str>,
    ms: u64,
}

impl Engine {
    /// Route `req` to an answer. `models` is the joined table (ignored for a real id);
    /// `ask_usage` adds `stream_options.include_usage` to a stream (the config's
    /// `usage.stream_usage`). Progress goes into `trail` as it happens.
    pub async fn route<R: Relay>(
        &self,
        models: &[ModelFacts],
        req: &Request,
        relay: &R,
        ask_usage: bool,
        trail: &mut Trail,
    ) -> Result<Routed<R::Answer>, EngineError> {
        let Some(routing) = &req.routing else {
            return self.forward(req, relay, ask_usage, trail).await;
        };
        let ask_usage = ask_usage && req.stream;
        let settings = &self.settings;
        let max_attempts = settings.max_attempts.max(1);
        let cap = Duration::from_millis(settings.retry_after_cap_ms);
        let mut excluded: Vec<String> = Vec::new();
        let mut last_err: Option<UpstreamError> = None;
        while (trail.attempts.len() as u32) < max_attempts {
            let decision = match self
                .decide(
                    models,
                    routing.mode,
                    &routing.view,
                    &routing.features,
                    &excluded,
                    &RouterVia(relay),
                )
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    // Nothing left to try: if a model failed with a short retry-after, wait
                    // and give the failed models another chance.
                    if let Some(wait) = last_err
                        .as_ref()
                        .and_then(UpstreamError::retry_after)
                        .filter(|w| *w <= cap)
                        && !excluded.is_empty()
                    {
                        tokio::time::sleep(wait).await;
                        excluded.clear();
                        continue;
                    }
                    return Err(match last_err {
                        Some(le) => EngineError::Exhausted(le),
                        None => EngineError::Unroutable(e),
                    });
                }
            };
            let target = decision.target.clone();
            let effort = decision.applied_effort;
            trail.source = decision.source;
            trail.target = Some(target.clone());
            trail.decision = Some(decision);
            let t = attempt(relay, req, Some(&target), effort, ask_usage).await;
            trail.answer_ms = t.ms;
            if let Some(d) = trail.decision.as_mut() {
                d.applied_effort = t.effort;
            }
            match self.finish(trail, &target, t) {
                Ok(routed) => return Ok(routed),
                Err(e) => match verdict(&e) {
                    Verdict::Final => return Err(EngineError::Upstream(e)),
                    Verdict::ChargeModel | Verdict::RelayFault => {
                        tracing::debug!(model = %target, error = %e, "attempt failed; re-routing");
                        excluded.push(target);
                        last_err = Some(e);
                    }
                },
            }
        }
        Err(match last_err {
            Some(e) => EngineError::Exhausted(e),
            None => EngineError::Unroutable(ApiError::no_candidates("no attempt was made")),
        })
    }

    /// A real model id: straight through, one attempt; the relay is the authority on whether
    /// the id exists (our list may be stale). [`Engine::route`] does this for a request with
    /// no routing; a front door may call it directly to keep the pass-through path small.
    pub async fn forward<R: Relay>(
        &self,
        req: &Request,
        relay: &R,
        ask_usage: bool,
        trail: &mut Trail,
    ) -> Result<Routed<R::Answer>, EngineError> {
        trail.target = Some(req.model.clone());
        let t = attempt(relay, req, None, None, ask_usage && req.stream).await;
        trail.answer_ms = t.ms;
        self.finish(trail, &req.model, t)
            .map_err(EngineError::Upstream)
    }

    /// Record an attempt on `model` in the trail and the cooldown table (a pass-through
    /// request charges nothing: the client chose the model).
    fn finish<A>(
        &self,
        trail: &mut Trail,
        model: &str,
        t: Tried<A>,
    ) -> Result<Routed<A>, UpstreamError> {
        let routed = trail.decision.is_some();
        let outcome = match &t.res {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        trail.attempts.push(Attempt {
            model: model.to_string(),
            outcome,
            ms: t.ms,
        });
        match t.res {
            Ok(answer) => {
                if routed {
                    self.cooldowns.success(model);
                }
                Ok(Routed {
                    answer,
                    usage_added: t.usage_added,
                })
            }
            Err(e) => {
                if routed && verdict(&e) == Verdict::ChargeModel && self.charge(model) {
                    trail.cooldowns_started += 1;
                }
                Err(e)
            }
        }
    }

    /// Charge a failure to `model`; true when it starts a cooldown.
    fn charge(&self, model: &str) -> bool {
        let s = &self.settings;
        let started = self.cooldowns.failure(
            model,
            s.cooldown_failures,
            Duration::from_secs(s.cooldown_secs),
            Instant::now(),
        );
        if started {
            tracing::warn!(
                model,
                secs = s.cooldown_secs,
                "model cooling down after repeated failures"
            );
        }
        started
    }
}

/// One answer attempt on one model, with the repairs that do not count as attempts: a 400
/// caused by the `reasoning_effort` or the `stream_options` we added is sent again without it.
async fn attempt<R: Relay>(
    relay: &R,
    req: &Request,
    model: Option<&str>,
    mut effort: Option<&'static str>,
    mut include_usage: bool,
) -> Tried<R::Answer> {
    let started = Instant::now();
    loop {
        let (body, facts) = req.body.edit(&Edits {
            model,
            effort,
            include_usage,
        });
        let res = relay.send(body, req.stream).await;
        if let Err(e) = &res {
            match repair(e, effort.is_some(), facts.usage_added) {
                Some(Repair::DropEffort) => {
                    effort = None;
                    continue;
                }
                Some(Repair::DropUsage) => {
                    include_usage = false;
                    continue;
                }
                None => {}
            }
        }
        return Tried {
            res,
            usage_added: facts.usage_added,
            effort,
            ms: started.elapsed().as_millis() as u64,
        };
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
