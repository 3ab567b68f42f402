//! The client to the relay: chat calls, model lists and proxies, all through one
//! `reqwest::Client` (hyper underneath: connection reuse, HTTP/2 when the relay offers it by
//! ALPN, rustls with the platform verifier, proxies and `NO_PROXY` from the environment).
//!
//! Invariants: the relay key is only ever sent as `Authorization` to the relay and never
//! appears in an error message (messages pass through [`crate::error::redact`]); a request
//! the relay may have read is never sent again by this module (no redirects followed, and
//! reqwest only retries what the relay refused unread: HTTP/2 `REFUSED_STREAM` or a graceful
//! `GOAWAY`, and a pooled HTTP/1 connection found closed before the request was written);
//! every stage this module reads is bounded: connect (`connect_timeout_ms`), the response
//! head (the caller's budget), a non-2xx error body (that budget, and the idle timeout per
//! chunk), a whole answer read with [`ChatResponse::bytes`] (the idle timeout per chunk; the
//! total timeout in [`Upstream::chat_json`]). A streamed body is handed over unbounded: its
//! idle bound is the relay's (`server::relay::lookahead` until the first event, the idle
//! timeout in `server::relay::relay_body` after it), which turns it into an SSE error event.
//! The body the caller gets is plain: gzip is decoded here (see [`Upstream::new`]).

pub mod sse;

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use tokio::time::Instant;

use crate::config::UpstreamConfig;
use crate::error::{ApiError, redact};

/// Largest error body read from the relay.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Idle connections are kept this long for reuse.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Request headers from the client that are forwarded to the relay.
/// (Names are constants: a `&str` name is parsed and validated on every use.)
pub const FORWARDED_REQUEST_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("openai-organization"),
    HeaderName::from_static("openai-project"),
    HeaderName::from_static("openai-beta"),
    HeaderName::from_static("idempotency-key"),
    http::header::USER_AGENT,
];

/// Our request id on the way to the relay.
const X_LLM_ROUTER_REQUEST_ID: HeaderName = HeaderName::from_static("x-llm-router-request-id");

/// Why a relay call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach the relay: {0}")]
    Connect(String),
    #[error("the relay timed out waiting for the {0}")]
    Timeout(Stage),
    #[error("the relay answered HTTP {status}: {message}")]
    Status {
        status: u16,
        message: String,
        kind: Option<String>,
        code: Option<String>,
        retry_after: Option<Duration>,
        headers: Vec<(String, String)>,
    },
    /// A 200 whose body or first stream event is an error, or a stream that closed empty.
    #[error("the relay stream failed: {0}")]
    Stream(String),
    #[error("the relay sent an invalid response: {0}")]
    Invalid(String),
}

/// The stage of a relay call a timeout ended: the engine tells a relay that cannot be reached
/// (`Connect`) from a model that is slow to answer (every other stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The TCP (and TLS) connection.
    Connect,
    /// The response head, within the first-byte budget.
    FirstByte,
    /// A response reqwest gave up on after connecting.
    Response,
    /// The first real event of a stream (`server::relay::lookahead`).
    FirstEvent,
    /// A whole non-streaming answer, within the total timeout.
    CompleteAnswer,
    /// The router model's whole answer, within `router.timeout_ms`.
    RouterAnswer,
    /// `GET /v1/models`.
    ModelList,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connection",
            Stage::FirstByte => "first byte",
            Stage::Response => "response",
            Stage::FirstEvent => "first stream event",
            Stage::CompleteAnswer => "complete answer",
            Stage::RouterAnswer => "router answer",
            Stage::ModelList => "model list",
        })
    }
}

