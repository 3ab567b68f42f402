//! Per-model overrides from the `[models."<id>"]` tables of the config file.
//!
//! Every field is optional: an absent field keeps what the catalog or the upstream said.
//! The type lives in `catalog` because the catalog is what applies it; `config` only stores it.

use serde::{Deserialize, Serialize};

/// How strong a model is, as the router prompt and the fallback policy see it.
/// Ordered from cheapest to strongest, so `max()` picks the strongest tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Cheap and fast (mini, nano, flash, haiku class).
    Low,
    /// A capable general model.
    Standard,
    /// A model specialised for code (codex, coder).
    Coding,
    /// A strong general model with reasoning.
    Strong,
    /// The strongest available class (opus, gpt-5.5, pro models).
    Frontier,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Low => "low",
            Tier::Standard => "standard",
            Tier::Coding => "coding",
            Tier::Strong => "strong",
            Tier::Frontier => "frontier",
        }
    }
}

/// What a user may override for one model id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelOverride {
    /// USD per million input tokens.
    pub input_price: Option<f64>,
    /// USD per million output tokens.
    pub output_price: Option<f64>,
    /// Context window in tokens.
    pub context: Option<u64>,
    /// Maximum output tokens.
    pub max_output: Option<u64>,
    /// Supports tool / function calls.
    pub tool_call: Option<bool>,
    /// Accepts image input.
    pub vision: Option<bool>,
    /// Accepts `reasoning_effort`.
    pub reasoning: Option<bool>,
    /// Accepts `temperature` (some reasoning models reject it).
    pub temperature: Option<bool>,
    /// Strength class shown to the router and used by the fallback policy.
    pub tier: Option<Tier>,
    /// Never route to this model (it can still be called by its real id).
    #[serde(default)]
    pub exclude: bool,
}
