//! The bounded, redacted copy of a conversation that the router model reads.
//!
//! The answer model always gets the client's original messages; this view exists only so the
//! cheap router can judge the task. Invariants: no base64 payload or data URL survives (they
//! become short metadata), and the whole view stays within a character budget however long
//! the conversation is, by keeping the head and tail of long texts. The last user message
//! gets the largest share because it says what is being asked.

use serde::Serialize;
use serde_json::Value;

use super::features::is_data_url;
use crate::text;

/// Strings longer than this that look like base64 are replaced by metadata.
const BASE64_MIN: usize = 512;
/// Long URLs keep this many characters.
const URL_KEEP: usize = 200;

/// One message as the router sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewMessage {
    pub role: String,
    pub content: String,
}

/// Build the routing view of `messages` within `budget` characters of content.
pub fn conversation_view(messages: &[Value], budget: usize) -> Vec<ViewMessage> {
    let mut view: Vec<ViewMessage> = messages
        .iter()
        .map(|m| ViewMessage {
            role: m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("user")
                .to_string(),
            content: flatten_message(m),
        })
        .collect();
    fit_budget(&mut view, budget);
    view
}

/// Text of one message: text parts verbatim, other parts as short descriptions.
fn flatten_message(m: &Value) -> String {
    let mut out = String::new();
    if let Some(content) = m.get("content") {
        flatten_content(content, &mut out);
    }
    if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
        for c in calls {
            let name = c
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let args = c
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or("");
            push_sep(&mut out);
            out.push_str(&format!("[tool call {name}({})]", clip(args, 200)));
        }
    }
    if let Some(fc) = m.get("function_call") {
        let name = fc.get("name").and_then(Value::as_str).unwrap_or("?");
        push_sep(&mut out);
        out.push_str(&format!("[function call {name}]"));
    }
    out
}

fn flatten_content(content: &Value, out: &mut String) {
    match content {
        Value::String(s) => {
            push_sep(out);
            out.push_str(&redact_string(s));
        }
        Value::Array(parts) => {
            for p in parts {
                flatten_part(p, out);
            }
        }
        Value::Null => {}
        other => {
            push_sep(out);
            out.push_str(&clip(&other.to_string(), 500));
        }
    }
}

fn flatten_part(p: &Value, out: &mut String) {
    let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
    push_sep(out);
    match ty {
        "text" | "input_text" | "output_text" => {
            let t = p.get("text").and_then(Value::as_str).unwrap_or("");
            out.push_str(&redact_string(t));
        }
        "image_url" | "input_image" | "image" => {
            let url = p
                .pointer("/image_url/url")
                .or_else(|| p.get("image_url"))
                .or_else(|| p.get("url"))
                .and_then(Value::as_str)
                .unwrap_or("");
            out.push_str(&describe_image(url));
        }
        "input_audio" => out.push_str("[audio input]"),
        "file" | "input_file" => out.push_str("[file attachment]"),
        _ => {
            if let Value::String(s) = p {
                out.push_str(&redact_string(s));
            } else {
                out.push_str(&format!(
                    "[{} part]",
                    if ty.is_empty() { "unknown" } else { ty }
                ));
            }
        }
    }
}

fn describe_image(url: &str) -> String {
    if is_data_url(url) {
        let mime = text::strip_prefix_ignore_ascii_case(url, "data:")
            .unwrap_or("")
            .split([';', ','])
            .next()
            .filter(|m| !m.is_empty())
            .unwrap_or("application/octet-stream");
        let payload = url
            .split_once(";base64,")
            .map(|(_, p)| p.len())
            .unwrap_or(0);
        format!("[image: {mime}, about {} bytes]", payload * 3 / 4)
    } else if url.is_empty() {
        "[image]".to_string()
    } else {
        format!("[image: {}]", clip(url, URL_KEEP))
    }
}

/// Replace data URLs and base64 runs inside free text; clip very long URLs.
pub fn redact_string(s: &str) -> String {
    if is_data_url(s) {
        return describe_image(s);
    }
    if s.len() < BASE64_MIN {
        return s.to_string();
    }
    // Scan whitespace-separated tokens; only long ones can be payloads.
    let mut out = String::with_capacity(s.len().min(64 * 1024));
    let mut last = 0;
    for (start, token) in tokens(s) {
        let replacement = if is_data_url(token) {
            Some(describe_image(token))
        } else if token.len() >= BASE64_MIN && looks_base64(token) {
            Some(format!(
                "[base64 data, about {} bytes]",
                token.len() * 3 / 4
            ))
        } else if token.len() > URL_KEEP * 2
            && (token.starts_with("http://") || token.starts_with("https://"))
        {
            Some(format!("{}…[long url]", clip(token, URL_KEEP)))
        } else {
            None
        };
        if let Some(r) = replacement {
            out.push_str(&s[last..start]);
            out.push_str(&r);
            last = start + token.len();
        }
    }
    out.push_str(&s[last..]);
    out
}

