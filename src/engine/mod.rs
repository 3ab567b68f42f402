//! The two-stage routing core, shared by every front door and `route-test`: routing lives
//! here and nowhere else.
//!
//! A front door builds one [`request::Request`] and calls [`Engine::route`] (`route.rs`), which
//! owns the whole loop: candidates, the router call, the policy, fallback across models,
//! retry-after waits, the repairs of what we added to the body, and the cooldown rules.
//! Pure apart from one door: the relay is reached only through [`relay::Relay`] (the
//! decision stage sees it as a [`RouterCaller`]), so every routing behaviour is testable
//! without sockets. Flow for a virtual model: features → candidates (capabilities, context,
//! exclusions, cooldowns) → router model call with a bounded, redacted payload → validated
//! decision, or the deterministic policy when the router fails in any way. A router failure
//! never fails the request; only "no model can serve this request at all" does.

pub mod cooldown;
pub mod decision;
pub mod features;
pub mod policy;
pub mod prompt;
pub mod redact;
pub mod relay;
pub mod request;
pub mod rewrite;
pub mod route;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::catalog::ModelFacts;
use crate::config::RouterConfig;
use crate::error::ApiError;
pub use cooldown::Cooldowns;
pub use decision::Effort;
pub use features::Features;
pub use relay::{Relay, Verdict};
pub use request::Request;
pub use route::{Attempt, EngineError, Routed, Trail};

/// The virtual models, in the order `/v1/models` lists them.
pub const VIRTUAL_MODELS: [&str; 3] = ["auto", "auto-coding", "auto-longtext"];

/// A virtual model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Mode {
    #[serde(rename = "auto")]
    Auto,
    #[serde(rename = "auto-coding")]
    Coding,
    #[serde(rename = "auto-longtext")]
    LongText,
}

impl Mode {
    pub fn from_model(model: &str) -> Option<Mode> {
        match model {
            "auto" => Some(Mode::Auto),
            "auto-coding" => Some(Mode::Coding),
            "auto-longtext" => Some(Mode::LongText),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Auto => "auto",
            Mode::Coding => "auto-coding",
            Mode::LongText => "auto-longtext",
        }
    }
}

/// Who made a routing decision (the `x-llm-router-decision` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionSource {
    Router,
    FallbackPolicy,
    Passthrough,
}

impl DecisionSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionSource::Router => "router",
            DecisionSource::FallbackPolicy => "fallback-policy",
            DecisionSource::Passthrough => "passthrough",
        }
    }
}

/// One routing decision with its trace, for headers, logs, `route-test` and accounting.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub mode: Mode,
    pub target: String,
    /// Effort the decision asked for.
    pub effort: Option<Effort>,
    /// Effort actually sent to the target (None when the target does not reason, the client
    /// set its own, or the decision said none).
    pub applied_effort: Option<&'static str>,
    pub task_type: Option<String>,
    pub difficulty: Option<String>,
    pub confidence: Option<f64>,
    pub reason: String,
    pub source: DecisionSource,
    pub router_model: Option<String>,
    pub router_ms: u64,
    pub router_prompt_tokens: Option<u64>,
    pub router_completion_tokens: Option<u64>,
    pub router_cost: Option<f64>,
    /// Why the router did not decide, when the policy did.
    pub router_error: Option<String>,
    pub candidates: Vec<String>,
}

/// Why a router call gave no answer. The split matters for health: a relay that cannot be
/// reached fails every model alike, so it must not count against the router model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouterCallError {
    /// The relay itself was unreachable (connect refused, reset or timed out before any
    /// response): says nothing about the router model.
    #[error("{0}")]
    RelayUnreachable(String),
    /// The call reached the relay and failed there, timed out, or answered nonsense.
    #[error("{0}")]
    Failed(String),
}

/// The router model's door to the relay: send a chat body, get the response JSON.
pub trait RouterCaller: Sync {
    fn call(
        &self,
        body: Value,
        timeout: Duration,
    ) -> impl Future<Output = Result<Value, RouterCallError>> + Send;

    /// The answer's text and usage, which is all the decision stage reads. The default goes
    /// through [`RouterCaller::call`]; the relay's door reads them straight from the answer's
    /// bytes instead (`relay::RouterVia`), with no JSON tree in between.
    fn reply(
        &self,
        body: Value,
        timeout: Duration,
    ) -> impl Future<Output = Result<decision::RouterReply, RouterCallError>> + Send {
        async move {
            let v = self.call(body, timeout).await?;
            Ok(decision::RouterReply::from_value(&v))
        }
    }
}

