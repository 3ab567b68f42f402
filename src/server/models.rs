//! The upstream model list: periodic refresh, `/v1/models`, `/v1/models/{id}`, `/health`.
//!
//! An upstream that is down at start does not stop the gateway: the list stays empty, the
//! gateway reports itself degraded, and the refresher retries with backoff until the relay
//! answers. A failed refresh keeps the last good list. The joined facts are rebuilt only on
//! refresh, never per request.
//!
//! A request that finds no list (a gateway started before its relay) fetches it on demand
//! instead of waiting for the refresher's backoff, through [`ModelFetch`]: fetches never
//! overlap, and a request that waited while another fetch ran takes that fetch's result
//! instead of starting its own, so a burst of requests against a cold relay costs one fetch.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::Response;
use serde::Serialize;
use serde_json::{Value, json};

use super::{AppState, Body, Runtime, error_response, json_response};
use crate::catalog::{Catalog, ModelFacts, join};
use crate::engine::VIRTUAL_MODELS;
use crate::error::ApiError;

/// The latest view of the upstream's models.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ModelState {
    /// The relay's model objects, verbatim.
    pub raw: Vec<Value>,
    /// Joined with the catalog and overrides.
    pub facts: Vec<ModelFacts>,
    pub fetched_unix: Option<u64>,
    /// The last refresh error, cleared by a success.
    pub error: Option<String>,
    /// Position of each id in `facts`, for per-request lookups.
    #[serde(skip)]
    pub index: std::collections::HashMap<String, usize>,
}

impl ModelState {
    /// A fetched list and its joined facts, with the id index built.
    pub fn new(raw: Vec<Value>, facts: Vec<ModelFacts>, fetched_unix: Option<u64>) -> Self {
        let index = facts
            .iter()
            .enumerate()
            .map(|(i, f)| (f.id.clone(), i))
            .collect();
        Self {
            raw,
            facts,
            fetched_unix,
            error: None,
            index,
        }
    }

    /// Facts of one model by id.
    pub fn get(&self, id: &str) -> Option<&ModelFacts> {
        self.index.get(id).and_then(|&i| self.facts.get(i))
    }

    pub fn reachable(&self) -> bool {
        self.error.is_none() && self.fetched_unix.is_some()
    }
}

/// Single-flight guard for model-list fetches (one per gateway, in [`AppState`]).
#[derive(Debug, Default)]
pub struct ModelFetch {
    /// Held for the whole fetch: fetches never overlap.
    gate: tokio::sync::Mutex<()>,
    /// Fetches finished so far, successful or not.
    finished: AtomicU64,
}

/// Fetch once and store, after any fetch already running; returns whether it succeeded.
pub async fn refresh_once(state: &AppState) -> bool {
    let _turn = state.models_fetch.gate.lock().await;
    fetch_and_store(state).await
}

/// Fetch unless a fetch finished while this caller waited for its turn, in which case that
/// fetch's result stands: concurrent callers share one fetch. Returns whether the list is
/// reachable afterwards.
pub async fn refresh_shared(state: &AppState) -> bool {
    let seen = state.models_fetch.finished.load(Ordering::Acquire);
    let _turn = state.models_fetch.gate.lock().await;
    if state.models_fetch.finished.load(Ordering::Acquire) != seen {
        return state.models.load().reachable();
    }
    fetch_and_store(state).await
}

/// The list as a request needs it: fetched on demand when the gateway has never had one.
pub async fn loaded(state: &AppState) -> Arc<ModelState> {
    let m = state.models.load_full();
    if m.fetched_unix.is_some() {
        return m;
    }
    refresh_shared(state).await;
    state.models.load_full()
}

/// The fetch itself; callers hold the gate.
async fn fetch_and_store(state: &AppState) -> bool {
    let ok = fetch_and_store_inner(state).await;
    state.models_fetch.finished.fetch_add(1, Ordering::AcqRel);
    ok
}

