//! Validation of a deserialised `Config`, plus the derived values other modules need
//! (normalised upstream base, relay key, loopback check).
//!
//! Types are enforced by serde; this checks ranges and cross-key rules. It returns the first
//! problem found, with `Origin::Unknown`; `load` fills in the file or env variable.

use std::net::IpAddr;

use super::error::{ConfigError, Origin};
use super::schema::Config;

fn invalid(key: &str, message: impl Into<String>, example: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        origin: Origin::Unknown,
        key: key.to_string(),
        message: message.into(),
        example: example.to_string(),
    }
}

fn positive(key: &str, value: u64, default: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(invalid(key, "must be greater than 0", default));
    }
    Ok(())
}

/// Split `scheme://authority/path` after checking it is an http(s) URL.
/// Returns (everything up to the path, the path without trailing slashes).
fn split_http_url(url: &str) -> Result<(&str, &str), &'static str> {
    let lower = url.to_ascii_lowercase();
    let scheme_len = if lower.starts_with("https://") {
        8
    } else if lower.starts_with("http://") {
        7
    } else {
        return Err("must start with http:// or https://");
    };
    let rest = &url[scheme_len..];
    let authority_len = rest.find('/').unwrap_or(rest.len());
    if authority_len == 0 {
        return Err("has no host");
    }
    let (base, path) = url.split_at(scheme_len + authority_len);
    Ok((base, path.trim_end_matches('/')))
}

fn check_base_url(url: &str) -> Result<(), &'static str> {
    if url.chars().any(char::is_whitespace) {
        return Err("must not contain spaces");
    }
    if url.contains('?') || url.contains('#') {
        return Err("must not have a query string or fragment");
    }
    let (_, path) = split_http_url(url)?;
    // A pasted endpoint instead of the base would become `…/chat/completions/v1`.
    if path.ends_with("/chat/completions") || path.ends_with("/models") {
        return Err("must be the API base, not an endpoint (drop the endpoint path)");
    }
    Ok(())
}

impl Config {
    /// Check ranges and cross-key rules; the first problem is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let d = Config::default();
        let s = &self.server;
        let host = s.host.trim();
        if !host.eq_ignore_ascii_case("localhost") && host.parse::<IpAddr>().is_err() {
            return Err(invalid(
                "server.host",
                format!("`{host}` is not an IP address or `localhost`"),
                &d.server.host,
            ));
        }
        if s.port == 0 {
            return Err(invalid(
                "server.port",
                "must be a port number 1-65535",
                d.server.port,
            ));
        }
        if !self.is_loopback() && s.api_key.trim().is_empty() {
            return Err(invalid(
                "server.api_key",
                format!(
                    "must be set because server.host `{host}` is not loopback, or anyone who can reach the port can spend your relay key; set a key or bind 127.0.0.1"
                ),
                "<secret>",
            ));
        }
        for h in &s.allowed_hosts {
            if h.trim().is_empty() || h.contains(char::is_whitespace) || h.contains('/') {
                return Err(invalid(
                    "server.allowed_hosts",
                    format!("entry `{h}` must be a host name, optionally with :port"),
                    "[\"myhost.local:8787\"]",
                ));
            }
        }
        if !(1..=1024).contains(&s.body_limit_mb) {
            return Err(invalid(
                "server.body_limit_mb",
                "must be between 1 and 1024 (MiB)",
                d.server.body_limit_mb,
            ));
        }
        if !(1..=3600).contains(&s.body_timeout_secs) {
            return Err(invalid(
                "server.body_timeout_secs",
                "must be between 1 and 3600 (seconds)",
                d.server.body_timeout_secs,
            ));
        }

        let u = &self.upstream;
        let du = &d.upstream;
        if !u.base_url.is_empty()
            && let Err(why) = check_base_url(&u.base_url)
        {
            return Err(invalid(
                "upstream.base_url",
                format!("`{}` {why}", u.base_url),
                "https://relay.example.com/v1",
            ));
        }
        if u.api_key_env
            .contains(|c: char| c == '=' || c == '\0' || c.is_whitespace())
        {
            return Err(invalid(
                "upstream.api_key_env",
                "must be the name of an environment variable",
                "OPENAI_API_KEY",
            ));
        }
        positive(
            "upstream.connect_timeout_ms",
            u.connect_timeout_ms,
            du.connect_timeout_ms,
        )?;
        positive(
            "upstream.first_byte_timeout_ms",
            u.first_byte_timeout_ms,
            du.first_byte_timeout_ms,
        )?;
        positive(
            "upstream.idle_timeout_ms",
            u.idle_timeout_ms,
            du.idle_timeout_ms,
        )?;
        positive(
            "upstream.total_timeout_ms",
            u.total_timeout_ms,
            du.total_timeout_ms,
        )?;
        // Zero would be a busy refresh loop (and tokio's interval rejects a zero period).
        positive(
            "upstream.models_refresh_secs",
            u.models_refresh_secs,
            du.models_refresh_secs,
        )?;

