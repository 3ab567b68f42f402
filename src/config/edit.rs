//! `llm-router config get|set|unset`: dotted-key edits of `config.toml` that keep the
//! user's comments, order and layout (`toml_edit`).
//!
//! Invariants: a key is checked against the schema before anything is edited, so a typo
//! (`server.prot`) is an error naming the key, never a silently ignored line; the
//! `*_and_validate` functions parse and validate the *edited* text and only then write it
//! atomically, so a failed edit leaves the file exactly as it was.

use std::path::Path;

use toml_edit::{DocumentMut, InlineTable, Item, Key, Table, TableLike, Value};

use super::error::{ConfigError, Origin};
use super::keys::{self, Target};
use super::schema::Config;
use super::{atomic, parse_str};

/// Name used in messages when the text functions are called without a file.
const TEXT_ORIGIN: &str = "config.toml";

/// Split a dotted key with TOML's own key grammar, so quoted parts may contain dots
/// (`models."gpt-5.4-mini".exclude`).
pub fn parse_key(key: &str) -> Result<Vec<String>, ConfigError> {
    let bad = || {
        ConfigError::Key {
        key: key.to_string(),
        message: "not a valid dotted key; quote parts that contain dots, e.g. `models.\"gpt-5.4-mini\".exclude`".into(),
    }
    };
    if key.trim().is_empty() {
        return Err(bad());
    }
    let parts = Key::parse(key.trim()).map_err(|_| bad())?;
    Ok(parts.iter().map(|k| k.get().to_string()).collect())
}

fn parse_doc(text: &str, origin: &Path) -> Result<DocumentMut, ConfigError> {
    text.parse::<DocumentMut>()
        .map_err(|e| ConfigError::Syntax {
            path: origin.to_path_buf(),
            line: e.span().map(|s| super::line_col(text, s.start)),
            message: super::one_line(e.message()),
        })
}

/// The value at `key` in the document text, rendered for display: strings without quotes,
/// other values as TOML, tables as TOML text. `Ok(None)` when the file does not set it
/// (use [`effective`] for the value in force).
pub fn get(doc_text: &str, key: &str) -> Result<Option<String>, ConfigError> {
    let segments = parse_key(key)?;
    keys::resolve(&segments)?;
    let doc = parse_doc(doc_text, Path::new(TEXT_ORIGIN))?;
    let mut item: &Item = doc.as_item();
    for seg in &segments {
        match item.as_table_like().and_then(|t| t.get(seg)) {
            Some(next) => item = next,
            None => return Ok(None),
        }
    }
    Ok(render_item(item))
}

fn render_item(item: &Item) -> Option<String> {
    match item {
        Item::None => None,
        Item::Value(Value::String(s)) => Some(s.value().clone()),
        Item::Value(v) => {
            let mut v = v.clone();
            v.decor_mut().clear();
            Some(v.to_string())
        }
        Item::Table(t) => Some(t.to_string().trim_end().to_string()),
        Item::ArrayOfTables(a) => Some(a.to_string().trim_end().to_string()),
    }
}

/// The value in force for `key` in a loaded config (defaults included), rendered like
/// [`get`]. Secrets are returned as they are: the caller masks them.
pub fn effective(config: &Config, key: &str) -> Result<Option<String>, ConfigError> {
    let segments = parse_key(key)?;
    keys::resolve(&segments)?;
    let value = toml::Value::try_from(config).map_err(|e| ConfigError::Key {
        key: key.to_string(),
        message: format!("could not render the config: {e}"),
    })?;
    let mut cur = &value;
    for seg in &segments {
        match cur.as_table().and_then(|t| t.get(seg)) {
            Some(next) => cur = next,
            None => return Ok(None),
        }
    }
    Ok(Some(match cur {
        toml::Value::Table(t) => toml::to_string(t)
            .unwrap_or_default()
            .trim_end()
            .to_string(),
        other => keys::render_value(other),
    }))
}

