//! The lookup index over catalog entries: id normalisation, fallbacks for dated and suffixed
//! ids, and the vendor-first ranking that decides which provider's entry a bare id means.
//!
//! Invariant: every candidate list is sorted once at build time by a total order (vendor rank,
//! has a price, exact id, path depth, provider, id), so a lookup is a couple of binary searches
//! and the answer never depends on hash or file order.
//!
//! Layout: one sorted table of keys (normalised full ids, their last path segments, and the
//! "loose" forms of both), each slot pointing at its exact and loose candidate lists in one
//! flat `u32` array. Keys live in one string; a loose list equal to the exact list of the same
//! key is stored once. About 40 bytes per catalog entry in all: there is no allocation per key
//! or per list, and the ~6,700 entries share ~4,700 keys.

use super::{CatalogError, Table};

/// A range in one of the index's flat arrays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span {
    start: u32,
    len: u32,
}

impl Span {
    fn text(self, s: &str) -> &str {
        let start = self.start as usize;
        s.get(start..start + self.len as usize).unwrap_or("")
    }

    fn of<T>(self, items: &[T]) -> &[T] {
        let start = self.start as usize;
        items.get(start..start + self.len as usize).unwrap_or(&[])
    }
}

#[derive(Debug, Clone, Default)]
struct Slot {
    /// The key, in `Index::keys`.
    key: Span,
    /// Candidates for the key as an exact (normalised) id; empty when it is only a loose key.
    exact: Span,
    /// Candidates for the key with `.` between digits written as `-` (`claude-3.5-haiku` ≡
    /// `claude-3-5-haiku`); probed only when no exact key finds anything.
    loose: Span,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Every key, concatenated.
    keys: String,
    /// Sorted by key text.
    slots: Vec<Slot>,
    /// Entry indices, best first within each list.
    cands: Vec<u32>,
}

/// Which of a slot's two candidate lists a key is filed in or probed against.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Exact,
    Loose,
}

/// Lowercase, trim, `_`/whitespace runs → `-`, and drop a `:tag` / `@tag` suffix of the last
/// path segment (`:free`, `:beta`, `@latest`, `@20240620`). A leading `@` (Cloudflare's
/// `@cf/…`) is a namespace, not a suffix, so only a marker after the first character counts.
pub(crate) fn normalise(id: &str) -> String {
    let lower = id.trim().to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut last_dash = false;
    for ch in lower.chars() {
        if ch == '_' || ch.is_whitespace() {
            if !last_dash {
                out.push('-');
            }
            last_dash = true;
        } else {
            out.push(ch);
            last_dash = ch == '-';
        }
    }
    let seg_start = out.rfind('/').map_or(0, |i| i + 1);
    if let Some(rel) = out[seg_start..]
        .char_indices()
        .skip(1)
        .find(|&(_, c)| c == ':' || c == '@')
        .map(|(i, _)| i)
    {
        out.truncate(seg_start + rel);
    }
    out.trim_end_matches(['-', '/']).to_string()
}

/// `.` between two digits → `-`.
fn loosen(key: &str) -> String {
    let b = key.as_bytes();
    key.char_indices()
        .map(|(i, c)| {
            let digit_before = i > 0 && b[i - 1].is_ascii_digit();
            let digit_after = b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if c == '.' && digit_before && digit_after {
                '-'
            } else {
                c
            }
        })
        .collect()
}

