//! The HTTP gateway on hyper's HTTP/1.1 server (one connection in [`conn`]): endpoints,
//! guards, the model list, the panic net ([`panic_net`]), graceful drain.
//!
//! Invariants: every response carries `x-request-id` and `x-llm-router-request-id`; every
//! error is an OpenAI envelope (except hyper's own bodyless 400/431 for heads it cannot
//! parse at all, which never reach us); a handler panic is a 500, never a dropped
//! connection; the Host and key guards run before any route; the live
//! configuration is an `Arc` swapped atomically on reload, so a request keeps the snapshot it
//! started with and streams survive a reload. Deciding models is the engine's job; this
//! module only wires requests to it.

pub mod accounting;
pub mod admin;
pub mod assembly;
pub mod chat;
pub mod clock;
pub mod conn;
pub mod guard;
pub mod metrics;
pub mod models;
pub mod panic_net;
pub mod relay;
pub mod route_test;
pub mod stats;
pub mod upstream_relay;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::engine::{Cooldowns, Engine};
use crate::error::ApiError;
use crate::upstream::Upstream;
pub use conn::{ReqBody, ServerLimits};
use guard::{HostCheck, KeyCheck};
use models::ModelState;
use stats::Stats;

/// Response body: a whole buffer or a relayed stream.
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "port {port} on {host} is already in use; stop whatever uses it, or pick another port: `llm-router start --port <port>` once, or `llm-router config set server.port <port>` for good"
    )]
    PortInUse { host: String, port: u16 },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(
        "no upstream configured: run `llm-router init` (or set UPSTREAM_BASE_URL), or try `llm-router start --demo`"
    )]
    NoUpstream,
    #[error("invalid upstream settings: {0}")]
    Upstream(String),
}

/// Everything derived from one configuration; swapped whole on reload. Made only by
/// [`assembly::runtime`].
pub struct Runtime {
    pub config: Config,
    pub upstream: Upstream,
    pub engine: Engine,
    pub hosts: HostCheck,
    pub key: KeyCheck,
    pub body_limit: u64,
    /// What `upstream` was built from: a reload with the same settings keeps the client.
    pub relay: assembly::RelaySettings,
}

impl Runtime {
    /// [`assembly::runtime`] with a fresh relay client. `port` is the port actually bound
    /// (for the Host check); `key` is the relay key, already resolved from config,
    /// environment or `.env`.
    pub fn build(
        config: Config,
        port: u16,
        cooldowns: Arc<Cooldowns>,
        key: Option<String>,
    ) -> Result<Runtime, ServeError> {
        assembly::runtime(config, key, port, cooldowns, None).map(|(rt, _)| rt)
    }
}

/// Shared state of a running gateway.
pub struct AppState {
    pub runtime: ArcSwap<Runtime>,
    pub models: ArcSwap<ModelState>,
    /// Makes model-list fetches single-flight (`models::refresh_shared`).
    pub models_fetch: models::ModelFetch,
    /// The cooldown table (model failures), shared by every runtime a reload builds.
    pub cooldowns: Arc<Cooldowns>,
    pub stats: Stats,
    pub metrics: metrics::Metrics,
    pub started: Instant,
    pub addr: SocketAddr,
    /// Wakes the model refresher (after a reload, or when a request finds no models).
    pub refresh: tokio::sync::Notify,
    /// Cancelled when the gateway should stop.
    pub shutdown: CancellationToken,
    /// Cancelled when the drain period is over: streams still open end with an SSE error
    /// event instead of being cut mid-event.
    pub drain_over: CancellationToken,
    /// Set when this gateway serves the built-in simulated relay.
    pub demo: bool,
    /// The config file changes from `/admin` are written to (set by the daemon; unset in
    /// tests and with `--demo`, where the page is read-only).
    pub config_path: std::sync::OnceLock<std::path::PathBuf>,
    /// What [`assembly::reload`] re-reads (set when the gateway was built from a file).
    pub source: std::sync::OnceLock<assembly::Source>,
    /// The usage database the admin page and `status` read (set when accounting is on).
    pub usage_db: std::sync::OnceLock<std::path::PathBuf>,
    /// Where finished requests are recorded (set when accounting is on).
    pub usage: std::sync::OnceLock<crate::usage::UsageSink>,
}

