//! Stage 2 body rewrite: replace `model`, maybe add `reasoning_effort`, keep every other byte.
//!
//! The client's body is forwarded unchanged except for those two fields, so instead of
//! re-serialising a parsed document (slow for 1 MiB image requests, and lossy for number
//! formatting and key order) we splice the new values into the original bytes. The spans
//! come from one scan of the top level ([`members`]), done once per request by
//! `engine::request`.

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;

/// Errors are impossible for bodies that already parsed as a JSON object; this is defensive.
#[derive(Debug, thiserror::Error)]
#[error("request body is not a JSON object")]
pub struct RewriteError;

/// Return `body` with top-level `model` set to `model` and, when `effort` is given and the
/// body has no `reasoning_effort`, that field added.
pub fn rewrite(body: &[u8], model: &str, effort: Option<&str>) -> Result<Bytes, RewriteError> {
    edit(
        body,
        &Edits {
            model: Some(model),
            effort,
            include_usage: false,
        },
    )
    .map(|(b, _)| b)
}

/// The changes stage 2 may make to a client's body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Edits<'a> {
    /// Replace (or set) the top-level `model`.
    pub model: Option<&'a str>,
    /// Add `reasoning_effort` when the body has none.
    pub effort: Option<&'a str>,
    /// Add `stream_options: {"include_usage": true}` when the body has no `stream_options`.
    pub include_usage: bool,
}

/// What the edit learned about the body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BodyFacts {
    /// The client itself asked for `stream_options.include_usage: true`.
    pub client_wants_usage: bool,
    /// `stream_options` was added by this edit.
    pub usage_added: bool,
}

/// Apply `edits`, splicing into the original bytes.
pub fn edit(body: &[u8], edits: &Edits) -> Result<(Bytes, BodyFacts), RewriteError> {
    let members = members(body)?;
    edit_with(body, &members, edits)
}

/// One top-level member of a JSON object body: its key and where its value lies in the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub key: String,
    pub start: usize,
    pub end: usize,
}

/// The top-level members of `body` (a JSON object, nothing after it but whitespace), in
/// order; values are only checked and skipped, not built.
pub fn members(body: &[u8]) -> Result<Vec<Member>, RewriteError> {
    members_or_reason(body).map_err(|_| RewriteError)
}

/// [`members`] with serde's reason when the body is not a JSON object.
pub fn members_or_reason(body: &[u8]) -> Result<Vec<Member>, serde_json::Error> {
    let base = body.as_ptr() as usize;
    let mut de = serde_json::Deserializer::from_slice(body);
    let raw = serde::Deserializer::deserialize_map(&mut de, TopLevel)?;
    de.end()?;
    Ok(raw
        .into_iter()
        .map(|(key, v)| {
            let start = v.get().as_ptr() as usize - base;
            Member {
                key,
                start,
                end: start + v.get().len(),
            }
        })
        .collect())
}

/// The value of the last member named `key` (serde keeps the last duplicate; so do we).
pub fn find<'b>(body: &'b [u8], members: &[Member], key: &str) -> Option<&'b [u8]> {
    members
        .iter()
        .rev()
        .find(|m| m.key == key)
        .and_then(|m| body.get(m.start..m.end))
}

/// [`edit`] on a body whose members are already known (the internal request scans once).
pub fn edit_with(
    body: &[u8],
    members: &[Member],
    edits: &Edits,
) -> Result<(Bytes, BodyFacts), RewriteError> {
    let find_member = |key: &str| members.iter().rev().find(|m| m.key == key);
    let mut facts = BodyFacts::default();
    let stream_options = find(body, members, "stream_options");
    if let Some(so) = stream_options {
        facts.client_wants_usage = serde_json::from_slice::<serde_json::Value>(so)
            .ok()
            .and_then(|v| v.get("include_usage").and_then(serde_json::Value::as_bool))
            == Some(true);
    }
    let mut inserts = String::new();
    if let Some(e) = edits.effort
        && find(body, members, "reasoning_effort").is_none_or(|v| v == b"null")
    {
        inserts.push_str("\"reasoning_effort\":");
        inserts.push_str(&serde_json::to_string(e).map_err(|_| RewriteError)?);
        inserts.push(',');
    }
    if edits.include_usage && stream_options.is_none() {
        inserts.push_str("\"stream_options\":{\"include_usage\":true},");
        facts.usage_added = true;
    }
    let model_span = find_member("model").map(|m| (m.start, m.end));
    let model_json = match edits.model {
        Some(m) => Some(serde_json::to_string(m).map_err(|_| RewriteError)?),
        None => None,
    };
    if model_span.is_none()
        && let Some(mj) = &model_json
    {
        inserts.push_str("\"model\":");
        inserts.push_str(mj);
        inserts.push(',');
    }
    let open = body.iter().position(|&b| b == b'{').ok_or(RewriteError)?;
    if members.is_empty() {
        // `{}`: no trailing comma may follow the last inserted member.
        inserts.pop();
    }
    let at = |r: std::ops::Range<usize>| body.get(r).ok_or(RewriteError);
    let mut out = BytesMut::with_capacity(body.len() + inserts.len() + 32);
    out.extend_from_slice(at(0..open + 1)?);
    out.extend_from_slice(inserts.as_bytes());
    match (model_span, &model_json) {
        (Some((s, e)), Some(mj)) => {
            out.extend_from_slice(at(open + 1..s)?);
            out.extend_from_slice(mj.as_bytes());
            out.extend_from_slice(at(e..body.len())?);
        }
        _ => out.extend_from_slice(at(open + 1..body.len())?),
    }
    Ok((out.freeze(), facts))
}

