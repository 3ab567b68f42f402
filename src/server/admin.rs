//! The local admin page (`/admin`) and its JSON API (`/admin/api/...`).
//!
//! Routes (all reached only after the Host allow-list passed; see `server::route`):
//! - `GET /admin` — the page itself: one self-contained HTML document (inline CSS and JS,
//!   no external assets). It holds no data, so it loads without the router key and asks for
//!   the key when the API answers 401.
//! - `GET /admin/api/state` — everything the page shows, as one JSON document.
//! - `POST /admin/api/router-model` — `{"model": "<id>" | null}`: write `router.model` to the
//!   config file (like `llm-router config set/unset router.model`) and reload the gateway.
//!
//! Invariants:
//! - With a router key set, every `/admin/api/*` request must present it (the same
//!   [`KeyCheck`](super::guard::KeyCheck) as `/v1`); the page keeps it in `sessionStorage`.
//! - Mutations are same-origin only: an `Origin` header, when present, must name the Host
//!   the request was sent to (already on the allow-list); without `Origin` the custom header
//!   `x-llm-router-admin: 1` is required (a cross-origin page cannot send it without a CORS
//!   preflight, which is never granted); the body must be `application/json`. No
//!   `Access-Control-Allow-*` header is ever sent.
//! - Every admin response carries `cache-control: no-store`, `x-frame-options: DENY`,
//!   `referrer-policy: no-referrer`, `x-content-type-options: nosniff` and a strict CSP; the
//!   page's inline script and style run under a per-response nonce.
//! - No secret ever leaves here: no relay key, no router key, the relay URL only through
//!   [`display_url`]. The state document is built from an allow-list of fields, never by
//!   serialising config or upstream objects wholesale.
//! - A config edit is validated before it is written and the running gateway only switches
//!   once the new file has loaded, so a failed save changes nothing.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response};
use http_body_util::{BodyExt, Limited};
use serde_json::{Value, json};

use super::models::{ModelState, display_url};
use super::{AppState, Body, Runtime, error_response, full, guard, json_response};
use crate::config::{self, ConfigError};
use crate::engine::Engine;
use crate::error::ApiError;

/// The page, with `{{NONCE}}` where each response's CSP nonce goes.
const PAGE: &str = include_str!("admin.html");
/// Header a same-origin script adds to mutations that carry no `Origin`.
pub const ADMIN_HEADER: &str = "x-llm-router-admin";
/// Mutation bodies are tiny; anything bigger is not from the page.
const BODY_LIMIT: usize = 16 * 1024;
/// Recent decisions the page lists.
const RECENT_LIMIT: usize = 50;
/// Days of spend the chart shows (today included).
const CHART_DAYS: i64 = 14;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// CSP of JSON answers: nothing may load, nothing may frame.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Serve `/admin` and `/admin/...`.
pub async fn handle(
    state: &Arc<AppState>,
    rt: &Arc<Runtime>,
    req: Request<super::ReqBody>,
) -> Response<Body> {
    serve(state, rt, req).await
}

/// [`handle`] over any body type, so unit tests can drive it without a socket.
async fn serve<B>(state: &Arc<AppState>, rt: &Arc<Runtime>, req: Request<B>) -> Response<Body>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    match path.as_str() {
        "/admin" | "/admin/" | "/admin/index.html" => match method {
            Method::GET | Method::HEAD => page(),
            _ => api_error(&ApiError::method_not_allowed(method.as_str(), &path)),
        },
        "/admin/api/state" => {
            if method != Method::GET {
                return api_error(&ApiError::method_not_allowed(method.as_str(), &path));
            }
            if !rt.key.allows(req.headers()) {
                return api_error(&ApiError::unauthorized());
            }
            api_json(200, &state_document(state, rt).await)
        }
        "/admin/api/router-model" => {
            if method != Method::POST {
                return api_error(&ApiError::method_not_allowed(method.as_str(), &path));
            }
            // Auth first: an unauthenticated caller learns nothing, not even which
            // same-origin rule it broke.
            if !rt.key.allows(req.headers()) {
                return api_error(&ApiError::unauthorized());
            }
            if let Err(e) = same_origin(req.headers()) {
                return api_error(&e);
            }
            if !guard::is_json(req.headers()) {
                return api_error(&ApiError::unsupported_media_type());
            }
            let body = match read_small_body(req.into_body()).await {
                Ok(b) => b,
                Err(e) => return api_error(&e),
            };
            match set_router_model(state, &body).await {
                Ok(v) => api_json(200, &v),
                Err(e) => api_error(&e),
            }
        }
        _ => api_error(&ApiError::not_found(&path)),
    }
}