/// Whitespace-separated tokens with their byte offsets.
fn tokens(s: &str) -> impl Iterator<Item = (usize, &str)> {
    s.split_ascii_whitespace()
        .map(move |t| (t.as_ptr() as usize - s.as_ptr() as usize, t))
}

fn looks_base64(t: &str) -> bool {
    t.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
        // Real prose tokens this long are rare; requiring mixed case and digits avoids eating
        // long identifiers or hex hashes of moderate length.
        && t.bytes().any(|b| b.is_ascii_digit())
        && t.bytes().any(|b| b.is_ascii_uppercase())
        && t.bytes().any(|b| b.is_ascii_lowercase())
}

/// Shrink contents so the total fits `budget`, keeping head and tail of each long text.
fn fit_budget(view: &mut [ViewMessage], budget: usize) {
    let total: usize = view.iter().map(|m| m.content.chars().count()).sum();
    if total <= budget || view.is_empty() {
        return;
    }
    let last_user = view.iter().rposition(|m| m.role == "user");
    // The last user message may use half of the budget; the rest is shared evenly.
    let mut remaining = budget;
    if let Some(i) = last_user {
        let share = budget / 2;
        let len = view[i].content.chars().count();
        if len > share {
            view[i].content = head_tail(&view[i].content, share);
        }
        remaining = budget.saturating_sub(view[i].content.chars().count());
    }
    let others: Vec<usize> = (0..view.len()).filter(|&i| Some(i) != last_user).collect();
    if others.is_empty() {
        return;
    }
    // Older messages matter less: if there are many, keep only a short stub of each.
    let per = (remaining / others.len()).max(40);
    for i in others {
        if view[i].content.chars().count() > per {
            view[i].content = head_tail(&view[i].content, per);
        }
    }
}

/// Keep about `keep` characters: two thirds from the head, one third from the tail.
pub fn head_tail(s: &str, keep: usize) -> String {
    let n = s.chars().count();
    if n <= keep {
        return s.to_string();
    }
    let head = keep * 2 / 3;
    let tail = keep - head;
    format!(
        "{}\n[… {} characters omitted …]\n{}",
        text::prefix_chars(s, head),
        n - head - tail,
        text::suffix_chars(s, tail)
    )
}

fn clip(s: &str, max: usize) -> String {
    text::clip_chars(s, max)
}

fn push_sep(out: &mut String) {
    if !out.is_empty() {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_urls_become_metadata() {
        let b64 = "iVBORw0KGgo".repeat(400);
        let msgs = vec![json!({"role":"user","content":[
            {"type":"text","text":"describe"},
            {"type":"image_url","image_url":{"url":format!("data:image/png;base64,{b64}"),"detail":"high"}}
        ]})];
        let v = conversation_view(&msgs, 6000);
        assert!(v[0].content.contains("[image: image/png"));
        assert!(!v[0].content.contains(&b64[..100]));
    }

    #[test]
    fn base64_in_text_is_replaced() {
        let b64 = "QUJDRGVmZ2hpamtsbW5vcA1234".repeat(40);
        let s = format!("here is a blob {b64} end");
        let r = redact_string(&s);
        assert!(r.contains("[base64 data"));
        assert!(r.starts_with("here is a blob ") && r.ends_with(" end"));
    }

    #[test]
    fn long_text_is_cut_head_and_tail() {
        let long = format!("START {} END", "word ".repeat(50_000));
        let msgs = vec![
            json!({"role":"system","content":"be brief"}),
            json!({"role":"user","content":long}),
        ];
        let v = conversation_view(&msgs, 6000);
        let total: usize = v.iter().map(|m| m.content.chars().count()).sum();
        assert!(total < 6200, "{total}");
        assert!(v[1].content.starts_with("START"));
        assert!(v[1].content.ends_with("END"));
        assert!(v[1].content.contains("characters omitted"));
    }

    #[test]
    fn tool_calls_are_summarised() {
        let msgs = vec![json!({"role":"assistant","content":null,
            "tool_calls":[{"id":"a","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"a.rs\"}"}}]})];
        let v = conversation_view(&msgs, 6000);
        assert!(v[0].content.contains("read_file"));
    }

    #[test]
    fn multibyte_cut_is_safe() {
        let s = "日本語🙂".repeat(5000);
        let r = head_tail(&s, 100);
        assert!(r.chars().count() < 200);
    }
}