async fn fetch_and_store_inner(state: &AppState) -> bool {
    let rt = state.runtime.load_full();
    match rt.upstream.models().await {
        Ok(raw) => {
            let facts = join(&raw, Catalog::embedded(), &rt.config.models);
            tracing::info!(models = raw.len(), "upstream model list refreshed");
            state.models.store(Arc::new(ModelState::new(
                raw,
                facts,
                Some(super::stats::now_unix()),
            )));
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "upstream model list refresh failed");
            let old = state.models.load_full();
            state.models.store(Arc::new(ModelState {
                error: Some(e.to_string()),
                ..(*old).clone()
            }));
            false
        }
    }
}

/// Refresh forever: every `models_refresh_secs` when healthy, with backoff when not.
pub async fn refresher(state: Arc<AppState>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        // A list fetched moments ago (at start) is not fetched again right away.
        let m = state.models.load();
        let refresh_secs = state.runtime.load().config.upstream.models_refresh_secs;
        let fresh = m.reachable()
            && m.fetched_unix
                .is_some_and(|t| super::stats::now_unix().saturating_sub(t) < refresh_secs);
        drop(m);
        // Shared: a request's on-demand fetch that finished while we waited counts as ours.
        let ok = fresh || refresh_shared(&state).await;
        let wait = if ok {
            backoff = Duration::from_secs(1);
            let secs = state.runtime.load().config.upstream.models_refresh_secs;
            Duration::from_secs(secs.max(5))
        } else {
            let w = backoff;
            backoff = (backoff * 2).min(Duration::from_secs(60));
            w
        };
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = state.refresh.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Base URL without credentials, for display.
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map(|(_, r)| r).unwrap_or(rest);
            format!("{scheme}://{rest}")
        }
        None => url.to_string(),
    }
}

pub fn health(state: &AppState, rt: &Runtime) -> Response<Body> {
    let m = state.models.load();
    json_response(
        200,
        &json!({
            "status": if m.reachable() { "ok" } else { "degraded" },
            "version": env!("CARGO_PKG_VERSION"),
            "demo": state.demo,
            "upstream": {
                "base_url": display_url(rt.upstream.base()),
                "reachable": m.reachable(),
                "error": m.error,
                "last_refresh_unix": m.fetched_unix,
            },
            "models": m.raw.len(),
            "uptime_secs": state.started.elapsed().as_secs(),
        }),
    )
}

/// The three virtual models, described honestly from the current list.
pub fn virtual_models(facts: &[ModelFacts]) -> Vec<Value> {
    let usable: Vec<&ModelFacts> = facts
        .iter()
        .filter(|m| m.chat && m.excluded.is_none())
        .collect();
    let max_ctx = usable.iter().filter_map(|m| m.context).max();
    let min_ctx = usable.iter().filter_map(|m| m.context).min();
    let what = [
        "general requests: a router model picks a cheap model for easy tasks and the strongest for hard ones",
        "coding requests: a coding model for ordinary code, the strongest model for architecture and hard debugging",
        "long documents: the cheapest model whose context fits, or the strongest that fits for deep analysis",
    ];
    VIRTUAL_MODELS
        .iter()
        .zip(what)
        .map(|(id, what)| {
            json!({
                "id": id,
                "object": "model",
                "created": 0,
                "owned_by": "llm-router",
                "description": format!(
                    "Virtual model routed by llm-router among {} upstream models: {what}. Requests are only sent to a model whose context fits; the largest is {} tokens, the smallest {}.",
                    usable.len(),
                    max_ctx.map_or("unknown".to_string(), |c| c.to_string()),
                    min_ctx.map_or("unknown".to_string(), |c| c.to_string()),
                ),
                "context_window": max_ctx,
                "min_context_window": min_ctx,
            })
        })
        .collect()
}

pub async fn list(state: &AppState) -> Response<Body> {
    let m = loaded(state).await;
    let mut data = virtual_models(&m.facts);
    data.extend(m.raw.iter().cloned());
    json_response(200, &json!({"object": "list", "data": data}))
}

pub async fn get(state: &AppState, id: &str) -> Response<Body> {
    let m = loaded(state).await;
    if let Some(pos) = VIRTUAL_MODELS.iter().position(|v| *v == id) {
        return json_response(200, &virtual_models(&m.facts)[pos]);
    }
    match m
        .raw
        .iter()
        .find(|o| o.get("id").and_then(Value::as_str) == Some(id))
    {
        Some(o) => json_response(200, o),
        None => error_response(&ApiError::model_not_found(id), &[]),
    }
}
