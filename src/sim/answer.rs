//! What the simulated relay says when nothing is scripted: a simulated answer, a tool call, or
//! a simulated router decision, rendered as a `chat.completion` or as SSE chunks.
//!
//! Everything here is pure (request JSON in, bytes out) so the rules are unit-testable without
//! sockets. Stream chunks are written with `format!` and a small JSON string escaper rather than
//! through `serde_json::Value` trees: the benchmark uses this path as its "direct" baseline, so
//! it should cost little more than a real relay's framing.

use std::fmt::Write as _;

use bytes::Bytes;
use serde_json::{Value, json};

use super::ROUTER_MARKER;

/// Tier strength used by the simulated router; unknown tiers rank as `standard`.
fn tier_rank(tier: Option<&str>) -> u8 {
    match tier {
        Some("low") => 0,
        Some("coding") => 2,
        Some("strong") => 3,
        Some("frontier") => 4,
        _ => 1,
    }
}

const HARD_WORDS: &[&str] = &[
    "architecture",
    "migration",
    "race condition",
    "security",
    "prove",
    "proof",
    "design",
    "production",
    "concurrency",
    "refactor the whole",
    "repo-wide",
];

const CODE_WORDS: &[&str] = &[
    "function",
    "code",
    "bug",
    "compile",
    "typescript",
    "rust",
    "python",
    "sql",
    "regex",
    "```",
];

/// Facts about a chat request that the default behaviour depends on.
#[derive(Debug, Default)]
pub(crate) struct ChatFacts<'a> {
    pub model: &'a str,
    pub is_router_call: bool,
    pub stream: bool,
    pub include_usage: bool,
    /// Name of the first tool when tools are offered and the last message is not a tool result.
    pub tool_call: Option<&'a str>,
    pub prompt_tokens: u64,
}

impl<'a> ChatFacts<'a> {
    pub(crate) fn from_body(body: &'a Value, body_len: usize) -> Self {
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let last_is_tool = messages
            .last()
            .and_then(|m| m.get("role"))
            .and_then(Value::as_str)
            == Some("tool");
        let tool_call = if last_is_tool {
            None
        } else {
            body.get("tools")
                .and_then(Value::as_array)
                .and_then(|t| t.first())
                .and_then(|t| {
                    t.pointer("/function/name")
                        .or_else(|| t.get("name"))
                        .and_then(Value::as_str)
                })
        };
        Self {
            model: body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or("unknown"),
            is_router_call: is_router_call(body),
            stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
            include_usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            tool_call,
            prompt_tokens: approx_tokens(body_len),
        }
    }
}

/// A request is a router call when any message's text carries [`ROUTER_MARKER`].
pub(crate) fn is_router_call(body: &Value) -> bool {
    body.get("messages")
        .and_then(Value::as_array)
        .is_some_and(|msgs| {
            msgs.iter()
                .any(|m| content_text(m.get("content")).contains(ROUTER_MARKER))
        })
}

/// Text of a message `content`: a string, or the `text` parts of a content array.
fn content_text(content: Option<&Value>) -> std::borrow::Cow<'_, str> {
    match content {
        Some(Value::String(s)) => s.as_str().into(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
            .into(),
        _ => "".into(),
    }
}

/// Text of the last `user` message in an array of messages.
fn last_user_text(messages: &[Value]) -> std::borrow::Cow<'_, str> {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content")))
        .unwrap_or_default()
}

/// Roughly four bytes per token, never zero.
fn approx_tokens(bytes: usize) -> u64 {
    (bytes as u64 / 4).max(1)
}

/// The content of the simulated answer to an ordinary (non-router) request.
pub(crate) fn answer_text(body: &Value, model: &str) -> String {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let user = last_user_text(messages);
    let head: String = user.chars().take(60).collect();
    format!("[simulated] {model} answered: {head}")
}