/// Turn the command-line text into a TOML value, guided by the key's type in the schema:
/// - string keys take the text as is (so `2024-01-01` or `1.5` stay strings), unless it is
///   a quoted TOML string;
/// - list keys accept a TOML array or a comma-separated list;
/// - float keys accept integers (`3` → `3.0`);
/// - otherwise, like starship: parse as a TOML value, fall back to a string.
fn infer_value(raw: &str, expected: Option<&toml::Value>) -> Value {
    let parsed = raw.trim().parse::<Value>().ok().map(|mut v| {
        v.decor_mut().clear();
        v
    });
    match (expected, parsed) {
        (Some(toml::Value::String(_)), Some(Value::String(s))) => Value::from(s.value().clone()),
        (Some(toml::Value::String(_)), _) => Value::from(raw),
        (Some(toml::Value::Float(_)), Some(Value::Integer(i))) => Value::from(*i.value() as f64),
        (Some(toml::Value::Array(_)), Some(v @ Value::Array(_))) => v,
        (Some(toml::Value::Array(_)), _) => Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(Value::from)
                .collect(),
        ),
        (_, Some(v)) => v,
        (_, None) => Value::from(raw),
    }
}

/// Set `key` to `raw_value` and return the new text. Creates missing tables; keeps the
/// comments, order and a trailing comment on the replaced line.
pub fn set(doc_text: &str, key: &str, raw_value: &str) -> Result<String, ConfigError> {
    set_in(doc_text, key, raw_value, Path::new(TEXT_ORIGIN))
}

fn set_in(doc_text: &str, key: &str, raw: &str, origin: &Path) -> Result<String, ConfigError> {
    let segments = parse_key(key)?;
    let display = keys::dotted(&segments);
    let value = match keys::resolve(&segments)? {
        Target::Scalar(expected) => infer_value(raw, Some(&expected)),
        // A whole model table may be given inline: `'{ exclude = true }'`.
        Target::Model => match raw.trim().parse::<Value>() {
            Ok(v @ Value::InlineTable(_)) => v,
            _ => {
                return Err(ConfigError::Key {
                    key: display,
                    message: format!(
                        "is a table; set one of its keys ({}) or give an inline table like '{{ exclude = true }}'",
                        keys::model_fields().join(", ")
                    ),
                });
            }
        },
        Target::Section | Target::Models => {
            return Err(ConfigError::Key {
                key: display,
                message: "is a table; set one of its keys, e.g. `server.port`".into(),
            });
        }
    };
    let mut doc = parse_doc(doc_text, origin)?;
    set_path(doc.as_table_mut(), &segments, value, false).map_err(|message| ConfigError::Key {
        key: display,
        message,
    })?;
    Ok(doc.to_string())
}

/// Walk/create tables along `segments` and set the last one. `inline` is true once we are
/// inside an inline table, whose children must be inline values too.
fn set_path(
    table: &mut dyn TableLike,
    segments: &[String],
    value: Value,
    inline: bool,
) -> Result<(), String> {
    let Some((first, rest)) = segments.split_first() else {
        return Err("empty key".into());
    };
    if rest.is_empty() {
        match table.get_mut(first) {
            Some(Item::Value(old)) => {
                // Keep the old line's spacing and trailing comment.
                let decor = old.decor().clone();
                *old = value;
                *old.decor_mut() = decor;
            }
            Some(Item::None) | None => {
                table
                    .entry_format(&Key::new(first.as_str()))
                    .or_insert(Item::Value(value));
            }
            Some(_) => return Err(format!("`{first}` is a table, not a value")),
        }
        return Ok(());
    }
    let child = table
        .entry_format(&Key::new(first.as_str()))
        .or_insert_with(|| {
            if inline {
                Item::Value(Value::InlineTable(InlineTable::new()))
            } else {
                // Implicit: `[models]` is not written when only `[models."x"]` has keys.
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            }
        });
    let child_inline = inline || child.is_value();
    match child.as_table_like_mut() {
        Some(t) => set_path(t, rest, value, child_inline),
        None => Err(format!("`{first}` is a value, not a table")),
    }
}

/// Remove `key` and return the new text (unchanged when the file does not set it). Tables
/// left empty by the removal are removed too, unless they carry a comment.
pub fn unset(doc_text: &str, key: &str) -> Result<String, ConfigError> {
    unset_in(doc_text, key, Path::new(TEXT_ORIGIN))
}

fn unset_in(doc_text: &str, key: &str, origin: &Path) -> Result<String, ConfigError> {
    let segments = parse_key(key)?;
    keys::resolve(&segments)?;
    let mut doc = parse_doc(doc_text, origin)?;
    if remove_path(doc.as_table_mut(), &segments) {
        Ok(doc.to_string())
    } else {
        Ok(doc_text.to_string())
    }
}

