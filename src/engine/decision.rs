//! Parsing and validating the router model's answer.
//!
//! Router models are cheap and sloppy: they wrap JSON in code fences, add prose around it,
//! misspell effort levels and sometimes pick a model that does not exist. Parsing is
//! therefore tolerant about form and strict about substance: the target must be one of the
//! candidates offered, compared exactly or, failing that, case-insensitively. Anything else
//! is an error that makes the deterministic policy decide instead.

use serde::Serialize;
use serde_json::Value;

/// Reasoning effort levels the gateway understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
}

impl Effort {
    pub fn parse(s: &str) -> Option<Effort> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '_'))
            .collect();
        Some(match norm.as_str() {
            "none" | "no" | "off" | "" => Effort::None,
            "minimal" | "min" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" | "med" | "normal" => Effort::Medium,
            "high" => Effort::High,
            "xhigh" | "extrahigh" | "veryhigh" | "max" => Effort::Xhigh,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
        }
    }
}

/// What the router model chose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouterChoice {
    pub target: String,
    pub task_type: Option<String>,
    pub difficulty: Option<String>,
    pub effort: Option<Effort>,
    pub confidence: Option<f64>,
    pub reason: String,
}

/// Why a router answer was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecisionError {
    #[error("router answer had no content")]
    Empty,
    #[error("router answer contained no JSON object")]
    NoJson,
    #[error("router answer had no target_model")]
    NoTarget,
    #[error("router chose `{0}`, which is not a candidate")]
    UnknownTarget(String),
}

/// What the decision stage reads of the router's answer: the assistant text and the usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouterReply {
    /// The first choice's message text (content parts joined); empty when there is none.
    pub text: String,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

impl RouterReply {
    /// From a parsed chat.completion response.
    pub fn from_value(resp: &Value) -> RouterReply {
        let usage = |k: &str| {
            resp.get("usage")
                .and_then(|u| u.get(k))
                .and_then(Value::as_u64)
        };
        RouterReply {
            text: response_text(resp).unwrap_or_default(),
            prompt_tokens: usage("prompt_tokens"),
            completion_tokens: usage("completion_tokens"),
        }
    }

    /// Straight from the answer's bytes, reading only the text and the usage (the same
    /// result as [`RouterReply::from_value`], without building the JSON tree). Members of
    /// an unexpected shape are ignored, as a lookup in the tree would ignore them; only a
    /// body that is not a JSON object is an error.
    pub fn from_slice(bytes: &[u8]) -> Result<RouterReply, serde_json::Error> {
        use serde::Deserialize;
        use serde::de::IgnoredAny;

        /// A member of the expected shape, or anything else (ignored).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shaped<T> {
            As(T),
            Other(IgnoredAny),
        }
        impl<T> Shaped<T> {
            fn get(self) -> Option<T> {
                match self {
                    Shaped::As(t) => Some(t),
                    Shaped::Other(_) => None,
                }
            }
        }
        #[derive(Deserialize)]
        struct Wire {
            choices: Option<Shaped<Vec<Shaped<Choice>>>>,
            usage: Option<Shaped<Usage>>,
        }
        #[derive(Deserialize)]
        struct Choice {
            message: Option<Shaped<Message>>,
        }
        #[derive(Deserialize)]
        struct Message {
            content: Option<Shaped<Content>>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Content {
            Text(String),
            Parts(Vec<Shaped<Part>>),
        }
        #[derive(Deserialize)]
        struct Part {
            text: Option<Shaped<String>>,
        }
        #[derive(Deserialize)]
        struct Usage {
            prompt_tokens: Option<Shaped<u64>>,
            completion_tokens: Option<Shaped<u64>>,
        }

        let wire: Wire = serde_json::from_slice(bytes)?;
        let content = wire
            .choices
            .and_then(Shaped::get)
            .and_then(|c| c.into_iter().next())
            .and_then(Shaped::get)
            .and_then(|c| c.message)
            .and_then(Shaped::get)
            .and_then(|m| m.content)
            .and_then(Shaped::get);
        let text = match content {
            Some(Content::Text(s)) => s,
            Some(Content::Parts(parts)) => parts
                .into_iter()
                .filter_map(|p| p.get().and_then(|p| p.text).and_then(Shaped::get))
                .collect::<Vec<_>>()
                .join(""),
            None => String::new(),
        };
        let usage = wire.usage.and_then(Shaped::get);
        let (prompt_tokens, completion_tokens) = match usage {
            Some(u) => (
                u.prompt_tokens.and_then(Shaped::get),
                u.completion_tokens.and_then(Shaped::get),
            ),
            None => (None, None),
        };
        Ok(RouterReply {
            text,
            prompt_tokens,
            completion_tokens,
        })
    }
}

/// Extract the assistant text of a chat.completion response.
pub fn response_text(resp: &Value) -> Option<String> {
    let content = resp.pointer("/choices/0/message/content")?;
    match content {
        Value::String(s) => Some(s.clone()),
        // Some relays answer with content parts.
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(""),
        ),
        _ => None,
    }
}