/// Whether `word` occurs in `text` at the start of a word (so "prove" does not match "improve"
/// but "functions" matches "function"). Both are expected lowercase.
fn has_word(text: &str, word: &str) -> bool {
    let needs_boundary = word.chars().next().is_some_and(char::is_alphanumeric);
    text.match_indices(word).any(|(i, _)| {
        !needs_boundary
            || text[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric())
    })
}

/// The simulated router decision for a routing request, as the JSON object the router model
/// is asked to produce. `fallback_model` is named when the payload offers no usable candidate.
pub(crate) fn router_decision(body: &Value, fallback_model: Option<&str>) -> Value {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let payload = parse_payload(&last_user_text(messages));
    let candidates: &[Value] = payload
        .as_ref()
        .and_then(|p| p.get("candidates"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let virtual_model = payload
        .as_ref()
        .and_then(|p| p.get("virtual_model"))
        .and_then(Value::as_str)
        .unwrap_or("auto");
    let conversation: &[Value] = payload
        .as_ref()
        .and_then(|p| p.get("conversation"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = last_user_text(conversation).to_lowercase();

    let id = |c: &Value| c.get("id").and_then(Value::as_str).map(str::to_owned);
    let first = candidates
        .iter()
        .find_map(id)
        .or_else(|| fallback_model.map(str::to_owned));
    let strongest = || {
        candidates
            .iter()
            .filter(|c| c.get("id").is_some_and(Value::is_string))
            .enumerate()
            // Highest tier wins; among equals the earliest listed.
            .max_by_key(|(i, c)| {
                (
                    tier_rank(c.get("tier").and_then(Value::as_str)),
                    std::cmp::Reverse(*i),
                )
            })
            .and_then(|(_, c)| id(c))
    };

    let d = if text.trim().is_empty() {
        Decision {
            target: first,
            task_type: "general",
            difficulty: "simple",
            effort: "none",
            confidence: 0.5,
            why: "no conversation text, first candidate".into(),
        }
    } else if let Some(w) = HARD_WORDS.iter().find(|w| has_word(&text, w)) {
        Decision {
            target: strongest().or(first),
            task_type: "complex_reasoning",
            difficulty: "hard",
            effort: "high",
            confidence: 0.9,
            why: format!("hard request ({w}), strongest tier"),
        }
    } else if let Some(w) = CODE_WORDS.iter().find(|w| has_word(&text, w)) {
        let coding = candidates
            .iter()
            .find(|c| c.get("tier").and_then(Value::as_str) == Some("coding"))
            .and_then(id);
        Decision {
            target: coding.or_else(strongest).or(first),
            task_type: "coding",
            difficulty: "standard",
            effort: "low",
            confidence: 0.8,
            why: format!("coding request ({w}), coding tier"),
        }
    } else {
        let cheapest = candidates
            .iter()
            .filter(|c| c.get("id").is_some_and(Value::is_string))
            .enumerate()
            .min_by(|(ia, a), (ib, b)| {
                // Unknown prices sort last; ties keep the listed order.
                match (price(a), price(b)) {
                    (Some(x), Some(y)) => x.total_cmp(&y),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => std::cmp::Ordering::Equal,
                }
                .then(ia.cmp(ib))
            })
            .and_then(|(_, c)| id(c));
        Decision {
            target: cheapest.or(first),
            task_type: "general",
            difficulty: "simple",
            effort: "none",
            confidence: 0.7,
            why: "simple request, cheapest candidate".into(),
        }
    };
    json!({
        "target_model": d.target.unwrap_or_default(),
        "task_type": d.task_type,
        "difficulty": d.difficulty,
        "reasoning_effort": d.effort,
        "confidence": d.confidence,
        "reason": format!("simulated router: {} (for {virtual_model})", d.why),
    })
}

/// A decision before it is rendered as the router model's JSON answer.
struct Decision {
    target: Option<String>,
    task_type: &'static str,
    difficulty: &'static str,
    effort: &'static str,
    confidence: f64,
    why: String,
}

/// input + output price, `None` when either is missing.
fn price(c: &Value) -> Option<f64> {
    let p = |k: &str| c.get(k).and_then(Value::as_f64);
    Some(p("input_price")? + p("output_price")?)
}

/// The routing payload: the JSON document in the user message, tolerating prose around it.
fn parse_payload(text: &str) -> Option<Value> {
    if let Ok(v @ Value::Object(_)) = serde_json::from_str(text) {
        return Some(v);
    }
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    match serde_json::from_str(text.get(start..=end)?) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

/// Appends `s` as a JSON string literal (quotes included).
fn push_json_str(out: &mut String, s: &str) {
    // serde_json's own escaper; a `&str` always serialises.
    if let Ok(quoted) = serde_json::to_string(s) {
        out.push_str(&quoted);
    }
}

/// Usage object for a response of `completion` bytes to a prompt of `prompt_tokens`.
fn usage(prompt_tokens: u64, completion_bytes: usize) -> Value {
    let completion = approx_tokens(completion_bytes);
    json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    })
}

/// What the simulated assistant produces.
#[derive(Debug)]
pub(crate) enum Reply<'a> {
    Text(String),
    ToolCall { name: &'a str },
}

/// A non-streaming `chat.completion` body.
pub(crate) fn completion_json(
    id: &str,
    created: u64,
    facts: &ChatFacts<'_>,
    reply: &Reply<'_>,
) -> Value {
    let (message, finish, out_len) = match reply {
        Reply::Text(t) => (json!({"role": "assistant", "content": t}), "stop", t.len()),
        Reply::ToolCall { name } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{id}"),
                    "type": "function",
                    "function": {"name": name, "arguments": "{}"},
                }],
            }),
            "tool_calls",
            name.len() + 2,
        ),
    };
    json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": facts.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage(facts.prompt_tokens, out_len),
    })
}

