//! Request guards: Host allow-list, router key, content type.
//!
//! The Host check defends a loopback-bound gateway against DNS rebinding: a web page whose
//! name resolves to 127.0.0.1 still sends its own name as Host, so only exact loopback names
//! and the bound loopback address itself (with the bound port), and names the user listed
//! pass. The router key is compared as SHA-256 digests in constant time, so neither its
//! content nor its length leaks through timing.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Allowed `Host` values, lowercase, computed once per config.
#[derive(Debug, Clone)]
pub struct HostCheck {
    /// None = any host (bound to a non-loopback address, where the key protects instead).
    allowed: Option<Vec<String>>,
}

impl HostCheck {
    /// `bound` is the address the listener is bound to (`server.host`): on a loopback bind
    /// it is allowed with the port too, so `127.0.0.2` or `::1` work without
    /// `allowed_hosts`.
    pub fn new(loopback: bool, bound: &str, port: u16, extra: &[String]) -> Self {
        if !loopback {
            return Self { allowed: None };
        }
        let mut allowed = Vec::new();
        let bound = bound.trim().to_ascii_lowercase();
        // The Host form of an IPv6 address is bracketed.
        let bound = match bound.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
            Err(_) => bound,
        };
        let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "[::1]".into()];
        if !bound.is_empty() && !names.contains(&bound) {
            names.push(bound);
        }
        for name in names {
            allowed.push(format!("{name}:{port}"));
            if port == 80 {
                allowed.push(name);
            }
        }
        for e in extra {
            let e = e.trim().to_ascii_lowercase();
            if !e.is_empty() {
                allowed.push(e);
            }
        }
        Self {
            allowed: Some(allowed),
        }
    }

    /// Ok(()) or the offending host value.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(allowed) = &self.allowed else {
            return Ok(());
        };
        let host = headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| h.trim().to_ascii_lowercase())
            .unwrap_or_default();
        // An empty host is not "local": treating it so was a real bypass elsewhere.
        if !host.is_empty() && allowed.contains(&host) {
            Ok(())
        } else {
            Err(host)
        }
    }
}

/// The router key, kept only as a digest.
#[derive(Clone)]
pub struct KeyCheck {
    digest: Option<[u8; 32]>,
}

impl std::fmt::Debug for KeyCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCheck(..)")
    }
}

fn digest(s: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(s);
    h.finalize().into()
}

impl KeyCheck {
    pub fn new(key: &str) -> Self {
        Self {
            digest: (!key.is_empty()).then(|| digest(key.as_bytes())),
        }
    }

    pub fn enabled(&self) -> bool {
        self.digest.is_some()
    }

    /// Accepts `Authorization: Bearer <key>`, `x-api-key: <key>` or `x-router-api-key`.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.digest else {
            return true;
        };
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let v = v.trim();
                crate::text::strip_prefix_ignore_ascii_case(v, "bearer ")
                    .filter(|k| !k.is_empty())
                    .map(str::trim)
            })
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .or_else(|| {
                headers
                    .get("x-router-api-key")
                    .and_then(|v| v.to_str().ok())
            });
        match presented {
            Some(p) => bool::from(digest(p.trim().as_bytes()).ct_eq(expected)),
            None => false,
        }
    }
}

/// `content-type` is `application/json` (any parameters, any case).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            let m = m.trim();
            m.eq_ignore_ascii_case("application/json") || {
                // application/<anything>+json is JSON too.
                let l = m.to_ascii_lowercase();
                l.starts_with("application/") && l.ends_with("+json")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn host_allow_list_is_exact() {
        let c = HostCheck::new(true, "127.0.0.1", 8787, &["myhost:8787".into()]);
        assert!(c.check(&h(&[("host", "127.0.0.1:8787")])).is_ok());
        assert!(c.check(&h(&[("host", "LOCALHOST:8787")])).is_ok());
        assert!(c.check(&h(&[("host", "myhost:8787")])).is_ok());
        assert!(c.check(&h(&[("host", "localhost.evil.com:8787")])).is_err());
        assert!(c.check(&h(&[("host", "localhost:9999")])).is_err());
        assert!(c.check(&h(&[("host", ":8787")])).is_err());
        assert!(c.check(&h(&[])).is_err());
        assert!(
            HostCheck::new(false, "0.0.0.0", 8787, &[])
                .check(&h(&[]))
                .is_ok()
        );
    }

    #[test]
    fn the_bound_loopback_address_is_allowed() {
        let c = HostCheck::new(true, "127.0.0.2", 8787, &[]);
        assert!(c.check(&h(&[("host", "127.0.0.2:8787")])).is_ok());
        assert!(c.check(&h(&[("host", "127.0.0.1:8787")])).is_ok());
        assert!(c.check(&h(&[("host", "[::1]:8787")])).is_ok());
        assert!(c.check(&h(&[("host", "127.0.0.2:9999")])).is_err());
        assert!(c.check(&h(&[("host", "127.0.0.3:8787")])).is_err());
        let v6 = HostCheck::new(true, "::1", 8787, &[]);
        assert!(v6.check(&h(&[("host", "[::1]:8787")])).is_ok());
        assert!(v6.check(&h(&[("host", "::1:8787")])).is_err());
        // An unusual spelling of the bound address is allowed in its canonical form.
        let long = HostCheck::new(true, "0:0:0:0:0:0:0:1", 80, &[]);
        assert!(long.check(&h(&[("host", "[::1]")])).is_ok());
        let named = HostCheck::new(true, "LocalHost", 8787, &[]);
        assert!(named.check(&h(&[("host", "localhost:8787")])).is_ok());
    }

    #[test]
    fn key_forms() {
        let k = KeyCheck::new("secret-key");
        assert!(k.allows(&h(&[("authorization", "Bearer secret-key")])));
        assert!(k.allows(&h(&[("authorization", "bearer secret-key")])));
        assert!(k.allows(&h(&[("x-api-key", "secret-key")])));
        assert!(!k.allows(&h(&[("authorization", "Bearer nope")])));
        assert!(!k.allows(&h(&[])));
        assert!(KeyCheck::new("").allows(&h(&[])));
    }

    #[test]
    fn content_types() {
        assert!(is_json(&h(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
        assert!(is_json(&h(&[("content-type", "Application/JSON")])));
        assert!(!is_json(&h(&[("content-type", "text/plain")])));
        assert!(!is_json(&h(&[])));
    }
}
