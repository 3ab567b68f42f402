//! Id heuristics: what a model id alone says about a model. Used for the chat/non-chat test
//! (also on catalog entries, because models.dev lists embedding models with a `text` output),
//! for capabilities of models neither the catalog nor the upstream describes, and for tiers.
//!
//! Everything here matches whole id *tokens* (the last path segment split on `-`, `_`, `:`,
//! `@`, spaces), never raw substrings: `gemini` does not contain the token `mini`, and a bare
//! `4.7` or `alpha` means nothing (seed-spec weakness 17).

use super::Tier;

/// Tokens of the last path segment, lowercased. Dots stay inside tokens (`4.1`, `qwen2.5`).
pub(crate) fn tokens(id: &str) -> Vec<String> {
    let lower = id.trim().to_lowercase();
    let seg = lower.rsplit('/').next().unwrap_or(&lower).to_string();
    seg.split(|c: char| c == '-' || c == '_' || c == ':' || c == '@' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn has(tokens: &[String], t: &str) -> bool {
    tokens.iter().any(|x| x == t)
}

fn has_prefix(tokens: &[String], p: &str) -> bool {
    tokens.iter().any(|x| x.starts_with(p))
}

/// True for models that cannot answer a chat completion: embeddings, rerankers, speech in or
/// out, moderation, image/video/music generation, realtime/live (websocket-only) models.
/// `image_output` is the catalog's word that the model produces images.
pub(crate) fn is_non_chat_id(id: &str, image_output: bool) -> bool {
    let t = tokens(id);
    let lower = id.to_lowercase();
    const EXACT: &[&str] = &[
        "tts",
        "dall",
        "image",
        "images",
        "flux",
        "sdxl",
        "sora",
        "realtime",
        "live",
        "speech",
        "moderation",
        "midjourney",
        "ideogram",
        "recraft",
        "bge",
        "stt",
        "asr",
    ];
    const PREFIX: &[&str] = &[
        "embed", "rerank", "whisper", "transcri", "imagen", "veo", "lyria", "voyage",
    ];
    EXACT.iter().any(|x| has(&t, x))
        || PREFIX.iter().any(|p| has_prefix(&t, p))
        || t.iter().any(|x| x.ends_with("embedding") || x.ends_with("tts"))
        || lower.contains("stable-diffusion")
        || lower.contains("text-moderation")
        // An image generator that also emits text (`gpt-image-1`, `gemini-*-image`) is
        // still a generator; a chat model with image output would not say so in its id.
        || (image_output && t.iter().any(|x| x.contains("image")))
}

/// Capabilities guessed from the id when nothing better is known. Conservative: a capability
/// is claimed only for families where (nearly) every model has it, because a wrong `true`
/// sends tool or image requests to a model that fails them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GuessedCaps {
    pub tool_call: bool,
    pub vision: bool,
    pub reasoning: bool,
    pub temperature: bool,
}

fn version_of(token: &str) -> Option<f64> {
    let v: String = token
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

pub(crate) fn guess_caps(id: &str) -> GuessedCaps {
    let none = GuessedCaps {
        tool_call: false,
        vision: false,
        reasoning: false,
        temperature: false,
    };
    if is_non_chat_id(id, false) {
        return none;
    }
    let t = tokens(id);
    let Some(first) = t.first().map(String::as_str) else {
        return none;
    };
    let second_version = t.get(1).and_then(|x| version_of(x));
    let thinking = has(&t, "thinking") || has(&t, "reasoner") || has(&t, "reasoning");
    let generic_vision = has(&t, "vision") || has(&t, "vl") || has(&t, "omni");
    let o_series = first.len() == 2
        && first.starts_with('o')
        && first[1..].bytes().all(|b| b.is_ascii_digit());
    let (tool_call, vision, reasoning) = if first == "gpt" {
        let v = second_version.unwrap_or(0.0);
        if has(&t, "oss") {
            (true, false, true)
        } else if v >= 5.0 {
            // gpt-5 family: tools, images and reasoning_effort, except the `chat` variants.
            (true, true, !has(&t, "chat"))
        } else if v >= 4.0 {
            let vision = t.iter().any(|x| x == "4o" || x == "4.1" || x == "4.5")
                || has(&t, "turbo")
                || generic_vision;
            (true, vision, false)
        } else {
            (v >= 3.5, false, false)
        }
    } else if o_series {
        // o1-mini and o1-preview had neither tools nor images.
        let weak = first == "o1" && (has(&t, "mini") || has(&t, "preview"));
        let o3_mini = first == "o3" && has(&t, "mini");
        let vision = !(weak || o3_mini);
        (!weak, vision, true)
    } else if first == "claude" {
        let old = has(&t, "instant") || second_version.is_some_and(|v| v < 3.0);
        (!old, !old, thinking)
    } else if first == "gemini" {
        let v = second_version.unwrap_or(0.0);
        (true, true, v >= 2.5 || thinking)
    } else if first.starts_with("deepseek") {
        (true, false, thinking || has(&t, "r1"))
    } else if first.starts_with("qwen") || first == "qwq" || first == "qvq" {
        (
            true,
            generic_vision || first == "qvq",
            thinking || first == "qwq" || first == "qvq",
        )
    } else if [
        "mistral",
        "codestral",
        "devstral",
        "magistral",
        "ministral",
        "pixtral",
    ]
    .contains(&first)
    {
        (true, first == "pixtral", first == "magistral")
    } else if first == "grok" {
        (true, generic_vision, thinking && !has(&t, "non"))
    } else if ["kimi", "glm", "minimax"].contains(&first) {
        (true, generic_vision, thinking)
    } else {
        (false, generic_vision, thinking || first == "qwq")
    };
    // OpenAI reasoning models reject `temperature`; elsewhere it is almost always accepted.
    let openai_reasoning = o_series || (first == "gpt" && reasoning && !has(&t, "oss"));
    GuessedCaps {
        tool_call,
        vision,
        reasoning,
        temperature: !openai_reasoning,
    }
}

/// Tokens that mark a cheap/fast variant.
const LOW_TOKENS: &[&str] = &[
    "mini", "nano", "flash", "haiku", "lite", "small", "micro", "tiny", "air",
];

/// Tokens that mark a code-specialised model.
fn is_coding(t: &[String]) -> bool {
    t.iter().any(|x| {
        x.starts_with("codex")
            || x == "coder"
            || x == "coding"
            || x.starts_with("devstral")
            || x.starts_with("codestral")
    }) || t.first().is_some_and(|f| f.ends_with("coder"))
}

/// `8b`, `3.8b`: parameter counts under 10B are small models.
fn is_small_params(t: &[String]) -> bool {
    t.iter().any(|x| {
        x.strip_suffix('b')
            .and_then(|n| n.parse::<f64>().ok())
            .is_some_and(|n| n > 0.0 && n < 10.0)
    })
}

fn is_low(t: &[String]) -> bool {
    LOW_TOKENS.iter().any(|l| has(t, l)) || is_small_params(t)
}

/// `gpt-5.5`, `gpt-6`, `gpt-5.5-2026-…`: an unqualified OpenAI flagship of version ≥ 5.5.
fn is_gpt_flagship(t: &[String]) -> bool {
    if t.first().map(String::as_str) != Some("gpt") {
        return false;
    }
    let Some(v) = t.get(1).and_then(|x| {
        // The whole token must be a version, so `5.5o` or `4o` do not count.
        x.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
            .then(|| version_of(x))
            .flatten()
    }) else {
        return false;
    };
    v >= 5.5
        && t[2..].iter().all(|x| {
            x == "chat" || x == "latest" || x == "pro" || x.bytes().all(|b| b.is_ascii_digit())
        })
}

/// Facts the tier rule reads.
pub(crate) struct TierInput<'a> {
    pub id: &'a str,
    pub reasoning: bool,
    pub output_price: Option<f64>,
    pub deprecated: bool,
}

/// Output price (USD / 1M) from which a reasoning model counts as Strong.
const STRONG_OUTPUT_PRICE: f64 = 8.0;
/// Output price from which a current reasoning model is priced like a frontier model.
const FRONTIER_OUTPUT_PRICE: f64 = 25.0;

/// The tier rule; `docs/catalog.md` documents it. First match wins.
pub(crate) fn derive_tier(input: &TierInput<'_>) -> Tier {
    let t = tokens(input.id);
    let low = is_low(&t);
    let out = input.output_price;
    if has(&t, "opus") {
        return Tier::Frontier;
    }
    // `pro` is a vendor's top model only when it is priced like one: `nova-pro` or a cheap
    // `…-pro` must not become frontier. Unknown price gives the name the benefit of the doubt.
    if has(&t, "pro") && !low && out.is_none_or(|p| p >= STRONG_OUTPUT_PRICE) {
        return Tier::Frontier;
    }
    if is_gpt_flagship(&t) {
        return Tier::Frontier;
    }
    if is_coding(&t) {
        return Tier::Coding;
    }
    if low {
        return Tier::Low;
    }
    if input.reasoning && !input.deprecated && out.is_some_and(|p| p >= FRONTIER_OUTPUT_PRICE) {
        return Tier::Frontier;
    }
    if input.reasoning && out.is_some_and(|p| p >= STRONG_OUTPUT_PRICE) {
        return Tier::Strong;
    }
    Tier::Standard
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(id: &str, reasoning: bool, out: Option<f64>) -> Tier {
        derive_tier(&TierInput {
            id,
            reasoning,
            output_price: out,
            deprecated: false,
        })
    }

    #[test]
    fn non_chat_ids() {
        for id in [
            "text-embedding-3-small",
            "openai/text-embedding-ada-002",
            "bge-m3",
            "jina-reranker-v2",
            "rerank-english-v3.0",
            "tts-1-hd",
            "gpt-4o-mini-tts",
            "whisper-1",
            "gpt-4o-transcribe",
            "omni-moderation-latest",
            "text-moderation-stable",
            "dall-e-3",
            "gpt-image-1",
            "imagen-4.0-generate-001",
            "veo-3.1-generate-preview",
            "gpt-realtime-2.1",
            "gemini-2.0-flash-live-001",
            "stable-diffusion-xl",
            "voyage-3-large",
            "gemini-embedding-001",
        ] {
            assert!(is_non_chat_id(id, false), "{id} should be non-chat");
        }
        for id in [
            "gpt-5.4-mini",
            "gemini-2.5-flash",
            "claude-opus-4-5",
            "deepseek-chat",
            "qwen2.5-vl-72b-instruct",
            "gpt-4o-audio-preview",
            "minimax-m2",
            "o4-mini",
        ] {
            assert!(!is_non_chat_id(id, false), "{id} should be chat");
        }
        assert!(is_non_chat_id("gemini-2.5-flash-image", true));
    }

    #[test]
    fn tiers_from_ids() {
        assert_eq!(tier("gpt-5.5", true, Some(30.0)), Tier::Frontier);
        assert_eq!(tier("gpt-5.5", false, None), Tier::Frontier);
        assert_eq!(tier("gpt-5.5-pro", true, Some(180.0)), Tier::Frontier);
        assert_eq!(tier("gpt-5.2-pro", true, Some(168.0)), Tier::Frontier);
        assert_eq!(tier("o3-pro", true, Some(80.0)), Tier::Frontier);
        assert_eq!(tier("claude-opus-4-5", true, Some(25.0)), Tier::Frontier);
        assert_eq!(tier("anthropic/claude-3-opus", false, None), Tier::Frontier);
        assert_eq!(tier("gemini-2.5-pro", true, Some(10.0)), Tier::Frontier);
        assert_eq!(tier("gpt-5.3-codex", true, Some(14.0)), Tier::Coding);
        assert_eq!(
            tier("qwen2.5-coder-32b-instruct", false, None),
            Tier::Coding
        );
        assert_eq!(tier("devstral-medium-2507", false, Some(2.0)), Tier::Coding);
        assert_eq!(tier("gpt-5.4-mini", true, Some(4.5)), Tier::Low);
        assert_eq!(tier("gemini-2.5-flash", true, Some(2.5)), Tier::Low);
        assert_eq!(tier("claude-haiku-4-5", true, Some(5.0)), Tier::Low);
        assert_eq!(tier("llama-3.1-8b-instruct", false, None), Tier::Low);
        assert_eq!(tier("gpt-5.4", true, Some(15.0)), Tier::Strong);
        assert_eq!(tier("claude-sonnet-4-5", true, Some(15.0)), Tier::Strong);
        assert_eq!(tier("gpt-5.6-sol", true, Some(30.0)), Tier::Frontier);
        assert_eq!(tier("gpt-5.6-luna", true, Some(1.2)), Tier::Standard);
        assert_eq!(tier("deepseek-chat", false, Some(0.28)), Tier::Standard);
        assert_eq!(tier("gpt-4o", false, Some(10.0)), Tier::Standard);
        assert_eq!(tier("gpt-5", true, Some(10.0)), Tier::Strong);
    }

    #[test]
    fn crude_substrings_do_not_make_frontier() {
        // The original marked any id containing `4.7` or `alpha` as the strongest model.
        assert_eq!(tier("glm-4.7", false, Some(2.2)), Tier::Standard);
        assert_eq!(tier("my-model-v4.7", false, None), Tier::Standard);
        assert_eq!(tier("foo-alpha", false, None), Tier::Standard);
        assert_eq!(tier("alpha-test-7", false, None), Tier::Standard);
        // `pro` must be priced like a flagship, and `gemini` is not `mini`.
        assert_eq!(tier("amazon/nova-pro-v1", false, Some(3.2)), Tier::Standard);
        assert_eq!(tier("deepseek-v4-pro", true, Some(0.87)), Tier::Standard);
        assert_eq!(tier("gemini-3-pro", true, Some(12.0)), Tier::Frontier);
        // Deprecated expensive reasoning models are not frontier any more.
        let o1 = derive_tier(&TierInput {
            id: "o1",
            reasoning: true,
            output_price: Some(60.0),
            deprecated: true,
        });
        assert_eq!(o1, Tier::Strong);
        // `gpt-4o` is not a flagship version.
        assert!(!is_gpt_flagship(&tokens("gpt-4o")));
        assert!(!is_gpt_flagship(&tokens("gpt-5.4")));
        assert!(is_gpt_flagship(&tokens("gpt-6")));
    }

    #[test]
    fn guessed_capabilities() {
        let g = guess_caps("gpt-4.1-2025-04-14");
        assert!(g.tool_call && g.vision && !g.reasoning && g.temperature);
        let g = guess_caps("gpt-5.9");
        assert!(g.tool_call && g.vision && g.reasoning && !g.temperature);
        let g = guess_caps("o3-mini");
        assert!(g.tool_call && !g.vision && g.reasoning && !g.temperature);
        let g = guess_caps("claude-sonnet-9");
        assert!(g.tool_call && g.vision);
        let g = guess_caps("deepseek-r1");
        assert!(g.tool_call && !g.vision && g.reasoning);
        let g = guess_caps("totally-unknown-model");
        assert!(!g.tool_call && !g.vision && !g.reasoning && g.temperature);
        let g = guess_caps("text-embedding-9");
        assert!(!g.tool_call && !g.vision);
        assert_eq!(guess_caps(""), guess_caps("   "));
    }
}
