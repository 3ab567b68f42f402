//! A dry run of routing: the decision for a request without calling the answer model.
//!
//! Shared by the daemon's control endpoint and `llm-router route-test` without a daemon, so
//! both show exactly what a real request would do (same engine, same router call).

use serde_json::{Value, json};

use super::Runtime;
use super::upstream_relay::UpstreamRelay;
use crate::catalog::ModelFacts;
use crate::engine::relay::RouterVia;
use crate::engine::{Decision, Mode, features};
use crate::error::ApiError;

/// What `route-test` asks.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RouteTestRequest {
    /// `auto`, `auto-coding` or `auto-longtext`.
    pub mode: String,
    /// The chat body to route (at least `messages`; `tools` and images count).
    pub body: Value,
}

impl RouteTestRequest {
    /// A one-message request, optionally with an image URL and a dummy tool.
    pub fn from_prompt(mode: &str, prompt: &str, image: Option<&str>, tools: bool) -> Self {
        let content = match image {
            Some(url) => json!([
                {"type": "text", "text": prompt},
                {"type": "image_url", "image_url": {"url": url}}
            ]),
            None => json!(prompt),
        };
        let mut body = json!({"model": mode, "messages": [{"role": "user", "content": content}]});
        if tools {
            body["tools"] = json!([{"type": "function", "function": {"name": "example_tool",
                "description": "a tool offered by route-test --tools",
                "parameters": {"type": "object", "properties": {}}}}]);
        }
        Self {
            mode: mode.to_string(),
            body,
        }
    }
}

/// Route `req` against `models` through the runtime's relay; the answer model is not called.
pub async fn route_test(
    rt: &Runtime,
    models: &[ModelFacts],
    req: &RouteTestRequest,
) -> Result<Decision, ApiError> {
    let mode = Mode::from_model(&req.mode).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not a virtual model: use auto, auto-coding or auto-longtext",
            req.mode
        ))
    })?;
    if !matches!(req.body.get("messages"), Some(Value::Array(_))) {
        return Err(ApiError::bad_request("`messages` must be an array"));
    }
    let feats = features::extract(&req.body);
    let request_id = format!("route-test-{}", uuid::Uuid::new_v4().simple());
    let forwarded = http::HeaderMap::new();
    let relay = UpstreamRelay {
        upstream: &rt.upstream,
        request_id: &request_id,
        forwarded: &forwarded,
    };
    rt.engine
        .decide(models, mode, &req.body, &feats, &[], &RouterVia(&relay))
        .await
}
