//! The joined model table: each model the upstream lists, with facts taken per field from
//! the user's override, else the upstream's own metadata, else the catalog, else the id
//! heuristic, and the source of each group of facts recorded for `llm-router models`.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::heuristics::{self, TierInput};
use super::upstream_meta::{self, UpstreamMeta};
use super::{Catalog, CatalogEntry, ModelOverride, Tier};

/// Where a fact came from (shown in `llm-router models`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Override,
    Upstream,
    Catalog,
    Heuristic,
    Unknown,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Override => "override",
            Source::Upstream => "upstream",
            Source::Catalog => "catalog",
            Source::Heuristic => "heuristic",
            Source::Unknown => "unknown",
        }
    }
}

/// Reason given when the config excludes a model.
pub const EXCLUDED_IN_CONFIG: &str = "excluded in config";
/// Reason given for embedding, image, audio and similar models.
pub const NOT_A_CHAT_MODEL: &str = "not a chat model";

/// A model the upstream lists, joined with the catalog and the user's overrides.
#[derive(Clone, Debug, Serialize)]
pub struct ModelFacts {
    /// The id exactly as the upstream lists it; this is what gets forwarded.
    pub id: String,
    /// `provider/model` of the matched catalog entry, e.g. `openai/gpt-5.4-mini`.
    pub catalog_id: Option<String>,
    /// USD per 1M input tokens.
    pub input_price: Option<f64>,
    /// USD per 1M output tokens.
    pub output_price: Option<f64>,
    pub price_source: Source,
    pub context: Option<u64>,
    pub max_output: Option<u64>,
    pub tool_call: bool,
    pub vision: bool,
    pub reasoning: bool,
    pub temperature: bool,
    pub chat: bool,
    /// The strongest source that contributed any capability flag.
    pub capability_source: Source,
    pub tier: Tier,
    /// Why the router never picks this model, if it does not.
    pub excluded: Option<String>,
}

impl ModelFacts {
    /// Cost in USD of a call; None when the price is unknown.
    pub fn cost(&self, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
        let (i, o) = (self.input_price?, self.output_price?);
        Some((prompt_tokens as f64 * i + completion_tokens as f64 * o) / 1_000_000.0)
    }

    /// Price used to rank cheapness: input + 3*output (weighted toward output, because
    /// answers, and reasoning tokens especially, dominate spend), None if unknown.
    pub fn blended_price(&self) -> Option<f64> {
        Some(self.input_price? + 3.0 * self.output_price?)
    }

    /// Not excluded, so the router may pick it.
    pub fn is_routable(&self) -> bool {
        self.excluded.is_none()
    }
}

/// The override for an id: exact key first, then a case-insensitive match (config keys are
/// typed by hand; relays are inconsistent about case).
fn find_override<'a>(
    overrides: &'a BTreeMap<String, ModelOverride>,
    id: &str,
) -> Option<&'a ModelOverride> {
    overrides.get(id).or_else(|| {
        overrides
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(id))
            .map(|(_, v)| v)
    })
}

/// Build the joined table, in upstream order. `upstream` is the `data` array of the relay's
/// `/v1/models`. Entries without a non-empty string id are skipped, and a repeated id keeps
/// its first occurrence. Precedence per fact: override > upstream metadata > catalog > id
/// heuristic.
pub fn join(
    upstream: &[Value],
    catalog: &Catalog,
    overrides: &BTreeMap<String, ModelOverride>,
) -> Vec<ModelFacts> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(upstream.len());
    for model in upstream {
        let Some(id) = model
            .get("id")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        if !seen.insert(id.to_string()) {
            continue;
        }
        let meta = upstream_meta::extract(model);
        let entry = catalog.lookup(id);
        let ov = find_override(overrides, id);
        out.push(facts_for(id, &meta, entry, ov));
    }
    out
}

fn facts_for(
    id: &str,
    meta: &UpstreamMeta,
    entry: Option<CatalogEntry<'_>>,
    ov: Option<&ModelOverride>,
) -> ModelFacts {
    let default_ov = ModelOverride::default();
    let ov = ov.unwrap_or(&default_ov);

    // Prices are taken as a pair from one source, so input and output never mix units or
    // vendors; the override may still replace either side.
    let (mut input_price, mut output_price, mut price_source) = match (meta.prices, entry) {
        (Some((i, o)), _) => (Some(i), Some(o), Source::Upstream),
        (None, Some(e)) if e.input_price.is_some() || e.output_price.is_some() => {
            (e.input_price, e.output_price, Source::Catalog)
        }
        _ => (None, None, Source::Unknown),
    };
    if ov.input_price.is_some() || ov.output_price.is_some() {
        input_price = ov.input_price.or(input_price);
        output_price = ov.output_price.or(output_price);
        price_source = Source::Override;
    }

    let context = ov
        .context
        .or(meta.context)
        .or_else(|| entry.and_then(|e| e.context));
    let max_output = ov
        .max_output
        .or(meta.max_output)
        .or_else(|| entry.and_then(|e| e.max_output));

    let guess = heuristics::guess_caps(id);
    let base = match entry {
        Some(e) => (e.tool_call, e.vision, e.reasoning, e.temperature),
        None => (
            guess.tool_call,
            guess.vision,
            guess.reasoning,
            guess.temperature,
        ),
    };
    let pick = |o: Option<bool>, m: Option<bool>, b: bool| o.or(m).unwrap_or(b);
    let tool_call = pick(ov.tool_call, meta.tool_call, base.0);
    let vision = pick(ov.vision, meta.vision, base.1);
    let reasoning = pick(ov.reasoning, meta.reasoning, base.2);
    let temperature = pick(ov.temperature, meta.temperature, base.3);
    let capability_source = if [ov.tool_call, ov.vision, ov.reasoning, ov.temperature]
        .iter()
        .any(Option::is_some)
    {
        Source::Override
    } else if [
        meta.tool_call,
        meta.vision,
        meta.reasoning,
        meta.temperature,
    ]
    .iter()
    .any(Option::is_some)
    {
        Source::Upstream
    } else if entry.is_some() {
        Source::Catalog
    } else {
        Source::Heuristic
    };

    // The id veto applies on top of metadata: relays often describe an embedding model with a
    // `text` output, and so does models.dev.
    let chat = !heuristics::is_non_chat_id(id, false)
        && match (meta.chat, entry) {
            (Some(c), _) => c,
            (None, Some(e)) => e.chat,
            (None, None) => true,
        };

    let tier = ov.tier.unwrap_or_else(|| {
        heuristics::derive_tier(&TierInput {
            id,
            reasoning,
            output_price,
            deprecated: entry.is_some_and(|e| e.deprecated),
        })
    });

    let excluded = if ov.exclude {
        Some(EXCLUDED_IN_CONFIG.to_string())
    } else if !chat {
        Some(NOT_A_CHAT_MODEL.to_string())
    } else {
        None
    };

    ModelFacts {
        id: id.to_string(),
        catalog_id: entry.map(CatalogEntry::qualified_id),
        input_price,
        output_price,
        price_source,
        context,
        max_output,
        tool_call,
        vision,
        reasoning,
        temperature,
        chat,
        capability_source,
        tier,
        excluded,
    }
}