/// Parse a router answer and validate it against `candidates`.
pub fn parse(text: &str, candidates: &[&str]) -> Result<RouterChoice, DecisionError> {
    if text.trim().is_empty() {
        return Err(DecisionError::Empty);
    }
    let obj = find_json_object(text).ok_or(DecisionError::NoJson)?;
    let target_raw = ["target_model", "model", "target"]
        .iter()
        .find_map(|k| obj.get(*k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(DecisionError::NoTarget)?;
    let target = candidates
        .iter()
        .find(|c| **c == target_raw)
        .or_else(|| {
            candidates
                .iter()
                .find(|c| c.eq_ignore_ascii_case(target_raw))
        })
        .ok_or_else(|| DecisionError::UnknownTarget(clip(target_raw, 80)))?;
    let text_field = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .map(|s| clip(s.trim(), 60))
            .filter(|s| !s.is_empty())
    };
    let confidence = obj.get("confidence").and_then(|v| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    });
    Ok(RouterChoice {
        target: (*target).to_string(),
        task_type: text_field("task_type"),
        difficulty: text_field("difficulty"),
        effort: obj
            .get("reasoning_effort")
            .and_then(Value::as_str)
            .and_then(Effort::parse),
        confidence: confidence
            .filter(|c| c.is_finite())
            .map(|c| c.clamp(0.0, 1.0)),
        reason: obj
            .get("reason")
            .and_then(Value::as_str)
            .map(|s| clip(s.trim(), 300))
            .unwrap_or_default(),
    })
}

/// The first top-level JSON object in `text` that parses, skipping fences and prose.
fn find_json_object(text: &str) -> Option<serde_json::Map<String, Value>> {
    let bytes = text.as_bytes();
    let mut start = 0;
    // `{` and `}` are ASCII, so every offset used here is a character boundary; `get`
    // keeps that an invariant checked at run time instead of a reason to panic.
    while let Some(off) = text.get(start..).and_then(|t| t.find('{')) {
        let open = start + off;
        if let Some(close) = matching_brace(bytes, open)
            && let Some(obj) = text.get(open..=close)
            && let Ok(Value::Object(map)) = serde_json::from_str::<Value>(obj)
        {
            return Some(map);
        }
        start = open + 1;
    }
    None
}

/// Index of the brace closing the one at `open`, aware of JSON strings.
fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn clip(s: &str, max: usize) -> String {
    crate::text::prefix_chars(s, max).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &[&str] = &["gpt-5.4-mini", "gpt-5.5", "gpt-5.3-codex"];

    #[test]
    fn the_reply_read_from_bytes_is_the_reply_read_from_the_tree() {
        let answers = [
            r#"{"choices":[{"message":{"content":"{\"target_model\":\"x\"}"}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
            r#"{"choices":[{"message":{"content":[{"type":"text","text":"a"},"junk",{"text":7},{"text":"b"}]}}]}"#,
            r#"{"choices":[{"message":{"content":null}}],"usage":{"prompt_tokens":1.5,"completion_tokens":-1}}"#,
            r#"{"choices":[{"message":{"content":{"odd":true}}},{"message":{"content":"second"}}]}"#,
            r#"{"choices":"none","usage":null}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":9}}"#,
            r#"{"choices":[7,{"message":"x"}],"id":"r"}"#,
            r#"{}"#,
        ];
        for a in answers {
            let tree: Value = serde_json::from_str(a).expect("json");
            assert_eq!(
                RouterReply::from_slice(a.as_bytes()).expect("an object"),
                RouterReply::from_value(&tree),
                "{a}"
            );
        }
        assert_eq!(
            RouterReply::from_slice(br#"{"choices":[{"message":{"content":"hi"}}]}"#)
                .expect("ok")
                .text,
            "hi"
        );
        assert!(RouterReply::from_slice(b"not json").is_err());
    }

    #[test]
    fn plain_json() {
        let d = parse(
            r#"{"target_model":"gpt-5.5","task_type":"hard_coding","difficulty":"hard","reasoning_effort":"xhigh","confidence":0.9,"reason":"hard"}"#,
            C,
        )
        .unwrap();
        assert_eq!(d.target, "gpt-5.5");
        assert_eq!(d.effort, Some(Effort::Xhigh));
        assert_eq!(d.confidence, Some(0.9));
    }

    #[test]
    fn fenced_and_prose_wrapped() {
        let fenced =
            "```json\n{\"target_model\":\"gpt-5.3-codex\",\"reasoning_effort\":\"low\"}\n```";
        assert_eq!(parse(fenced, C).unwrap().target, "gpt-5.3-codex");
        let prose = "Sure! Here is my decision: {\"target_model\": \"GPT-5.4-MINI\", \"reason\": \"simple {task}\"} hope it helps";
        let d = parse(prose, C).unwrap();
        assert_eq!(d.target, "gpt-5.4-mini");
        assert_eq!(d.reason, "simple {task}");
    }

    #[test]
    fn rejects_junk_and_unknown_models() {
        assert_eq!(parse("", C), Err(DecisionError::Empty));
        assert_eq!(parse("I think gpt-5.5", C), Err(DecisionError::NoJson));
        assert_eq!(parse("{\"reason\":\"x\"}", C), Err(DecisionError::NoTarget));
        assert!(matches!(
            parse("{\"target_model\":\"gpt-9-ultra\"}", C),
            Err(DecisionError::UnknownTarget(_))
        ));
    }

    #[test]
    fn effort_spellings() {
        assert_eq!(Effort::parse("X-High"), Some(Effort::Xhigh));
        assert_eq!(Effort::parse(" none "), Some(Effort::None));
        assert_eq!(Effort::parse("minimal"), Some(Effort::Minimal));
        assert_eq!(Effort::parse("ultra"), None);
    }

    #[test]
    fn confidence_is_clamped() {
        let d = parse("{\"target_model\":\"gpt-5.5\",\"confidence\":\"7\"}", C).unwrap();
        assert_eq!(d.confidence, Some(1.0));
    }
}
