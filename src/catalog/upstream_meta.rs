//! Facts a relay puts on its own `/v1/models` entries (OpenRouter, new-api, LiteLLM and
//! friends): prices, context window, capabilities, output modalities.
//!
//! Prices are normalised to USD per 1M tokens. Numbers are parsed strictly: a JSON number or
//! a string that is entirely a number (`"1.5abc"` is rejected, unlike the original's
//! `parseFloat`), finite and not negative (OpenRouter's `"-1"` means "varies").

use serde_json::Value;

/// What one upstream entry says about itself. `None` = the entry does not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct UpstreamMeta {
    /// (input, output), USD per 1M tokens; only when both are present.
    pub prices: Option<(f64, f64)>,
    pub context: Option<u64>,
    pub max_output: Option<u64>,
    pub tool_call: Option<bool>,
    pub vision: Option<bool>,
    pub reasoning: Option<bool>,
    pub temperature: Option<bool>,
    /// `Some(false)` when the entry declares output modalities without text, or a non-chat type.
    pub chat: Option<bool>,
}

/// How a price field's unit is known.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    PerMillion,
    PerThousand,
    PerToken,
    /// OpenRouter's `pricing.prompt`/`completion`: documented per token, but some relays reuse
    /// the names for per-million values, so an implausible per-token value is read per million.
    OpenRouter,
    /// The name does not say; decided from the pair's magnitude.
    Unlabelled,
}

type PriceField = (&'static [&'static str], Unit);

const INPUT_FIELDS: &[PriceField] = &[
    (&["pricing", "prompt"], Unit::OpenRouter),
    (&["pricing", "input"], Unit::Unlabelled),
    (&["pricing", "input_price"], Unit::Unlabelled),
    (&["input_price"], Unit::Unlabelled),
    (&["input_cost_per_million"], Unit::PerMillion),
    (&["pricing", "input_cost_per_million"], Unit::PerMillion),
    (&["prompt_price"], Unit::Unlabelled),
    (&["input_cost_per_token"], Unit::PerToken),
    (&["pricing", "input_cost_per_token"], Unit::PerToken),
    (&["input_cost_per_1k"], Unit::PerThousand),
    (&["input_cost_per_1k_tokens"], Unit::PerThousand),
    (&["pricing", "input_per_1k"], Unit::PerThousand),
    (&["pricing", "prompt_per_1k"], Unit::PerThousand),
    (&["input_price_per_1k"], Unit::PerThousand),
];

const OUTPUT_FIELDS: &[PriceField] = &[
    (&["pricing", "completion"], Unit::OpenRouter),
    (&["pricing", "output"], Unit::Unlabelled),
    (&["pricing", "output_price"], Unit::Unlabelled),
    (&["output_price"], Unit::Unlabelled),
    (&["output_cost_per_million"], Unit::PerMillion),
    (&["pricing", "output_cost_per_million"], Unit::PerMillion),
    (&["completion_price"], Unit::Unlabelled),
    (&["output_cost_per_token"], Unit::PerToken),
    (&["pricing", "output_cost_per_token"], Unit::PerToken),
    (&["output_cost_per_1k"], Unit::PerThousand),
    (&["output_cost_per_1k_tokens"], Unit::PerThousand),
    (&["pricing", "output_per_1k"], Unit::PerThousand),
    (&["pricing", "completion_per_1k"], Unit::PerThousand),
    (&["output_price_per_1k"], Unit::PerThousand),
];

fn get_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, key| cur.get(*key))
}

/// A finite, non-negative number: a JSON number or a string that is exactly one.
pub(crate) fn strict_number(v: &Value) -> Option<f64> {
    let n = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => {
            let s = s.trim();
            // `f64::from_str` also accepts "inf"/"NaN"; only plain decimal notation counts.
            if s.is_empty()
                || !s
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            {
                return None;
            }
            s.parse::<f64>().ok()?
        }
        _ => return None,
    };
    (n.is_finite() && n >= 0.0).then_some(n)
}

