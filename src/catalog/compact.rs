//! The compact catalog: a line format holding only what the router reads from models.dev,
//! generated from `api.json` and embedded in the binary instead of it (about a seventh of the
//! size, and read without building any JSON values).
//!
//! Format (UTF-8, `\n` line ends, fields separated by one tab; `#` lines are comments):
//!
//! ```text
//! n  <providers> <models> <model id bytes>      capacity hints, optional, first
//! p  <provider id> <name> <api base URL or empty> <env var>...
//! m  <model id> <input $/1M> <output $/1M> <context> <max output> <flags>
//! ```
//!
//! An `m` line belongs to the `p` line above it. An empty number is unknown. Flags, in this
//! order: `t` tool calls, `v` vision, `r` reasoning, `T` temperature, `o` text output, `i`
//! image output, `d` deprecated; `-` for none. Prices use Rust's shortest round-trip float
//! form, so reading one back gives exactly the `f64` the JSON parse produced.
//!
//! Invariant: `compact_from_api_json` is deterministic (providers and models in id order), so
//! a unit test can regenerate the committed file and compare it byte for byte.

use std::fmt::Write as _;

use super::models_dev::{self, ProviderRows};
use super::{Builder, CatalogError, Facts};

const HEADER: &str = "\
# Compact form of api.json (models.dev) made by llm_router::catalog::compact_from_api_json.
# Generated: do not edit. Refresh with `UPDATE_CATALOG=1 cargo test --lib catalog`.
# n <providers> <models> <model id bytes>
# p <provider id> <name> <api base URL or empty> <env var>...
# m <model id> <input $/1M> <output $/1M> <context> <max output> <flags>  (of the p above)
# flags: t tool calls, v vision, r reasoning, T temperature, o text output, i image output,
#        d deprecated, - none; an empty number is unknown.
";

/// Where a flag's fact lives in [`Facts`].
type FlagField = fn(&mut Facts) -> &mut bool;

/// Flag letters in file order, with the fact each one stands for.
const FLAGS: [(char, FlagField); 7] = [
    ('t', |f| &mut f.tool_call),
    ('v', |f| &mut f.vision),
    ('r', |f| &mut f.reasoning),
    ('T', |f| &mut f.temperature),
    ('o', |f| &mut f.text_out),
    ('i', |f| &mut f.image_out),
    ('d', |f| &mut f.deprecated),
];

/// Turn a models.dev `api.json` document into the compact form `Catalog::from_compact`
/// reads (what `data/models.dev/catalog.compact.tsv` holds). Deterministic: the same
/// document always gives the same text.
pub fn compact_from_api_json(text: &str) -> Result<String, CatalogError> {
    let providers = models_dev::parse(text)?;
    if providers.iter().all(|p| p.models.is_empty()) {
        return Err(CatalogError::Empty);
    }
    let models: usize = providers.iter().map(|p| p.models.len()).sum();
    let id_bytes: usize = providers
        .iter()
        .flat_map(|p| &p.models)
        .map(|(id, _)| id.len())
        .sum();
    let mut out = String::with_capacity(HEADER.len() + models * 48);
    out.push_str(HEADER);
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "n\t{}\t{models}\t{id_bytes}", providers.len());
    for p in &providers {
        write_provider(&mut out, p)?;
    }
    Ok(out)
}

fn write_provider(out: &mut String, p: &ProviderRows) -> Result<(), CatalogError> {
    out.push('p');
    field(out, "provider id", &p.id)?;
    field(out, "provider name", &p.name)?;
    field(out, "provider api", p.api.as_deref().unwrap_or(""))?;
    for env in &p.env {
        field(out, "provider env var", env)?;
    }
    out.push('\n');
    for (id, f) in &p.models {
        out.push('m');
        field(out, "model id", id)?;
        for price in [f.input_price, f.output_price] {
            out.push('\t');
            if let Some(v) = price {
                let _ = write!(out, "{v}");
            }
        }
        for tokens in [f.context, f.max_output] {
            out.push('\t');
            if let Some(v) = tokens {
                let _ = write!(out, "{v}");
            }
        }
        out.push('\t');
        let before = out.len();
        // The accessors hand out `&mut`; reading through them needs a copy of the facts.
        let mut copy = *f;
        out.extend(
            FLAGS
                .iter()
                .filter(|(_, field)| *field(&mut copy))
                .map(|(c, _)| *c),
        );
        if out.len() == before {
            out.push('-');
        }
        out.push('\n');
    }
    Ok(())
}

