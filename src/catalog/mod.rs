//! Model facts: the embedded models.dev snapshot, what the upstream relay lists, and the
//! user's per-model overrides, joined into one table of [`ModelFacts`].
//!
//! Owns: parsing the catalog (`data/models.dev/api.json`, embedded in the binary), looking up
//! a relay's model id in it, reading prices/context/capabilities from upstream metadata, and the
//! id heuristics (chat vs. non-chat, capabilities, tier) used when nothing better is known.
//! Never makes routing decisions and never does I/O: callers hand in the relay's `/v1/models`
//! `data` array and get facts back.
//!
//! Invariants: lookups are deterministic (ties broken by provider and model id, never by hash
//! order); every fact in [`ModelFacts`] carries where it came from, with the precedence
//! override > upstream metadata > catalog > id heuristic.

mod heuristics;
mod index;
mod join;
pub mod model_override;
mod upstream_meta;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub use join::{EXCLUDED_IN_CONFIG, ModelFacts, NOT_A_CHAT_MODEL, Source, join};
pub use model_override::{ModelOverride, Tier};

/// Date the embedded snapshot was taken from models.dev.
const SNAPSHOT_DATE: &str = "2026-08-18";

/// The snapshot itself. Embedded so the binary works offline and `init` needs no network.
const EMBEDDED_JSON: &str = include_str!("../../data/models.dev/api.json");

/// Errors from reading a catalog document.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("models.dev catalog is not valid JSON of the expected shape: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("models.dev catalog has no providers with models")]
    Empty,
}

/// One models.dev entry (provider-qualified).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogEntry {
    /// models.dev provider id, e.g. `openai`, `openrouter`.
    pub provider: String,
    /// Model id as that provider spells it, e.g. `gpt-5.4-mini` or `openai/gpt-5.4-mini`.
    pub id: String,
    pub name: String,
    /// USD per 1M input tokens.
    pub input_price: Option<f64>,
    /// USD per 1M output tokens.
    pub output_price: Option<f64>,
    pub context: Option<u64>,
    pub max_output: Option<u64>,
    pub tool_call: bool,
    /// Accepts images: `image` among the input modalities (`attachment` when models.dev lists
    /// no input modalities).
    pub vision: bool,
    pub reasoning: bool,
    pub temperature: bool,
    /// Produces text and is not an embedding/image/audio/realtime model.
    pub chat: bool,
    /// models.dev marks the model `status: deprecated`.
    pub deprecated: bool,
}

impl CatalogEntry {
    /// `provider/id`, the stable name shown as `catalog_id`.
    pub fn qualified_id(&self) -> String {
        format!("{}/{}", self.provider, self.id)
    }
}

/// A provider with an OpenAI-compatible base URL, offered as a preset by `llm-router init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProviderPreset {
    pub id: String,
    pub name: String,
    /// OpenAI-compatible base URL.
    pub api: String,
    /// Environment variables that usually hold the key.
    pub env: Vec<String>,
}

/// The parsed catalog with a lookup index.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    entries: Vec<CatalogEntry>,
    providers: Vec<ProviderPreset>,
    index: index::Index,
}

// Only the fields we use are declared; serde skips the rest without building values, which
// keeps parsing the 2.5 MB snapshot fast.
#[derive(Deserialize)]
struct RawProvider {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    api: Option<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    models: BTreeMap<String, RawModel>,
}

#[derive(Deserialize)]
struct RawModel {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    attachment: bool,
    #[serde(default)]
    reasoning: bool,
    #[serde(default)]
    tool_call: bool,
    // Absent means the provider did not say; most models accept temperature.
    #[serde(default = "default_true")]
    temperature: bool,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    modalities: Option<RawModalities>,
    #[serde(default)]
    cost: Option<RawCost>,
    #[serde(default)]
    limit: Option<RawLimit>,
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
struct RawModalities {
    #[serde(default)]
    input: Vec<String>,
    #[serde(default)]
    output: Vec<String>,
}

#[derive(Deserialize)]
struct RawCost {
    #[serde(default)]
    input: Option<f64>,
    #[serde(default)]
    output: Option<f64>,
}

#[derive(Deserialize)]
struct RawLimit {
    #[serde(default)]
    context: Option<f64>,
    #[serde(default)]
    output: Option<f64>,
}

/// models.dev writes 0 for "not applicable" (image models); treat it as unknown.
fn positive_tokens(v: Option<f64>) -> Option<u64> {
    v.filter(|x| x.is_finite() && *x >= 1.0)
        .map(|x| x.round() as u64)
}

fn valid_price(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}

impl Catalog {
    /// The embedded snapshot, parsed once.
    pub fn embedded() -> &'static Catalog {
        static EMBEDDED: OnceLock<Catalog> = OnceLock::new();
        EMBEDDED.get_or_init(|| match Catalog::from_json(EMBEDDED_JSON) {
            Ok(c) => c,
            Err(e) => {
                // Unreachable for the shipped file (a unit test parses it), but a broken
                // snapshot must degrade to "no catalog facts", not take the daemon down.
                tracing::error!(error = %e, "embedded models.dev snapshot failed to parse");
                Catalog::default()
            }
        })
    }

