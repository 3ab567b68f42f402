//! Environment overrides: which variable sets which key, and applying them to a parsed file.
//!
//! Two families: the original project's names (`PORT`, `UPSTREAM_BASE_URL`, …, kept so
//! existing `.env` files keep working) and a generic `LLM_ROUTER_<SECTION>_<KEY>` for every
//! scalar key. The generic name wins when both are set because it is the more specific
//! intent. A variable set to an empty (or blank) string is ignored. The per-model tables have
//! no env form: they are maps keyed by model id, which env names cannot express safely.

use super::error::ConfigError;
use super::keys;
use super::mask_secret;

/// The original project's variable names and the keys they set.
pub const ALIASES: &[(&str, &str)] = &[
    ("UPSTREAM_BASE_URL", "upstream.base_url"),
    ("UPSTREAM_API_KEY", "upstream.api_key"),
    ("ROUTER_API_KEY", "server.api_key"),
    ("PORT", "server.port"),
    ("UPSTREAM_TIMEOUT_MS", "upstream.first_byte_timeout_ms"),
    ("AUTO_MAX_ATTEMPTS", "router.max_attempts"),
];

/// The generic variable for `section.key`: `LLM_ROUTER_SERVER_PORT`.
pub fn generic_var(section: &str, key: &str) -> String {
    format!(
        "LLM_ROUTER_{}_{}",
        section.to_ascii_uppercase(),
        key.to_ascii_uppercase()
    )
}

/// Every scalar key with the variables that override it, lowest precedence first
/// (so the last one set wins). For `status`, docs and tests.
pub fn bindings() -> Vec<(String, Vec<String>)> {
    keys::scalar_keys()
        .into_iter()
        .map(|(key, _)| {
            let mut vars: Vec<String> = ALIASES
                .iter()
                .filter(|(_, k)| *k == key)
                .map(|(v, _)| (*v).to_string())
                .collect();
            if let Some((section, field)) = key.split_once('.') {
                vars.push(generic_var(section, field));
            }
            (key, vars)
        })
        .collect()
}

/// One override that took effect.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Applied {
    pub key: String,
    pub var: String,
    /// The value as it may be shown (masked for secrets).
    pub shown: String,
}

/// Whether a key holds a secret whose value must never be shown.
pub(crate) fn is_secret(key: &str) -> bool {
    key.ends_with("api_key")
}

pub(crate) fn shown(key: &str, value: &str) -> String {
    if is_secret(key) {
        mask_secret(value)
    } else {
        value.to_string()
    }
}