/// Append `\t` and a string field, which must not contain the separators.
fn field(out: &mut String, what: &'static str, value: &str) -> Result<(), CatalogError> {
    if value.contains(['\t', '\n', '\r']) {
        return Err(CatalogError::Unrepresentable {
            what,
            value: value.to_string(),
        });
    }
    out.push('\t');
    out.push_str(value);
    Ok(())
}

/// Read the compact form straight into a [`Builder`], one line at a time.
pub(crate) fn read(text: &str) -> Result<Builder, CatalogError> {
    let mut b = Builder::default();
    let mut seen_provider = false;
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let err = |reason| CatalogError::Compact {
            line: line_no,
            reason,
        };
        // A checkout with CRLF line ends must read the same.
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split('\t');
        match fields.next() {
            Some("n") => {
                let mut next = || -> Result<usize, CatalogError> {
                    fields
                        .next()
                        .and_then(|v| v.parse().ok())
                        .ok_or(err("bad count in the n line"))
                };
                let (providers, models, id_bytes) = (next()?, next()?, next()?);
                if seen_provider {
                    return Err(err("the n line must come before the providers"));
                }
                // Hints only: bounded by what the text could hold, so a wrong n line cannot
                // make a huge allocation.
                let cap = text.len();
                b = Builder::with_capacity(
                    providers.min(cap / 4),
                    models.min(cap / 8),
                    id_bytes.min(cap),
                );
            }
            Some("p") => {
                let (Some(id), Some(name), Some(api)) =
                    (fields.next(), fields.next(), fields.next())
                else {
                    return Err(err("a p line needs an id, a name and an api field"));
                };
                b.provider(id, name, Some(api).filter(|a| !a.is_empty()), fields);
                seen_provider = true;
            }
            Some("m") => {
                if !seen_provider {
                    return Err(err("an m line before any p line"));
                }
                let id = fields.next().ok_or(err("an m line needs an id"))?;
                let mut facts = Facts::default();
                let mut price = || -> Result<Option<f64>, CatalogError> {
                    match fields.next() {
                        Some("") => Ok(None),
                        Some(v) => v
                            .parse::<f64>()
                            .ok()
                            .filter(|x| x.is_finite() && *x >= 0.0)
                            .map(Some)
                            .ok_or(err("a price is not a non-negative number")),
                        None => Err(err("an m line is missing a price")),
                    }
                };
                facts.input_price = price()?;
                facts.output_price = price()?;
                let mut tokens = || -> Result<Option<u64>, CatalogError> {
                    match fields.next() {
                        Some("") => Ok(None),
                        Some(v) => v
                            .parse::<u64>()
                            .ok()
                            .filter(|x| *x >= 1)
                            .map(Some)
                            .ok_or(err("a token count is not a positive integer")),
                        None => Err(err("an m line is missing a token count")),
                    }
                };
                facts.context = tokens()?;
                facts.max_output = tokens()?;
                let flags = fields.next().ok_or(err("an m line is missing its flags"))?;
                if flags != "-" {
                    for c in flags.chars() {
                        let (_, field) = FLAGS
                            .iter()
                            .find(|(f, _)| *f == c)
                            .ok_or(err("unknown flag"))?;
                        *field(&mut facts) = true;
                    }
                }
                if fields.next().is_some() {
                    return Err(err("an m line has too many fields"));
                }
                b.model(id, &facts)?;
            }
            _ => return Err(err("a line must start with n, p, m or #")),
        }
    }
    Ok(b)
}
