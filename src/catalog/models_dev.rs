//! Reading the models.dev `api.json` document (the live file or the shipped snapshot) into
//! per-provider rows of [`Facts`]: the one place that knows the models.dev shape. Both
//! `Catalog::from_json` and `compact_from_api_json` start here, so the two formats cannot
//! disagree about what an entry says.
//!
//! Providers are read one at a time (a map visitor), so only one provider's raw models exist
//! at once, never a tree of the whole document.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};

use super::{CatalogError, Facts};

/// One provider of the document, with its models in model id order.
pub(crate) struct ProviderRows {
    pub id: String,
    /// The provider's `name`, else its id.
    pub name: String,
    /// Trimmed, non-empty OpenAI-compatible base URL.
    pub api: Option<String>,
    pub env: Vec<String>,
    pub models: Vec<(String, Facts)>,
}

/// Providers in provider id order (the document's key order does not matter).
pub(crate) fn parse(text: &str) -> Result<Vec<ProviderRows>, CatalogError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let mut providers = de.deserialize_map(DocumentVisitor)?;
    de.end()?;
    // Stable sort, then keep the last of repeated keys, as a map of the document would.
    providers.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out: Vec<ProviderRows> = Vec::with_capacity(providers.len());
    for p in providers {
        match out.last_mut() {
            Some(last) if last.id == p.id => *last = p,
            _ => out.push(p),
        }
    }
    Ok(out)
}

struct DocumentVisitor;

impl<'de> Visitor<'de> for DocumentVisitor {
    type Value = Vec<ProviderRows>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of models.dev providers")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((id, raw)) = map.next_entry::<String, RawProvider>()? {
            out.push(rows_from_raw(id, raw));
        }
        Ok(out)
    }
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

fn rows_from_raw(id: String, p: RawProvider) -> ProviderRows {
    let api = p
        .api
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    ProviderRows {
        name: p.name.unwrap_or_else(|| id.clone()),
        id,
        api,
        env: p.env,
        models: p
            .models
            .into_iter()
            .map(|(mid, m)| {
                let facts = facts_from_raw(&m);
                (mid, facts)
            })
            .collect(),
    }
}

fn facts_from_raw(m: &RawModel) -> Facts {
    let (input_mods, output_mods) = match &m.modalities {
        Some(md) => (md.input.as_slice(), md.output.as_slice()),
        None => (&[][..], &[][..]),
    };
    let has = |list: &[String], what: &str| list.iter().any(|s| s.eq_ignore_ascii_case(what));
    let (input_price, output_price) = match &m.cost {
        Some(c) => (valid_price(c.input), valid_price(c.output)),
        None => (None, None),
    };
    let (context, max_output) = match &m.limit {
        Some(l) => (positive_tokens(l.context), positive_tokens(l.output)),
        None => (None, None),
    };
    Facts {
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
        // No modalities at all: assume a text model and let the id heuristic decide.
        text_out: output_mods.is_empty() || has(output_mods, "text"),
        image_out: has(output_mods, "image"),
        deprecated: m
            .status
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("deprecated")),
    }
}