/// Overlay the environment on `table` (the parsed file). Returns the overrides that took
/// effect, one per key (the winning variable), in key order.
pub(crate) fn apply(
    table: &mut toml::Table,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Applied>, ConfigError> {
    let mut applied = Vec::new();
    for (key, vars) in bindings() {
        let Some((section, field)) = key.split_once('.') else {
            continue;
        };
        let Some(default) = keys::default_of(section, field) else {
            continue;
        };
        // Last set variable wins: the generic name is last in `vars`.
        let winner = vars.iter().rev().find_map(|var| {
            lookup(var)
                .filter(|v| !v.trim().is_empty())
                .map(|v| (var.clone(), v))
        });
        let Some((var, raw)) = winner else {
            continue;
        };
        let value = convert(&key, &var, &raw, &default)?;
        let section_item = table
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        // A non-table section is a file error that deserialisation reports with its key.
        if let Some(t) = section_item.as_table_mut() {
            t.insert(field.to_string(), value);
        }
        applied.push(Applied {
            shown: shown(&key, raw.trim()),
            key,
            var,
        });
    }
    Ok(applied)
}

/// Turn the text of a variable into a TOML value of the key's type.
fn convert(
    key: &str,
    var: &str,
    raw: &str,
    default: &toml::Value,
) -> Result<toml::Value, ConfigError> {
    let text = raw.trim();
    let fail = |message: &str| ConfigError::Env {
        var: var.to_string(),
        value: shown(key, text),
        message: message.to_string(),
    };
    Ok(match default {
        toml::Value::String(_) => toml::Value::String(text.to_string()),
        toml::Value::Integer(_) if key == "server.port" => match text.parse::<u16>() {
            Ok(p) if p > 0 => toml::Value::Integer(i64::from(p)),
            _ => return Err(fail("expected a port number 1-65535")),
        },
        toml::Value::Integer(_) => match text.parse::<u64>().map(i64::try_from) {
            Ok(Ok(n)) => toml::Value::Integer(n),
            _ => return Err(fail("expected a whole number (0 or more)")),
        },
        toml::Value::Float(_) => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => toml::Value::Float(f),
            _ => return Err(fail("expected a number")),
        },
        toml::Value::Boolean(_) => match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(fail("expected true or false")),
        },
        toml::Value::Array(_) => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        // No other kinds exist in the scalar sections; pass the text and let serde judge.
        _ => toml::Value::String(text.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn generic_name_wins_over_alias() {
        let mut t = toml::Table::new();
        let env = env_of(&[("PORT", "1000"), ("LLM_ROUTER_SERVER_PORT", "2000")]);
        let applied = apply(&mut t, &env).unwrap();
        assert_eq!(t["server"]["port"].as_integer(), Some(2000));
        assert_eq!(applied.len(), 1);
        assert_eq!(applied[0].var, "LLM_ROUTER_SERVER_PORT");
    }

    #[test]
    fn empty_values_are_ignored() {
        let mut t = toml::Table::new();
        let env = env_of(&[("PORT", ""), ("LLM_ROUTER_LOG_LEVEL", "  ")]);
        assert!(apply(&mut t, &env).unwrap().is_empty());
        assert!(t.is_empty());
    }

    #[test]
    fn bad_port_names_the_variable() {
        let mut t = toml::Table::new();
        for bad in ["abc", "0", "70000", "80abc"] {
            let env = env_of(&[("PORT", bad)]);
            let err = apply(&mut t, &env).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("env PORT={bad}: expected a port number 1-65535")
            );
        }
    }

    #[test]
    fn lists_are_comma_separated_and_secrets_masked() {
        let mut t = toml::Table::new();
        let env = env_of(&[
            ("LLM_ROUTER_SERVER_ALLOWED_HOSTS", "a.local, b.local:8787,"),
            ("UPSTREAM_API_KEY", "sk-secret-value-1234"),
        ]);
        let applied = apply(&mut t, &env).unwrap();
        let hosts = t["server"]["allowed_hosts"].as_array().unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[1].as_str(), Some("b.local:8787"));
        let key = applied
            .iter()
            .find(|a| a.key == "upstream.api_key")
            .unwrap();
        assert!(!key.shown.contains("secret"), "{}", key.shown);
    }

    #[test]
    fn log_rotation_keys_have_variables() {
        let mut t = toml::Table::new();
        let env = env_of(&[
            ("LLM_ROUTER_LOG_ROTATION", "hourly"),
            ("LLM_ROUTER_LOG_MAX_FILES", "24"),
        ]);
        assert_eq!(apply(&mut t, &env).unwrap().len(), 2);
        assert_eq!(t["log"]["rotation"].as_str(), Some("hourly"));
        assert_eq!(t["log"]["max_files"].as_integer(), Some(24));
        let env = env_of(&[("LLM_ROUTER_LOG_MAX_FILES", "many")]);
        assert!(apply(&mut toml::Table::new(), &env).is_err());
    }

    #[test]
    fn every_scalar_key_has_a_generic_variable() {
        let b = bindings();
        assert_eq!(b.len(), keys::scalar_keys().len());
        let port = b.iter().find(|(k, _)| k == "server.port").unwrap();
        assert_eq!(port.1, vec!["PORT", "LLM_ROUTER_SERVER_PORT"]);
    }
}