// ---------------------------------------------------------------------------------------
// Guards and headers

/// Same-origin check for mutations. `Ok(())` when the request may change state.
///
/// `Origin` names the page that sent the request; a browser always sets it on a
/// cross-origin POST (and on same-origin POSTs from `fetch`), and a page cannot forge it.
/// Comparing it with `Host` is enough because the Host itself already passed the exact
/// allow-list (or, on a non-loopback bind, the router key is mandatory). Without `Origin`
/// (curl, old clients) the custom header is required: setting it from another origin needs
/// a CORS preflight, which this server never answers with an allow.
pub fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match headers.get(http::header::ORIGIN) {
        Some(origin) => {
            let origin = origin
                .to_str()
                .map(|o| o.trim().to_ascii_lowercase())
                .unwrap_or_default();
            // `https://` too, for a TLS-terminating proxy in front; the host must match
            // either way. `Origin: null` (sandboxed frames, file://) never matches.
            let ok = !host.is_empty()
                && (origin == format!("http://{host}") || origin == format!("https://{host}"));
            if ok {
                Ok(())
            } else {
                Err(forbidden(format!(
                    "cross-origin request refused: Origin `{origin}` is not this admin page's origin"
                )))
            }
        }
        None => {
            let marked = headers
                .get(ADMIN_HEADER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim() == "1");
            if marked {
                Ok(())
            } else {
                Err(forbidden(format!(
                    "request refused: a change without an Origin header must carry `{ADMIN_HEADER}: 1`"
                )))
            }
        }
    }
}

fn forbidden(message: String) -> ApiError {
    ApiError::new(403, "permission_error", "cross_origin_refused", message)
}

/// Headers every admin response carries.
fn harden(resp: &mut Response<Body>, csp: &str) {
    let h = resp.headers_mut();
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(http::header::CONTENT_SECURITY_POLICY, v);
    }
}

fn api_error(e: &ApiError) -> Response<Body> {
    let mut r = error_response(e, &[]);
    harden(&mut r, API_CSP);
    r
}

fn api_json(status: u16, v: &Value) -> Response<Body> {
    let mut r = json_response(status, v);
    harden(&mut r, API_CSP);
    r
}

/// The page with a fresh nonce. Only the nonce'd inline script and style run; data is
/// fetched from this origin only; nothing may frame it.
fn page() -> Response<Body> {
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let html = PAGE.replace("{{NONCE}}", &nonce);
    let mut r = full(200, "text/html; charset=utf-8", Bytes::from(html));
    let csp = format!(
        "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    harden(&mut r, &csp);
    r
}

async fn read_small_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    match Limited::new(body, BODY_LIMIT).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(super::body_error(e.as_ref(), BODY_LIMIT as u64)),
    }
}

// ---------------------------------------------------------------------------------------
// GET /admin/api/state

/// Which model routes now, and why.
fn router_section(state: &AppState, rt: &Runtime, m: &ModelState) -> Value {
    let configured = Some(rt.config.router.model.clone()).filter(|s| !s.is_empty());
    // The automatic choice is what the engine would pick with no model configured.
    let mut settings = rt.config.router.clone();
    settings.model.clear();
    let automatic = Engine::new(settings, state.cooldowns.clone())
        .router_model(&m.facts)
        .map(|f| f.id.clone());
    let effective = rt.engine.router_model(&m.facts).map(|f| f.id.clone());
    let configured_available = configured.as_deref().is_none_or(|c| m.get(c).is_some());
    json!({
        "mode": if configured.is_some() { "manual" } else { "automatic" },
        "configured": configured,
        "configured_available": configured_available,
        "automatic": automatic,
        "effective": effective,
    })
}