fn last_segment(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// One fallback step for an id the catalog does not know verbatim: drop `-latest`, a date
/// stamp (`-2024-08-06`, `-20241022`, `-0613`, `-05-06`) or `-preview`. Only ever applied on
/// a miss, so catalog ids that really end in digits (`grok-4.20-0309`) still match exactly.
fn strip_once(key: &str) -> Option<String> {
    for suffix in ["-latest", "-preview"] {
        if let Some(s) = key.strip_suffix(suffix)
            && !s.is_empty()
            && !s.ends_with('/')
        {
            return Some(s.to_string());
        }
    }
    let seg_start = key.rfind('/').map_or(0, |i| i + 1);
    let seg = &key[seg_start..];
    let parts: Vec<&str> = seg.split('-').collect();
    let digit_tail: Vec<usize> = parts
        .iter()
        .rev()
        .take_while(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .map(|p| p.len())
        .collect();
    // `digit_tail` is reversed: [last, second last, ...].
    let strip = match digit_tail.as_slice() {
        [8, ..] | [4, ..] => 1,
        [2, 2, 4, ..] => 3,
        [2, 2, ..] => 2,
        _ => 0,
    };
    if strip == 0 || strip >= parts.len() {
        return None;
    }
    let kept = parts[..parts.len() - strip].join("-");
    Some(format!("{}{}", &key[..seg_start], kept))
}

/// The id itself, then each successive fallback (at most a few).
fn variants(key: &str) -> Vec<String> {
    let mut out = vec![key.to_string()];
    let mut cur = key.to_string();
    while out.len() < 5 {
        match strip_once(&cur) {
            Some(next) => {
                out.push(next.clone());
                cur = next;
            }
            None => break,
        }
    }
    out
}

/// Providers that are the original vendor of a model, by the model id's first characters.
/// Order matters: the first provider listed is preferred.
pub(crate) fn vendors_for_model(last_seg: &str) -> &'static [&'static str] {
    let s = last_seg;
    let o_series = s.len() >= 2
        && s.as_bytes()[0] == b'o'
        && s.as_bytes()[1].is_ascii_digit()
        && s[1..].chars().take_while(char::is_ascii_digit).count() == 1;
    const PREFIXES: &[(&str, &[&str])] = &[
        ("gpt-", &["openai"]),
        ("chatgpt", &["openai"]),
        ("text-embedding", &["openai"]),
        ("dall-e", &["openai"]),
        ("whisper", &["openai"]),
        ("tts-", &["openai"]),
        ("omni-moderation", &["openai"]),
        ("codex-", &["openai"]),
        ("claude", &["anthropic"]),
        ("gemini", &["google"]),
        ("gemma", &["google"]),
        ("imagen", &["google"]),
        ("veo-", &["google"]),
        ("deepseek", &["deepseek"]),
        ("mistral", &["mistral"]),
        ("codestral", &["mistral"]),
        ("devstral", &["mistral"]),
        ("magistral", &["mistral"]),
        ("ministral", &["mistral"]),
        ("pixtral", &["mistral"]),
        ("voxtral", &["mistral"]),
        ("open-mistral", &["mistral"]),
        ("open-mixtral", &["mistral"]),
        ("grok", &["xai"]),
        ("llama", &["llama", "meta"]),
        ("muse-", &["meta"]),
        ("qwen", &["alibaba"]),
        ("qwq", &["alibaba"]),
        ("qvq", &["alibaba"]),
        ("kimi", &["moonshotai"]),
        ("moonshot", &["moonshotai"]),
        ("glm", &["zai", "zhipuai"]),
        ("minimax", &["minimax"]),
        ("command", &["cohere"]),
        ("sonar", &["perplexity"]),
        ("mimo", &["xiaomi"]),
        ("step-", &["stepfun"]),
        ("nova-", &["amazon-bedrock"]),
    ];
    if o_series {
        return &["openai"];
    }
    PREFIXES
        .iter()
        .find(|(p, _)| s.starts_with(p))
        .map_or(&[], |(_, v)| v)
}

/// Providers that are model makers rather than resellers; preferred for ids whose vendor the
/// prefix table does not know.
const ORIGINAL_VENDORS: &[&str] = &[
    "openai",
    "anthropic",
    "google",
    "deepseek",
    "mistral",
    "xai",
    "llama",
    "meta",
    "alibaba",
    "moonshotai",
    "zai",
    "zhipuai",
    "minimax",
    "cohere",
    "perplexity",
    "xiaomi",
    "stepfun",
    "inception",
    "upstage",
    "arcee",
    "poolside",
];

/// Vendor prefixes relays put in front of ids (`meta-llama/…`, `x-ai/…`) → catalog providers.
fn vendor_alias(vendor: &str) -> &'static [&'static str] {
    match vendor.trim_start_matches('~') {
        "openai" => &["openai"],
        "anthropic" => &["anthropic"],
        "google" | "gemini" | "google-ai-studio" | "vertex" | "vertex-ai" => &["google"],
        "deepseek" | "deepseek-ai" => &["deepseek"],
        "mistral" | "mistralai" => &["mistral"],
        "x-ai" | "xai" => &["xai"],
        "meta-llama" | "meta" | "llama" => &["llama", "meta"],
        "qwen" | "alibaba" | "dashscope" => &["alibaba"],
        "moonshotai" | "moonshot" | "kimi" => &["moonshotai"],
        "z-ai" | "zai" | "zai-org" | "zhipu" | "zhipuai" | "thudm" => &["zai", "zhipuai"],
        "minimax" | "minimaxai" => &["minimax"],
        "amazon" | "aws" | "bedrock" => &["amazon-bedrock"],
        "cohere" => &["cohere"],
        "perplexity" => &["perplexity"],
        "xiaomi" | "xiaomimimo" => &["xiaomi"],
        "stepfun" | "stepfun-ai" => &["stepfun"],
        _ => &[],
    }
}