/// Writes `chat.completion.chunk` events sharing one id, created time and model.
struct ChunkWriter {
    /// `data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,` — shared prefix.
    prefix: String,
}

impl ChunkWriter {
    fn new(id: &str, created: u64, model: &str) -> Self {
        let mut prefix = String::with_capacity(96 + model.len());
        prefix.push_str("data: {\"id\":");
        push_json_str(&mut prefix, id);
        let _ = write!(
            prefix,
            ",\"object\":\"chat.completion.chunk\",\"created\":{created},\"model\":"
        );
        push_json_str(&mut prefix, model);
        prefix.push(',');
        Self { prefix }
    }

    /// One event whose single choice has `delta_json` and `finish` (a JSON literal).
    fn choice(&self, delta_json: &str, finish: &str) -> Bytes {
        let mut s = String::with_capacity(self.prefix.len() + delta_json.len() + 64);
        s.push_str(&self.prefix);
        let _ = write!(
            s,
            "\"choices\":[{{\"index\":0,\"delta\":{delta_json},\"finish_reason\":{finish}}}]}}\n\n"
        );
        Bytes::from(s)
    }

    fn usage(&self, usage: &Value) -> Bytes {
        Bytes::from(format!(
            "{}\"choices\":[],\"usage\":{usage}}}\n\n",
            self.prefix
        ))
    }
}

const DONE: &[u8] = b"data: [DONE]\n\n";

/// Stream events for a text answer: `n` content chunks (the first carries the role), a finish
/// chunk, an optional usage chunk, then `[DONE]`.
pub(crate) fn text_stream(
    id: &str,
    created: u64,
    model: &str,
    text: &str,
    n: usize,
    usage_chunk: Option<Value>,
) -> Vec<Bytes> {
    let w = ChunkWriter::new(id, created, model);
    let mut out = Vec::with_capacity(n.max(1) + 3);
    let mut delta = String::new();
    for (i, piece) in piece_slices(text, n).enumerate() {
        delta.clear();
        delta.push('{');
        if i == 0 {
            delta.push_str("\"role\":\"assistant\",");
        }
        delta.push_str("\"content\":");
        push_json_str(&mut delta, piece);
        delta.push('}');
        out.push(w.choice(&delta, "null"));
    }
    out.push(w.choice("{}", "\"stop\""));
    if let Some(u) = usage_chunk {
        out.push(w.usage(&u));
    }
    out.push(Bytes::from_static(DONE));
    out
}

