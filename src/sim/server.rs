//! Accept loop, connection handling and request dispatch of the simulated relay.
//!
//! One task per connection (HTTP/1.1, keep-alive on, `TCP_NODELAY` so small SSE chunks are not
//! held back by Nagle). Shutdown cancels a token every task selects on; dropping a connection
//! future closes its socket and drops any in-flight response, which marks it cancelled.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderName,
    HeaderValue,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;

use super::answer::{self, ChatFacts, Reply};
use super::body::{CancelGuard, SimBody};
use super::{Recorded, Shared, SseEnd, Step, error_json, gzip, lock};

/// Request bodies above this are refused (base64 images fit comfortably).
const MAX_BODY: usize = 64 * 1024 * 1024;

pub(super) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually fd exhaustion: back off instead of spinning.
                tracing::warn!(error = %e, "sim relay: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        shared
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "sim relay: set_nodelay failed");
        }
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let token = shared.shutdown.clone();
            let svc = service_fn(move |req| handle(Arc::clone(&shared), req));
            let conn = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                r = conn => if let Err(e) = r {
                    tracing::debug!(%peer, error = %e, "sim relay: connection ended with an error");
                },
                _ = token.cancelled() => {}
            }
        });
    }
    tracing::debug!("sim relay: stopped accepting");
}

/// Everything a response needs besides its body.
struct ReplyCtx {
    request_id: String,
    guard: CancelGuard,
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<SimBody>, Infallible> {
    let n = shared.counter.fetch_add(1, Ordering::Relaxed) + 1;
    let cancelled = Arc::new(AtomicBool::new(false));
    // Created first so that a client leaving while the body is still being read also counts.
    let guard = CancelGuard::new(Arc::clone(&cancelled));
    let ctx = ReplyCtx {
        request_id: format!("sim-{n}"),
        guard,
    };
    let (parts, body) = req.into_parts();
    if parts.method == Method::POST
        && parts.uri.path() == "/v1/chat/completions"
        && let Some((status, err)) = shared.take_reject_unread()
    {
        // The body stays unread: hyper closes the connection after this answer (the
        // `connection: close` below), with the client possibly still writing.
        drop(body);
        shared.record(recorded(&parts, Value::Null, cancelled));
        let mut resp = json_response(ctx, status_code(status), &err, &[]);
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Ok(resp);
    }
    let bytes = match Limited::new(body, MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            tracing::debug!(error = %e, "sim relay: could not read request body");
            return Ok(json_response(
                ctx,
                StatusCode::PAYLOAD_TOO_LARGE,
                &error_json(413, "request body unreadable or too large"),
                &[],
            ));
        }
    };
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let path = parts.uri.path();
    shared.record(recorded(&parts, json.clone(), cancelled));

    if let Some(key) = &shared.opts.require_key {
        let ok = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            == Some(key.as_str());
        if !ok {
            return Ok(json_response(
                ctx,
                StatusCode::UNAUTHORIZED,
                &error_json(401, "Incorrect API key provided."),
                &[],
            ));
        }
    }

    let resp = match (&parts.method, path) {
        (&Method::GET, "/v1/models") => {
            let step = lock(&shared.models_script).pop_front();
            match step {
                Some(Step::Default { delay }) => models_list(&shared, ctx, delay).await,
                Some(step) => play(step, ctx).await,
                None => models_list(&shared, ctx, Duration::ZERO).await,
            }
        }
        (&Method::GET, p) if p.starts_with("/v1/models/") => {
            let id = &p["/v1/models/".len()..];
            let found = lock(&shared.models)
                .0
                .iter()
                .find(|m| m.get("id").and_then(Value::as_str) == Some(id))
                .cloned();
            match found {
                Some(m) => json_response(ctx, StatusCode::OK, &m, &[]),
                None => {
                    let msg = format!("The model `{id}` does not exist");
                    json_response(ctx, StatusCode::NOT_FOUND, &error_json(404, &msg), &[])
                }
            }
        }
        (&Method::POST, "/v1/chat/completions") => {
            if !json.is_object() {
                let e = error_json(400, "We could not parse the JSON body of your request.");
                return Ok(json_response(ctx, StatusCode::BAD_REQUEST, &e, &[]));
            }
            let model = json.get("model").and_then(Value::as_str);
            match shared.next_step(model) {
                Some(Step::Default { delay }) => {
                    chat_default(&shared, ctx, &json, bytes.len(), delay).await
                }
                Some(step) => play(step, ctx).await,
                None => chat_default(&shared, ctx, &json, bytes.len(), Duration::ZERO).await,
            }
        }
        (&Method::POST, "/_sim/clear") => {
            lock(&shared.scripts).clear();
            lock(&shared.models_script).clear();
            json_response(ctx, StatusCode::OK, &serde_json::json!({"ok": true}), &[])
        }
        (&Method::POST, "/_sim/script") => match script_from_json(&json) {
            // Out-of-process tests (the Python SDK suite, the benchmark) script the relay
            // over HTTP; in-process tests call `SimRelay::script` directly.
            Ok((model, step)) => {
                lock(&shared.scripts)
                    .entry(model)
                    .or_default()
                    .push_back(step);
                json_response(ctx, StatusCode::OK, &serde_json::json!({"ok": true}), &[])
            }
            Err(msg) => json_response(ctx, StatusCode::BAD_REQUEST, &error_json(400, &msg), &[]),
        },
        (_, "/v1/models" | "/v1/chat/completions") => {
            let e = error_json(405, "Method not allowed.");
            json_response(ctx, StatusCode::METHOD_NOT_ALLOWED, &e, &[])
        }
        _ => {
            let e = error_json(
                404,
                &format!("Unknown request URL: {} {path}", parts.method),
            );
            json_response(ctx, StatusCode::NOT_FOUND, &e, &[])
        }
    };
    Ok(resp)
}