impl AppState {
    pub fn new(
        runtime: Runtime,
        addr: SocketAddr,
        cooldowns: Arc<Cooldowns>,
        demo: bool,
    ) -> Arc<AppState> {
        Arc::new(AppState {
            runtime: ArcSwap::from_pointee(runtime),
            models: ArcSwap::from_pointee(ModelState::default()),
            models_fetch: models::ModelFetch::default(),
            cooldowns,
            stats: Stats::default(),
            metrics: metrics::Metrics::default(),
            started: Instant::now(),
            addr,
            refresh: tokio::sync::Notify::new(),
            shutdown: CancellationToken::new(),
            drain_over: CancellationToken::new(),
            demo,
            config_path: std::sync::OnceLock::new(),
            source: std::sync::OnceLock::new(),
            usage_db: std::sync::OnceLock::new(),
            usage: std::sync::OnceLock::new(),
        })
    }

    /// Swap in a new runtime (already validated); in-flight requests keep the old one.
    /// Reloads from the config file go through [`assembly::reload`], which also keeps the
    /// relay client and the model list when it can.
    pub fn reload(&self, runtime: Runtime) {
        self.runtime.store(Arc::new(runtime));
        self.refresh.notify_one();
    }
}

/// Bind the listener, with a clear error when the port is taken.
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, ServeError> {
    let addr = format!(
        "{}:{port}",
        if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        }
    );
    TcpListener::bind(&addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            ServeError::PortInUse {
                host: host.to_string(),
                port,
            }
        } else {
            ServeError::Bind { addr, source: e }
        }
    })
}

/// Serve until `state.shutdown` is cancelled, then drain for at most `drain`.
pub async fn serve(listener: TcpListener, state: Arc<AppState>, drain: Duration) {
    serve_with(listener, state, drain, ServerLimits::default()).await;
}

/// [`serve`] with explicit listener limits (tests use short ones).
pub async fn serve_with(
    listener: TcpListener,
    state: Arc<AppState>,
    drain: Duration,
    limits: ServerLimits,
) {
    let connections = tokio_util::task::TaskTracker::new();
    tokio::spawn(models::refresher(state.clone()));
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => break,
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(s) => s,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                connections.spawn(conn::serve_conn(stream, state.clone(), limits));
            }
        }
    }
    drop(listener);
    connections.close();
    let in_flight = state
        .stats
        .in_flight
        .load(std::sync::atomic::Ordering::Relaxed);
    tracing::info!(in_flight, drain_secs = drain.as_secs(), "draining");
    // Idle connections close at once; busy ones after their current response.
    if tokio::time::timeout(drain, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("drain period over; ending the remaining streams with an error event");
        state.drain_over.cancel();
        // Give the streams a moment to write that last event and finish.
        let _ = tokio::time::timeout(Duration::from_millis(500), connections.wait()).await;
    }
}

/// `req_<process prefix><counter>`: unique across restarts (random prefix) without a
/// `getrandom` syscall per request.
fn next_request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_string());
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("req_{prefix}{n:08x}")
}

