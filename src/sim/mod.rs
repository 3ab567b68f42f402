//! The simulated relay: a real, scriptable OpenAI-compatible HTTP server on hyper.
//!
//! It serves `GET /v1/models`, `GET /v1/models/{id}` and `POST /v1/chat/completions`, and is
//! used three ways: by the tests (script failures, split SSE bytes, hangs; inspect what the
//! gateway sent), by the benchmark (as the "direct" baseline, so the default path is kept
//! cheap and connections stay alive), and by `llm-router start --demo` (so it is production
//! code: no panics, logs through `tracing`).
//!
//! Invariants:
//! - Scripted [`Step`]s are consumed FIFO per model, a model's own queue before the `"*"` queue;
//!   with nothing queued the default behaviour answers (simulated answers, and a simulated
//!   router decision for requests carrying [`ROUTER_MARKER`]).
//! - Every request is recorded before it is answered, in arrival order, and its
//!   [`Recorded::cancelled`] flag turns true iff the client went away before the response was
//!   complete (see `body.rs` for how drops are observed).
//! - Dropping the last [`SimRelay`] handle shuts the server down, as [`SimRelay::shutdown`] does.

mod answer;
mod body;
mod gzip;
mod server;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use answer::{error_json, sse_chunks_for};
pub use body::{SimBody, SimError};

/// The router call's system prompt contains this marker; the relay answers such calls with a
/// simulated routing decision.
pub const ROUTER_MARKER: &str = "llm-router:routing-request";

/// Recorded requests kept at most; the oldest are forgotten first. Bounds memory when the relay
/// runs for a long time (`--demo`, benchmarks); tests never come close.
const RECORD_LIMIT: usize = 10_000;

/// How the relay behaves when nothing is scripted.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// What `GET /v1/models` lists.
    pub models: Vec<Value>,
    /// Content chunks per default streamed answer.
    pub stream_chunks: usize,
    /// Pause between chunks of default streamed answers.
    pub chunk_delay: Duration,
    /// Pause before default answers (and the default models list).
    pub latency: Duration,
    /// If set, every request needs `Authorization: Bearer <key>`, else a 401 OpenAI error.
    pub require_key: Option<String>,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            models: default_models(),
            stream_chunks: 20,
            chunk_delay: Duration::ZERO,
            latency: Duration::ZERO,
            require_key: None,
        }
    }
}

/// The default model list: real catalog ids, without pricing metadata (like most relays).
pub fn default_models() -> Vec<Value> {
    [
        "gpt-5.4-mini",
        "gpt-4.1-nano",
        "gpt-5.3-codex",
        "gpt-5.4",
        "gpt-5.5",
        "claude-sonnet-4-5",
        "deepseek-chat",
        "text-embedding-3-small",
    ]
    .iter()
    .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "sim"}))
    .collect()
}

/// One scripted response.
#[derive(Debug, Clone)]
pub enum Step {
    /// `status` with a JSON body (and extra headers) after `delay`.
    Json {
        status: u16,
        body: Value,
        headers: Vec<(String, String)>,
        delay: Duration,
    },
    /// `status` with `content-type: text/event-stream`; `chunks` are raw bytes written one by
    /// one (so an event or a UTF-8 character can be split anywhere), `gap` apart, after `delay`
    /// before the headers; then `end`.
    Sse {
        status: u16,
        chunks: Vec<Bytes>,
        delay: Duration,
        gap: Duration,
        end: SseEnd,
    },
    /// Never answers (no headers): holds the request until the client goes away or the relay
    /// shuts down.
    Hang,
    /// The default behaviour, after `delay` (on top of [`SimOptions::latency`]).
    Default { delay: Duration },
    /// `status` with `content-type: application/json` and `content-length: content_length`,
    /// then only the bytes of `sent` (fewer than promised), then nothing: the head arrives and
    /// the body stalls until the client goes away or the relay shuts down.
    StallBody {
        status: u16,
        content_length: u64,
        sent: Bytes,
    },
    /// Answers `status` with the JSON `body` as soon as the request head has arrived, without
    /// reading the request body, and closes the connection (`connection: close`), as a relay
    /// with a body-size limit does. Taken only from the `"*"` queue, before any model's: the
    /// model is in the body, which is never read. The request is recorded with a `Null` body.
    RejectUnread { status: u16, body: Value },
    /// `status` with the JSON `body` gzip-encoded (`content-encoding: gzip`), whether or not
    /// the client asked for gzip.
    GzipJson { status: u16, body: Value },
    /// A 200 event stream of `chunks`, gzip-encoded (`content-encoding: gzip`) whether or not
    /// the client asked for it: each chunk is compressed with a sync flush, so it can be
    /// decoded as it arrives, and written `gap` apart. With [`SseEnd::Close`] the gzip
    /// trailer ends the body; otherwise it is never sent (hang or reset).
    GzipSse {
        chunks: Vec<Bytes>,
        gap: Duration,
        end: SseEnd,
    },
}