fn remove_path(table: &mut dyn TableLike, segments: &[String]) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return table.remove(first).is_some();
    }
    let Some(child) = table.get_mut(first) else {
        return false;
    };
    let Some(child_table) = child.as_table_like_mut() else {
        return false;
    };
    let removed = remove_path(child_table, rest);
    let now_empty = child_table.is_empty();
    if removed && now_empty && !has_comment(child) {
        table.remove(first);
    }
    removed
}

fn has_comment(item: &Item) -> bool {
    let decor = match item {
        Item::Table(t) => t.decor(),
        Item::Value(v) => v.decor(),
        _ => return false,
    };
    [decor.prefix(), decor.suffix()]
        .into_iter()
        .flatten()
        .any(|raw| raw.as_str().is_some_and(|s| s.contains('#')))
}

fn read_or_empty(path: &Path) -> Result<String, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(error) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Parse and validate the edited text, then write it atomically. Nothing is written on error.
fn commit(path: &Path, new_text: &str) -> Result<Config, ConfigError> {
    let config = parse_str(new_text, path)?;
    config
        .validate()
        .map_err(|e| e.with_origin(Origin::File(path.to_path_buf())))?;
    atomic::write_atomic(path, new_text.as_bytes()).map_err(|error| ConfigError::Write {
        path: path.to_path_buf(),
        error,
    })?;
    Ok(config)
}

/// `config set`: read the file (missing = empty), set the key, validate the new document,
/// and only then write it (0600, atomically). Returns the file's new config (without env).
pub fn set_and_validate(path: &Path, key: &str, raw: &str) -> Result<Config, ConfigError> {
    let old = read_or_empty(path)?;
    let new = set_in(&old, key, raw, path)?;
    commit(path, &new)
}

