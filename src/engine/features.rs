//! Request features: what a chat request needs from a model (vision, tools, context size).
//!
//! Computed once per request from the parsed body, before any routing. The token estimate is
//! deliberately rough (about four bytes of text per token, plus per-message and per-image
//! overhead): it only has to tell "fits in 128k" from "does not", without a tokenizer.

use serde::Serialize;
use serde_json::Value;

use crate::text;

/// Tokens charged per image part; OpenAI bills 85–1,105 for typical images.
const IMAGE_TOKENS: u64 = 800;
/// Per-message framing overhead in tokens.
const MESSAGE_OVERHEAD: u64 = 4;

/// Needs of one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Features {
    /// Estimated prompt tokens (messages + tool schemas).
    pub prompt_tokens: u64,
    /// Output tokens the client asked for (`max_completion_tokens` / `max_tokens`).
    pub max_output_tokens: Option<u64>,
    /// Number of image parts.
    pub images: u64,
    /// `tools` or `functions` present and non-empty.
    pub tools: bool,
    /// Names of the offered tools, for the router's summary.
    pub tool_names: Vec<String>,
    /// `parallel_tool_calls: true`.
    pub parallel_tool_calls: bool,
    /// The last message is a tool result: the model is mid tool loop.
    pub tool_phase: bool,
    pub messages: usize,
    /// `stream: true`.
    pub stream: bool,
    /// The client set `reasoning_effort` itself.
    pub client_effort: bool,
}

impl Features {
    /// Context a model must offer: prompt plus the requested (or a modest default) output.
    pub fn required_context(&self) -> u64 {
        self.prompt_tokens + self.max_output_tokens.unwrap_or(1024)
    }
}

/// Extract features from a parsed chat-completions body.
pub fn extract(body: &Value) -> Features {
    let mut f = Features::default();
    let mut text_bytes: u64 = 0;
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        f.messages = messages.len();
        for m in messages {
            walk(m, &mut text_bytes, &mut f.images);
        }
        f.tool_phase = messages
            .last()
            .and_then(|m| m.get("role"))
            .and_then(Value::as_str)
            .is_some_and(|r| r == "tool" || r == "function");
    }
    for key in ["tools", "functions"] {
        if let Some(tools) = body.get(key).and_then(Value::as_array) {
            if !tools.is_empty() {
                f.tools = true;
            }
            for t in tools {
                let name = t
                    .pointer("/function/name")
                    .or_else(|| t.get("name"))
                    .and_then(Value::as_str);
                if let Some(n) = name {
                    f.tool_names.push(n.to_string());
                }
                // Tool schemas are part of the prompt.
                text_bytes += t.to_string().len() as u64;
            }
        }
    }
    f.parallel_tool_calls = body.get("parallel_tool_calls") == Some(&Value::Bool(true));
    f.max_output_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64);
    f.stream = body.get("stream") == Some(&Value::Bool(true));
    f.client_effort = body.get("reasoning_effort").is_some_and(|v| !v.is_null());
    f.prompt_tokens =
        text_bytes.div_ceil(4) + f.images * IMAGE_TOKENS + f.messages as u64 * MESSAGE_OVERHEAD;
    f
}

/// Count text bytes and image parts anywhere inside a message.
fn walk(v: &Value, text_bytes: &mut u64, images: &mut u64) {
    match v {
        Value::String(s)
            // Data URLs of images are counted as images, not text.
            if !is_data_url(s) => {
                *text_bytes += s.len() as u64;
            }
        Value::Array(items) => items.iter().for_each(|i| walk(i, text_bytes, images)),
        Value::Object(map) => {
            let ty = map.get("type").and_then(Value::as_str);
            if matches!(ty, Some("image_url" | "input_image" | "image"))
                || map.contains_key("image_url")
                || map.contains_key("input_image")
            {
                *images += 1;
                return;
            }
            for (k, val) in map {
                // Keys like "role" and "type" are framing, counted in MESSAGE_OVERHEAD.
                if k != "role" && k != "type" {
                    walk(val, text_bytes, images);
                }
            }
        }
        _ => {}
    }
}

/// `data:…;base64,…` with the marker in the first 200 bytes (a MIME type is short).
pub(crate) fn is_data_url(s: &str) -> bool {
    s.len() > 5
        && text::strip_prefix_ignore_ascii_case(s, "data:").is_some()
        && text::prefix_bytes(s, 200).contains(";base64,")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_images_tools_and_phase() {
        let body = json!({
            "model": "auto",
            "stream": true,
            "max_tokens": 50,
            "parallel_tool_calls": true,
            "tools": [{"type":"function","function":{"name":"lookup","parameters":{}}}],
            "messages": [
                {"role":"user","content":[{"type":"text","text":"what is this"},
                    {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]},
                {"role":"assistant","tool_calls":[{"id":"1","type":"function","function":{"name":"lookup","arguments":"{}"}}]},
                {"role":"tool","tool_call_id":"1","content":"ok"}
            ]
        });
        let f = extract(&body);
        assert_eq!(f.images, 1);
        assert!(f.tools && f.parallel_tool_calls && f.tool_phase && f.stream);
        assert_eq!(f.tool_names, vec!["lookup"]);
        assert_eq!(f.max_output_tokens, Some(50));
        assert_eq!(f.messages, 3);
        assert!(f.prompt_tokens >= IMAGE_TOKENS);
    }

    #[test]
    fn long_text_estimates_tokens() {
        let body = json!({"messages":[{"role":"user","content":"a".repeat(400_000)}]});
        let f = extract(&body);
        assert!(f.prompt_tokens >= 100_000 && f.prompt_tokens < 101_000);
        assert_eq!(f.images, 0);
        assert!(!f.tools);
    }
}
