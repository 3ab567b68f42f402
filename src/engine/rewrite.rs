//! Stage 2 body rewrite: replace `model`, maybe add `reasoning_effort`, keep every other byte.
//!
//! The client's body is forwarded unchanged except for those two fields, so instead of
//! re-serialising a parsed document (slow for 1 MiB image requests, and lossy for number
//! formatting and key order) we splice the new values into the original bytes.

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;

/// Errors are impossible for bodies that already parsed as a JSON object; this is defensive.
#[derive(Debug, thiserror::Error)]
#[error("request body is not a JSON object")]
pub struct RewriteError;

/// Return `body` with top-level `model` set to `model` and, when `effort` is given and the
/// body has no `reasoning_effort`, that field added.
pub fn rewrite(body: &[u8], model: &str, effort: Option<&str>) -> Result<Bytes, RewriteError> {
    let map: Vec<(String, &RawValue)> = top_level(body)?;
    let model_json = serde_json::to_string(model).map_err(|_| RewriteError)?;
    let base = body.as_ptr() as usize;
    let span = map
        .iter()
        .rev() // serde keeps the last duplicate; so do we
        .find(|(k, _)| k == "model")
        .map(|(_, v)| {
            let start = v.get().as_ptr() as usize - base;
            (start, start + v.get().len())
        });
    let has_effort = map
        .iter()
        .any(|(k, v)| k == "reasoning_effort" && v.get() != "null");
    let insert = match effort {
        Some(e) if !has_effort => Some(format!(
            "\"reasoning_effort\":{},",
            serde_json::to_string(e).map_err(|_| RewriteError)?
        )),
        _ => None,
    };
    let open = body.iter().position(|&b| b == b'{').ok_or(RewriteError)?;
    let mut out = BytesMut::with_capacity(body.len() + 64);
    match span {
        Some((s, e)) => {
            out.extend_from_slice(&body[..=open]);
            if let Some(ins) = &insert {
                out.extend_from_slice(ins.as_bytes());
            }
            out.extend_from_slice(&body[open + 1..s]);
            out.extend_from_slice(model_json.as_bytes());
            out.extend_from_slice(&body[e..]);
        }
        None => {
            out.extend_from_slice(&body[..=open]);
            out.extend_from_slice(b"\"model\":");
            out.extend_from_slice(model_json.as_bytes());
            let rest_is_empty = map.is_empty();
            if let Some(ins) = &insert {
                out.extend_from_slice(b",");
                out.extend_from_slice(ins.trim_end_matches(',').as_bytes());
            }
            if !rest_is_empty {
                out.extend_from_slice(b",");
            }
            out.extend_from_slice(&body[open + 1..]);
        }
    }
    Ok(out.freeze())
}

/// Top-level keys with borrowed raw values pointing into `body`.
fn top_level(body: &[u8]) -> Result<Vec<(String, &RawValue)>, RewriteError> {
    struct V;
    impl<'de> serde::de::Visitor<'de> for V {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut a: A,
        ) -> Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some((k, raw)) = a.next_entry::<String, &'de RawValue>()? {
                v.push((k, raw));
            }
            Ok(v)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    serde::Deserializer::deserialize_map(&mut de, V).map_err(|_| RewriteError)
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
    fn rejects_non_objects() {
        assert!(rewrite(b"[1]", "m", None).is_err());
        assert!(rewrite(b"nope", "m", None).is_err());
    }
}