/// One row per model the relay lists, facts joined with health.
fn models_section(state: &AppState, m: &ModelState, router: &Value) -> Vec<Value> {
    let health = state.cooldowns.snapshot(Instant::now());
    let automatic = router["automatic"].as_str();
    let effective = router["effective"].as_str();
    m.facts
        .iter()
        .map(|f| {
            let h = health.iter().find(|h| h.model == f.id);
            json!({
                "id": f.id,
                "context": f.context,
                "max_output": f.max_output,
                "input_price": f.input_price,
                "output_price": f.output_price,
                "price_source": f.price_source.as_str(),
                "tool_call": f.tool_call,
                "vision": f.vision,
                "reasoning": f.reasoning,
                "chat": f.chat,
                "tier": f.tier,
                "excluded": f.excluded,
                "is_automatic_router": automatic == Some(f.id.as_str()),
                "is_effective_router": effective == Some(f.id.as_str()),
                "health": {
                    "consecutive_failures": h.map_or(0, |h| h.consecutive_failures),
                    "cooldown_remaining_secs": h.and_then(|h| h.cooldown_remaining_secs),
                    "failures": h.map_or(0, |h| h.failures),
                    "successes": h.map_or(0, |h| h.successes),
                },
            })
        })
        .collect()
}

/// Decisions kept in memory, shaped like usage records (fields memory lacks are null).
fn memory_recent(state: &AppState) -> Vec<Value> {
    state
        .stats
        .view()
        .recent
        .into_iter()
        .map(|r| {
            json!({
                "at_unix_ms": r.at_unix.saturating_mul(1000),
                "request_id": r.request_id,
                "model": r.model,
                "target": r.target,
                "decision": r.decision,
                "effort": r.effort,
                "reason": r.reason,
                "attempts": r.attempts,
                "status": r.status,
                "router_model": r.router_model,
                "router_ms": r.router_ms,
                "answer_ms": null,
                "total_ms": null,
                "prompt_tokens": null,
                "completion_tokens": null,
                "cost_usd": null,
                "router_cost_usd": null,
                "stream": null,
            })
        })
        .collect()
}

/// Totals, chart data and recent records from the usage database (blocking: call it off
/// the async runtime). Errors are reported in the document, never as a failed page.
fn usage_section(path: &Path, now_ms: i64) -> Value {
    use crate::usage::{UsageReader, utc_day_start};
    let today = utc_day_start(now_ms);
    let week = today - 6 * DAY_MS;
    let chart_from = today - (CHART_DAYS - 1) * DAY_MS;
    let read = || -> Result<Value, crate::usage::UsageError> {
        let r = UsageReader::open(path)?;
        Ok(json!({
            "enabled": true,
            "error": null,
            "today": r.totals(today)?,
            "week": r.totals(week)?,
            "per_day": r.spend_per_day(chart_from)?,
            "recent": r.recent(RECENT_LIMIT)?,
        }))
    };
    read().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "admin: cannot read the usage database");
        json!({"enabled": true, "error": e.to_string(), "today": null, "week": null,
               "per_day": [], "recent": []})
    })
}