/// Constructors with the common defaults (no delay, no gap, no extra headers, a 200 stream that
/// ends normally) and modifiers for the rest, so a script reads as what differs:
/// `Step::json(429, body).header("retry-after", "1").after(delay)`,
/// `Step::sse(chunks).gap(gap).end(SseEnd::Reset)`. A modifier applies to the variants that
/// have its field and returns any other step unchanged (each one says which).
impl Step {
    /// `status` with the JSON `body`, at once, no extra headers.
    pub fn json(status: u16, body: Value) -> Step {
        Step::Json {
            status,
            body,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// A 200 event stream of the raw `chunks`, written at once, that ends normally.
    pub fn sse<C: Into<Bytes>>(chunks: impl IntoIterator<Item = C>) -> Step {
        Step::Sse {
            status: 200,
            chunks: chunks.into_iter().map(Into::into).collect(),
            delay: Duration::ZERO,
            gap: Duration::ZERO,
            end: SseEnd::Close,
        }
    }

    /// The default behaviour, at once (modify with [`Step::after`]).
    pub fn default_answer() -> Step {
        Step::Default {
            delay: Duration::ZERO,
        }
    }

    /// [`Step::StallBody`]: the head promises `content_length` bytes, only `sent` follow.
    pub fn stall_body(status: u16, content_length: u64, sent: impl Into<Bytes>) -> Step {
        Step::StallBody {
            status,
            content_length,
            sent: sent.into(),
        }
    }

    /// [`Step::RejectUnread`]: `status` with `body` before the request body is read.
    pub fn reject_unread(status: u16, body: Value) -> Step {
        Step::RejectUnread { status, body }
    }

    /// [`Step::GzipJson`]: `status` with the JSON `body` gzip-encoded.
    pub fn gzip_json(status: u16, body: Value) -> Step {
        Step::GzipJson { status, body }
    }

    /// [`Step::GzipSse`]: a gzip-encoded 200 event stream of `chunks`, at once, that ends
    /// normally.
    pub fn gzip_sse<C: Into<Bytes>>(chunks: impl IntoIterator<Item = C>) -> Step {
        Step::GzipSse {
            chunks: chunks.into_iter().map(Into::into).collect(),
            gap: Duration::ZERO,
            end: SseEnd::Close,
        }
    }

    /// Waits `delay` before answering: [`Step::Json`], [`Step::Sse`] (before the head) and
    /// [`Step::Default`].
    pub fn after(mut self, delay: Duration) -> Step {
        if let Step::Json { delay: d, .. }
        | Step::Sse { delay: d, .. }
        | Step::Default { delay: d } = &mut self
        {
            *d = delay;
        }
        self
    }

    /// Adds the response header `name: value`: [`Step::Json`].
    pub fn header(mut self, name: &str, value: &str) -> Step {
        if let Step::Json { headers, .. } = &mut self {
            headers.push((name.to_owned(), value.to_owned()));
        }
        self
    }

    /// Answers `status` instead: [`Step::Sse`] (a stream's status is 200 unless told).
    pub fn status(mut self, status: u16) -> Step {
        if let Step::Sse { status: s, .. } = &mut self {
            *s = status;
        }
        self
    }

    /// Writes the chunks `gap` apart: [`Step::Sse`], [`Step::GzipSse`].
    pub fn gap(mut self, gap: Duration) -> Step {
        if let Step::Sse { gap: g, .. } | Step::GzipSse { gap: g, .. } = &mut self {
            *g = gap;
        }
        self
    }

    /// Ends the body with `end` after the last chunk: [`Step::Sse`], [`Step::GzipSse`].
    pub fn end(mut self, end: SseEnd) -> Step {
        if let Step::Sse { end: e, .. } | Step::GzipSse { end: e, .. } = &mut self {
            *e = end;
        }
        self
    }
}

/// How a scripted SSE body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseEnd {
    /// Finish the body normally.
    Close,
    /// Keep the connection open and send nothing more.
    Hang,
    /// Abort the connection abruptly: the body errors, no final chunk is sent.
    Reset,
}

/// A request the relay received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Header names lowercase, in received order.
    pub headers: Vec<(String, String)>,
    /// The body as JSON; `Null` if it was not JSON.
    pub body: Value,
    /// `body.model`, when present.
    pub model: Option<String>,
    /// Any message carries [`ROUTER_MARKER`].
    pub is_router_call: bool,
    /// `body.stream == true`.
    pub stream: bool,
    /// True when the client went away before the response was fully sent (set
    /// asynchronously; poll with a short wait in tests).
    pub cancelled: Arc<AtomicBool>,
}