        let r = &self.router;
        let dr = &d.router;
        positive("router.timeout_ms", r.timeout_ms, dr.timeout_ms)?;
        positive(
            "router.max_tokens",
            u64::from(r.max_tokens),
            u64::from(dr.max_tokens),
        )?;
        if !(1..=10).contains(&r.max_attempts) {
            return Err(invalid(
                "router.max_attempts",
                "must be between 1 and 10",
                dr.max_attempts,
            ));
        }
        positive(
            "router.conversation_budget_chars",
            r.conversation_budget_chars as u64,
            dr.conversation_budget_chars as u64,
        )?;

        let l = &self.log;
        if !matches!(l.format.as_str(), "auto" | "json" | "pretty") {
            return Err(invalid(
                "log.format",
                format!("`{}` is not one of auto, json, pretty", l.format),
                &d.log.format,
            ));
        }
        if !matches!(l.rotation.as_str(), "daily" | "hourly" | "never") {
            return Err(invalid(
                "log.rotation",
                format!("`{}` is not one of daily, hourly, never", l.rotation),
                &d.log.rotation,
            ));
        }
        // One file would leave no room for the current one: tracing-appender prunes to
        // `max_files - 1` before it opens the day's file, so 1 would delete today's log.
        if l.max_files == 1 {
            return Err(invalid(
                "log.max_files",
                "must be 0 (keep every file) or at least 2 (the current file and older ones)",
                d.log.max_files,
            ));
        }
        if l.level.trim().is_empty() {
            return Err(invalid("log.level", "must not be empty", &d.log.level));
        }