/// The whole document behind the page. Built field by field: nothing here may carry a key.
async fn state_document(state: &Arc<AppState>, rt: &Runtime) -> Value {
    let m = state.models.load_full();
    let router = router_section(state, rt, &m);
    let models = models_section(state, &m, &router);
    let now_ms = crate::usage::now_unix_ms();
    let usage_path = state.usage_db.get().cloned();
    let usage = match &usage_path {
        Some(p) => {
            let p = p.clone();
            tokio::task::spawn_blocking(move || usage_section(&p, now_ms))
                .await
                .unwrap_or_else(|e| json!({"enabled": true, "error": e.to_string()}))
        }
        None => json!({"enabled": false, "error": null}),
    };
    // The usage database is the better source (tokens, cost); memory is what we have
    // when accounting is off or the database could not be read.
    let (recent_source, recent) = match usage.get("recent").and_then(Value::as_array) {
        Some(r) if usage["error"].is_null() => ("usage", Value::Array(r.clone())),
        _ => ("memory", Value::Array(memory_recent(state))),
    };
    let stats = state.stats.view();
    let config_path = state.config_path.get();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "now_unix_ms": now_ms,
        "uptime_secs": state.started.elapsed().as_secs(),
        "demo": state.demo,
        "key_required": rt.key.enabled(),
        "upstream": {
            "base_url": display_url(rt.upstream.base()),
            "reachable": m.reachable(),
            "error": m.error,
            "last_refresh_unix": m.fetched_unix,
            "models": m.raw.len(),
        },
        "config": {
            "path": config_path,
            "editable": config_path.is_some(),
            "why_not_editable": why_not_editable(state),
        },
        "router": router,
        "models": models,
        "counters": {
            "requests": stats.requests,
            "errors": stats.errors,
            "fallbacks": stats.fallbacks,
            "in_flight": stats.in_flight,
        },
        "usage": {
            "enabled": usage["enabled"],
            "path": usage_path,
            "error": usage["error"],
            "today": usage.get("today").cloned().unwrap_or(Value::Null),
            "week": usage.get("week").cloned().unwrap_or(Value::Null),
            "per_day": usage.get("per_day").cloned().unwrap_or(json!([])),
            "chart_days": CHART_DAYS,
        },
        "recent_source": recent_source,
        "recent": recent,
    })
}

fn why_not_editable(state: &AppState) -> Option<&'static str> {
    if state.config_path.get().is_some() {
        None
    } else if state.demo {
        Some(
            "this gateway runs with --demo and has no config file; start it with `llm-router start` to change the router model here",
        )
    } else {
        Some(
            "this gateway was started without a config file to write; use `llm-router config set router.model <id>` instead",
        )
    }
}

// ---------------------------------------------------------------------------------------
// POST /admin/api/router-model

/// Parse `{"model": "<id>" | null}`: `Ok(None)` means automatic.
fn parse_choice(body: &[u8]) -> Result<Option<String>, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body must be valid JSON: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::bad_request("request body must be a JSON object"))?;
    match obj.get("model") {
        None => Err(ApiError::bad_request(
            "missing `model`: send {\"model\": \"<id>\"} or {\"model\": null} for automatic",
        )
        .with_param("model")),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => {
            Err(ApiError::bad_request("`model` must be a string or null").with_param("model"))
        }
    }
}

/// Serialises admin saves: two at once would each reload from a file the other changed.
static SAVE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn set_router_model(state: &Arc<AppState>, body: &[u8]) -> Result<Value, ApiError> {
    let choice = parse_choice(body)?;
    let Some(path) = state.config_path.get().cloned() else {
        let why = why_not_editable(state).unwrap_or("no config file");
        return Err(ApiError::new(
            409,
            "invalid_request_error",
            "config_not_writable",
            why,
        ));
    };
    if let Some(id) = &choice {
        let m = state.models.load();
        match m.get(id) {
            Some(f) if f.chat => {}
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "`{id}` is not a chat model and cannot act as the router"
                ))
                .with_param("model"));
            }
            None => {
                return Err(ApiError::new(
                    400,
                    "invalid_request_error",
                    "invalid_router_model",
                    format!("router model `{id}` is not in the upstream's model list"),
                )
                .with_param("model"));
            }
        }
    }
    let _guard = SAVE_LOCK.lock().await;
    let st = state.clone();
    let c = choice.clone();
    tokio::task::spawn_blocking(move || write_and_reload(&st, &path, c.as_deref()))
        .await
        .map_err(|e| ApiError::internal(format!("saving the router model failed: {e}")))?
        .map_err(|e| {
            // Config errors quote values; make sure no key is among them.
            let rt = state.runtime.load();
            let secrets = [
                rt.config.server.api_key.as_str(),
                rt.config.upstream.api_key.as_str(),
            ];
            let message = crate::error::redact(&e.to_string(), &secrets);
            ApiError::new(500, "server_error", "config_write_failed", message)
        })?;
    tracing::info!(
        router_model = choice.as_deref().unwrap_or("automatic"),
        "admin: router model changed"
    );
    let rt = state.runtime.load_full();
    let m = state.models.load_full();
    Ok(json!({
        "ok": true,
        "router": router_section(state, &rt, &m),
    }))
}