impl UpstreamError {
    /// The client status for this error (the one mapping; [`UpstreamError::to_api_error`]
    /// builds the envelope from it). What an error means for fallback and cooldowns is the
    /// engine's rule: `engine::relay::verdict`.
    pub fn status(&self) -> u16 {
        match self {
            UpstreamError::Connect(_) => 502,
            UpstreamError::Timeout(_) => 504,
            UpstreamError::Status { status, .. } => *status,
            UpstreamError::Stream(_) | UpstreamError::Invalid(_) => 502,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            UpstreamError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Short machine code for logs and attempt records.
    pub fn code(&self) -> &'static str {
        match self {
            UpstreamError::Connect(_) => "connect_error",
            UpstreamError::Timeout(_) => "timeout",
            UpstreamError::Status { status: 429, .. } => "rate_limited",
            UpstreamError::Status { status, .. } if *status >= 500 => "upstream_5xx",
            UpstreamError::Status { .. } => "upstream_4xx",
            UpstreamError::Stream(_) => "stream_error",
            UpstreamError::Invalid(_) => "invalid_response",
        }
    }

    /// The OpenAI-shaped error for the client: the upstream status and message, typed so an
    /// upstream 401 is distinguishable from a wrong router key.
    pub fn to_api_error(&self) -> ApiError {
        let status = self.status();
        match self {
            UpstreamError::Status {
                message,
                kind,
                code,
                ..
            } => {
                let default_kind = match status {
                    400 | 404 | 409 | 413 | 422 => "invalid_request_error",
                    401 => "upstream_authentication_error",
                    403 => "permission_error",
                    429 => "rate_limit_error",
                    _ => "upstream_error",
                };
                let kind: &'static str = match kind.as_deref() {
                    // Our own 401 means "wrong router key"; the relay's must look different.
                    _ if status == 401 => "upstream_authentication_error",
                    Some("invalid_request_error") => "invalid_request_error",
                    Some("rate_limit_error") | Some("rate_limit_exceeded") => "rate_limit_error",
                    Some("insufficient_quota") => "insufficient_quota",
                    Some("server_error") => "server_error",
                    _ => default_kind,
                };
                let message = if status == 401 {
                    format!("the relay rejected its key (upstream.api_key): {message}")
                } else {
                    message.clone()
                };
                ApiError {
                    status,
                    kind,
                    code: code.clone().or_else(|| Some(self.code().to_string())),
                    message,
                    param: None,
                }
            }
            UpstreamError::Timeout(_) => {
                ApiError::new(504, "timeout_error", "upstream_timeout", self.to_string())
            }
            UpstreamError::Connect(_) | UpstreamError::Stream(_) | UpstreamError::Invalid(_) => {
                ApiError::new(status, "upstream_error", self.code(), self.to_string())
            }
        }
    }
}

/// A body read error (the connection broke mid-body), as a message without secrets.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// An upstream response body as a stream of chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, BodyError>> + Send>>;

/// A 2xx chat answer whose head has arrived; the body is still on the wire.
pub struct ChatResponse {
    headers: HeaderMap,
    body: reqwest::Response,
    /// Longest silence between two body chunks for [`ChatResponse::bytes`].
    idle: Duration,
}

impl ChatResponse {
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The head, and the body as a stream of chunks (decoded if the relay compressed it).
    /// The stream has no deadline of its own: the streaming relay bounds it.
    pub fn into_parts(self) -> (HeaderMap, ByteStream) {
        let stream: ByteStream = Box::pin(
            self.body
                .bytes_stream()
                .map_err(|e| BodyError(body_error_text(&e))),
        );
        (self.headers, stream)
    }

    /// The whole body, each chunk within the idle timeout. A small body is copied out of the
    /// connection's read buffer, so the buffer is free for the connection's next response
    /// while this answer is written out.
    pub async fn bytes(self) -> Result<Bytes, BodyError> {
        let idle = self.idle;
        Self::collect_stream(self.into_parts().1, idle).await
    }
}