/// `config unset`: like [`set_and_validate`], removing the key so its default applies.
pub fn unset_and_validate(path: &Path, key: &str) -> Result<Config, ConfigError> {
    let old = read_or_empty(path)?;
    let new = unset_in(&old, key, path)?;
    commit(path, &new)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# my router\n[server]\n# the port\nport = 9000 # keep me\nhost = \"127.0.0.1\"\n\n[log]\nlevel = \"debug\"\n";

    #[test]
    fn set_keeps_comments_and_layout() {
        let out = set(DOC, "server.port", "9100").unwrap();
        assert_eq!(out, DOC.replace("9000", "9100"));
        let out = set(DOC, "log.format", "json").unwrap();
        assert!(out.contains("# my router\n[server]\n# the port\nport = 9000 # keep me\n"));
        assert!(
            out.contains("level = \"debug\"\nformat = \"json\"\n"),
            "{out}"
        );
    }

    #[test]
    fn set_creates_tables_and_quotes_model_ids() {
        let out = set("", "models.\"gpt-5.4-mini\".exclude", "true").unwrap();
        assert_eq!(out, "[models.\"gpt-5.4-mini\"]\nexclude = true\n");
        let out = set(&out, "models.\"gpt-5.4-mini\".tier", "low").unwrap();
        assert!(out.contains("tier = \"low\""), "{out}");
        let cfg = parse_str(&out, Path::new("x")).unwrap();
        let m = &cfg.models["gpt-5.4-mini"];
        assert!(m.exclude);
        assert_eq!(m.tier, Some(crate::catalog::Tier::Low));
        let out = set("", "server.port", "8788").unwrap();
        assert_eq!(out, "[server]\nport = 8788\n");
    }

    #[test]
    fn type_inference_follows_schema() {
        let get_after = |key: &str, raw: &str| {
            let out = set("", key, raw).unwrap();
            parse_str(&out, Path::new("x")).map(|_| out)
        };
        // Strings stay strings even when they look like other TOML values.
        let out = get_after("router.model", "2024-01-01").unwrap();
        assert!(out.contains("model = \"2024-01-01\""), "{out}");
        let out = get_after("router.model", "\"quoted\"").unwrap();
        assert!(out.contains("model = \"quoted\""), "{out}");
        let out = get_after("upstream.base_url", "https://x/v1").unwrap();
        assert!(out.contains("base_url = \"https://x/v1\""), "{out}");
        let out = get_after("server.allowed_hosts", "a.local,b.local:8787").unwrap();
        assert!(
            out.contains("allowed_hosts = [\"a.local\", \"b.local:8787\"]"),
            "{out}"
        );
        let out = get_after("server.allowed_hosts", "[\"c\"]").unwrap();
        assert!(out.contains("allowed_hosts = [\"c\"]"), "{out}");
        let out = get_after("models.m.input_price", "3").unwrap();
        assert!(out.contains("input_price = 3.0"), "{out}");
        // A wrong type is reported with its key by the parse step.
        let err = get_after("server.port", "abc").unwrap_err().to_string();
        assert!(err.contains("key `server.port`"), "{err}");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = set(DOC, "server.prot", "1").unwrap_err().to_string();
        assert!(err.contains("unknown key `server.prot`"), "{err}");
        assert!(err.contains("port"), "{err}");
        assert!(set(DOC, "nope.x", "1").is_err());
        assert!(set(DOC, "models.m.tire", "low").is_err());
        assert!(set(DOC, "server", "1").is_err());
        assert!(set(DOC, "server.port.x", "1").is_err());
        assert!(unset(DOC, "server.prot").is_err());
        assert!(set(DOC, "a..b", "1").is_err());
    }

    #[test]
    fn get_renders_values() {
        assert_eq!(get(DOC, "server.port").unwrap().as_deref(), Some("9000"));
        assert_eq!(
            get(DOC, "server.host").unwrap().as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(get(DOC, "server.api_key").unwrap(), None);
        assert!(get(DOC, "log").unwrap().unwrap().contains("level"));
        let cfg = parse_str(DOC, Path::new("x")).unwrap();
        assert_eq!(
            effective(&cfg, "server.drain_secs").unwrap().as_deref(),
            Some("30")
        );
        assert_eq!(
            effective(&cfg, "log.level").unwrap().as_deref(),
            Some("debug")
        );
    }

    #[test]
    fn unset_removes_and_prunes_empty_tables() {
        let out = unset(DOC, "log.level").unwrap();
        assert!(!out.contains("[log]"), "{out}");
        assert!(out.contains("port = 9000 # keep me"));
        let out = unset(DOC, "server.port").unwrap();
        assert!(!out.contains("port ="), "{out}");
        assert!(out.contains("host"), "{out}");
        assert_eq!(unset(DOC, "router.model").unwrap(), DOC);
        let with_model = set(DOC, "models.\"a.b\".exclude", "true").unwrap();
        assert_eq!(unset(&with_model, "models.\"a.b\".exclude").unwrap(), DOC);
    }

    #[test]
    fn inline_tables_are_edited_in_place() {
        let doc = "models = { m = { exclude = true } }\n";
        let out = set(doc, "models.m.tier", "low").unwrap();
        let cfg = parse_str(&out, Path::new("x")).unwrap();
        assert_eq!(cfg.models["m"].tier, Some(crate::catalog::Tier::Low));
        let out = set(doc, "models.n.exclude", "true").unwrap();
        assert!(parse_str(&out, Path::new("x")).unwrap().models["n"].exclude);
    }

    #[test]
    fn set_and_validate_writes_only_valid_documents() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cfg").join("config.toml");
        let cfg = set_and_validate(&path, "server.port", "9001").unwrap();
        assert_eq!(cfg.server.port, 9001);
        let before = std::fs::read_to_string(&path).unwrap();

        let err = set_and_validate(&path, "router.max_attempts", "99")
            .unwrap_err()
            .to_string();
        assert!(err.contains("router.max_attempts"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        let err = set_and_validate(&path, "server.host", "0.0.0.0").unwrap_err();
        assert_eq!(err.key(), Some("server.api_key"));
        assert!(set_and_validate(&path, "server.prot", "1").is_err());
        assert_eq!(
            set_and_validate(&path, "log.rotation", "weekly")
                .unwrap_err()
                .key(),
            Some("log.rotation")
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        let cfg = set_and_validate(&path, "log.rotation", "hourly").unwrap();
        assert_eq!(cfg.log.rotation, "hourly");
        let cfg = set_and_validate(&path, "log.max_files", "30").unwrap();
        assert_eq!(cfg.log.max_files, 30);
        let cfg = unset_and_validate(&path, "log.rotation").unwrap();
        assert_eq!(cfg.log.rotation, "daily");
        let cfg = unset_and_validate(&path, "log.max_files").unwrap();
        assert_eq!(cfg.log.max_files, 7);

        let cfg = unset_and_validate(&path, "server.port").unwrap();
        assert_eq!(cfg.server.port, 8787);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
