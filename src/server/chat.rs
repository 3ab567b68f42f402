//! `POST /v1/chat/completions`, the chat front door: parse → route → respond.
//!
//! Parse: the body is scanned once into the engine's [`Request`] (the chat head checked:
//! `model` a non-empty string, `messages` an array). Route: [`Engine::route`] does the rest
//! (a real id is forwarded as it is; a virtual model is decided, rewritten, sent, and falls
//! back), through [`UpstreamRelay`]. Respond: the answer (a JSON body or a committed stream)
//! or the engine's error in the OpenAI shape, with headers that say what happened. The
//! request's outcome travels in an [`Accounted`] guard to the accounting sink.
//!
//! [`Engine::route`]: crate::engine::Engine::route

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use super::accounting::{Accounted, RequestOutcome};
use super::models::ModelState;
use super::relay::{self, UsageTap};
use super::upstream_relay::{Answer, UpstreamRelay};
use super::{AppState, Body, Runtime, error_response, full};
use crate::engine::request::Body as RequestBody;
use crate::engine::{EngineError, Request, Routed};
use crate::error::ApiError;
use crate::upstream::copy_passed_headers;

/// The chat head: the fields every chat request needs, read from the scanned members
/// without building a JSON tree of the messages (a pass-through request is never parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChatHead {
    model: String,
    stream: bool,
}

fn parse_chat_head(body: &RequestBody) -> Result<ChatHead, ApiError> {
    let model = match body.member_as::<String>("model") {
        Some(s) if !s.trim().is_empty() => s,
        _ => {
            return Err(
                ApiError::bad_request("`model` must be a non-empty string").with_param("model")
            );
        }
    };
    if body
        .member("messages")
        .is_none_or(|m| m.first() != Some(&b'['))
    {
        return Err(ApiError::bad_request("`messages` must be an array").with_param("messages"));
    }
    let stream = body.member("stream") == Some(&b"true"[..]);
    Ok(ChatHead { model, stream })
}

/// The chat body as the engine's request.
fn parse_chat(raw: Bytes) -> Result<Request, ApiError> {
    let body = RequestBody::scan(raw).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let head = parse_chat_head(&body)?;
    Ok(Request::new(body, head.model, head.stream))
}

pub async fn chat(
    state: Arc<AppState>,
    rt: Arc<Runtime>,
    request_id: String,
    headers: HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let req = match parse_chat(body) {
        Ok(r) => r,
        Err(e) => {
            let log = Accounted::new(state, RequestOutcome::new(request_id, String::new(), false));
            return fail(log, &e, &[]);
        }
    };
    let outcome = RequestOutcome::new(request_id, req.model.clone(), req.stream);
    let log = Accounted::new(state, outcome);
    let fwd = forwarded(&headers);
    if req.routing.is_none() {
        return pass_through(rt, log, req, fwd).await;
    }
    // Boxed: the routing path's future is large, and pass-through requests need none of it.
    Box::pin(routed(rt, log, req, fwd)).await
}

async fn pass_through(
    rt: Arc<Runtime>,
    mut log: Accounted,
    req: Request,
    fwd: HeaderMap,
) -> Response<Body> {
    let relay = UpstreamRelay {
        upstream: &rt.upstream,
        request_id: &log.outcome.request_id,
        forwarded: &fwd,
    };
    let res = rt
        .engine
        .forward(&req, &relay, ask_usage(&rt), &mut log.outcome.trail)
        .await;
    answer(&rt, log, res)
}

async fn routed(
    rt: Arc<Runtime>,
    mut log: Accounted,
    req: Request,
    fwd: HeaderMap,
) -> Response<Body> {
    let models = match routable_models(log.state(), &req).await {
        Ok(m) => m,
        Err(e) => return fail(log, &e, &[]),
    };
    let relay = UpstreamRelay {
        upstream: &rt.upstream,
        request_id: &log.outcome.request_id,
        forwarded: &fwd,
    };
    let res = rt
        .engine
        .route(
            &models.facts,
            &req,
            &relay,
            ask_usage(&rt),
            &mut log.outcome.trail,
        )
        .await;
    answer(&rt, log, res)
}

/// Whether streams ask the relay for usage (`usage.stream_usage`).
fn ask_usage(rt: &Runtime) -> bool {
    rt.config.usage.stream_usage
}