/// A body error as text: reqwest's message and its sources (the URL is left out).
fn body_error_text(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// Bodies up to this size are copied into their own allocation (see [`ChatResponse::bytes`]).
const COMPACT_MAX: usize = 16 * 1024;

/// A small `Bytes` that shares a larger buffer (a connection's read buffer) gets its own
/// exact-size copy: holding a 70-byte slice must not pin an 8 KiB buffer per connection.
pub fn compact(b: Bytes) -> Bytes {
    if b.len() <= COMPACT_MAX && !b.is_empty() {
        Bytes::copy_from_slice(&b)
    } else {
        b
    }
}

/// A configured relay client.
#[derive(Clone)]
pub struct Upstream {
    /// The one client for everything sent to the relay (cheap to clone: an `Arc`).
    client: reqwest::Client,
    base: String,
    /// Parsed once: parsing (IDNA included) per request showed up in profiles.
    chat_url: reqwest::Url,
    models_url: reqwest::Url,
    /// Whether the environment names a proxy for the relay (decided as reqwest decides).
    via_proxy: bool,
    key: Option<String>,
    /// `Bearer <key>`, marked sensitive.
    auth: Option<HeaderValue>,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    pub total_timeout: Duration,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Upstream")
            .field("base", &self.base)
            .finish()
    }
}

