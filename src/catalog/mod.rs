//! Model facts: the embedded models.dev snapshot, what the upstream relay lists, and the
//! user's per-model overrides, joined into one table of [`ModelFacts`].
//!
//! Owns: parsing the catalog (`data/models.dev/api.json`, embedded in the binary in the
//! compact form `compact_from_api_json` makes of it, see `compact.rs`), looking up
//! a relay's model id in it, reading prices/context/capabilities from upstream metadata, and the
//! id heuristics (chat vs. non-chat, capabilities, tier) used when nothing better is known.
//! Never makes routing decisions and never does I/O: callers hand in the relay's `/v1/models`
//! `data` array and get facts back.
//!
//! Invariants: lookups are deterministic (ties broken by provider and model id, never by hash
//! order); every fact in [`ModelFacts`] carries where it came from, with the precedence
//! override > upstream metadata > catalog > id heuristic.

mod compact;
mod heuristics;
mod index;
mod join;
pub mod model_override;
mod models_dev;
mod upstream_meta;

use std::sync::OnceLock;

use serde::Serialize;

pub use compact::compact_from_api_json;
pub use join::{EXCLUDED_IN_CONFIG, ModelFacts, NOT_A_CHAT_MODEL, Source, join};
pub use model_override::{ModelOverride, Tier};

/// Date the embedded snapshot was taken from models.dev.
const SNAPSHOT_DATE: &str = "2026-08-18";

/// The snapshot in the compact form `compact_from_api_json` makes of `api.json`. Embedded so
/// the binary works offline and `init` needs no network; the compact form rather than the
/// 2.5 MB `api.json` because every byte of it is read (and so stays resident) at startup.
const EMBEDDED_COMPACT: &str = include_str!("../../data/models.dev/catalog.compact.tsv");

/// Errors from reading a catalog document.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("models.dev catalog is not valid JSON of the expected shape: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("models.dev catalog has no providers with models")]
    Empty,
    #[error("compact catalog, line {line}: {reason}")]
    Compact { line: usize, reason: &'static str },
    #[error("models.dev catalog has a {what} the compact form cannot hold: {value:?}")]
    Unrepresentable { what: &'static str, value: String },
    #[error("models.dev catalog is too large to index")]
    TooLarge,
}

/// One models.dev entry (provider-qualified), as a view into the [`Catalog`] that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CatalogEntry<'a> {
    /// models.dev provider id, e.g. `openai`, `openrouter`.
    pub provider: &'a str,
    /// Model id as that provider spells it, e.g. `gpt-5.4-mini` or `openai/gpt-5.4-mini`.
    pub id: &'a str,
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

impl CatalogEntry<'_> {
    /// `provider/id`, the stable name shown as `catalog_id`.
    pub fn qualified_id(self) -> String {
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

/// What one catalog entry says, before it is stored. The chat flag is not here: it is derived
/// from the id and these modalities when the entry is stored, so a change to the id heuristic
/// needs no regenerated compact file.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Facts {
    pub input_price: Option<f64>,
    pub output_price: Option<f64>,
    pub context: Option<u64>,
    pub max_output: Option<u64>,
    pub tool_call: bool,
    pub vision: bool,
    pub reasoning: bool,
    pub temperature: bool,
    /// Text among the output modalities (or none listed).
    pub text_out: bool,
    /// Image among the output modalities.
    pub image_out: bool,
    pub deprecated: bool,
}

// Bits of `Entry::flags`.
const TOOL_CALL: u8 = 1;
const VISION: u8 = 1 << 1;
const REASONING: u8 = 1 << 2;
const TEMPERATURE: u8 = 1 << 3;
const CHAT: u8 = 1 << 4;
const DEPRECATED: u8 = 1 << 5;

/// One stored entry: 48 bytes, no allocation of its own. Ids live in `Table::ids`, the
/// provider is an index into `Table::providers`, absent prices are NaN (never a valid price)
/// and absent token counts 0 (never a valid count).
#[derive(Debug, Clone)]
struct Entry {
    input_price: f64,
    output_price: f64,
    context: u64,
    max_output: u64,
    id_start: u32,
    id_len: u32,
    provider: u32,
    flags: u8,
}

/// The entries and the strings they point into; what the index sorts and probes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    /// Provider ids, in the order the entries refer to them.
    providers: Vec<Box<str>>,
    /// Every model id, concatenated.
    ids: String,
    entries: Vec<Entry>,
}

impl Table {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, i: usize) -> Option<CatalogEntry<'_>> {
        let e = self.entries.get(i)?;
        let start = e.id_start as usize;
        let price = |p: f64| (!p.is_nan()).then_some(p);
        let tokens = |t: u64| (t != 0).then_some(t);
        Some(CatalogEntry {
            provider: self.providers.get(e.provider as usize)?.as_ref(),
            id: self.ids.get(start..start + e.id_len as usize)?,
            input_price: price(e.input_price),
            output_price: price(e.output_price),
            context: tokens(e.context),
            max_output: tokens(e.max_output),
            tool_call: e.flags & TOOL_CALL != 0,
            vision: e.flags & VISION != 0,
            reasoning: e.flags & REASONING != 0,
            temperature: e.flags & TEMPERATURE != 0,
            chat: e.flags & CHAT != 0,
            deprecated: e.flags & DEPRECATED != 0,
        })
    }
}

