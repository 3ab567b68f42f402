//! Configuration: the schema (`schema`), file locations (`paths`), assembling the effective
//! config (this module), comment-preserving edits (`edit`), `.env` parsing (`dotenv`) and
//! atomic 0600 writes (`atomic`).
//!
//! Precedence, lowest first: defaults → `config.toml` (a missing file means defaults) →
//! `.env` in the current directory (never over a variable set in the real environment) →
//! the environment. The result is then validated, so every `Config` handed out by `load` is
//! one the gateway can run with (except that `upstream.base_url` may be empty; `start`
//! refuses that and points at `llm-router init`).
//!
//! Invariants: errors name the file, dotted key or variable and say how to fix it; secret
//! values never appear in errors; this module does no network I/O and prints nothing.

pub mod atomic;
pub mod dotenv;
pub mod edit;
pub mod env;
mod error;
pub mod keys;
pub mod paths;
pub mod schema;
mod validate;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use error::{ConfigError, Origin};
pub use schema::*;

/// The result of loading: the effective config plus where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub path: PathBuf,
    pub file_exists: bool,
    /// (dotted key, env var name) for every value taken from the environment
    pub env_overrides: Vec<(String, String)>,
    /// Pairs from `.env` that the real environment did not already set. Kept so a relay key
    /// named by `upstream.api_key_env` may live in `.env` too (see [`Loaded::upstream_key`]).
    pub dotenv: Vec<(String, String)>,
}

impl Loaded {
    /// [`Config::upstream_key`] with `.env` as a fallback for the variable named by
    /// `upstream.api_key_env` (the real environment still wins).
    pub fn upstream_key(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let with_dotenv = |name: &str| {
            env(name).or_else(|| dotenv::lookup(&self.dotenv, name).map(str::to_string))
        };
        self.config.upstream_key(&with_dotenv)
    }
}

/// Load from `path` (default: [`paths::config_file`]), the process environment and `.env`
/// in the current directory. An unreadable `.env` is skipped with a warning rather than
/// failing every command run in that directory.
pub fn load(path: Option<&Path>) -> Result<Loaded, ConfigError> {
    let path = path.map_or_else(paths::config_file, Path::to_path_buf);
    let dotenv_path = paths::dotenv_file();
    let dotenv_text = match std::fs::read_to_string(&dotenv_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %dotenv_path.display(), error = %e, "ignoring unreadable .env");
            None
        }
    };
    let real_env = |name: &str| std::env::var(name).ok();
    load_with(&path, &real_env, dotenv_text.as_deref())
}

/// [`load`] with an injectable environment and `.env` text (tests, and the daemon, whose
/// working directory is not the user's).
pub fn load_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    dotenv: Option<&str>,
) -> Result<Loaded, ConfigError> {
    let (text, file_exists) = match std::fs::read_to_string(path) {
        Ok(text) => (text, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), false),
        Err(error) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                error,
            });
        }
    };
    let mut table = parse_table(&text, path)?;

    // `.env` fills only what the real environment does not set (even to an empty string).
    let dotenv_pairs: Vec<(String, String)> = dotenv
        .map(dotenv::parse)
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| env(k).is_none())
        .collect();
    let lookup =
        |name: &str| env(name).or_else(|| dotenv::lookup(&dotenv_pairs, name).map(str::to_string));
    let applied = env::apply(&mut table, &lookup)?;

    let config = match toml::Value::Table(table.clone()).try_into::<Config>() {
        Ok(c) => c,
        Err(e) => {
            let err = locate(&table, path).unwrap_or_else(|| whole_file_error(path, &text, &e));
            return Err(env_blame(err, &applied));
        }
    };
    config.validate().map_err(|e| {
        let origin = e
            .key()
            .and_then(|k| applied.iter().find(|a| a.key == k))
            .map(|a| Origin::Env(a.var.clone(), a.shown.clone()))
            .unwrap_or_else(|| Origin::File(path.to_path_buf()));
        e.with_origin(origin)
    })?;

    Ok(Loaded {
        config,
        path: path.to_path_buf(),
        file_exists,
        env_overrides: applied.into_iter().map(|a| (a.key, a.var)).collect(),
        dotenv: dotenv_pairs,
    })
}