/// What the relay keeps of a request (`json` is its body, `Null` when not JSON or unread).
fn recorded(parts: &http::request::Parts, json: Value, cancelled: Arc<AtomicBool>) -> Recorded {
    Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        model: json.get("model").and_then(Value::as_str).map(str::to_owned),
        is_router_call: answer::is_router_call(&json),
        stream: json.get("stream").and_then(Value::as_bool).unwrap_or(false),
        body: json,
        cancelled,
    }
}

async fn sleep_nonzero(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

async fn models_list(shared: &Shared, ctx: ReplyCtx, delay: Duration) -> Response<SimBody> {
    sleep_nonzero(shared.opts.latency + delay).await;
    let list = lock(&shared.models).1.clone();
    let body = SimBody::full(list, ctx.guard);
    response(ctx.request_id, StatusCode::OK, "application/json", body)
}

/// Plays a scripted step (other than `Default`, which needs request context).
async fn play(step: Step, ctx: ReplyCtx) -> Response<SimBody> {
    match step {
        Step::Json {
            status,
            body,
            headers,
            delay,
        } => {
            sleep_nonzero(delay).await;
            json_response(ctx, status_code(status), &body, &headers)
        }
        Step::Sse {
            status,
            chunks,
            delay,
            gap,
            end,
        } => {
            sleep_nonzero(delay).await;
            sse_response(ctx, status_code(status), chunks, gap, end)
        }
        Step::Hang => {
            // Dropped by hyper when the client leaves, or by the connection task on shutdown;
            // the guard inside `ctx` then records the cancellation.
            let _ctx = ctx;
            let never: Infallible = std::future::pending().await;
            match never {}
        }
        Step::StallBody {
            status,
            content_length,
            sent,
        } => {
            let body = SimBody::chunks(vec![sent], Duration::ZERO, SseEnd::Hang, ctx.guard);
            let mut resp = response(
                ctx.request_id,
                status_code(status),
                "application/json",
                body,
            );
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from(content_length));
            resp
        }
        Step::RejectUnread { status, body } => {
            // Out of the `"*"` queue it is played before the body is read (see `handle`);
            // from a model's queue the body was read already, and only the close remains.
            let mut resp = json_response(ctx, status_code(status), &body, &[]);
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            resp
        }
        Step::GzipJson { status, body } => match gzip::whole(body.to_string().as_bytes()) {
            Ok(gz) => {
                let body = SimBody::full(gz, ctx.guard);
                let mut resp = response(
                    ctx.request_id,
                    status_code(status),
                    "application/json",
                    body,
                );
                resp.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                resp
            }
            Err(e) => gzip_failed(ctx, &e),
        },
        Step::GzipSse { chunks, gap, end } => match gzip::flushed(&chunks) {
            Ok(mut gz) => {
                if end != SseEnd::Close {
                    // The last piece is the trailer: a body that never ends has none.
                    gz.pop();
                }
                let mut resp = sse_response(ctx, StatusCode::OK, gz, gap, end);
                resp.headers_mut()
                    .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                resp
            }
            Err(e) => gzip_failed(ctx, &e),
        },
        Step::Default { .. } => {
            // Callers handle `Default` themselves; answering 500 keeps this total.
            let e = error_json(500, "sim relay: default step played out of context");
            json_response(ctx, StatusCode::INTERNAL_SERVER_ERROR, &e, &[])
        }
    }
}

/// Compressing into memory does not fail in practice; if it did, a 500 keeps `play` total.
fn gzip_failed(ctx: ReplyCtx, e: &std::io::Error) -> Response<SimBody> {
    tracing::warn!(error = %e, "sim relay: gzip failed");
    let e = error_json(500, "sim relay: gzip failed");
    json_response(ctx, StatusCode::INTERNAL_SERVER_ERROR, &e, &[])
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or_else(|_| {
        tracing::warn!(status, "sim relay: invalid scripted status, using 500");
        StatusCode::INTERNAL_SERVER_ERROR
    })
}