/// The engine: settings plus the shared health table.
#[derive(Debug, Clone)]
pub struct Engine {
    pub settings: RouterConfig,
    pub cooldowns: Arc<Cooldowns>,
}

impl Engine {
    pub fn new(settings: RouterConfig, cooldowns: Arc<Cooldowns>) -> Self {
        Self {
            settings,
            cooldowns,
        }
    }

    /// Models that can serve a request with `features`, minus `excluded` and cooled-down ones.
    /// Returns the candidates and, when empty, the reason.
    pub fn candidates<'m>(
        &self,
        models: &'m [ModelFacts],
        features: &Features,
        excluded: &[String],
    ) -> Result<Vec<&'m ModelFacts>, ApiError> {
        let usable: Vec<&ModelFacts> = models
            .iter()
            .filter(|m| m.chat && m.excluded.is_none())
            .filter(|m| !excluded.iter().any(|e| e == &m.id))
            .collect();
        if usable.is_empty() {
            let why = if excluded.is_empty() {
                "the upstream lists no usable chat model (check `llm-router models`)"
            } else {
                "every usable model already failed for this request"
            };
            return Err(ApiError::no_candidates(why));
        }
        let need = features.required_context();
        let capable: Vec<&ModelFacts> = usable
            .into_iter()
            .filter(|m| features.images == 0 || m.vision)
            .filter(|m| !features.tools || m.tool_call)
            .filter(|m| m.context.is_none_or(|c| c >= need))
            .collect();
        if capable.is_empty() {
            let mut needs = Vec::new();
            if features.images > 0 {
                needs.push("image input (vision)".to_string());
            }
            if features.tools {
                needs.push("tool calls".to_string());
            }
            needs.push(format!("a context of at least {need} tokens"));
            return Err(ApiError::no_candidates(format!(
                "no available model supports {}",
                needs.join(" and ")
            )));
        }
        let now = Instant::now();
        let warm: Vec<&ModelFacts> = capable
            .iter()
            .copied()
            .filter(|m| !self.cooldowns.is_cooling(&m.id, now))
            .collect();
        // Trying a cooled-down model beats failing the request outright.
        Ok(if warm.is_empty() { capable } else { warm })
    }

    /// The router model: the configured one when the upstream has it, else the cheapest
    /// priced chat model (models with a price above zero first: free tiers are often
    /// rate-limited), skipping models in cooldown.
    pub fn router_model<'m>(&self, models: &'m [ModelFacts]) -> Option<&'m ModelFacts> {
        let now = Instant::now();
        if !self.settings.model.is_empty()
            && let Some(m) = models.iter().find(|m| m.id == self.settings.model)
            && !self.cooldowns.is_cooling(&m.id, now)
        {
            return Some(m);
        }
        let pool: Vec<&ModelFacts> = models
            .iter()
            .filter(|m| m.chat && m.excluded.is_none() && !self.cooldowns.is_cooling(&m.id, now))
            .collect();
        let priced_positive: Vec<&ModelFacts> = pool
            .iter()
            .copied()
            .filter(|m| m.blended_price().is_some_and(|p| p > 0.0))
            .collect();
        let priced: Vec<&ModelFacts> = pool
            .iter()
            .copied()
            .filter(|m| m.blended_price().is_some())
            .collect();
        let from = if !priced_positive.is_empty() {
            priced_positive
        } else {
            priced
        };
        (!from.is_empty()).then(|| policy::cheapest(&from))
    }

    /// Decide the target for a virtual-model request.
    pub async fn decide<C: RouterCaller>(
        &self,
        models: &[ModelFacts],
        mode: Mode,
        body: &Value,
        features: &Features,
        excluded: &[String],
        caller: &C,
    ) -> Result<Decision, ApiError> {
        let candidates = self.candidates(models, features, excluded)?;
        let ids: Vec<&str> = candidates.iter().map(|m| m.id.as_str()).collect();
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let view = redact::conversation_view(messages, self.settings.conversation_budget_chars);
        let mut decision = Decision {
            mode,
            target: String::new(),
            effort: None,
            applied_effort: None,
            task_type: None,
            difficulty: None,
            confidence: None,
            reason: String::new(),
            source: DecisionSource::Router,
            router_model: None,
            router_ms: 0,
            router_prompt_tokens: None,
            router_completion_tokens: None,
            router_cost: None,
            router_error: None,
            candidates: ids.iter().map(|s| s.to_string()).collect(),
        };

        // A single candidate needs no router call.
        let router_result = if candidates.len() == 1 {
            Err("only one candidate".to_string())
        } else if let Some(router) = self.router_model(models) {
            decision.router_model = Some(router.id.clone());
            let payload = prompt::payload(mode, &candidates, excluded, features, &view);
            let body = prompt::router_body(router, &payload, self.settings.max_tokens);
            let started = Instant::now();
            // The router stage's own deadline, kept here whatever the door does: a router
            // that does not answer in time is a router failure, and the policy decides.
            let timeout = Duration::from_millis(self.settings.timeout_ms);
            let res = tokio::time::timeout(timeout, caller.reply(body, timeout))
                .await
                .unwrap_or_else(|_| {
                    Err(RouterCallError::Failed(format!(
                        "router timed out after {} ms",
                        timeout.as_millis()
                    )))
                });
            decision.router_ms = started.elapsed().as_millis() as u64;
            match res {
                Ok(reply) => {
                    let (pt, ct) = (reply.prompt_tokens, reply.completion_tokens);
                    decision.router_prompt_tokens = pt;
                    decision.router_completion_tokens = ct;
                    decision.router_cost = router.cost(pt.unwrap_or(0), ct.unwrap_or(0));
                    if pt.is_some() || ct.is_some() {
                        self.cooldowns.success(&router.id);
                    }
                    decision::parse(&reply.text, &ids).map_err(|e| e.to_string())
                }
                Err(e) => {
                    if matches!(e, RouterCallError::Failed(_)) {
                        self.cooldowns.failure(
                            &router.id,
                            self.settings.cooldown_failures,
                            Duration::from_secs(self.settings.cooldown_secs),
                            Instant::now(),
                        );
                    }
                    Err(e.to_string())
                }
            }
        } else {
            Err("no priced model to act as router (set `router.model`)".to_string())
        };

        match router_result {
            Ok(choice) => {
                decision.target = choice.target;
                decision.effort = choice.effort;
                decision.task_type = choice.task_type;
                decision.difficulty = choice.difficulty;
                decision.confidence = choice.confidence;
                decision.reason = choice.reason;
            }
            Err(err) => {
                let last_user = view
                    .iter()
                    .rev()
                    .find(|m| m.role == "user")
                    .map(|m| m.content.as_str())
                    .unwrap_or("");
                let p = policy::choose(
                    mode,
                    features,
                    last_user,
                    &candidates,
                    &self.settings.default_model,
                )
                .ok_or_else(|| ApiError::no_candidates("no candidate models"))?;
                decision.source = DecisionSource::FallbackPolicy;
                decision.target = p.target;
                decision.effort = p.effort;
                decision.task_type = Some(p.task_type.to_string());
                decision.difficulty = Some(p.difficulty.to_string());
                decision.reason = p.reason;
                decision.router_error = Some(err);
            }
        }
        let target = candidates.iter().find(|m| m.id == decision.target);
        decision.applied_effort = match target {
            Some(t) if !features.client_effort => applied_effort(t, decision.effort),
            _ => None,
        };
        Ok(decision)
    }
}

/// The `reasoning_effort` to send to `target`, if any.
///
/// Only reasoning models get one. `none` sends nothing (the model's default), `minimal`
/// becomes `low` (newer models dropped `minimal`), and `xhigh` is kept only for model
/// families known to accept it, else `high`: a 400 for an unsupported value would be
/// non-retryable and fail the request.
pub fn applied_effort(target: &ModelFacts, effort: Option<Effort>) -> Option<&'static str> {
    if !target.reasoning {
        return None;
    }
    match effort? {
        Effort::None => None,
        Effort::Minimal | Effort::Low => Some("low"),
        Effort::Medium => Some("medium"),
        Effort::High => Some("high"),
        Effort::Xhigh if supports_xhigh(&target.id) => Some("xhigh"),
        Effort::Xhigh => Some("high"),
    }
}

fn supports_xhigh(id: &str) -> bool {
    let id = id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    if id.contains("codex-max") {
        return true;
    }
    // gpt-5.2 and later accept xhigh.
    id.strip_prefix("gpt-5.")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|minor| minor.parse::<u32>().ok())
        .is_some_and(|minor| minor >= 2)
}

#[cfg(test)]
mod tests;