/// Parse TOML text into a `Config` (no environment, no validation). Errors name the key.
pub fn parse_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    let table = parse_table(text, origin)?;
    toml::Value::Table(table.clone())
        .try_into::<Config>()
        .map_err(|e| locate(&table, origin).unwrap_or_else(|| whole_file_error(origin, text, &e)))
}

/// Mask a secret for display: `sk-…abcd` (a short `xx-` prefix and the last 4 characters
/// only); secrets under 12 characters are fully masked; empty → `(not set)`.
pub fn mask_secret(s: &str) -> String {
    let s = s.trim();
    if s.is_empty() {
        return "(not set)".into();
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 12 {
        return "****".into();
    }
    // Keep a vendor prefix like `sk-` or `pk-` because it tells keys apart without
    // revealing anything.
    let prefix: String = match chars.iter().take(4).position(|c| *c == '-') {
        Some(i) => chars.iter().take(i + 1).collect(),
        None => String::new(),
    };
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{prefix}…{tail}")
}

fn parse_table(text: &str, origin: &Path) -> Result<toml::Table, ConfigError> {
    text.parse::<toml::Table>()
        .map_err(|e| ConfigError::Syntax {
            path: origin.to_path_buf(),
            line: e.span().map(|s| line_col(text, s.start)),
            message: one_line(e.message()),
        })
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

pub(crate) fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

fn whole_file_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line: e.span().map(|s| line_col(text, s.start)),
        message: one_line(e.message()),
    }
}

/// A value for the fix hint of a type error: the key's default when it has a useful one.
fn example_for(segments: &[&str]) -> String {
    match segments {
        // A whole section or model table cannot be fixed with `config set`.
        [_] | [keys::MODELS, _] => String::new(),
        [section, key] => keys::default_of(section, key)
            .map(|v| keys::render_value(&v))
            .filter(|s| !s.is_empty() && !s.starts_with('['))
            .unwrap_or_else(|| "<value>".into()),
        _ => "<value>".into(),
    }
}

/// serde's message names neither the key nor the file, so find the first offending key by
/// deserialising each key on its own (only on the error path, so the cost does not matter).
fn locate(table: &toml::Table, path: &Path) -> Option<ConfigError> {
    let parse_err = |segments: &[&str], message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        key: keys::dotted(segments),
        example: example_for(segments),
        message,
    };
    let unknown = |segments: &[&str], valid: String| ConfigError::UnknownKey {
        path: Some(path.to_path_buf()),
        key: keys::dotted(segments),
        valid,
    };
    for (name, value) in table {
        let name = name.as_str();
        if keys::SECTIONS.contains(&name) {
            let Some(t) = value.as_table() else {
                return Some(parse_err(&[name], not_a_table(value)));
            };
            let valid = keys::section_keys(name);
            for (k, v) in t {
                if !valid.contains(k) {
                    return Some(unknown(&[name, k], keys::valid_in_section(name)));
                }
                let one = single(k, v);
                let result = match name {
                    "server" => check::<ServerConfig>(one),
                    "upstream" => check::<UpstreamConfig>(one),
                    "router" => check::<RouterConfig>(one),
                    _ => check::<LogConfig>(one),
                };
                if let Err(message) = result {
                    return Some(parse_err(&[name, k], message));
                }
            }
        } else if name == keys::MODELS {
            let Some(models) = value.as_table() else {
                return Some(parse_err(&[name], not_a_table(value)));
            };
            let fields = keys::model_fields();
            for (id, m) in models {
                let Some(t) = m.as_table() else {
                    return Some(parse_err(&[name, id], not_a_table(m)));
                };
                for (k, v) in t {
                    if !fields.contains(k) {
                        return Some(unknown(&[name, id, k], keys::valid_model_fields()));
                    }
                    if let Err(message) = check::<crate::catalog::ModelOverride>(single(k, v)) {
                        return Some(parse_err(&[name, id, k], message));
                    }
                }
            }
        } else {
            let mut all: Vec<&str> = keys::SECTIONS.to_vec();
            all.push(keys::MODELS);
            return Some(unknown(
                &[name],
                format!("valid top-level keys: {}", all.join(", ")),
            ));
        }
    }
    None
}