impl Upstream {
    /// `base_v1` ends with `/v1` (see `Config::upstream_v1_base`).
    pub fn new(
        base_v1: &str,
        key: Option<String>,
        cfg: &UpstreamConfig,
    ) -> Result<Self, UpstreamError> {
        let connect_timeout = Duration::from_millis(cfg.connect_timeout_ms);
        // Compression: reqwest asks for gzip and decodes it, removing `content-encoding` and
        // `content-length` from the head, so everything past this module (the SSE decoder,
        // the JSON check, the byte-splicing rewrite) sees plain bytes and the client never
        // gets a stale encoding header (relay framing headers are never forwarded anyway).
        // Passing compressed bytes through instead would break all three. Other encodings
        // are not asked for; a 2xx that uses one anyway is refused clearly in
        // `check_status`, not read as garbage.
        //
        // No redirects: a relay that redirects a chat call gets its 3xx passed on, never a
        // second copy of the request sent elsewhere. HTTP/2 is used when TLS ALPN offers it
        // (reqwest's default with the `http2` feature; plain `http://` stays HTTP/1.1).
        // TLS: reqwest's `rustls` feature verifies with `rustls-platform-verifier` (the OS
        // trust store), which is what we want; nothing to configure.
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(POOL_IDLE)
            .tcp_nodelay(true)
            .gzip(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::Connect(format!("cannot build the HTTP client: {e}")))?;
        let base = base_v1.trim_end_matches('/').to_string();
        let invalid =
            |e: String| UpstreamError::Connect(format!("invalid upstream URL {base}: {e}"));
        let parse = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}")).map_err(|e| invalid(e.to_string()))
        };
        let chat_url = parse("/chat/completions")?;
        let models_url = parse("/models")?;
        let via_proxy = proxy_for(&chat_url);
        let key = key.filter(|k| !k.is_empty());
        let auth = match &key {
            Some(k) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {k}")).map_err(|_| {
                    UpstreamError::Connect(
                        "the relay key (upstream.api_key) contains characters that cannot go in an HTTP header".into(),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        Ok(Self {
            client,
            chat_url,
            models_url,
            via_proxy,
            base,
            key,
            auth,
            first_byte_timeout: Duration::from_millis(cfg.first_byte_timeout_ms),
            idle_timeout: Duration::from_millis(cfg.idle_timeout_ms),
            total_timeout: Duration::from_millis(cfg.total_timeout_ms),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether a proxy from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, minus
    /// `NO_PROXY`) carries relay calls; for the start-up log.
    pub fn via_proxy(&self) -> bool {
        self.via_proxy
    }

    fn secrets(&self) -> Vec<&str> {
        self.key.as_deref().into_iter().collect()
    }

    fn clean(&self, text: &str) -> String {
        redact(text, &self.secrets())
    }

    fn transport_error(&self, e: &reqwest::Error) -> UpstreamError {
        if e.is_timeout() {
            return if e.is_connect() {
                UpstreamError::Timeout(Stage::Connect)
            } else {
                UpstreamError::Timeout(Stage::Response)
            };
        }
        // `without_url` (by the callers) keeps query-string keys out of messages.
        UpstreamError::Connect(self.clean(&body_error_text(e)))
    }

    /// `GET /v1/models`: the `data` array.
    pub async fn models(&self) -> Result<Vec<Value>, UpstreamError> {
        let budget = self.first_byte_timeout.min(Duration::from_secs(30));
        let deadline = Instant::now() + budget;
        let fut = async {
            let mut rb = self.client.get(self.models_url.clone());
            if let Some(a) = &self.auth {
                rb = rb.header(http::header::AUTHORIZATION, a.clone());
            }
            let resp = rb
                .send()
                .await
                .map_err(|e| self.transport_error(&e.without_url()))?;
            let resp = self.check_status(resp, deadline).await?;
            let body = resp
                .bytes()
                .await
                .map_err(|e| UpstreamError::Connect(self.clean(&e.0)))?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|e| UpstreamError::Invalid(format!("models list is not JSON: {e}")))?;
            match v.get("data") {
                Some(Value::Array(a)) => Ok(a.clone()),
                _ => Err(UpstreamError::Invalid(
                    "models list has no `data` array".into(),
                )),
            }
        };
        tokio::time::timeout_at(deadline, fut)
            .await
            .map_err(|_| UpstreamError::Timeout(Stage::ModelList))?
    }

    /// Send a chat request; resolves when response headers arrive (within the first-byte
    /// timeout) with a 2xx status, else the classified error.
    pub async fn send_chat(
        &self,
        body: Bytes,
        request_id: &str,
        forwarded: &HeaderMap,
    ) -> Result<ChatResponse, UpstreamError> {
        self.send_chat_within(body, request_id, forwarded, self.first_byte_timeout)
            .await
    }

    /// [`Upstream::send_chat`] with its own budget for the head (and a non-2xx body).
    pub async fn send_chat_within(
        &self,
        body: Bytes,
        request_id: &str,
        forwarded: &HeaderMap,
        timeout: Duration,
    ) -> Result<ChatResponse, UpstreamError> {
        let deadline = Instant::now() + timeout;
        let send = self
            .client
            .post(self.chat_url.clone())
            .headers(self.chat_headers(request_id, forwarded))
            .body(body)
            .send();
        let resp = tokio::time::timeout_at(deadline, send)
            .await
            .map_err(|_| UpstreamError::Timeout(Stage::FirstByte))?
            .map_err(|e| self.transport_error(&e.without_url()))?;
        self.check_status(resp, deadline).await
    }

    /// The router model's call: the whole answer within `timeout` (head and body together).
    /// No client headers are forwarded: the router call is ours, not the client's.
    pub async fn router_call(
        &self,
        body: Bytes,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let fut = async {
            let resp = self
                .send_chat_within(body, request_id, &HeaderMap::new(), timeout)
                .await?;
            resp.bytes()
                .await
                .map_err(|e| UpstreamError::Stream(self.clean(&e.0)))
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| UpstreamError::Timeout(Stage::RouterAnswer))?
    }

    /// The headers of a chat call: content type, the relay key, our request id, and the
    /// client headers worth forwarding.
    fn chat_headers(&self, request_id: &str, forwarded: &HeaderMap) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(8);
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(a) = &self.auth {
            h.insert(http::header::AUTHORIZATION, a.clone());
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(X_LLM_ROUTER_REQUEST_ID, v);
        }
        for name in &FORWARDED_REQUEST_HEADERS {
            if let Some(v) = forwarded.get(name) {
                h.insert(name.clone(), v.clone());
            }
        }
        h
    }

    /// Non-streaming chat: the whole body within the total timeout. A 200 whose JSON has an
    /// `error` member is treated as a failure (some relays do that).
    pub async fn chat_json(
        &self,
        body: Bytes,
        request_id: &str,
        forwarded: &HeaderMap,
    ) -> Result<(HeaderMap, Bytes, TokenUsage), UpstreamError> {
        let fut = async {
            let resp = self
                .send_chat_within(body, request_id, forwarded, self.total_timeout)
                .await?;
            let headers = resp.headers().clone();
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| UpstreamError::Connect(self.clean(&e.0)))?;
            let usage =
                check_json_answer(&bytes).map_err(|m| UpstreamError::Stream(self.clean(&m)))?;
            Ok((headers, bytes, usage))
        };
        tokio::time::timeout(self.total_timeout, fut)
            .await
            .map_err(|_| UpstreamError::Timeout(Stage::CompleteAnswer))?
    }

    /// A 2xx becomes a [`ChatResponse`]; anything else the classified error, its body read
    /// until `deadline` (and the idle timeout per chunk) and at most [`MAX_ERROR_BODY`]: a
    /// relay that sends an error head and stalls must not hold the request (and the
    /// fallback to the next model) forever. What arrived by then is used.
    async fn check_status(
        &self,
        mut resp: reqwest::Response,
        deadline: Instant,
    ) -> Result<ChatResponse, UpstreamError> {
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            if let Some(enc) = undecoded_encoding(resp.headers()) {
                return Err(UpstreamError::Invalid(format!(
                    "the relay answered with content-encoding `{}`, which the gateway does not decode (only gzip)",
                    self.clean(&enc)
                )));
            }
            return Ok(ChatResponse {
                headers: std::mem::take(resp.headers_mut()),
                body: resp,
                idle: self.idle_timeout,
            });
        }
        let retry_after = parse_retry_after(resp.headers());
        let passed = pass_headers(resp.headers());
        let mut body = Vec::new();
        while body.len() < MAX_ERROR_BODY {
            let chunk_deadline = deadline.min(Instant::now() + self.idle_timeout);
            match tokio::time::timeout_at(chunk_deadline, resp.chunk()).await {
                Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tracing::debug!(status, error = %self.clean(&body_error_text(&e.without_url())), "relay error body broke off");
                    break;
                }
                Err(_) => {
                    tracing::debug!(
                        status,
                        read = body.len(),
                        "relay error body stalled; using what arrived"
                    );
                    break;
                }
            }
        }
        let (message, kind, code) = error_fields(&body, status);
        Err(UpstreamError::Status {
            status,
            message: self.clean(&message),
            kind,
            code,
            retry_after,
            headers: passed,
        })
    }
}