/// Stream events for a tool call: head (id, name), arguments in two fragments, finish chunk,
/// optional usage chunk, `[DONE]`.
pub(crate) fn tool_stream(
    id: &str,
    created: u64,
    model: &str,
    tool: &str,
    usage_chunk: Option<Value>,
) -> Vec<Bytes> {
    let w = ChunkWriter::new(id, created, model);
    let mut head = String::from(
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":",
    );
    push_json_str(&mut head, &format!("call_{id}"));
    head.push_str(",\"type\":\"function\",\"function\":{\"name\":");
    push_json_str(&mut head, tool);
    head.push_str(",\"arguments\":\"\"}}]}");
    let frag = |a: &str| {
        format!("{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\"{a}\"}}}}]}}")
    };
    let mut out = vec![
        w.choice(&head, "null"),
        w.choice(&frag("{"), "null"),
        w.choice(&frag("}"), "null"),
        w.choice("{}", "\"tool_calls\""),
    ];
    if let Some(u) = usage_chunk {
        out.push(w.usage(&u));
    }
    out.push(Bytes::from_static(DONE));
    out
}

/// Splits `text` into exactly `n.max(1)` consecutive slices of about equal char counts.
fn piece_slices(text: &str, n: usize) -> impl Iterator<Item = &str> {
    let n = n.max(1);
    let total = text.chars().count();
    let mut offsets = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()));
    let mut start = offsets.next().unwrap_or(0);
    let mut consumed = 0usize;
    (1..=n).map(move |k| {
        // Rounded up: the first piece carries text even when there are more chunks than
        // characters (a short answer in many chunks), as a real model's first token does.
        let want = (total * k).div_ceil(n);
        let mut end = start;
        while consumed < want {
            end = offsets.next().unwrap_or(text.len());
            consumed += 1;
        }
        let piece = text.get(start..end).unwrap_or("");
        start = end;
        piece
    })
}

/// Usage chunk payload for a stream, or `None` when the client did not ask for one.
pub(crate) fn stream_usage(facts: &ChatFacts<'_>, out_len: usize) -> Option<Value> {
    facts
        .include_usage
        .then(|| usage(facts.prompt_tokens, out_len))
}

/// Well-formed `chat.completion.chunk` events for `text` in `n` content chunks, a finish chunk
/// and `data: [DONE]` (no usage chunk). For scripting [`super::Step::Sse`] in tests.
pub fn sse_chunks_for(model: &str, text: &str, n: usize) -> Vec<Bytes> {
    text_stream("chatcmpl-sim-scripted", 1_700_000_000, model, text, n, None)
}