/// Rank of a provider for a model: its own vendors first, then any model maker, then
/// OpenRouter (prices there track list prices), then every other reseller.
fn vendor_rank(provider: &str, vendors: &[&str]) -> usize {
    if let Some(pos) = vendors.iter().position(|v| *v == provider) {
        pos
    } else if ORIGINAL_VENDORS.contains(&provider) {
        10
    } else if provider == "openrouter" {
        11
    } else {
        12
    }
}

impl Index {
    /// Index every entry of `table`. Fails only when the catalog outgrows `u32` offsets.
    pub(crate) fn build(table: &Table) -> Result<Index, CatalogError> {
        let u32_of = |n: usize| u32::try_from(n).map_err(|_| CatalogError::TooLarge);
        // Every key an entry is filed under, as spans of one scratch string: the normalised id,
        // its last segment (a suffix of it, so no copy), and the loose forms of both.
        let mut text = String::new();
        let mut pairs: Vec<(Span, Kind, u32)> = Vec::with_capacity(table.len() * 4);
        // Each entry's loosened full id, for ranking candidates without normalising again.
        let mut loose_ids = vec![Span::default(); table.len()];
        for i in 0..table.len() {
            let Some(e) = table.get(i) else { continue };
            let full = normalise(e.id);
            if full.is_empty() {
                continue;
            }
            let entry = u32_of(i)?;
            let full_span = Span {
                start: u32_of(text.len())?,
                len: u32_of(full.len())?,
            };
            text.push_str(&full);
            u32_of(text.len())?;
            let last = last_segment(&full);
            // The last segment is a suffix of the full id just written.
            let last_span = (last != full && !last.is_empty()).then(|| Span {
                start: full_span.start + full_span.len - last.len() as u32,
                len: last.len() as u32,
            });
            for span in std::iter::once(full_span).chain(last_span) {
                pairs.push((span, Kind::Exact, entry));
                let key = span.text(&text);
                let loose = loosen(key);
                let loose_span = if loose == key {
                    span
                } else {
                    let s = Span {
                        start: u32_of(text.len())?,
                        len: u32_of(loose.len())?,
                    };
                    text.push_str(&loose);
                    s
                };
                pairs.push((loose_span, Kind::Loose, entry));
                if span == full_span
                    && let Some(slot) = loose_ids.get_mut(i)
                {
                    *slot = loose_span;
                }
            }
        }
        u32_of(text.len())?;
        pairs.sort_unstable_by(|a, b| {
            a.0.text(&text)
                .cmp(b.0.text(&text))
                .then(a.1.cmp(&b.1))
                .then(a.2.cmp(&b.2))
        });
        pairs.dedup_by(|a, b| a.1 == b.1 && a.2 == b.2 && a.0.text(&text) == b.0.text(&text));

        let mut index = Index::default();
        let mut list: Vec<u32> = Vec::new();
        let mut rest = pairs.as_slice();
        while let Some(&(span, _, _)) = rest.first() {
            let key = span.text(&text);
            let n = rest
                .iter()
                .position(|p| p.0.text(&text) != key)
                .unwrap_or(rest.len());
            let (group, tail) = rest.split_at(n);
            rest = tail;
            let mut slot = Slot {
                key: Span {
                    start: u32_of(index.keys.len())?,
                    len: span.len,
                },
                ..Slot::default()
            };
            index.keys.push_str(key);
            for kind in [Kind::Exact, Kind::Loose] {
                list.clear();
                list.extend(group.iter().filter(|p| p.1 == kind).map(|p| p.2));
                if list.is_empty() {
                    continue;
                }
                sort_candidates(key, &mut list, table, |i| {
                    loose_ids.get(i as usize).map_or("", |s| s.text(&text))
                });
                let exact = slot.exact.of(&index.cands);
                let span = if kind == Kind::Loose && exact == list.as_slice() {
                    slot.exact
                } else {
                    let s = Span {
                        start: u32_of(index.cands.len())?,
                        len: u32_of(list.len())?,
                    };
                    index.cands.extend_from_slice(&list);
                    s
                };
                match kind {
                    Kind::Exact => slot.exact = span,
                    Kind::Loose => slot.loose = span,
                }
            }
            index.slots.push(slot);
        }
        u32_of(index.keys.len())?;
        u32_of(index.cands.len())?;
        index.keys.shrink_to_fit();
        index.slots.shrink_to_fit();
        index.cands.shrink_to_fit();
        Ok(index)
    }

    pub(crate) fn lookup(&self, model_id: &str, table: &Table) -> Option<usize> {
        let key = normalise(model_id);
        if key.is_empty() {
            return None;
        }
        let vars = variants(&key);
        vars.iter()
            .find_map(|v| self.probe(Kind::Exact, v, table))
            .or_else(|| {
                vars.iter()
                    .find_map(|v| self.probe(Kind::Loose, &loosen(v), table))
            })
            .map(|i| i as usize)
    }