fn first_price(model: &Value, fields: &[PriceField]) -> Option<(f64, Unit)> {
    fields.iter().find_map(|(path, unit)| {
        get_path(model, path)
            .and_then(strict_number)
            .map(|n| (n, *unit))
    })
}

/// Below this, an unlabelled value is a per-token price: no real model costs less than
/// $0.001 per million tokens on *both* sides, while per-token prices of real models
/// (up to ~$600/1M output = 0.0006) always sit below it.
const PER_TOKEN_CEILING: f64 = 0.001;
/// An OpenRouter-named field above this cannot be per token ($10,000 per 1M tokens).
const OPENROUTER_PER_TOKEN_MAX: f64 = 0.01;

fn to_per_million(value: f64, unit: Unit, pair_max_unlabelled: f64) -> f64 {
    match unit {
        Unit::PerMillion => value,
        Unit::PerThousand => value * 1_000.0,
        Unit::PerToken => value * 1_000_000.0,
        Unit::OpenRouter if value <= OPENROUTER_PER_TOKEN_MAX => value * 1_000_000.0,
        Unit::OpenRouter => value,
        // Decided on the pair, not per value, so a free input next to a paid output cannot
        // end up in two different units.
        Unit::Unlabelled
            if pair_max_unlabelled > 0.0 && pair_max_unlabelled < PER_TOKEN_CEILING =>
        {
            value * 1_000_000.0
        }
        Unit::Unlabelled => value,
    }
}

fn prices(model: &Value) -> Option<(f64, f64)> {
    let (i, iu) = first_price(model, INPUT_FIELDS)?;
    let (o, ou) = first_price(model, OUTPUT_FIELDS)?;
    let unlabelled_max = [(i, iu), (o, ou)]
        .iter()
        .filter(|(_, u)| *u == Unit::Unlabelled)
        .map(|(n, _)| *n)
        .fold(0.0_f64, f64::max);
    Some((
        to_per_million(i, iu, unlabelled_max),
        to_per_million(o, ou, unlabelled_max),
    ))
}

/// A positive token count: integer number, integral float, or digit string.
fn token_count(v: &Value) -> Option<u64> {
    let n = strict_number(v)?;
    (n >= 1.0 && n.fract() == 0.0 && n < 1e12).then_some(n as u64)
}

fn first_count(model: &Value, paths: &[&[&str]]) -> Option<u64> {
    paths
        .iter()
        .find_map(|p| get_path(model, p).and_then(token_count))
}

/// `true`/`"supported"`/`"yes"`… → true; the negatives → false; anything else → unknown.
fn truthy(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_f64().map(|x| x != 0.0),
        Value::String(s) => match s.trim().to_lowercase().as_str() {
            "true" | "supported" | "yes" | "enabled" | "1" => Some(true),
            "false" | "unsupported" | "no" | "disabled" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn str_list(v: Option<&Value>) -> Option<Vec<String>> {
    match v? {
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| s.trim().to_lowercase())
                .collect(),
        ),
        _ => None,
    }
}

/// Look a capability up in the usual containers. Object containers give explicit booleans;
/// array containers (`"capabilities": ["tools", "vision"]`) only ever say yes, since a short
/// list is often just incomplete.
fn capability(model: &Value, keys: &[&str]) -> Option<bool> {
    for container in ["capabilities", "supported_features", "features", "metadata"] {
        match model.get(container) {
            Some(Value::Object(map)) => {
                if let Some(b) = keys.iter().find_map(|k| map.get(*k).and_then(truthy)) {
                    return Some(b);
                }
            }
            Some(Value::Array(_)) => {
                let list = str_list(model.get(container)).unwrap_or_default();
                if keys.iter().any(|k| list.iter().any(|x| x == k)) {
                    return Some(true);
                }
            }
            _ => {}
        }
    }
    keys.iter().find_map(|k| model.get(*k).and_then(truthy))
}

