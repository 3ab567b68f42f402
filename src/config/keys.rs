//! Schema introspection: which dotted keys exist, their defaults and value types.
//!
//! Derived by serialising `Config::default()` (and a fully populated `ModelOverride`) rather
//! than listed by hand, so env overrides, `config set` type inference and unknown-key messages
//! cannot drift from `schema.rs`.

use super::error::ConfigError;
use super::schema::Config;
use crate::catalog::{ModelOverride, Tier};

/// The scalar sections of the file, in documentation order. `models` is the only other
/// top-level key.
pub const SECTIONS: [&str; 5] = ["server", "upstream", "router", "log", "usage"];

/// The top-level table of per-model overrides.
pub const MODELS: &str = "models";

/// `Config::default()` as a TOML table: section → key → default value.
pub(crate) fn defaults() -> toml::Table {
    match toml::Value::try_from(Config::default()) {
        Ok(toml::Value::Table(t)) => t,
        // Cannot happen for this schema (all plain structs); an empty table only weakens the
        // nicer messages, it never accepts a bad config because serde still checks.
        _ => toml::Table::new(),
    }
}

/// The default of one scalar key (`section.key`).
pub(crate) fn default_of(section: &str, key: &str) -> Option<toml::Value> {
    defaults()
        .get(section)
        .and_then(toml::Value::as_table)
        .and_then(|t| t.get(key))
        .cloned()
}

/// Keys of one section, in schema order as serialised.
pub(crate) fn section_keys(section: &str) -> Vec<String> {
    defaults()
        .get(section)
        .and_then(toml::Value::as_table)
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default()
}

/// A `ModelOverride` with every optional field present, so each field shows its TOML type.
// `..Default::default()` is deliberate: a field added to ModelOverride later still compiles
// here and only loses type-directed inference in `config set`.
#[allow(clippy::needless_update)]
pub(crate) fn model_samples() -> toml::Table {
    let sample = ModelOverride {
        input_price: Some(0.0),
        output_price: Some(0.0),
        context: Some(0),
        max_output: Some(0),
        tool_call: Some(false),
        vision: Some(false),
        reasoning: Some(false),
        temperature: Some(false),
        tier: Some(Tier::Standard),
        exclude: false,
        ..Default::default()
    };
    match toml::Value::try_from(sample) {
        Ok(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    }
}

/// Field names accepted in a `[models."<id>"]` table.
pub fn model_fields() -> Vec<String> {
    model_samples().keys().cloned().collect()
}

/// Every scalar key as (dotted key, default value), sections in [`SECTIONS`] order.
pub fn scalar_keys() -> Vec<(String, toml::Value)> {
    let defaults = defaults();
    let mut out = Vec::new();
    for section in SECTIONS {
        if let Some(t) = defaults.get(section).and_then(toml::Value::as_table) {
            for (k, v) in t {
                out.push((format!("{section}.{k}"), v.clone()));
            }
        }
    }
    out
}

/// Render key segments as a dotted key, quoting segments that need it
/// (`models."gpt-5.4-mini".exclude`).
pub fn dotted<S: AsRef<str>>(segments: &[S]) -> String {
    segments
        .iter()
        .map(|s| toml_edit::Key::new(s.as_ref()).display_repr().into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

/// Render a value for messages and `config get`: strings bare, everything else as TOML.
pub(crate) fn render_value(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// What a dotted key points at in the schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// A whole section table such as `server`.
    Section,
    /// A scalar (or list) key; carries its default or a sample, which gives its TOML type.
    Scalar(toml::Value),
    /// The whole `models` table.
    Models,
    /// One model's table `models."<id>"`.
    Model,
}

pub(crate) fn unknown(key: &str, valid: String) -> ConfigError {
    ConfigError::UnknownKey {
        path: None,
        key: key.to_string(),
        valid,
    }
}

fn valid_top() -> String {
    let mut all: Vec<&str> = SECTIONS.to_vec();
    all.push(MODELS);
    format!("valid top-level keys: {}", all.join(", "))
}

pub(crate) fn valid_in_section(section: &str) -> String {
    format!(
        "valid keys in [{section}]: {}",
        section_keys(section).join(", ")
    )
}

pub(crate) fn valid_model_fields() -> String {
    format!(
        "valid keys in a [models.\"<id>\"] table: {}",
        model_fields().join(", ")
    )
}

/// Check a dotted key against the schema.
pub(crate) fn resolve(segments: &[String]) -> Result<Target, ConfigError> {
    let key = dotted(segments);
    let not_a_table = |upto: usize| ConfigError::Key {
        key: key.clone(),
        message: format!(
            "`{}` is a value, not a table",
            dotted(segments.get(..upto).unwrap_or(segments))
        ),
    };
    match segments {
        [] => Err(ConfigError::Key {
            key,
            message: "empty key (use e.g. `server.port`)".into(),
        }),
        [first, rest @ ..] if SECTIONS.contains(&first.as_str()) => match rest {
            [] => Ok(Target::Section),
            [field, tail @ ..] => match default_of(first, field) {
                None => Err(unknown(&key, valid_in_section(first))),
                Some(_) if !tail.is_empty() => Err(not_a_table(2)),
                Some(v) => Ok(Target::Scalar(v)),
            },
        },
        [first, rest @ ..] if first == MODELS => match rest {
            [] => Ok(Target::Models),
            [_id] => Ok(Target::Model),
            [_id, field, tail @ ..] => match model_samples().get(field.as_str()) {
                None => Err(unknown(&key, valid_model_fields())),
                Some(_) if !tail.is_empty() => Err(not_a_table(3)),
                Some(v) => Ok(Target::Scalar(v.clone())),
            },
        },
        _ => Err(unknown(&key, valid_top())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn scalar_keys_cover_every_section() {
        let keys: Vec<String> = scalar_keys().into_iter().map(|(k, _)| k).collect();
        assert!(keys.contains(&"server.port".to_string()));
        assert!(keys.contains(&"upstream.api_key_env".to_string()));
        assert!(keys.contains(&"router.max_attempts".to_string()));
        assert!(keys.contains(&"log.format".to_string()));
        assert!(keys.contains(&"server.allowed_hosts".to_string()));
    }

    #[test]
    fn dotted_quotes_only_when_needed() {
        assert_eq!(dotted(&["server", "port"]), "server.port");
        assert_eq!(
            dotted(&["models", "gpt-5.4-mini", "exclude"]),
            "models.\"gpt-5.4-mini\".exclude"
        );
    }

    #[test]
    fn resolve_known_and_unknown() {
        assert_eq!(
            resolve(&segs(&["server", "port"])).ok(),
            Some(Target::Scalar(toml::Value::Integer(8787)))
        );
        assert_eq!(resolve(&segs(&["models", "x"])).ok(), Some(Target::Model));
        let err = resolve(&segs(&["server", "prot"])).unwrap_err().to_string();
        assert!(err.contains("unknown key `server.prot`"), "{err}");
        assert!(err.contains("port"), "{err}");
        let err = resolve(&segs(&["models", "x", "tire"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tier"), "{err}");
        let err = resolve(&segs(&["server", "port", "x"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a table"), "{err}");
        assert!(resolve(&segs(&["nope"])).is_err());
    }

    #[test]
    fn model_fields_include_every_override() {
        let f = model_fields();
        for name in ["input_price", "tier", "exclude", "vision", "context"] {
            assert!(f.contains(&name.to_string()), "{name} missing from {f:?}");
        }
    }
}