/// Why a save did not apply.
#[derive(Debug, thiserror::Error)]
enum SaveError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("the config file was saved but the gateway could not switch to it: {0}")]
    Reload(#[from] super::assembly::ReloadError),
}

/// Edit `router.model` in the file (validated before writing), then reload the gateway the
/// way SIGHUP and `llm-router config set` do ([`super::assembly::reload`]): the whole file
/// with environment and `.env` applied, the running host and port kept, the relay client
/// kept. Other edits made to the file by hand since the last load apply too.
fn write_and_reload(state: &AppState, path: &Path, model: Option<&str>) -> Result<(), SaveError> {
    match model {
        Some(id) => config::edit::set_and_validate(path, "router.model", id)?,
        None => config::edit::unset_and_validate(path, "router.model")?,
    };
    let reloaded = super::assembly::reload(state)?;
    if !reloaded.notes.is_empty() {
        tracing::info!(notes = ?reloaded.notes, "admin: settings that apply at the next start");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, join};
    use crate::config::Config;
    use crate::engine::Cooldowns;
    use http_body_util::Full;

    const RELAY_KEY: &str = "relay-secret-key-123456";
    const ROUTER_KEY: &str = "router-secret-key-987654";
    const URL_PASSWORD: &str = "url-password-314159";
    const HOST: &str = "127.0.0.1:8787";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    fn config(router_key: &str) -> Config {
        let mut cfg = Config::default();
        cfg.upstream.base_url = format!("http://user:{URL_PASSWORD}@127.0.0.1:9/v1");
        cfg.upstream.api_key = RELAY_KEY.into();
        cfg.server.api_key = router_key.into();
        cfg
    }

    fn app(router_key: &str) -> Arc<AppState> {
        let cfg = config(router_key);
        let health = Arc::new(Cooldowns::new());
        let rt = Runtime::build(cfg, 8787, health.clone(), Some(RELAY_KEY.into())).unwrap();
        let state = AppState::new(rt, HOST.parse().unwrap(), health, false);
        let raw: Vec<Value> = [
            "gpt-5.5",
            "gpt-5.4-mini",
            "gpt-4.1-nano",
            "text-embedding-3-small",
        ]
        .iter()
        .map(|id| json!({"id": id, "object": "model", "api_key": RELAY_KEY}))
        .collect();
        let facts = join(&raw, Catalog::embedded(), &Default::default());
        state
            .models
            .store(Arc::new(ModelState::new(raw, facts, Some(1))));
        state
    }

    async fn call(
        state: &Arc<AppState>,
        method: &str,
        path: &str,
        pairs: &[(&str, &str)],
        body: &str,
    ) -> (u16, HeaderMap, String) {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in [("host", HOST)].iter().chain(pairs) {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let rt = state.runtime.load_full();
        let resp = serve(state, &rt, req).await;
        let status = resp.status().as_u16();
        let h = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, h, String::from_utf8(bytes.to_vec()).unwrap())
    }

    fn assert_hardened(h: &HeaderMap) {
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("content-security-policy"));
        assert!(
            !h.keys().any(|k| k.as_str().starts_with("access-control-")),
            "no CORS grant ever: {h:?}"
        );
    }

    fn assert_no_secrets(text: &str) {
        for secret in [RELAY_KEY, ROUTER_KEY, URL_PASSWORD] {
            assert!(!text.contains(secret), "secret {secret} leaked: {text}");
        }
    }

    #[test]
    fn origin_must_match_the_host() {
        let ok = |p: &[(&str, &str)]| same_origin(&headers(p)).is_ok();
        assert!(ok(&[("host", HOST), ("origin", "http://127.0.0.1:8787")]));
        assert!(ok(&[
            ("host", "LOCALHOST:8787"),
            ("origin", "http://localhost:8787")
        ]));
        assert!(ok(&[("host", HOST), ("origin", "https://127.0.0.1:8787")]));
        assert!(!ok(&[("host", HOST), ("origin", "http://evil.example")]));
        assert!(!ok(&[("host", HOST), ("origin", "http://127.0.0.1:9999")]));
        assert!(!ok(&[
            ("host", HOST),
            ("origin", "http://127.0.0.1:8787.evil.example")
        ]));
        assert!(!ok(&[("host", HOST), ("origin", "null")]));
        // A matching custom header does not rescue a foreign Origin.
        assert!(!ok(&[
            ("host", HOST),
            ("origin", "http://evil.example"),
            (ADMIN_HEADER, "1")
        ]));
        // An empty Host matches nothing, not even an empty-looking Origin.
        assert!(!ok(&[("origin", "http://")]));
    }

    #[test]
    fn no_origin_needs_the_custom_header() {
        let ok = |p: &[(&str, &str)]| same_origin(&headers(p)).is_ok();
        assert!(ok(&[("host", HOST), (ADMIN_HEADER, "1")]));
        assert!(!ok(&[("host", HOST)]));
        assert!(!ok(&[("host", HOST), (ADMIN_HEADER, "0")]));
        assert!(!ok(&[("host", HOST), (ADMIN_HEADER, "true")]));
        let e = same_origin(&headers(&[("host", HOST)])).unwrap_err();
        assert_eq!(e.status, 403);
    }

    #[test]
    fn choice_body_is_strict() {
        assert_eq!(
            parse_choice(br#"{"model":"gpt-5.4-mini"}"#)
                .unwrap()
                .as_deref(),
            Some("gpt-5.4-mini")
        );
        assert_eq!(parse_choice(br#"{"model":null}"#).unwrap(), None);
        assert_eq!(parse_choice(br#"{"model":"  "}"#).unwrap(), None);
        assert_eq!(parse_choice(br#"{}"#).unwrap_err().status, 400);
        assert_eq!(parse_choice(br#"{"model":3}"#).unwrap_err().status, 400);
        assert_eq!(parse_choice(br#"[1]"#).unwrap_err().status, 400);
        assert_eq!(parse_choice(b"model=x").unwrap_err().status, 400);
    }

    #[tokio::test]
    async fn page_loads_without_key_with_a_fresh_nonce() {
        let state = app(ROUTER_KEY);
        let (status, h, body) = call(&state, "GET", "/admin", &[], "").await;
        assert_eq!(status, 200);
        assert_hardened(&h);
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = h["content-security-policy"].to_str().unwrap().to_string();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .unwrap()
            .split('\'')
            .next()
            .unwrap();
        assert!(body.contains(&format!("<script nonce=\"{nonce}\">")));
        assert!(!body.contains("{{NONCE}}"));
        assert_no_secrets(&body);
        let (_, h2, _) = call(&state, "GET", "/admin/", &[], "").await;
        assert_ne!(h2["content-security-policy"], h["content-security-policy"]);
    }

    #[tokio::test]
    async fn api_requires_the_router_key() {
        let state = app(ROUTER_KEY);
        let (status, h, body) = call(&state, "GET", "/admin/api/state", &[], "").await;
        assert_eq!(status, 401);
        assert_hardened(&h);
        assert!(body.contains("invalid_router_key"));
        let wrong = [("authorization", "Bearer nope")];
        assert_eq!(
            call(&state, "GET", "/admin/api/state", &wrong, "").await.0,
            401
        );
        let post = [
            ("authorization", "Bearer nope"),
            ("content-type", "application/json"),
            (ADMIN_HEADER, "1"),
        ];
        let (status, _, _) = call(
            &state,
            "POST",
            "/admin/api/router-model",
            &post,
            "{\"model\":null}",
        )
        .await;
        assert_eq!(status, 401);
    }

    #[tokio::test]
    async fn state_has_the_facts_and_no_secrets() {
        let state = app(ROUTER_KEY);
        let auth = format!("Bearer {ROUTER_KEY}");
        let (status, h, body) = call(
            &state,
            "GET",
            "/admin/api/state",
            &[("authorization", &auth)],
            "",
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_hardened(&h);
        assert_no_secrets(&body);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["upstream"]["base_url"], "http://127.0.0.1:9/v1");
        assert_eq!(v["key_required"], true);
        assert_eq!(v["router"]["mode"], "automatic");
        assert_eq!(v["config"]["editable"], false);
        assert_eq!(v["usage"]["enabled"], false);
        assert_eq!(v["recent_source"], "memory");
        let ids: Vec<&str> = v["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "gpt-5.5",
                "gpt-5.4-mini",
                "gpt-4.1-nano",
                "text-embedding-3-small"
            ]
        );
        let auto = v["router"]["automatic"].as_str().unwrap();
        assert_eq!(v["router"]["effective"], auto);
        let row = v["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == auto)
            .unwrap();
        assert_eq!(row["is_automatic_router"], true);
    }

    #[tokio::test]
    async fn mutations_are_same_origin_json_only() {
        let state = app("");
        let path = "/admin/api/router-model";
        let body = r#"{"model":"gpt-5.4-mini"}"#;
        let json_ct = ("content-type", "application/json");
        let evil = [
            json_ct,
            ("origin", "http://evil.example"),
            (ADMIN_HEADER, "1"),
        ];
        let (status, h, text) = call(&state, "POST", path, &evil, body).await;
        assert_eq!(status, 403, "{text}");
        assert_hardened(&h);
        assert_eq!(call(&state, "POST", path, &[json_ct], body).await.0, 403);
        let plain = [("content-type", "text/plain"), (ADMIN_HEADER, "1")];
        assert_eq!(call(&state, "POST", path, &plain, body).await.0, 415);
        assert_eq!(call(&state, "GET", path, &[], "").await.0, 405);
        // Allowed, but this gateway has no config file to write.
        let ok = [json_ct, ("origin", "http://127.0.0.1:8787")];
        let (status, _, text) = call(&state, "POST", path, &ok, body).await;
        assert_eq!(status, 409, "{text}");
        assert!(text.contains("config_not_writable"));
        assert_eq!(call(&state, "GET", "/admin/nope", &[], "").await.0, 404);
    }

    #[tokio::test]
    async fn saving_writes_the_file_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let text = format!(
            "# mine\n[upstream]\nbase_url = \"http://user:{URL_PASSWORD}@127.0.0.1:9/v1\"\napi_key = \"{RELAY_KEY}\"\n"
        );
        std::fs::write(&file, &text).unwrap();
        let state = app("");
        state.config_path.set(file.clone()).unwrap();
        let source = super::super::assembly::Source::new(Some(file.clone()), Default::default());
        state.source.set(source).unwrap();
        let path = "/admin/api/router-model";
        let hdrs = [("content-type", "application/json"), (ADMIN_HEADER, "1")];

        let (status, h, body) =
            call(&state, "POST", path, &hdrs, r#"{"model":"gpt-5.4-mini"}"#).await;
        assert_eq!(status, 200, "{body}");
        assert_hardened(&h);
        assert_no_secrets(&body);
        let saved = std::fs::read_to_string(&file).unwrap();
        assert!(saved.starts_with("# mine\n"), "{saved}");
        assert!(saved.contains("model = \"gpt-5.4-mini\""), "{saved}");
        let rt = state.runtime.load();
        assert_eq!(rt.config.router.model, "gpt-5.4-mini");
        let m = state.models.load();
        assert_eq!(rt.engine.router_model(&m.facts).unwrap().id, "gpt-5.4-mini");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["router"]["mode"], "manual");
        assert_eq!(v["router"]["effective"], "gpt-5.4-mini");

        // Unknown and non-chat models are refused and change nothing.
        let (status, _, body) = call(&state, "POST", path, &hdrs, r#"{"model":"gpt-9"}"#).await;
        assert_eq!(status, 400, "{body}");
        let (status, _, _) = call(
            &state,
            "POST",
            path,
            &hdrs,
            r#"{"model":"text-embedding-3-small"}"#,
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), saved);

        // Automatic removes the key again.
        let (status, _, body) = call(&state, "POST", path, &hdrs, r#"{"model":null}"#).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            !std::fs::read_to_string(&file)
                .unwrap()
                .contains("gpt-5.4-mini")
        );
        assert_eq!(state.runtime.load().config.router.model, "");
    }
}