async fn chat_default(
    shared: &Shared,
    ctx: ReplyCtx,
    body: &Value,
    body_len: usize,
    delay: Duration,
) -> Response<SimBody> {
    sleep_nonzero(shared.opts.latency + delay).await;
    let facts = ChatFacts::from_body(body, body_len);
    let id = format!("chatcmpl-{}", ctx.request_id);
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let reply = if facts.is_router_call {
        // Only the first listed id is needed, for payloads without usable candidates.
        let fallback = lock(&shared.models)
            .0
            .iter()
            .find_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned));
        Reply::Text(answer::router_decision(body, fallback.as_deref()).to_string())
    } else if let Some(name) = facts.tool_call {
        Reply::ToolCall { name }
    } else {
        Reply::Text(answer::answer_text(body, facts.model))
    };
    if !facts.stream {
        let v = answer::completion_json(&id, created, &facts, &reply);
        return json_response(ctx, StatusCode::OK, &v, &[]);
    }
    let chunks = match &reply {
        Reply::Text(text) => answer::text_stream(
            &id,
            created,
            facts.model,
            text,
            shared.opts.stream_chunks,
            answer::stream_usage(&facts, text.len()),
        ),
        Reply::ToolCall { name } => answer::tool_stream(
            &id,
            created,
            facts.model,
            name,
            answer::stream_usage(&facts, name.len() + 2),
        ),
    };
    sse_response(
        ctx,
        StatusCode::OK,
        chunks,
        shared.opts.chunk_delay,
        SseEnd::Close,
    )
}

fn json_response(
    ctx: ReplyCtx,
    status: StatusCode,
    body: &Value,
    extra: &[(String, String)],
) -> Response<SimBody> {
    let bytes = Bytes::from(body.to_string());
    let body = SimBody::full(bytes, ctx.guard);
    let mut resp = response(ctx.request_id, status, "application/json", body);
    for (k, v) in extra {
        match (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            (Ok(k), Ok(v)) => {
                resp.headers_mut().insert(k, v);
            }
            _ => tracing::warn!(header = %k, "sim relay: invalid scripted header skipped"),
        }
    }
    resp
}

fn sse_response(
    ctx: ReplyCtx,
    status: StatusCode,
    chunks: Vec<Bytes>,
    gap: Duration,
    end: SseEnd,
) -> Response<SimBody> {
    let body = SimBody::chunks(chunks, gap, end, ctx.guard);
    let mut resp = response(ctx.request_id, status, "text/event-stream", body);
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// A response with the headers every relay answer carries.
fn response(
    request_id: String,
    status: StatusCode,
    content_type: &'static str,
    body: SimBody,
) -> Response<SimBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::try_from(request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h.insert(
        HeaderName::from_static("x-ratelimit-remaining-requests"),
        HeaderValue::from_static("999"),
    );
    resp
}

/// Parse a `/_sim/script` request:
/// `{"model": "m", "status": 429, "body": {...}, "headers": {"k": "v"}, "delay_ms": 0}` for a
/// JSON answer, or `{"model": "m", "sse": ["raw", "chunks"], "gap_ms": 0, "end": "close"}`
/// for a stream (`end`: close, hang or reset).
fn script_from_json(v: &Value) -> Result<(String, Step), String> {
    let model = v
        .get("model")
        .and_then(Value::as_str)
        .ok_or("`model` is required")?
        .to_owned();
    let ms = |k: &str| Duration::from_millis(v.get(k).and_then(Value::as_u64).unwrap_or(0));
    let status = v.get("status").and_then(Value::as_u64).unwrap_or(200) as u16;
    if let Some(chunks) = v.get("sse").and_then(Value::as_array) {
        let chunks = chunks
            .iter()
            .filter_map(Value::as_str)
            .map(|c| bytes::Bytes::from(c.to_owned()))
            .collect();
        let end = match v.get("end").and_then(Value::as_str).unwrap_or("close") {
            "close" => SseEnd::Close,
            "hang" => SseEnd::Hang,
            "reset" => SseEnd::Reset,
            other => return Err(format!("unknown `end` {other}: use close, hang or reset")),
        };
        return Ok((
            model,
            Step::Sse {
                status,
                chunks,
                delay: ms("delay_ms"),
                gap: ms("gap_ms"),
                end,
            },
        ));
    }
    if v.get("hang").and_then(Value::as_bool) == Some(true) {
        return Ok((model, Step::Hang));
    }
    let headers = v
        .get("headers")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, val)| val.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    Ok((
        model,
        Step::Json {
            status,
            body: v.get("body").cloned().unwrap_or(Value::Null),
            headers,
            delay: ms("delay_ms"),
        },
    ))
}
