//! The one internal request: what a front door hands the engine.
//!
//! The client's body is scanned once ([`rewrite::members`]: each top-level member's key and
//! the span of its value; values are checked, not built). Everything forwarded untouched
//! stays those bytes; stage 2 splices `model` (and maybe `reasoning_effort` and
//! `stream_options`) into them ([`Body::edit`]). Only a request for a virtual model
//! parses more: the members routing reads (messages, tools and a few scalars) become a small
//! JSON view for the features and the router's redacted summary. A pass-through request is
//! never parsed beyond the scan.
//!
//! The chat front door builds it today; the Anthropic Messages and OpenAI Responses front
//! doors will build the same type.

use bytes::Bytes;
use serde_json::{Map, Value};

use super::Mode;
use super::features::{self, Features};
use super::rewrite::{self, BodyFacts, Edits, Member};

/// The members routing reads; everything else only travels.
const ROUTING_MEMBERS: [&str; 8] = [
    "messages",
    "tools",
    "functions",
    "parallel_tool_calls",
    "max_completion_tokens",
    "max_tokens",
    "stream",
    "reasoning_effort",
];

/// Why a body is not a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("request body is empty; send a JSON object")]
    Empty,
    #[error("request body is not a valid JSON object: {0}")]
    NotAnObject(String),
}

/// A JSON object body and the spans of its top-level members.
#[derive(Debug, Clone)]
pub struct Body {
    raw: Bytes,
    members: Vec<Member>,
}

impl Body {
    /// Scan `raw` once.
    pub fn scan(raw: Bytes) -> Result<Body, BodyError> {
        if raw.iter().all(u8::is_ascii_whitespace) {
            return Err(BodyError::Empty);
        }
        let members =
            rewrite::members_or_reason(&raw).map_err(|e| BodyError::NotAnObject(e.to_string()))?;
        Ok(Body { raw, members })
    }

    /// The bytes as the client sent them.
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The raw JSON of the member `key` (the last one when the key repeats).
    pub fn member(&self, key: &str) -> Option<&[u8]> {
        rewrite::find(&self.raw, &self.members, key)
    }

    /// The member `key` parsed as `T`, if present and of that shape.
    pub fn member_as<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.member(key)
            .and_then(|v| serde_json::from_slice::<T>(v).ok())
    }

    /// The body with `edits` spliced in; the body as it came when there is nothing to do.
    pub fn edit(&self, edits: &Edits) -> (Bytes, BodyFacts) {
        if edits.model.is_none() && edits.effort.is_none() && !edits.include_usage {
            return (self.raw.clone(), BodyFacts::default());
        }
        // Cannot fail for a body that scanned; if it did, the original is the safe answer.
        rewrite::edit_with(&self.raw, &self.members, edits)
            .unwrap_or_else(|_| (self.raw.clone(), BodyFacts::default()))
    }

    /// The members routing reads, parsed into one small object.
    fn routing_view(&self) -> Value {
        let mut map = Map::new();
        for key in ROUTING_MEMBERS {
            if let Some(v) = self.member_as::<Value>(key) {
                map.insert(key.to_string(), v);
            }
        }
        Value::Object(map)
    }
}

/// What routing reads of a virtual-model request.
#[derive(Debug, Clone)]
pub struct Routing {
    pub mode: Mode,
    /// `messages`, `tools` and the scalars the features need, parsed.
    pub view: Value,
    pub features: Features,
}

/// One client request, as every front door hands it to the engine.
#[derive(Debug, Clone)]
pub struct Request {
    pub body: Body,
    /// The model the client asked for (a virtual model or a real id).
    pub model: String,
    pub stream: bool,
    /// Present for a virtual model.
    pub routing: Option<Routing>,
}

impl Request {
    /// A request for `model`; a virtual model gets its routing view here, once.
    pub fn new(body: Body, model: String, stream: bool) -> Request {
        let routing = Mode::from_model(&model).map(|mode| {
            let view = body.routing_view();
            let features = features::extract(&view);
            Routing {
                mode,
                view,
                features,
            }
        });
        Request {
            body,
            model,
            stream,
            routing,
        }
    }

    pub fn mode(&self) -> Option<Mode> {
        self.routing.as_ref().map(|r| r.mode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> Body {
        Body::scan(Bytes::copy_from_slice(s.as_bytes())).expect("an object")
    }

    #[test]
    fn scan_refuses_what_is_not_one_object() {
        assert_eq!(
            Body::scan(Bytes::from_static(b"  ")).err(),
            Some(BodyError::Empty)
        );
        for bad in ["{", "[1]", "nope", "{} {}", r#"{"a":1,}"#] {
            assert!(
                matches!(Body::scan(Bytes::from(bad)), Err(BodyError::NotAnObject(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_virtual_model_gets_its_view_and_a_real_id_none() {
        let raw = r#"{"model":"auto","stream":true,"temperature":0.70,
            "messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function",
            "function":{"name":"f","parameters":{}}}]}"#;
        let r = Request::new(body(raw), "auto".into(), true);
        let routing = r.routing.as_ref().expect("routed");
        assert_eq!(routing.mode, Mode::Auto);
        assert!(routing.features.tools && routing.features.stream);
        assert_eq!(routing.features.messages, 1);
        // Only what routing reads is parsed.
        assert!(routing.view.get("temperature").is_none());
        assert_eq!(
            routing.features,
            features::extract(&serde_json::from_str(raw).expect("json"))
        );
        assert!(
            Request::new(body(raw), "gpt-5.5".into(), true)
                .routing
                .is_none()
        );
    }

    #[test]
    fn edits_splice_into_the_scanned_bytes() {
        let b = body(r#"{"model":"auto","n":0.50,"messages":[]}"#);
        let (out, _) = b.edit(&Edits {
            model: Some("m"),
            ..Default::default()
        });
        assert_eq!(&out[..], br#"{"model":"m","n":0.50,"messages":[]}"#);
        let (same, facts) = b.edit(&Edits::default());
        assert_eq!(same, *b.raw());
        assert_eq!(facts, BodyFacts::default());
        assert_eq!(b.member("n"), Some(&b"0.50"[..]));
    }
}