/// `input_modalities` from `architecture` (OpenRouter) or the top level; also parses
/// OpenRouter's older `"modality": "text+image->text"`.
fn modalities(model: &Value) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let arch = model.get("architecture");
    let pick =
        |key: &str| str_list(arch.and_then(|a| a.get(key))).or_else(|| str_list(model.get(key)));
    let mut input = pick("input_modalities");
    let mut output = pick("output_modalities");
    if input.is_none() || output.is_none() {
        let modality = arch
            .and_then(|a| a.get("modality"))
            .or_else(|| model.get("modality"))
            .and_then(Value::as_str);
        if let Some((i, o)) = modality.and_then(|m| m.split_once("->")) {
            let split = |s: &str| -> Vec<String> {
                s.split('+').map(|x| x.trim().to_lowercase()).collect()
            };
            input = input.or_else(|| Some(split(i)));
            output = output.or_else(|| Some(split(o)));
        }
    }
    (input, output)
}

pub(crate) fn extract(model: &Value) -> UpstreamMeta {
    let (input_mods, output_mods) = modalities(model);
    let params = str_list(model.get("supported_parameters"));
    let from_params = |names: &[&str]| {
        params
            .as_ref()
            .map(|p| names.iter().any(|n| p.iter().any(|x| x == n)))
    };

    let tool_call = capability(
        model,
        &[
            "tool_calls",
            "tools",
            "tool_call",
            "function_calling",
            "functions",
            "supports_function_calling",
            "supports_tools",
        ],
    )
    // OpenRouter's `supported_parameters` is the complete list, so absence means no.
    .or_else(|| from_params(&["tools", "tool_choice"]));
    let vision = capability(
        model,
        &[
            "vision",
            "image",
            "images",
            "image_input",
            "input_image",
            "supports_vision",
        ],
    )
    .or_else(|| {
        input_mods
            .as_ref()
            .map(|m| m.iter().any(|x| x == "image" || x == "vision"))
    });
    let reasoning = capability(model, &["reasoning", "supports_reasoning", "thinking"])
        .or_else(|| from_params(&["reasoning", "include_reasoning", "reasoning_effort"]));
    let temperature = capability(model, &["temperature", "supports_temperature"])
        .or_else(|| from_params(&["temperature"]));

    let type_says_non_chat = model
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_lowercase)
        .is_some_and(|t| {
            [
                "embed",
                "rerank",
                "image",
                "audio",
                "tts",
                "speech",
                "moderation",
            ]
            .iter()
            .any(|k| t.contains(k))
        });
    let chat = if type_says_non_chat {
        Some(false)
    } else {
        output_mods.map(|m| m.iter().any(|x| x == "text"))
    };

    UpstreamMeta {
        prices: prices(model),
        context: first_count(
            model,
            &[
                &["context_length"],
                &["context_window"],
                &["max_context_length"],
                &["top_provider", "context_length"],
                &["max_input_tokens"],
            ],
        ),
        max_output: first_count(
            model,
            &[
                &["max_output_tokens"],
                &["max_completion_tokens"],
                &["top_provider", "max_completion_tokens"],
            ],
        ),
        tool_call,
        vision,
        reasoning,
        temperature,
        chat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_numbers() {
        assert_eq!(strict_number(&json!("0.5")), Some(0.5));
        assert_eq!(strict_number(&json!(" 2 ")), Some(2.0));
        assert_eq!(strict_number(&json!(3)), Some(3.0));
        assert_eq!(strict_number(&json!("1e-6")), Some(1e-6));
        assert_eq!(strict_number(&json!("1.5abc")), None);
        assert_eq!(strict_number(&json!("")), None);
        assert_eq!(strict_number(&json!("inf")), None);
        assert_eq!(strict_number(&json!("NaN")), None);
        assert_eq!(strict_number(&json!("-1")), None);
        assert_eq!(strict_number(&json!(null)), None);
        assert_eq!(strict_number(&json!(true)), None);
    }

    #[test]
    fn openrouter_per_token_prices() {
        let m = json!({"id":"x","pricing":{"prompt":"0.0000025","completion":"0.00001"}});
        let (i, o) = prices(&m).unwrap();
        assert!((i - 2.5).abs() < 1e-9 && (o - 10.0).abs() < 1e-9);
        // Free models stay free.
        let m = json!({"pricing":{"prompt":"0","completion":"0"}});
        assert_eq!(prices(&m), Some((0.0, 0.0)));
        // "-1" (varies) is not a price.
        let m = json!({"pricing":{"prompt":"-1","completion":"-1"}});
        assert_eq!(prices(&m), None);
        // A relay that writes per-million values under OpenRouter's names.
        let m = json!({"pricing":{"prompt":2.5,"completion":10}});
        assert_eq!(prices(&m), Some((2.5, 10.0)));
    }

    #[test]
    fn unlabelled_and_named_units() {
        let m = json!({"input_price": 1.25, "output_price": "10"});
        assert_eq!(prices(&m), Some((1.25, 10.0)));
        // Tiny on both sides: per token.
        let m = json!({"input_price": 0.000001, "output_price": 0.000004});
        let (i, o) = prices(&m).unwrap();
        assert!((i - 1.0).abs() < 1e-9 && (o - 4.0).abs() < 1e-9);
        // Free input next to a real per-million output stays per million.
        let m = json!({"input_price": 0, "output_price": 0.4});
        assert_eq!(prices(&m), Some((0.0, 0.4)));
        let m = json!({"input_cost_per_1k": 0.0025, "output_cost_per_1k": "0.01"});
        let (i, o) = prices(&m).unwrap();
        assert!((i - 2.5).abs() < 1e-9 && (o - 10.0).abs() < 1e-9);
        let m = json!({"input_cost_per_token": 3e-6, "output_cost_per_token": 1.5e-5});
        let (i, o) = prices(&m).unwrap();
        assert!((i - 3.0).abs() < 1e-9 && (o - 15.0).abs() < 1e-9);
        // Lenient parsing is gone: "1.5abc" does not count, so the next field is used.
        let m = json!({"pricing":{"input":"1.5abc"}, "input_price": 2, "output_price": 8});
        assert_eq!(prices(&m), Some((2.0, 8.0)));
        // Only one side: no upstream price.
        assert_eq!(prices(&json!({"input_price": 2})), None);
    }

    #[test]
    fn context_and_capabilities() {
        let m = json!({
            "id": "openai/gpt-4.1",
            "context_length": 1047576,
            "top_provider": {"max_completion_tokens": 32768},
            "architecture": {"input_modalities": ["text", "image", "file"], "output_modalities": ["text"]},
            "supported_parameters": ["tools", "tool_choice", "temperature", "max_tokens"]
        });
        let meta = extract(&m);
        assert_eq!(meta.context, Some(1047576));
        assert_eq!(meta.max_output, Some(32768));
        assert_eq!(meta.tool_call, Some(true));
        assert_eq!(meta.vision, Some(true));
        assert_eq!(meta.reasoning, Some(false));
        assert_eq!(meta.temperature, Some(true));
        assert_eq!(meta.chat, Some(true));

        let m = json!({"top_provider": {"context_length": "128000"}, "capabilities": {"vision": "unsupported", "function_calling": "yes"}});
        let meta = extract(&m);
        assert_eq!(meta.context, Some(128000));
        assert_eq!(meta.vision, Some(false));
        assert_eq!(meta.tool_call, Some(true));
        assert_eq!(meta.reasoning, None);

        let meta = extract(&json!({"supported_features": ["tools"], "context_window": 0}));
        assert_eq!(meta.tool_call, Some(true));
        assert_eq!(meta.vision, None);
        assert_eq!(meta.context, None);

        let meta = extract(&json!({"architecture": {"modality": "text->image"}}));
        assert_eq!(meta.chat, Some(false));
        let meta = extract(&json!({"type": "embeddings"}));
        assert_eq!(meta.chat, Some(false));
        assert_eq!(extract(&json!({})), UpstreamMeta::default());
    }
}