/// Route one request. A panic inside becomes a 500 (see [`panic_net`]).
pub async fn handle(state: Arc<AppState>, req: Request<ReqBody>) -> Response<Body> {
    let request_id = next_request_id();
    let rt = state.runtime.load_full();
    let mut resp =
        match panic_net::catch_request(&request_id, route(&state, &rt, req, &request_id)).await {
            Ok(resp) => resp,
            Err(p) => panicked(&state, &request_id, &p),
        };
    if is_event_stream(resp.headers()) {
        let id = request_id.clone();
        resp = resp.map(|b| panic_net::PanicSafe::new(b, id).boxed_unsync());
    }
    let h = resp.headers_mut();
    const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    const X_LLM_ROUTER_REQUEST_ID: HeaderName = HeaderName::from_static("x-llm-router-request-id");
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(X_REQUEST_ID, v.clone());
        h.insert(X_LLM_ROUTER_REQUEST_ID, v);
    }
    resp
}

/// The answer to a request whose handler panicked: one error line with the request id, the
/// request counted as an error (unless its chat record did it), a 500 in the OpenAI shape.
fn panicked(state: &AppState, request_id: &str, p: &panic_net::Panicked) -> Response<Body> {
    tracing::error!(
        request_id = %request_id,
        panic = %p.message,
        "request handler panicked; answering 500"
    );
    if !p.recorded {
        // Routes without a per-request record (all but chat) are counted here.
        state.stats.record(500, None, None);
        state.metrics.observe(&metrics::Observation {
            status: 500,
            ..Default::default()
        });
    }
    error_response(&panic_net::api_error(), &[])
}

fn is_event_stream(h: &HeaderMap) -> bool {
    h.get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

async fn route(
    state: &Arc<AppState>,
    rt: &Arc<Runtime>,
    req: Request<ReqBody>,
    request_id: &str,
) -> Response<Body> {
    // Heads hyper lets through but we do not serve; refused before any body is read.
    if let Some(e) = conn::refuse_head(&req) {
        let mut r = error_response(&e, &[]);
        conn::close_after(&mut r);
        return r;
    }
    if let Err(host) = rt.hosts.check(req.headers()) {
        return error_response(&ApiError::forbidden_host(&host), &[]);
    }
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    // Accept both /v1/x and /x (some clients drop the prefix).
    let p = path
        .strip_prefix("/v1")
        .filter(|p| p.starts_with('/'))
        .unwrap_or(&path);
    let p = if p.len() > 1 {
        p.trim_end_matches('/')
    } else {
        p
    };
    match p {
        _ if path == "/admin" || path.starts_with("/admin/") => admin::handle(state, rt, req).await,
        "/health" => match method {
            Method::GET | Method::HEAD => models::health(state, rt),
            _ => error_response(&ApiError::method_not_allowed(method.as_str(), &path), &[]),
        },
        "/metrics" => match method {
            Method::GET => guarded(rt, req.headers()).unwrap_or_else(|| metrics_response(state)),
            _ => error_response(&ApiError::method_not_allowed(method.as_str(), &path), &[]),
        },
        "/models" => match method {
            Method::GET => match guarded(rt, req.headers()) {
                Some(denied) => denied,
                None => models::list(state).await,
            },
            _ => error_response(&ApiError::method_not_allowed(method.as_str(), &path), &[]),
        },
        _ if p.starts_with("/models/") => match method {
            Method::GET => match guarded(rt, req.headers()) {
                Some(denied) => denied,
                None => models::get(state, p.get("/models/".len()..).unwrap_or("")).await,
            },
            _ => error_response(&ApiError::method_not_allowed(method.as_str(), &path), &[]),
        },
        "/chat/completions" => {
            if method != Method::POST {
                return error_response(&ApiError::method_not_allowed(method.as_str(), &path), &[]);
            }
            if let Some(denied) = guarded(rt, req.headers()) {
                return denied;
            }
            if !guard::is_json(req.headers()) {
                return error_response(&ApiError::unsupported_media_type(), &[]);
            }
            let (parts, body) = req.into_parts();
            let body = match read_body(body, &parts.headers, rt.body_limit).await {
                Ok(b) => b,
                Err(e) => {
                    // The rest of the body is unread: the connection cannot carry more.
                    let mut r = error_response(&e, &[]);
                    conn::close_after(&mut r);
                    return r;
                }
            };
            chat::chat(
                state.clone(),
                rt.clone(),
                request_id.to_string(),
                parts.headers,
                body,
            )
            .await
        }
        _ => error_response(&ApiError::not_found(&path), &[]),
    }
}

fn metrics_response(state: &AppState) -> Response<Body> {
    let m = state.models.load();
    let now = Instant::now();
    let g = metrics::Gauges {
        in_flight: state
            .stats
            .in_flight
            .load(std::sync::atomic::Ordering::Relaxed),
        cooling_models: state
            .cooldowns
            .snapshot(now)
            .iter()
            .filter(|h| h.cooldown_remaining_secs.is_some())
            .count() as u64,
        upstream_up: m.reachable(),
        models: m.raw.len() as u64,
        usage_dropped: state.usage.get().map_or(0, |u| u.dropped()),
        usage_queued: state.usage.get().map_or(0, |u| u.queued() as u64),
    };
    full(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        Bytes::from(state.metrics.render(&g)),
    )
}

/// The auth guard: None when allowed, else the 401 response.
fn guarded(rt: &Runtime, headers: &HeaderMap) -> Option<Response<Body>> {
    (!rt.key.allows(headers)).then(|| error_response(&ApiError::unauthorized(), &[]))
}

async fn read_body(body: ReqBody, headers: &HeaderMap, limit: u64) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    match Limited::new(body, limit as usize).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(body_error(e.as_ref(), limit)),
    }
}