/// Top-level keys with borrowed raw values pointing into the body.
struct TopLevel;

impl<'de> serde::de::Visitor<'de> for TopLevel {
    type Value = Vec<(String, &'de RawValue)>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        let mut v = Vec::new();
        while let Some((k, raw)) = a.next_entry::<String, &'de RawValue>()? {
            v.push((k, raw));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(b: &[u8]) -> Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn replaces_model_and_keeps_everything_else() {
        let body = br#"{"model":"auto","messages":[{"role":"user","content":"hi \u00e9"}],"temperature":0.70,"x_unknown":{"a":1}}"#;
        let out = rewrite(body, "gpt-5.5", None).unwrap();
        let s = std::str::from_utf8(&out).unwrap();
        assert!(s.contains(r#""model":"gpt-5.5""#));
        // Original bytes elsewhere are untouched (escapes and number formatting kept).
        assert!(s.contains(r#"hi \u00e9"#));
        assert!(s.contains("0.70"));
        assert_eq!(parse(&out)["x_unknown"], json!({"a":1}));
    }

    #[test]
    fn adds_effort_only_when_absent() {
        let out = rewrite(br#"{"model":"auto","messages":[]}"#, "m", Some("high")).unwrap();
        assert_eq!(parse(&out)["reasoning_effort"], "high");
        let out = rewrite(
            br#"{"model":"auto","reasoning_effort":"low","messages":[]}"#,
            "m",
            Some("high"),
        )
        .unwrap();
        assert_eq!(parse(&out)["reasoning_effort"], "low");
    }

    #[test]
    fn inserts_model_when_missing_and_handles_whitespace() {
        let out = rewrite(b" { } ", "m", Some("low")).unwrap();
        assert_eq!(parse(&out), json!({"model":"m","reasoning_effort":"low"}));
        let out = rewrite(br#"{ "messages" : [] }"#, "m", None).unwrap();
        assert_eq!(parse(&out), json!({"model":"m","messages":[]}));
        let out = rewrite(br#"{ "model" : "auto" , "n":1}"#, "m", None).unwrap();
        assert_eq!(parse(&out), json!({"model":"m","n":1}));
    }

    #[test]
    fn usage_injection_and_client_choice() {
        let (out, f) = edit(
            br#"{"model":"m","stream":true,"messages":[]}"#,
            &Edits {
                include_usage: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(parse(&out)["stream_options"]["include_usage"], true);
        assert!(f.usage_added && !f.client_wants_usage);
        assert_eq!(parse(&out)["model"], "m");
        let (out, f) = edit(
            br#"{"model":"m","stream_options":{"include_usage":true}}"#,
            &Edits {
                include_usage: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert!(!f.usage_added && f.client_wants_usage);
        assert_eq!(
            parse(&out)["stream_options"],
            json!({"include_usage": true})
        );
        let (out, _) = edit(
            b"{}",
            &Edits {
                model: Some("x"),
                effort: Some("low"),
                include_usage: true,
            },
        )
        .unwrap();
        assert_eq!(
            parse(&out),
            json!({"model":"x","reasoning_effort":"low","stream_options":{"include_usage":true}})
        );
    }

    #[test]
    fn rejects_non_objects() {
        assert!(rewrite(b"[1]", "m", None).is_err());
        assert!(rewrite(b"nope", "m", None).is_err());
    }
}