    /// The candidates filed under `key` as that kind of key, best first.
    fn get(&self, kind: Kind, key: &str) -> Option<&[u32]> {
        let i = self
            .slots
            .binary_search_by(|s| s.key.text(&self.keys).cmp(key))
            .ok()?;
        let slot = self.slots.get(i)?;
        let list = match kind {
            Kind::Exact => slot.exact,
            Kind::Loose => slot.loose,
        }
        .of(&self.cands);
        (!list.is_empty()).then_some(list)
    }

    /// Probe one normalised key. A `vendor/model` key tries, in order: a catalog provider of
    /// that name, the vendor's alias providers, the whole id as some reseller lists it, and
    /// finally the model part with the default (vendor-first) ranking.
    fn probe(&self, kind: Kind, key: &str, table: &Table) -> Option<u32> {
        let Some((head, rest)) = key.split_once('/') else {
            return self.get(kind, key).and_then(|l| l.first().copied());
        };
        let head = head.trim_start_matches('~');
        let find_provider = |k: &str, provider: &str| {
            self.get(kind, k).and_then(|l| {
                l.iter().copied().find(|&i| {
                    table
                        .get(i as usize)
                        .is_some_and(|e| e.provider == provider)
                })
            })
        };
        if let Some(i) = find_provider(rest, head) {
            return Some(i);
        }
        let (prefix, last) = key.rsplit_once('/').unwrap_or(("", key));
        let vendor = last_segment(prefix);
        for provider in vendor_alias(vendor) {
            if let Some(i) = find_provider(last, provider) {
                return Some(i);
            }
        }
        self.get(kind, key)
            .or_else(|| self.get(kind, last))
            .and_then(|l| l.first().copied())
    }
}

/// Sort one key's candidates best first. `loose_id(i)` is entry `i`'s id normalised and
/// loosened, precomputed because every entry is ranked under several keys.
fn sort_candidates<'t>(
    key: &str,
    list: &mut [u32],
    table: &'t Table,
    loose_id: impl Fn(u32) -> &'t str,
) {
    let vendors = vendors_for_model(last_segment(key));
    let loose_key = loosen(key);
    list.sort_by_cached_key(|&i| {
        let e = table.get(i as usize);
        let provider = e.map_or("", |e| e.provider);
        let id = e.map_or("", |e| e.id);
        (
            vendor_rank(provider, vendors),
            e.is_none_or(|e| e.input_price.is_none() || e.output_price.is_none()),
            loose_id(i) != loose_key,
            // `qwen/x` over `workers-ai/@cf/qwen/x`: fewer namespaces, closer to the source.
            id.matches('/').count(),
            provider,
            id,
        )
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_cases() {
        assert_eq!(normalise("  GPT-5.4-Mini "), "gpt-5.4-mini");
        assert_eq!(
            normalise("deepseek/deepseek-r1:free"),
            "deepseek/deepseek-r1"
        );
        assert_eq!(normalise("claude-3-5-sonnet@20240620"), "claude-3-5-sonnet");
        assert_eq!(
            normalise("@cf/qwen/qwen2.5-coder"),
            "@cf/qwen/qwen2.5-coder"
        );
        assert_eq!(normalise("my_model  name"), "my-model-name");
        assert_eq!(normalise(""), "");
    }

    #[test]
    fn loosen_only_between_digits() {
        assert_eq!(loosen("claude-3.5-haiku"), "claude-3-5-haiku");
        assert_eq!(loosen("wafer.ai/x.y"), "wafer.ai/x.y");
    }

    #[test]
    fn date_stripping() {
        assert_eq!(strip_once("gpt-4o-2024-08-06").as_deref(), Some("gpt-4o"));
        assert_eq!(
            strip_once("claude-3-5-haiku-20241022").as_deref(),
            Some("claude-3-5-haiku")
        );
        assert_eq!(strip_once("gpt-4-0613").as_deref(), Some("gpt-4"));
        assert_eq!(
            variants("gemini-2.5-pro-preview-05-06"),
            vec![
                "gemini-2.5-pro-preview-05-06",
                "gemini-2.5-pro-preview",
                "gemini-2.5-pro"
            ]
        );
        assert_eq!(strip_once("gpt-5.4"), None);
        assert_eq!(strip_once("2024"), None);
        assert_eq!(strip_once("-latest"), None);
    }

    #[test]
    fn vendor_prefixes() {
        assert_eq!(vendors_for_model("o3-pro"), &["openai"]);
        assert_eq!(vendors_for_model("o365"), &[] as &[&str]);
        assert_eq!(vendors_for_model("claude-opus-4-5"), &["anthropic"]);
        assert_eq!(vendors_for_model("unknown-model"), &[] as &[&str]);
    }
}