/// The answer for a request body that could not be read: too large (413), too slow (408),
/// or broken (400: bad chunking, the client left).
pub(crate) fn body_error(e: &(dyn std::error::Error + 'static), limit: u64) -> ApiError {
    if e.downcast_ref::<http_body_util::LengthLimitError>()
        .is_some()
    {
        return ApiError::payload_too_large(limit);
    }
    if let Some(t) = e.downcast_ref::<conn::BodyTimeout>() {
        return t.api_error();
    }
    ApiError::bad_request(format!("could not read the request body: {e}"))
}

/// A whole-body response.
pub fn full(status: u16, content_type: &'static str, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Full::new(body).boxed_unsync());
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(content_type),
    );
    r
}

pub fn json_response(status: u16, v: &serde_json::Value) -> Response<Body> {
    full(status, "application/json", Bytes::from(v.to_string()))
}

/// An OpenAI-shaped error response plus extra headers.
pub fn error_response(e: &ApiError, extra: &[(String, String)]) -> Response<Body> {
    let mut r = full(e.status, "application/json", e.to_bytes());
    crate::upstream::apply_headers(r.headers_mut(), extra);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_state() -> Arc<AppState> {
        let mut cfg = Config::default();
        cfg.upstream.base_url = "http://127.0.0.1:9".into();
        let health = Arc::new(Cooldowns::new());
        let rt = Runtime::build(cfg, 80, health.clone(), None).expect("runtime");
        AppState::new(rt, "127.0.0.1:80".parse().expect("addr"), health, false)
    }

    #[tokio::test]
    async fn a_panic_is_a_counted_500_in_the_openai_shape() {
        let state = test_state();
        let p = panic_net::Panicked {
            message: "boom".into(),
            recorded: false,
        };
        let resp = panicked(&state, "req_1", &p);
        assert_eq!(resp.status(), 500);
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(v["error"]["code"], "internal_error");
        let s = state.stats.view();
        assert_eq!((s.requests, s.errors), (1, 1));
        assert!(
            state
                .metrics
                .render(&Default::default())
                .contains("status=\"500\"} 1")
        );
        // Already counted by the chat record: not counted twice.
        let p = panic_net::Panicked {
            message: "boom".into(),
            recorded: true,
        };
        assert_eq!(panicked(&state, "req_2", &p).status(), 500);
        assert_eq!(state.stats.view().errors, 1);
    }
}
