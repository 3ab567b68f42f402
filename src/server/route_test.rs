//! A dry run of routing: the decision for a request without calling the answer model.
//!
//! Shared by the daemon's control endpoint and `llm-router route-test` without a daemon, so
//! both show exactly what a real request would do (same engine, same router call).

use serde_json::Value;

use super::Runtime;
use super::upstream_relay::UpstreamRelay;
use crate::catalog::ModelFacts;
use crate::engine::relay::RouterVia;
use crate::engine::{Decision, Mode, features};
use crate::error::ApiError;

/// Route the chat `body` for the virtual model `mode` against `models` through the runtime's
/// relay; the answer model is not called. (The request itself is the control protocol's
/// `RouteTest`; `server` does not depend on `daemon`, so it takes the two fields.)
pub async fn route_test(
    rt: &Runtime,
    models: &[ModelFacts],
    mode: &str,
    body: &Value,
) -> Result<Decision, ApiError> {
    let mode = Mode::from_model(mode).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{mode}` is not a virtual model: use auto, auto-coding or auto-longtext"
        ))
    })?;
    if !matches!(body.get("messages"), Some(Value::Array(_))) {
        return Err(ApiError::bad_request("`messages` must be an array"));
    }
    let feats = features::extract(body);
    let request_id = format!("route-test-{}", uuid::Uuid::new_v4().simple());
    let forwarded = http::HeaderMap::new();
    let relay = UpstreamRelay {
        upstream: &rt.upstream,
        request_id: &request_id,
        forwarded: &forwarded,
    };
    rt.engine
        .decide(models, mode, body, &feats, &[], &RouterVia(&relay))
        .await
}
