//! The one error type of the config module.
//!
//! Every message is lowercase without a trailing period, names the file, the dotted key or the
//! environment variable, and ends with how to fix it. Secret values (router and relay keys)
//! never appear: `Origin::Env` carries the value already masked.

use std::io;
use std::path::PathBuf;

/// Where a bad value came from, so the message can say what to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Not known (e.g. `Config::validate` on a config built in code).
    Unknown,
    /// The config file.
    File(PathBuf),
    /// An environment variable: (name, value as shown — masked for secrets).
    Env(String, String),
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("config {}: could not read: {error} (check the file's permissions)", path.display())]
    Read { path: PathBuf, error: io::Error },

    /// Writing the file failed; the old file is untouched.
    #[error(
        "config {}: could not write: {error} (check that the directory is writable; the old file is unchanged)",
        path.display()
    )]
    Write { path: PathBuf, error: io::Error },

    /// The text is not valid TOML.
    #[error(
        "config {}: {}invalid TOML: {message} (fix the syntax, or move the file away to start from defaults)",
        path.display(),
        line.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default()
    )]
    Syntax {
        path: PathBuf,
        /// 1-based line and column, when known.
        line: Option<(usize, usize)>,
        message: String,
    },

    /// A key holds a value of the wrong type (or an unknown enum value).
    #[error(
        "config {}: key `{key}`: {message} ({})",
        path.display(),
        fix_hint(true, .key, .example)
    )]
    Parse {
        path: PathBuf,
        key: String,
        message: String,
        /// A valid value to show in the fix; empty when `config set` cannot fix it.
        example: String,
    },

    /// A key that the schema does not have (typos are caught, never ignored).
    #[error(
        "{}unknown key `{key}`; {valid} (fix the spelling or remove the key)",
        path.as_ref().map(|p| format!("config {}: ", p.display())).unwrap_or_default()
    )]
    UnknownKey {
        path: Option<PathBuf>,
        key: String,
        /// e.g. "valid keys in [server]: host, port, …".
        valid: String,
    },

    /// A value of the right type but outside its allowed range.
    #[error("{}", invalid_message(.origin, .key, .message, .example))]
    Invalid {
        origin: Origin,
        key: String,
        message: String,
        /// A valid value to show in the fix.
        example: String,
    },

    /// An environment variable could not be parsed for the key it overrides.
    #[error("env {var}={value}: {message}")]
    Env {
        var: String,
        /// The value as shown (masked for secrets).
        value: String,
        message: String,
    },

    /// A dotted key given to `config get|set|unset` that cannot be used as given.
    #[error("key `{key}`: {message}")]
    Key { key: String, message: String },
}

fn invalid_message(origin: &Origin, key: &str, message: &str, example: &str) -> String {
    match origin {
        Origin::Unknown => format!("key `{key}`: {message} ({})", fix_hint(false, key, example)),
        Origin::File(path) => format!(
            "config {}: key `{key}`: {message} ({})",
            path.display(),
            fix_hint(true, key, example)
        ),
        Origin::Env(var, value) => {
            format!("env {var}={value}: key `{key}`: {message} (fix or unset {var})")
        }
    }
}

/// "edit the file or run `llm-router config set KEY VALUE`", with both words shell-quoted
/// so the command can be pasted (model keys contain double quotes).
fn fix_hint(file: bool, key: &str, example: &str) -> String {
    if example.is_empty() {
        return "edit the file".into();
    }
    let run = format!(
        "run `llm-router config set {} {}`",
        shell_word(key),
        shell_word(example)
    );
    if file {
        format!("edit the file or {run}")
    } else {
        run
    }
}

fn shell_word(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._:/@%+=,-".contains(c);
    let placeholder = s.starts_with('<') && s.ends_with('>');
    if placeholder || (!s.is_empty() && s.chars().all(plain)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl ConfigError {
    /// Attach where the value came from to a validation error (other variants already say).
    pub(crate) fn with_origin(self, new_origin: Origin) -> Self {
        match self {
            ConfigError::Invalid {
                key,
                message,
                example,
                ..
            } => ConfigError::Invalid {
                origin: new_origin,
                key,
                message,
                example,
            },
            other => other,
        }
    }

    /// The dotted key this error is about, when there is one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Parse { key, .. }
            | ConfigError::UnknownKey { key, .. }
            | ConfigError::Invalid { key, .. }
            | ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}
