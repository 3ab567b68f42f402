//! Errors that reach HTTP clients, in the OpenAI envelope.
//!
//! Every error the gateway returns is an [`ApiError`]: status, `type`, `code`, `param` and a
//! message that never contains a secret (see [`redact`]). The OpenAI SDKs map the status to
//! their exception classes, so the status is chosen with care: the last upstream status is
//! passed through when fallback is exhausted, and errors the gateway itself raises use a
//! distinct `code` so a user can tell "my router key is wrong" from "the relay's key is wrong".

use bytes::Bytes;
use serde_json::json;

/// An error answered to a client as `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub kind: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub param: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, kind: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            code: Some(code.to_string()),
            message: message.into(),
            param: None,
        }
    }

    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_string());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "invalid_request_error",
            "invalid_request_error",
            message,
        )
    }

    pub fn unauthorized() -> Self {
        Self::new(
            401,
            "authentication_error",
            "invalid_router_key",
            "invalid or missing router key: send it as `Authorization: Bearer <key>` or `x-api-key: <key>` (see `llm-router env`)",
        )
    }

    pub fn forbidden_host(host: &str) -> Self {
        Self::new(
            403,
            "permission_error",
            "host_not_allowed",
            format!(
                "host `{host}` is not allowed (DNS rebinding protection); add it to `server.allowed_hosts` if this is intended"
            ),
        )
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            "not_found",
            format!("no route for `{path}`"),
        )
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            405,
            "invalid_request_error",
            "method_not_allowed",
            format!("method {method} is not allowed on `{path}`"),
        )
    }

    pub fn model_not_found(id: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            "model_not_found",
            format!("model `{id}` was not found in the upstream model list"),
        )
        .with_param("model")
    }

    pub fn payload_too_large(limit_bytes: u64) -> Self {
        Self::new(
            413,
            "invalid_request_error",
            "request_too_large",
            format!(
                "request body exceeds {} MiB; raise `server.body_limit_mb` if this is intended",
                limit_bytes / (1024 * 1024)
            ),
        )
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            415,
            "invalid_request_error",
            "unsupported_media_type",
            "request body must be JSON sent with `content-type: application/json`",
        )
    }

    pub fn no_candidates(message: impl Into<String>) -> Self {
        Self::new(503, "router_error", "no_available_model", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "server_error", "internal_error", message)
    }

    /// The JSON envelope.
    pub fn body(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        })
    }

    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(self.body().to_string())
    }

    /// One SSE event carrying this error, for failures after a stream was committed.
    pub fn to_sse_event(&self) -> Bytes {
        Bytes::from(format!("data: {}\n\n", self.body()))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ApiError {}

/// Remove secrets from text that may reach a client or a log: every known secret verbatim,
/// and anything that looks like an API key (`sk-…`, `Bearer …`, `key=…` in URLs).
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        // Short strings would mask ordinary words; keys are long.
        if s.len() >= 6 && out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    redact_patterns(&out)
}

/// Pattern-based masking for secrets we do not know verbatim.
fn redact_patterns(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let is_key_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    while i < bytes.len() {
        let rest = &text[i..];
        let prefix_len = if rest.starts_with("sk-") || rest.starts_with("sk_") {
            3
        } else if rest.len() >= 7 && rest.as_bytes()[..7].eq_ignore_ascii_case(b"bearer ") {
            7
        } else if rest.starts_with("key=") || rest.starts_with("api_key=") {
            rest.find('=').map(|p| p + 1).unwrap_or(0)
        } else {
            0
        };
        // Only treat it as a key at a word start, so "risk-free" is left alone.
        let at_word_start = i == 0 || !is_key_char(bytes[i - 1]);
        if prefix_len > 0 && at_word_start {
            let mut j = i + prefix_len;
            while j < bytes.len() && is_key_char(bytes[j]) {
                j += 1;
            }
            if j - (i + prefix_len) >= 8 {
                out.push_str(&text[i..i + prefix_len]);
                out.push_str("***");
                i = j;
                continue;
            }
        }
        // Advance one UTF-8 character.
        let ch_len = rest.chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let e = ApiError::model_not_found("x");
        let v = e.body();
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["param"], "model");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().contains('x'));
    }

    #[test]
    fn redacts_known_and_patterned_secrets() {
        let r = redact(
            "bad key sk-abcdefghijklmnop and Bearer zzzzzzzzzzzz and relaykey123 at x?key=AIzaSyabcdefgh",
            &["relaykey123"],
        );
        assert!(!r.contains("abcdefghijklmnop"));
        assert!(!r.contains("zzzzzzzzzzzz"));
        assert!(!r.contains("relaykey123"));
        assert!(!r.contains("AIzaSyabcdefgh"));
        assert!(r.contains("sk-***"));
    }

    #[test]
    fn leaves_ordinary_text() {
        assert_eq!(redact("risk-free task-force", &[]), "risk-free task-force");
        assert_eq!(redact("日本語 sk-short", &[]), "日本語 sk-short");
    }
}