        for (id, m) in &self.models {
            let key = |field: &str| super::keys::dotted(&["models", id.as_str(), field]);
            for (field, price) in [
                ("input_price", m.input_price),
                ("output_price", m.output_price),
            ] {
                if let Some(p) = price
                    && !(p.is_finite() && p >= 0.0)
                {
                    return Err(invalid(
                        &key(field),
                        "must be a price of 0 or more (USD per million tokens)",
                        "1.25",
                    ));
                }
            }
            if m.context == Some(0) {
                return Err(invalid(&key("context"), "must be greater than 0", 128000));
            }
        }
        Ok(())
    }

    /// Upstream base normalised to end with exactly `/v1`; `None` when `base_url` is empty.
    ///
    /// Accepts `https://x`, `https://x/`, `https://x/v1`, `https://x/v1/` (all →
    /// `https://x/v1`) and keeps other path prefixes (`https://x/openai` →
    /// `https://x/openai/v1`), because relays mount the API at different places.
    pub fn upstream_v1_base(&self) -> Option<String> {
        let raw = self.upstream.base_url.trim();
        if raw.is_empty() {
            return None;
        }
        // Only look at the path, so a host literally named `v1` is not mistaken for it.
        let (base, path) = split_http_url(raw).unwrap_or(("", raw.trim_end_matches('/')));
        // A base that already ends in an API version (`/v1`, `/v4`, `/api/paas/v4`) is kept:
        // some OpenAI-compatible relays are not at `/v1`.
        let last = path.rsplit('/').next().unwrap_or("");
        let versioned = last.len() >= 2
            && last.starts_with('v')
            && last[1..].bytes().all(|b| b.is_ascii_digit());
        if versioned {
            Some(format!("{base}{path}"))
        } else {
            Some(format!("{base}{path}/v1"))
        }
    }

    /// The relay key: `upstream.api_key`, else the variable named by `upstream.api_key_env`
    /// read through `env`. Empty → `None`.
    pub fn upstream_key(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let direct = self.upstream.api_key.trim();
        if !direct.is_empty() {
            return Some(direct.to_string());
        }
        let var = self.upstream.api_key_env.trim();
        if var.is_empty() {
            return None;
        }
        env(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// Whether `server.host` is a loopback address (`127.0.0.0/8`, `::1`) or `localhost`.
    pub fn is_loopback(&self) -> bool {
        let host = self.server.host.trim();
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_api_versions_are_kept() {
        let mut c = Config::default();
        for (given, want) in [
            (
                "https://open.bigmodel.cn/api/paas/v4",
                "https://open.bigmodel.cn/api/paas/v4",
            ),
            ("https://x/v3/", "https://x/v3"),
            ("https://x/vision", "https://x/vision/v1"),
            ("https://v1.example.com", "https://v1.example.com/v1"),
        ] {
            c.upstream.base_url = given.into();
            assert_eq!(c.upstream_v1_base().as_deref(), Some(want), "{given}");
        }
    }

    fn with_base(url: &str) -> Config {
        let mut c = Config::default();
        c.upstream.base_url = url.into();
        c
    }

    fn err_key(c: &Config) -> String {
        c.validate()
            .unwrap_err()
            .key()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn default_is_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn v1_base_normalisation() {
        for (input, want) in [
            ("https://x", "https://x/v1"),
            ("https://x/", "https://x/v1"),
            ("https://x/v1", "https://x/v1"),
            ("https://x/v1/", "https://x/v1"),
            ("https://x/openai", "https://x/openai/v1"),
            ("https://x/openai/v1//", "https://x/openai/v1"),
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000/v1"),
            ("https://v1", "https://v1/v1"),
            (" https://x/v1 ", "https://x/v1"),
        ] {
            assert_eq!(
                with_base(input).upstream_v1_base().as_deref(),
                Some(want),
                "{input}"
            );
        }
        assert_eq!(with_base("").upstream_v1_base(), None);
    }

    #[test]
    fn base_url_must_be_http() {
        with_base("https://relay.example.com/v1")
            .validate()
            .unwrap();
        for bad in [
            "ftp://x",
            "relay.example.com",
            "https://",
            "https://x/v1?key=1",
            "https://x/v1/chat/completions",
        ] {
            assert_eq!(err_key(&with_base(bad)), "upstream.base_url", "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let mut c = Config::default();
        c.router.max_attempts = 0;
        assert_eq!(err_key(&c), "router.max_attempts");
        c.router.max_attempts = 11;
        assert_eq!(err_key(&c), "router.max_attempts");
        c.router.max_attempts = 10;
        c.validate().unwrap();

        let mut c = Config::default();
        c.server.body_limit_mb = 2048;
        assert_eq!(err_key(&c), "server.body_limit_mb");
        c.server.body_limit_mb = 32;
        c.server.body_timeout_secs = 0;
        assert_eq!(err_key(&c), "server.body_timeout_secs");
        c.server.body_timeout_secs = 3601;
        assert_eq!(err_key(&c), "server.body_timeout_secs");

        let mut c = Config::default();
        c.upstream.idle_timeout_ms = 0;
        assert_eq!(err_key(&c), "upstream.idle_timeout_ms");

        let mut c = Config::default();
        c.log.format = "yaml".into();
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "key `log.format`: `yaml` is not one of auto, json, pretty (run `llm-router config set log.format auto`)"
        );

        let mut c = Config::default();
        c.log.rotation = "weekly".into();
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "key `log.rotation`: `weekly` is not one of daily, hourly, never (run `llm-router config set log.rotation daily`)"
        );
        for ok in ["daily", "hourly", "never"] {
            c.log.rotation = ok.into();
            c.validate().unwrap();
        }
        c.log.max_files = 1;
        assert_eq!(err_key(&c), "log.max_files");
        for ok in [0, 2, 30] {
            c.log.max_files = ok;
            c.validate().unwrap();
        }
    }

    #[test]
    fn non_loopback_requires_router_key() {
        let mut c = Config::default();
        c.server.host = "0.0.0.0".into();
        assert!(!c.is_loopback());
        assert_eq!(err_key(&c), "server.api_key");
        c.server.api_key = "k".into();
        c.validate().unwrap();

        for lo in ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"] {
            let mut c = Config::default();
            c.server.host = lo.into();
            assert!(c.is_loopback(), "{lo}");
            c.validate().unwrap();
        }
        let mut c = Config::default();
        c.server.host = "my host".into();
        assert_eq!(err_key(&c), "server.host");
    }

    #[test]
    fn relay_key_resolution() {
        let env = |k: &str| (k == "RELAY_KEY").then(|| " sk-from-env ".to_string());
        let mut c = Config::default();
        assert_eq!(c.upstream_key(&env), None);
        c.upstream.api_key_env = "RELAY_KEY".into();
        assert_eq!(c.upstream_key(&env).as_deref(), Some("sk-from-env"));
        c.upstream.api_key = "sk-direct".into();
        assert_eq!(c.upstream_key(&env).as_deref(), Some("sk-direct"));
        c.upstream.api_key.clear();
        c.upstream.api_key_env = "MISSING".into();
        assert_eq!(c.upstream_key(&env), None);
    }

    #[test]
    fn model_override_checks() {
        let mut c = Config::default();
        c.models.insert(
            "gpt-5.4-mini".into(),
            crate::catalog::ModelOverride {
                input_price: Some(-1.0),
                ..Default::default()
            },
        );
        assert_eq!(err_key(&c), "models.\"gpt-5.4-mini\".input_price");
    }
}