/// The OpenAI error envelope for `status`, with a `type` and `code` that match it.
pub fn error_json(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        400 => ("invalid_request_error", Value::Null),
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => ("permission_error", Value::Null),
        404 => ("invalid_request_error", json!("model_not_found")),
        408 => ("timeout", Value::Null),
        429 => ("rate_limit_exceeded", json!("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("api_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::sse::{EventKind, SseDecoder, classify};

    fn routing_body(text: &str) -> Value {
        let payload = json!({
            "virtual_model": "auto",
            "candidates": [
                {"id": "gpt-5.5", "tier": "frontier", "input_price": 5.0, "output_price": 40.0},
                {"id": "gpt-5.3-codex", "tier": "coding", "input_price": 1.25, "output_price": 10.0},
                {"id": "mystery", "tier": "standard"},
                {"id": "gpt-4.1-nano", "tier": "low", "input_price": 0.1, "output_price": 0.4},
            ],
            "conversation": [{"role": "user", "content": text}],
        });
        json!({
            "model": "gpt-4.1-nano",
            "messages": [
                {"role": "system", "content": format!("You route. {ROUTER_MARKER}")},
                {"role": "user", "content": payload.to_string()},
            ],
        })
    }

    fn decide(text: &str) -> (String, String) {
        let d = router_decision(&routing_body(text), None);
        assert!(
            d["reason"]
                .as_str()
                .unwrap()
                .starts_with("simulated router: ")
        );
        (
            d["target_model"].as_str().unwrap().to_owned(),
            d["reasoning_effort"].as_str().unwrap().to_owned(),
        )
    }

    #[test]
    fn router_rules() {
        assert!(is_router_call(&routing_body("hi")));
        assert_eq!(
            decide("Design the architecture of a queue"),
            ("gpt-5.5".into(), "high".into())
        );
        assert_eq!(
            decide("fix this Rust bug"),
            ("gpt-5.3-codex".into(), "low".into())
        );
        assert_eq!(
            decide("```\nx\n```"),
            ("gpt-5.3-codex".into(), "low".into())
        );
        assert_eq!(
            decide("what is the capital of France?"),
            ("gpt-4.1-nano".into(), "none".into())
        );
        // Word starts only: "improve" is not "prove", "trust" is not "rust".
        assert_eq!(
            decide("improve my trust"),
            ("gpt-4.1-nano".into(), "none".into())
        );
    }

    #[test]
    fn router_is_tolerant() {
        // Garbage payload: no candidates → first model the relay lists.
        let body = json!({"messages": [
            {"role": "system", "content": ROUTER_MARKER},
            {"role": "user", "content": "not json"},
        ]});
        let d = router_decision(&body, Some("gpt-5.4-mini"));
        assert_eq!(d["target_model"], "gpt-5.4-mini");
        // Candidates but no conversation → first candidate.
        let payload = json!({"candidates": [{"id": "b"}, {"id": "a", "tier": "frontier"}]});
        let body = json!({"messages": [
            {"role": "system", "content": ROUTER_MARKER},
            {"role": "user", "content": format!("Route this: {payload} thanks")},
        ]});
        assert_eq!(router_decision(&body, None)["target_model"], "b");
        // Code words without a coding tier → strongest.
        let payload = json!({"candidates": [{"id": "b"}, {"id": "a", "tier": "frontier"}],
            "conversation": [{"role": "user", "content": [{"type": "text", "text": "write a python function"}]}]});
        let body = json!({"messages": [
            {"role": "system", "content": ROUTER_MARKER},
            {"role": "user", "content": payload.to_string()},
        ]});
        assert_eq!(router_decision(&body, None)["target_model"], "a");
    }

    #[test]
    fn pieces_cover_text_exactly() {
        for text in ["", "a", "hello world", "日本語🙂 mixed ascii"] {
            for n in 1..30 {
                let p: Vec<&str> = piece_slices(text, n).collect();
                assert_eq!(p.len(), n);
                assert_eq!(p.concat(), text, "n={n}");
            }
        }
    }

    #[test]
    fn streams_are_well_formed() {
        let chunks = text_stream(
            "id1",
            1,
            "m\"x",
            "hé \"quoted\"\n🙂",
            5,
            Some(json!({"a": 1})),
        );
        let mut d = SseDecoder::new();
        let events: Vec<_> = chunks.iter().flat_map(|c| d.push(c)).collect();
        assert_eq!(events.len(), 5 + 3);
        let mut text = String::new();
        for e in &events[..5] {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert_eq!(v["model"], "m\"x");
            text.push_str(v["choices"][0]["delta"]["content"].as_str().unwrap());
        }
        assert_eq!(text, "hé \"quoted\"\n🙂");
        assert_eq!(classify(&events[5]), EventKind::Content);
        assert_eq!(classify(&events[6]), EventKind::Usage);
        assert_eq!(classify(&events[7]), EventKind::Done);

        let chunks = tool_stream("id2", 1, "m", "get_weather", None);
        let events: Vec<_> = chunks.iter().flat_map(|c| d.push(c)).collect();
        let args: String = events[..3]
            .iter()
            .map(|e| {
                let v: Value = serde_json::from_str(&e.data).unwrap();
                v["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(args, "{}");
        assert!(events.last().unwrap().is_done());
    }
}