fn not_a_table(v: &toml::Value) -> String {
    format!("expected a table, found {}", v.type_str())
}

fn single(k: &str, v: &toml::Value) -> toml::Value {
    let mut t = toml::Table::new();
    t.insert(k.to_string(), v.clone());
    toml::Value::Table(t)
}

fn check<T: DeserializeOwned>(v: toml::Value) -> Result<(), String> {
    v.try_into::<T>()
        .map(|_| ())
        .map_err(|e| one_line(e.message()))
}

/// A type error on a key whose value came from the environment is the variable's fault.
fn env_blame(err: ConfigError, applied: &[env::Applied]) -> ConfigError {
    if let ConfigError::Parse { key, message, .. } = &err
        && let Some(a) = applied.iter().find(|a| &a.key == key)
    {
        return ConfigError::Env {
            var: a.var.clone(),
            value: a.shown.clone(),
            message: format!("key `{key}`: {message}"),
        };
    }
    err
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

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn missing_file_means_defaults() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("none.toml");
        let l = load_with(&p, &env_of(&[]), None).unwrap();
        assert!(!l.file_exists);
        assert_eq!(l.config, Config::default());
        assert!(l.env_overrides.is_empty());
    }

    #[test]
    fn precedence_file_dotenv_env() {
        let tmp = tempfile::tempdir().unwrap();
        let p = write(
            tmp.path(),
            "[server]\nport = 9000\n[log]\nlevel = \"warn\"\nformat = \"json\"\n",
        );
        let env = env_of(&[("LLM_ROUTER_LOG_LEVEL", "debug"), ("UPSTREAM_API_KEY", "")]);
        let dotenv = "PORT=9100\nLLM_ROUTER_LOG_LEVEL=trace\nUPSTREAM_API_KEY=from-dotenv\nUPSTREAM_BASE_URL=https://relay.example.com\n";
        let l = load_with(&p, &env, Some(dotenv)).unwrap();
        assert!(l.file_exists);
        assert_eq!(l.config.server.port, 9100); // .env over file
        assert_eq!(l.config.log.level, "debug"); // real env over .env
        assert_eq!(l.config.log.format, "json"); // file over default
        // Set-but-empty in the real env blocks .env and is then ignored.
        assert_eq!(l.config.upstream.api_key, "");
        assert_eq!(
            l.config.upstream_v1_base().as_deref(),
            Some("https://relay.example.com/v1")
        );
        assert_eq!(
            l.env_overrides,
            vec![
                ("server.port".to_string(), "PORT".to_string()),
                (
                    "upstream.base_url".to_string(),
                    "UPSTREAM_BASE_URL".to_string()
                ),
                ("log.level".to_string(), "LLM_ROUTER_LOG_LEVEL".to_string()),
            ]
        );
    }

    #[test]
    fn relay_key_env_may_come_from_dotenv() {
        let tmp = tempfile::tempdir().unwrap();
        let p = write(tmp.path(), "[upstream]\napi_key_env = \"RELAY_KEY\"\n");
        let l = load_with(&p, &env_of(&[]), Some("RELAY_KEY=sk-dot")).unwrap();
        assert_eq!(l.upstream_key(&env_of(&[])).as_deref(), Some("sk-dot"));
        let real = env_of(&[("RELAY_KEY", "sk-real")]);
        assert_eq!(l.upstream_key(&real).as_deref(), Some("sk-real"));
    }

    #[test]
    fn type_error_names_file_and_key() {
        let tmp = tempfile::tempdir().unwrap();
        let p = write(
            tmp.path(),
            "[server]\nhost = \"127.0.0.1\"\nport = \"abc\"\n",
        );
        let err = load_with(&p, &env_of(&[]), None).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("config {}: key `server.port`: ", p.display())),
            "{err}"
        );
        assert!(
            err.ends_with("(edit the file or run `llm-router config set server.port 8787`)"),
            "{err}"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let o = Path::new("/c/config.toml");
        let err = parse_str("[server]\nprot = 1\n", o)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "config /c/config.toml: unknown key `server.prot`; valid keys in [server]:"
            ),
            "{err}"
        );
        let err = parse_str("[models.\"gpt-5.4-mini\"]\ntire = \"low\"\n", o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`models.\"gpt-5.4-mini\".tire`"), "{err}");
        let err = parse_str("[sever]\n", o).unwrap_err().to_string();
        assert!(err.contains("unknown key `sever`"), "{err}");
        let err = parse_str("[models.m]\ntier = \"ultra\"\n", o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `models.m.tier`"), "{err}");
        assert!(err.contains("frontier"), "{err}");
    }

    #[test]
    fn syntax_error_has_line() {
        let err = parse_str("[server]\nport = = 1\n", Path::new("/c.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config /c.toml: line 2, column "), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn env_errors_name_the_variable() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("none.toml");
        let err = load_with(&p, &env_of(&[("PORT", "abc")]), None)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "env PORT=abc: expected a port number 1-65535");
        let err = load_with(&p, &env_of(&[("AUTO_MAX_ATTEMPTS", "20")]), None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "env AUTO_MAX_ATTEMPTS=20: key `router.max_attempts`: must be between 1 and 10 (fix or unset AUTO_MAX_ATTEMPTS)"
        );
        // u32 overflow is caught by serde and still blamed on the variable.
        let err = load_with(
            &p,
            &env_of(&[("LLM_ROUTER_ROUTER_MAX_TOKENS", "99999999999")]),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(
                "env LLM_ROUTER_ROUTER_MAX_TOKENS=99999999999: key `router.max_tokens`"
            ),
            "{err}"
        );
        // A bad value from the file is blamed on the file.
        let p = write(tmp.path(), "[log]\nformat = \"xml\"\n");
        let err = load_with(&p, &env_of(&[]), None).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("config {}: key `log.format`", p.display())),
            "{err}"
        );
    }

    #[test]
    fn secrets_never_in_env_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let p = write(tmp.path(), "");
        let env = env_of(&[
            ("LLM_ROUTER_SERVER_HOST", "0.0.0.0"),
            ("LLM_ROUTER_UPSTREAM_API_KEY", "sk-verysecretvalue9999"),
        ]);
        let err = load_with(&p, &env, None).unwrap_err().to_string();
        assert!(err.contains("server.api_key"), "{err}");
        assert!(!err.contains("verysecret"), "{err}");
    }

    #[test]
    fn mask() {
        assert_eq!(mask_secret(""), "(not set)");
        assert_eq!(mask_secret("short"), "****");
        assert_eq!(mask_secret("sk-1234567890abcd"), "sk-…abcd");
        assert_eq!(mask_secret("abcdefghijklmnop"), "…mnop");
        assert_eq!(mask_secret("ключ-ключ-ключ-ключ"), "…ключ");
    }

    #[test]
    fn docs_cover_every_key_and_variable() {
        let doc = include_str!("../../docs/configuration.md");
        for (key, vars) in env::bindings() {
            let field = key.split_once('.').map_or(key.as_str(), |(_, f)| f);
            assert!(doc.contains(&format!("`{field}`")), "docs miss key {key}");
            for var in vars {
                assert!(doc.contains(&var), "docs miss variable {var}");
            }
        }
        for field in keys::model_fields() {
            assert!(
                doc.contains(&format!("`{field}`")),
                "docs miss model key {field}"
            );
        }
        for var in [
            paths::CONFIG_DIR_VAR,
            paths::CONFIG_FILE_VAR,
            paths::STATE_DIR_VAR,
            paths::RUNTIME_DIR_VAR,
            paths::LOG_FILE_VAR,
        ] {
            assert!(doc.contains(var), "docs miss {var}");
        }
    }
}