/// A `content-encoding` left on a response after reqwest decoded what it decodes (gzip).
fn undecoded_encoding(h: &HeaderMap) -> Option<String> {
    let v = h.get(http::header::CONTENT_ENCODING)?;
    let text = String::from_utf8_lossy(v.as_bytes()).trim().to_string();
    (!text.is_empty() && !text.eq_ignore_ascii_case("identity")).then_some(text)
}

/// Whether reqwest sends requests for `url` through a proxy named in the environment: the
/// same matcher reqwest builds its default proxy from.
fn proxy_for(url: &reqwest::Url) -> bool {
    let Ok(uri) = url.as_str().parse::<http::Uri>() else {
        return false;
    };
    hyper_util::client::proxy::matcher::Matcher::from_system()
        .intercept(&uri)
        .is_some()
}

impl ChatResponse {
    /// Read a body stream to its end, each chunk within `idle` (one chunk: no copy; small
    /// bodies: see [`compact`]).
    async fn collect_stream(mut stream: ByteStream, idle: Duration) -> Result<Bytes, BodyError> {
        let mut next = async || -> Result<Option<Bytes>, BodyError> {
            tokio::time::timeout(idle, stream.next())
                .await
                .map_err(|_| {
                    BodyError(format!(
                        "the relay sent nothing for {} ms in the middle of the answer (upstream.idle_timeout_ms)",
                        idle.as_millis()
                    ))
                })?
                .transpose()
        };
        let Some(first) = next().await? else {
            return Ok(Bytes::new());
        };
        let Some(second) = next().await? else {
            return Ok(compact(first));
        };
        let mut buf = bytes::BytesMut::with_capacity(first.len() + second.len());
        buf.extend_from_slice(&first);
        buf.extend_from_slice(&second);
        while let Some(chunk) = next().await? {
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    }
}

/// Message, type and code of an upstream error body (OpenAI, OpenRouter or plain shapes).
pub fn error_fields(body: &[u8], status: u16) -> (String, Option<String>, Option<String>) {
    let fallback = format!("upstream request failed with HTTP {status}");
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let t = text.trim();
        return if t.is_empty() || t.starts_with('<') {
            (fallback, None, None)
        } else {
            (t.chars().take(300).collect(), None, None)
        };
    };
    let err = v.get("error").unwrap_or(&v);
    let message = match err {
        Value::String(s) => s.clone(),
        _ => err
            .get("message")
            .or_else(|| v.get("message"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or(fallback),
    };
    let kind = err.get("type").and_then(Value::as_str).map(str::to_string);
    // OpenRouter uses numeric codes; keep strings only.
    let code = err.get("code").and_then(Value::as_str).map(str::to_string);
    (message, kind, code)
}

/// Token counts a relay reported for an answer.
pub type TokenUsage = (Option<u64>, Option<u64>);

/// A 2xx JSON chat answer must be JSON and must not be an error object. One pass over the
/// body also yields its token usage (the body is not parsed twice).
fn check_json_answer(bytes: &[u8]) -> Result<TokenUsage, String> {
    #[derive(serde::Deserialize)]
    struct Usage {
        prompt_tokens: Option<u64>,
        completion_tokens: Option<u64>,
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(default)]
        error: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        usage: Option<Usage>,
    }
    match serde_json::from_slice::<Probe>(bytes) {
        Ok(Probe { error: Some(_), .. }) => {
            let (m, _, _) = error_fields(bytes, 200);
            Err(format!("HTTP 200 carrying an error: {m}"))
        }
        Ok(Probe { usage, .. }) => {
            Ok(usage.map_or((None, None), |u| (u.prompt_tokens, u.completion_tokens)))
        }
        Err(e) => Err(format!("answer is not JSON: {e}")),
    }
}

/// `retry-after-ms` or `retry-after` (seconds; HTTP dates are ignored).
pub fn parse_retry_after(h: &HeaderMap) -> Option<Duration> {
    if let Some(ms) = h
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
    {
        return Some(Duration::from_millis(ms as u64));
    }
    h.get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|s| Duration::from_millis((s * 1000.0) as u64))
}

