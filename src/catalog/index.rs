//! The lookup index over catalog entries: id normalisation, fallbacks for dated and suffixed
//! ids, and the vendor-first ranking that decides which provider's entry a bare id means.
//!
//! Invariant: every candidate list is sorted once at build time by a total order (vendor rank,
//! has a price, exact id, path depth, provider, id), so a lookup is a couple of hash probes and the answer
//! never depends on hash or file order.

use std::collections::HashMap;

use super::CatalogEntry;

#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    /// Normalised full id, and normalised last path segment → entries, best first.
    exact: HashMap<String, Vec<usize>>,
    /// The same keys with `.` between digits written as `-` (`claude-3.5-haiku` ≡
    /// `claude-3-5-haiku`); probed only when `exact` finds nothing.
    loose: HashMap<String, Vec<usize>>,
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
    pub(crate) fn build(entries: &[CatalogEntry]) -> Index {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let full = normalise(&e.id);
            if full.is_empty() {
                continue;
            }
            let last = last_segment(&full).to_string();
            if last != full && !last.is_empty() {
                exact.entry(last).or_default().push(i);
            }
            exact.entry(full).or_default().push(i);
        }
        let mut loose: HashMap<String, Vec<usize>> = HashMap::new();
        for (key, list) in &exact {
            let lk = loosen(key);
            loose.entry(lk).or_default().extend(list.iter().copied());
        }
        for (key, list) in exact.iter_mut().chain(loose.iter_mut()) {
            sort_candidates(key, list, entries);
        }
        Index { exact, loose }
    }

    pub(crate) fn lookup(&self, model_id: &str, entries: &[CatalogEntry]) -> Option<usize> {
        let key = normalise(model_id);
        if key.is_empty() {
            return None;
        }
        let vars = variants(&key);
        vars.iter()
            .find_map(|v| probe(&self.exact, v, entries))
            .or_else(|| {
                vars.iter()
                    .find_map(|v| probe(&self.loose, &loosen(v), entries))
            })
    }
}

fn sort_candidates(key: &str, list: &mut Vec<usize>, entries: &[CatalogEntry]) {
    list.sort_unstable();
    list.dedup();
    let vendors = vendors_for_model(last_segment(key));
    list.sort_by_cached_key(|&i| {
        let e = &entries[i];
        (
            vendor_rank(&e.provider, vendors),
            e.input_price.is_none() || e.output_price.is_none(),
            loosen(&normalise(&e.id)) != loosen(key),
            // `qwen/x` over `workers-ai/@cf/qwen/x`: fewer namespaces, closer to the source.
            e.id.matches('/').count(),
            e.provider.clone(),
            e.id.clone(),
        )
    });
}

/// Probe one normalised key. A `vendor/model` key tries, in order: a catalog provider of that
/// name, the vendor's alias providers, the whole id as some reseller lists it, and finally the
/// model part with the default (vendor-first) ranking.
fn probe(map: &HashMap<String, Vec<usize>>, key: &str, entries: &[CatalogEntry]) -> Option<usize> {
    let Some((head, rest)) = key.split_once('/') else {
        return map.get(key).and_then(|l| l.first().copied());
    };
    let head = head.trim_start_matches('~');
    let find_provider = |k: &str, provider: &str| {
        map.get(k)
            .and_then(|l| l.iter().copied().find(|&i| entries[i].provider == provider))
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
    map.get(key)
        .or_else(|| map.get(last))
        .and_then(|l| l.first().copied())
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