impl Recorded {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the client went away before the response was complete.
    pub fn was_cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// State shared by the handle and the server tasks.
struct Shared {
    opts: SimOptions,
    /// The model objects and their pre-serialised list body (the benchmark hits it often).
    models: Mutex<(Vec<Value>, Bytes)>,
    scripts: Mutex<HashMap<String, VecDeque<Step>>>,
    models_script: Mutex<VecDeque<Step>>,
    requests: Mutex<VecDeque<Recorded>>,
    recorded: Notify,
    counter: AtomicU64,
    /// TCP connections accepted so far (tests prove connection reuse with it).
    connections: AtomicU64,
    shutdown: CancellationToken,
}

/// Locks a mutex, recovering from poisoning: every critical section here leaves the data
/// consistent, so a panic elsewhere must not take the relay down.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn models_body(models: &[Value]) -> Bytes {
    Bytes::from(json!({"object": "list", "data": models}).to_string())
}

/// Shuts the server down when the last handle goes away.
struct Handle {
    shared: Arc<Shared>,
    addr: SocketAddr,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
    }
}

/// A running simulated relay. Cheap to clone; all clones control the same server.
#[derive(Clone)]
pub struct SimRelay {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for SimRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRelay")
            .field("addr", &self.handle.addr)
            .finish()
    }
}

impl SimRelay {
    /// Starts on `127.0.0.1:0` with default models and instant answers.
    pub async fn start() -> std::io::Result<SimRelay> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), SimOptions::default()).await
    }

    /// Starts on `addr` with `opts`; the server runs on the current tokio runtime.
    pub async fn start_on(addr: SocketAddr, opts: SimOptions) -> std::io::Result<SimRelay> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let list = models_body(&opts.models);
        let shared = Arc::new(Shared {
            models: Mutex::new((opts.models.clone(), list)),
            opts,
            scripts: Mutex::default(),
            models_script: Mutex::default(),
            requests: Mutex::default(),
            recorded: Notify::new(),
            counter: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(%addr, "sim relay listening");
        Ok(SimRelay {
            handle: Arc::new(Handle { shared, addr }),
        })
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr
    }

    /// `http://127.0.0.1:PORT` — without `/v1`; the relay serves `/v1/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.handle.addr)
    }

    /// Replaces what `GET /v1/models` lists.
    pub fn set_models(&self, models: Vec<Value>) {
        let list = models_body(&models);
        *lock(&self.shared().models) = (models, list);
    }

    /// Queues `step` for the next request to `model` (FIFO per model); `"*"` matches any
    /// model whose own queue is empty. Router calls match by the model they are sent to.
    pub fn script(&self, model: &str, step: Step) {
        lock(&self.shared().scripts)
            .entry(model.to_owned())
            .or_default()
            .push_back(step);
    }

    /// Queues `step` for the next `GET /v1/models`.
    pub fn script_models_list(&self, step: Step) {
        lock(&self.shared().models_script).push_back(step);
    }

    /// TCP connections accepted so far. A client that reuses its connections opens no new
    /// one for its next request.
    pub fn connections(&self) -> u64 {
        self.shared()
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every request received, in arrival order (the most recent 10 000).
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared().requests).iter().cloned().collect()
    }

    /// Forgets recorded requests and every step still queued.
    pub fn clear(&self) {
        lock(&self.shared().requests).clear();
        lock(&self.shared().scripts).clear();
        lock(&self.shared().models_script).clear();
    }

    /// Waits until at least `n` requests are recorded or `timeout` passes; returns what is
    /// recorded then.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before checking, so a request recorded in between still wakes us.
            let notified = self.shared().recorded.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if lock(&self.shared().requests).len() >= n {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        self.requests()
    }

    /// Stops accepting and closes every connection (hanging requests included).
    pub fn shutdown(&self) {
        self.shared().shutdown.cancel();
    }
}

impl Shared {
    fn record(&self, rec: Recorded) {
        {
            let mut reqs = lock(&self.requests);
            if reqs.len() >= RECORD_LIMIT {
                reqs.pop_front();
            }
            reqs.push_back(rec);
        }
        self.recorded.notify_waiters();
    }

    /// A [`Step::RejectUnread`] at the front of the `"*"` queue, taken; the only step chosen
    /// before the request body is read.
    fn take_reject_unread(&self) -> Option<(u16, Value)> {
        let mut scripts = lock(&self.scripts);
        let queue = scripts.get_mut("*")?;
        if !matches!(queue.front(), Some(Step::RejectUnread { .. })) {
            return None;
        }
        match queue.pop_front() {
            Some(Step::RejectUnread { status, body }) => Some((status, body)),
            _ => None,
        }
    }

    /// The next scripted step for `model`: its own queue first, then `"*"`.
    fn next_step(&self, model: Option<&str>) -> Option<Step> {
        let mut scripts = lock(&self.scripts);
        if scripts.is_empty() {
            return None;
        }
        if let Some(step) = model
            .and_then(|m| scripts.get_mut(m))
            .and_then(VecDeque::pop_front)
        {
            return Some(step);
        }
        scripts.get_mut("*").and_then(VecDeque::pop_front)
    }
}

#[cfg(test)]
mod tests;