/// Collects providers and entries from either source format into the final structures, so
/// nothing of the document outlives the parse.
#[derive(Default)]
pub(crate) struct Builder {
    table: Table,
    presets: Vec<ProviderPreset>,
}

impl Builder {
    /// Capacity hints (from the compact file's header) so the vectors are allocated once.
    pub(crate) fn with_capacity(providers: usize, entries: usize, id_bytes: usize) -> Builder {
        Builder {
            table: Table {
                providers: Vec::with_capacity(providers),
                ids: String::with_capacity(id_bytes),
                entries: Vec::with_capacity(entries),
            },
            presets: Vec::new(),
        }
    }

    /// Start a provider; the models added next belong to it. `api` is a trimmed, non-empty
    /// base URL or `None` (not offered as a preset).
    pub(crate) fn provider<'s>(
        &mut self,
        id: &str,
        name: &str,
        api: Option<&str>,
        env: impl Iterator<Item = &'s str>,
    ) {
        if let Some(api) = api {
            self.presets.push(ProviderPreset {
                id: id.to_string(),
                name: name.to_string(),
                api: api.to_string(),
                env: env.map(str::to_string).collect(),
            });
        }
        self.table.providers.push(id.into());
    }

    /// Add a model of the provider started last.
    pub(crate) fn model(&mut self, id: &str, f: &Facts) -> Result<(), CatalogError> {
        let provider = self
            .table
            .providers
            .len()
            .checked_sub(1)
            // Both readers start a provider first; this only keeps a misuse from panicking.
            .ok_or(CatalogError::Empty)?;
        let chat = f.text_out && !heuristics::is_non_chat_id(id, f.image_out);
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        let u32_of = |n: usize| u32::try_from(n).map_err(|_| CatalogError::TooLarge);
        let entry = Entry {
            input_price: f.input_price.unwrap_or(f64::NAN),
            output_price: f.output_price.unwrap_or(f64::NAN),
            context: f.context.unwrap_or(0),
            max_output: f.max_output.unwrap_or(0),
            id_start: u32_of(self.table.ids.len())?,
            id_len: u32_of(id.len())?,
            provider: u32_of(provider)?,
            flags: flag(f.tool_call, TOOL_CALL)
                | flag(f.vision, VISION)
                | flag(f.reasoning, REASONING)
                | flag(f.temperature, TEMPERATURE)
                | flag(chat, CHAT)
                | flag(f.deprecated, DEPRECATED),
        };
        self.table.ids.push_str(id);
        self.table.entries.push(entry);
        // The offsets must fit too, not just the start.
        u32_of(self.table.ids.len())?;
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<Catalog, CatalogError> {
        let Builder {
            mut table,
            mut presets,
        } = self;
        if table.entries.is_empty() {
            return Err(CatalogError::Empty);
        }
        table.providers.shrink_to_fit();
        table.ids.shrink_to_fit();
        table.entries.shrink_to_fit();
        presets.sort_by(|a, b| {
            a.name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.id.cmp(&b.id))
        });
        presets.shrink_to_fit();
        let index = index::Index::build(&table)?;
        Ok(Catalog {
            table,
            presets,
            index,
        })
    }
}

/// The parsed catalog with a lookup index.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    table: Table,
    presets: Vec<ProviderPreset>,
    index: index::Index,
}

impl Catalog {
    /// The embedded snapshot, parsed once.
    pub fn embedded() -> &'static Catalog {
        static EMBEDDED: OnceLock<Catalog> = OnceLock::new();
        EMBEDDED.get_or_init(|| match Catalog::from_compact(EMBEDDED_COMPACT) {
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
        let providers = models_dev::parse(text)?;
        let mut b = Builder::default();
        for p in &providers {
            b.provider(
                &p.id,
                &p.name,
                p.api.as_deref(),
                p.env.iter().map(String::as_str),
            );
            for (id, facts) in &p.models {
                b.model(id, facts)?;
            }
        }
        drop(providers);
        b.finish()
    }

    /// Parse the compact form written by [`compact_from_api_json`] (what the binary embeds).
    pub fn from_compact(text: &str) -> Result<Catalog, CatalogError> {
        compact::read(text)?.finish()
    }

    /// Find facts for a model id as a relay lists it. See `docs/catalog.md` for the rules:
    /// case-insensitive, `vendor/` prefixes honoured, `:free`/`@latest` suffixes and date
    /// stamps dropped when the exact id is unknown, original vendor preferred over resellers.
    pub fn lookup(&self, model_id: &str) -> Option<CatalogEntry<'_>> {
        self.index
            .lookup(model_id, &self.table)
            .and_then(|i| self.table.get(i))
    }

    /// Providers that have an `api` base URL, sorted by name.
    pub fn providers(&self) -> Vec<ProviderPreset> {
        self.presets.clone()
    }

    /// All entries, in provider then model id order.
    pub fn entries(&self) -> impl Iterator<Item = CatalogEntry<'_>> + '_ {
        (0..self.table.len()).filter_map(|i| self.table.get(i))
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// The date the embedded snapshot was taken.
    pub fn snapshot_date() -> &'static str {
        SNAPSHOT_DATE
    }
}

#[cfg(test)]
mod tests;