/// The model table to route among. A degraded start (no list yet) tries once more now
/// rather than failing the first requests (one fetch shared by every request meanwhile).
async fn routable_models(
    state: &Arc<AppState>,
    req: &Request,
) -> Result<Arc<ModelState>, ApiError> {
    let models = state.models.load_full();
    if !models.facts.is_empty() {
        return Ok(models);
    }
    super::models::refresh_shared(state).await;
    let models = state.models.load_full();
    if !models.facts.is_empty() {
        return Ok(models);
    }
    let why = models
        .error
        .clone()
        .unwrap_or_else(|| "the model list is empty".into());
    Err(ApiError::new(
        503,
        "upstream_error",
        "upstream_unavailable",
        format!(
            "the upstream model list is unavailable, so `{}` cannot be routed: {why}",
            req.model
        ),
    ))
}

/// The engine's result as the client's response.
fn answer(
    rt: &Runtime,
    log: Accounted,
    res: Result<Routed<Answer>, EngineError>,
) -> Response<Body> {
    match res {
        Ok(routed) => respond(rt, log, routed),
        Err(e) => {
            let (err, headers) = e.to_client();
            fail(log, &err, &headers)
        }
    }
}

/// Headers that say what happened.
fn apply(log: &Accounted, h: &mut HeaderMap) {
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
    let o = &log.outcome;
    set(h, ORIGINAL, &o.model);
    if let Some(t) = &o.trail.target {
        set(h, TARGET, t);
    }
    h.insert(DECISION, HeaderValue::from_static(o.trail.source.as_str()));
    let attempts = o.trail.attempts.len().max(1);
    if attempts == 1 {
        h.insert(ATTEMPTS, HeaderValue::from_static("1"));
    } else {
        h.insert(ATTEMPTS, HeaderValue::from(attempts));
    }
    if let Some(d) = &o.trail.decision {
        if let Some(r) = &d.router_model {
            set(h, ROUTER, r);
        }
        if let Some(e) = d.applied_effort {
            h.insert(EFFORT, HeaderValue::from_static(e));
        }
    }
}

/// Turn an answer into the client response; the outcome travels with a stream until it ends.
fn respond(rt: &Runtime, mut log: Accounted, routed: Routed<Answer>) -> Response<Body> {
    log.outcome.status = 200;
    match routed.answer {
        Answer::Json {
            headers,
            body,
            usage,
        } => {
            log.outcome.outcome = "ok";
            (log.outcome.prompt_tokens, log.outcome.completion_tokens) = usage;
            let mut r = full(200, "application/json", body);
            apply(&log, r.headers_mut());
            copy_passed_headers(&headers, r.headers_mut());
            r
        }
        Answer::Stream { headers, committed } => {
            log.outcome.trail.answer_ms = committed.first_event.as_millis() as u64;
            let mut h = HeaderMap::new();
            apply(&log, &mut h);
            copy_passed_headers(&headers, &mut h);
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("text/event-stream"));
            // Usage chunks we asked for are removed; ones the client asked for stay.
            let tap = UsageTap::new(routed.usage_added);
            let drain_over = log.state().drain_over.clone();
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

fn fail(mut log: Accounted, err: &ApiError, extra: &[(String, String)]) -> Response<Body> {
    log.outcome.status = err.status;
    log.outcome.outcome = "error";
    log.outcome.error = Some(err.message.clone());
    let mut r = error_response(err, extra);
    apply(&log, r.headers_mut());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &'static str) -> Result<ChatHead, ApiError> {
        let body = RequestBody::scan(Bytes::from_static(s.as_bytes()))
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        parse_chat_head(&body)
    }

    #[test]
    fn head_validation() {
        assert!(head("").is_err());
        assert!(head("{").is_err());
        assert!(parse_chat(Bytes::from_static(b"[]")).is_err());
        assert_eq!(
            head(r#"{"model":"","messages":[]}"#)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
        assert_eq!(
            head(r#"{"model":7,"messages":[]}"#)
                .unwrap_err()
                .param
                .as_deref(),
            Some("model")
        );
        assert_eq!(
            head(r#"{"model":"x","messages":{}}"#)
                .unwrap_err()
                .param
                .as_deref(),
            Some("messages")
        );
        let h = |model: &str, stream| ChatHead {
            model: model.into(),
            stream,
        };
        assert_eq!(
            head(r#"{"model":"x","messages": [],"stream":true}"#).unwrap(),
            h("x", true)
        );
        assert_eq!(
            head(r#"{"model":"x","messages":[],"stream":"true"}"#).unwrap(),
            h("x", false)
        );
        // Escapes in the model name are read as JSON reads them.
        assert_eq!(
            head(r#"{"model":"a\u00e9","messages":[]}"#).unwrap(),
            h("aé", false)
        );
    }
}