/// Whether an upstream response header is passed back to the client: rate limits,
/// processing time, retry hints. The relay's request id is passed renamed.
fn passed(name: &str) -> bool {
    name.starts_with("x-ratelimit-")
        || name.starts_with("anthropic-ratelimit-")
        || matches!(
            name,
            "openai-processing-ms" | "openai-version" | "retry-after" | "retry-after-ms"
        )
}

/// Upstream response headers passed back to the client, as owned pairs (kept in errors).
pub fn pass_headers(h: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, value) in h {
        let n = name.as_str();
        if let Ok(v) = value.to_str() {
            if passed(n) {
                out.push((n.to_string(), v.to_string()));
            } else if n == "x-request-id" || n == "request-id" {
                out.push(("x-upstream-request-id".to_string(), v.to_string()));
            }
        }
    }
    out
}

/// The same selection copied straight between header maps (the success path: no string
/// allocations, header names and values are shared).
pub fn copy_passed_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let n = name.as_str();
        if passed(n) {
            to.append(name.clone(), value.clone());
        } else if n == "x-request-id" || n == "request-id" {
            to.append(
                HeaderName::from_static("x-upstream-request-id"),
                value.clone(),
            );
        }
    }
}

/// Append passed headers to a response header map.
pub fn apply_headers(target: &mut HeaderMap, headers: &[(String, String)]) {
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k.as_str()), HeaderValue::from_str(v))
        {
            target.append(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_shapes() {
        let (m, k, c) = error_fields(
            br#"{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}"#,
            429,
        );
        assert_eq!(m, "slow down");
        assert_eq!(k.as_deref(), Some("rate_limit_error"));
        assert_eq!(c.as_deref(), Some("rate_limit_exceeded"));
        let (m, _, c) = error_fields(br#"{"error":{"message":"x","code":502}}"#, 502);
        assert_eq!(m, "x");
        assert_eq!(c, None);
        let (m, _, _) = error_fields(b"<html>bad gateway</html>", 502);
        assert!(m.contains("502"));
        let (m, _, _) = error_fields(br#"{"error":"plain"}"#, 400);
        assert_eq!(m, "plain");
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_millis(150)));
    }

    #[test]
    fn json_answer_check() {
        assert_eq!(check_json_answer(br#"{"choices":[]}"#), Ok((None, None)));
        assert_eq!(
            check_json_answer(br#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#),
            Ok((Some(3), Some(4)))
        );
        assert!(check_json_answer(br#"{"error":{"message":"overloaded"}}"#).is_err());
        assert!(check_json_answer(b"not json").is_err());
    }

    fn upstream(idle_ms: u64) -> Upstream {
        let cfg = UpstreamConfig {
            idle_timeout_ms: idle_ms,
            ..UpstreamConfig::default()
        };
        Upstream::new("http://127.0.0.1:9/v1", Some("sk-test-secret".into()), &cfg).expect("client")
    }

    /// A response whose body sends `first` and then stalls forever.
    fn stalling(status: u16, first: &'static [u8]) -> reqwest::Response {
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(first))])
            .chain(futures_util::stream::pending());
        let resp = http::Response::builder()
            .status(status)
            .body(reqwest::Body::wrap_stream(body))
            .expect("response");
        reqwest::Response::from(resp)
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_error_body_ends_at_the_idle_timeout_with_what_arrived() {
        let up = upstream(1_000);
        let far = Instant::now() + Duration::from_secs(3_600);
        let err = up
            .check_status(stalling(500, br#"{"error":{"message":"overloaded"}}"#), far)
            .await
            .err()
            .expect("an error status");
        assert!(
            matches!(&err, UpstreamError::Status { status: 500, message, .. } if message == "overloaded"),
            "{err:?}"
        );
        assert!(crate::engine::relay::verdict(&err).retries());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_error_body_ends_at_the_deadline() {
        // Idle timeout far away, deadline near: the deadline ends the read.
        let up = upstream(3_600_000);
        let near = Instant::now() + Duration::from_millis(50);
        let err = up
            .check_status(stalling(429, b"{\"error\": {\"mess"), near)
            .await
            .err()
            .expect("an error status");
        assert_eq!(err.status(), 429);
        assert_eq!(err.code(), "rate_limited");
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_body_read_stops_at_the_idle_timeout() {
        let up = upstream(1_000);
        let resp = match up
            .check_status(stalling(200, b"{\"choices\":"), Instant::now())
            .await
        {
            Ok(r) => r,
            Err(e) => panic!("a 2xx answer expected: {e:?}"),
        };
        let err = resp.bytes().await.expect_err("stalled");
        assert!(err.0.contains("upstream.idle_timeout_ms"), "{err}");
    }

    #[test]
    fn encodings_left_undecoded_are_named() {
        let mut h = HeaderMap::new();
        assert_eq!(undecoded_encoding(&h), None);
        h.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        assert_eq!(undecoded_encoding(&h), None);
        h.insert(
            http::header::CONTENT_ENCODING,
            HeaderValue::from_static("br"),
        );
        assert_eq!(undecoded_encoding(&h).as_deref(), Some("br"));
    }

    #[tokio::test]
    async fn a_2xx_in_an_encoding_we_do_not_decode_is_refused() {
        let up = upstream(1_000);
        let resp = http::Response::builder()
            .status(200)
            .header("content-encoding", "br")
            .body(reqwest::Body::from("\u{1b}garbage"))
            .expect("response");
        let err = up
            .check_status(reqwest::Response::from(resp), Instant::now())
            .await
            .err()
            .expect("refused");
        assert!(
            matches!(err, UpstreamError::Invalid(ref m) if m.contains("`br`")),
            "{err:?}"
        );
    }

    #[test]
    fn retryable_classes() {
        let s = |status| UpstreamError::Status {
            status,
            message: String::new(),
            kind: None,
            code: None,
            retry_after: None,
            headers: vec![],
        };
        let retries = |e: UpstreamError| crate::engine::relay::verdict(&e).retries();
        assert!(retries(s(429)) && retries(s(500)) && retries(s(408)));
        assert!(!retries(s(400)) && !retries(s(401)) && !retries(s(404)));
        assert!(retries(UpstreamError::Timeout(Stage::FirstByte)));
    }
}