    /// Parse a models.dev `api.json` document (the live file or the trimmed snapshot).
    pub fn from_json(text: &str) -> Result<Catalog, CatalogError> {
        let raw: BTreeMap<String, RawProvider> = serde_json::from_str(text)?;
        let mut entries = Vec::new();
        let mut providers = Vec::new();
        for (pid, p) in raw {
            let pname = p.name.clone().unwrap_or_else(|| pid.clone());
            if let Some(api) = p.api.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
                providers.push(ProviderPreset {
                    id: pid.clone(),
                    name: pname,
                    api: api.to_string(),
                    env: p.env.clone(),
                });
            }
            for (mid, m) in p.models {
                entries.push(entry_from_raw(&pid, mid, m));
            }
        }
        if entries.is_empty() {
            return Err(CatalogError::Empty);
        }
        providers.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        let index = index::Index::build(&entries);
        Ok(Catalog {
            entries,
            providers,
            index,
        })
    }

    /// Find facts for a model id as a relay lists it. See `docs/catalog.md` for the rules:
    /// case-insensitive, `vendor/` prefixes honoured, `:free`/`@latest` suffixes and date
    /// stamps dropped when the exact id is unknown, original vendor preferred over resellers.
    pub fn lookup(&self, model_id: &str) -> Option<&CatalogEntry> {
        self.index
            .lookup(model_id, &self.entries)
            .and_then(|i| self.entries.get(i))
    }

    /// Providers that have an `api` base URL, sorted by name.
    pub fn providers(&self) -> Vec<ProviderPreset> {
        self.providers.clone()
    }

    /// All entries, in provider then model id order.
    pub fn entries(&self) -> &[CatalogEntry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The date the embedded snapshot was taken.
    pub fn snapshot_date() -> &'static str {
        SNAPSHOT_DATE
    }
}

fn entry_from_raw(provider: &str, id: String, m: RawModel) -> CatalogEntry {
    let (input_mods, output_mods) = match &m.modalities {
        Some(md) => (md.input.as_slice(), md.output.as_slice()),
        None => (&[][..], &[][..]),
    };
    let has = |list: &[String], what: &str| list.iter().any(|s| s.eq_ignore_ascii_case(what));
    // No modalities at all: assume a text model and let the id heuristic decide.
    let text_out = output_mods.is_empty() || has(output_mods, "text");
    let image_out = has(output_mods, "image");
    let chat = text_out && !heuristics::is_non_chat_id(&id, image_out);
    let (input_price, output_price) = match &m.cost {
        Some(c) => (valid_price(c.input), valid_price(c.output)),
        None => (None, None),
    };
    let (context, max_output) = match &m.limit {
        Some(l) => (positive_tokens(l.context), positive_tokens(l.output)),
        None => (None, None),
    };
    CatalogEntry {
        provider: provider.to_string(),
        name: m.name.unwrap_or_else(|| id.clone()),
        id,
        input_price,
        output_price,
        context,
        max_output,
        tool_call: m.tool_call,
        // `attachment` also covers plain file uploads (deepseek-chat has it with text-only
        // input), so the input modalities decide; `attachment` only when they are missing.
        vision: if input_mods.is_empty() {
            m.attachment
        } else {
            has(input_mods, "image")
        },
        reasoning: m.reasoning,
        temperature: m.temperature,
        chat,
        deprecated: m
            .status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("deprecated")),
    }
}

#[cfg(test)]
mod tests;
