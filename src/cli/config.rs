//! `llm-router config get|set|unset|show|path|edit`: read and change `config.toml`.
//!
//! Edits go through `config::edit`, which checks the key against the schema, keeps the
//! user's comments and layout, validates the *edited* document and only then writes it
//! atomically (0600). So a refused `set` leaves the file byte-identical. After a successful
//! write a running daemon is asked to reload; it keeps its old config if it rejects the new
//! one, and we say so.
//!
//! Secrets (`server.api_key`, `upstream.api_key`) are masked in everything printed here unless
//! `get --reveal` asks for the value.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::config::{self, Config, ConfigError, Origin, edit, keys, paths};
use crate::daemon::client::{Client, ClientError};
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Keys are dotted; quote model ids that contain dots.\n\nExamples:\n  llm-router config set router.model gpt-5.4-mini\n  llm-router config set 'models.\"gpt-5.5\".exclude' true\n  llm-router config get server.port\n  llm-router config unset router.model\n  llm-router config show --json\n  llm-router config edit"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the value in force for a dotted key (file, environment or default).
    Get {
        /// e.g. `server.port` or `models."gpt-5.5".tier`.
        key: String,
        /// Show secrets (router and relay keys) instead of a masked tail.
        #[arg(long)]
        reveal: bool,
    },
    /// Set a dotted key in the file; the result is validated before it is written.
    Set {
        /// e.g. `router.model` or `models."gpt-5.5".exclude`.
        key: String,
        /// Parsed as TOML guided by the key's type (`true`, `9000`, `"x"`); text otherwise.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Remove a key from the file so its default applies again.
    Unset {
        /// e.g. `router.model`.
        key: String,
    },
    /// Print the effective configuration (defaults, file and environment), secrets masked.
    Show {
        /// Print JSON: path, config, and which keys come from the environment.
        #[arg(long)]
        json: bool,
    },
    /// Print the path of the config file.
    Path,
    /// Open the config file in $VISUAL or $EDITOR, then validate it.
    Edit,
}

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let path = config_path.map_or_else(paths::config_file, Path::to_path_buf);
    match &args.command {
        ConfigCommand::Get { key, reveal } => get(config_path, key, *reveal),
        ConfigCommand::Set { key, value } => set(&path, key, value),
        ConfigCommand::Unset { key } => unset(&path, key),
        ConfigCommand::Show { json } => show(config_path, *json),
        ConfigCommand::Path => {
            ui::out(path.display());
            if !path.exists() {
                ui::err("note: the file does not exist yet; create it with `llm-router init`");
            }
            Ok(ExitCode::SUCCESS)
        }
        ConfigCommand::Edit => edit_file(&path),
    }
}

/// A copy with the secrets replaced by their masked form (empty ones stay empty, which reads
/// better than "(not set)" in TOML).
fn masked(cfg: &Config) -> Config {
    let mut c = cfg.clone();
    for key in [&mut c.server.api_key, &mut c.upstream.api_key] {
        if !key.trim().is_empty() {
            *key = config::mask_secret(key);
        }
    }
    c
}

fn get(config_path: Option<&Path>, key: &str, reveal: bool) -> anyhow::Result<ExitCode> {
    let loaded = config::load(config_path)?;
    let cfg = if reveal {
        loaded.config.clone()
    } else {
        masked(&loaded.config)
    };
    match edit::effective(&cfg, key)? {
        Some(v) => ui::out(v),
        None => anyhow::bail!(
            "key `{key}` is not set in {} and has no default (set it with `llm-router config set {key} VALUE`)",
            loaded.path.display()
        ),
    }
    if let Some((_, var)) = loaded.env_overrides.iter().find(|(k, _)| k == key) {
        ui::err(format!(
            "note: this value comes from the environment ({var})"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn set(path: &Path, key: &str, value: &str) -> anyhow::Result<ExitCode> {
    let new = edit::set_and_validate(path, key, value)?;
    let shown = edit::effective(&masked(&new), key)
        .ok()
        .flatten()
        .unwrap_or_else(|| value.to_string());
    ui::out(format!("{key} = {shown} (in {})", path.display()));
    warn_env_override(key);
    reload_daemon();
    Ok(ExitCode::SUCCESS)
}

fn unset(path: &Path, key: &str) -> anyhow::Result<ExitCode> {
    // Nothing to remove means nothing to write and nothing to reload.
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    if edit::get(&text, key)?.is_none() {
        ui::out(format!(
            "{key} is not set in {}; nothing to do",
            path.display()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    edit::unset_and_validate(path, key)?;
    let default = edit::effective(&Config::default(), key).ok().flatten();
    match default {
        Some(d) if !d.is_empty() => ui::out(format!(
            "removed {key} from {}; the default applies: {d}",
            path.display()
        )),
        _ => ui::out(format!("removed {key} from {}", path.display())),
    }
    warn_env_override(key);
    reload_daemon();
    Ok(ExitCode::SUCCESS)
}

/// The file value is not the one in force while an environment variable overrides it.
fn warn_env_override(key: &str) {
    let Ok(segments) = edit::parse_key(key) else {
        return;
    };
    let dotted = keys::dotted(&segments);
    for (k, vars) in config::env::bindings() {
        if k != dotted {
            continue;
        }
        // The last set variable wins, as in `config::env::apply`.
        if let Some(var) = vars
            .iter()
            .rev()
            .find(|v| std::env::var(v).is_ok_and(|x| !x.trim().is_empty()))
        {
            ui::err(format!(
                "note: {var} is set in the environment and overrides this value"
            ));
        }
    }
}

/// Ask a running daemon to re-read its config and say what happened; silent when none runs.
/// A rejected config is a refusal (the daemon keeps its old one); settings that need a
/// restart come back as notes.
fn reload_daemon() {
    let client = Client::default_socket().with_timeout(Duration::from_secs(10));
    match client.reload() {
        Ok(r) => {
            ui::out("daemon reloaded");
            for note in &r.notes {
                ui::err(format!("note: {note}"));
            }
        }
        Err(ClientError::NotRunning(_)) => {}
        Err(ClientError::Refused(e)) => {
            ui::err(format!("llm-router: daemon kept its old config: {e}"));
        }
        Err(e) => ui::err(format!(
            "llm-router: could not ask the daemon to reload: {e} (run `llm-router stop && llm-router start`)"
        )),
    }
}

fn show(config_path: Option<&Path>, as_json: bool) -> anyhow::Result<ExitCode> {
    let loaded = config::load(config_path)?;
    let cfg = masked(&loaded.config);
    if as_json {
        let overrides: Vec<Value> = loaded
            .env_overrides
            .iter()
            .map(|(k, v)| json!({"key": k, "var": v}))
            .collect();
        ui::json(&json!({
            "path": loaded.path,
            "file_exists": loaded.file_exists,
            "config": cfg,
            "env_overrides": overrides,
        }));
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = match toml::Value::try_from(&cfg) {
        Ok(toml::Value::Table(t)) => t,
        Ok(_) => anyhow::bail!("could not render the config as TOML: not a table"),
        Err(e) => return Err(e).context("could not render the config as TOML"),
    };
    // An empty `[models]` header at the end reads like something is missing.
    if table
        .get("models")
        .and_then(toml::Value::as_table)
        .is_some_and(toml::Table::is_empty)
    {
        table.remove("models");
    }
    let body = toml::to_string(&table).context("could not render the config as TOML")?;
    let mut head = vec![if loaded.file_exists {
        format!("# effective config: {}", loaded.path.display())
    } else {
        format!(
            "# effective config: defaults ({} does not exist; run `llm-router init`)",
            loaded.path.display()
        )
    }];
    if loaded.env_overrides.is_empty() {
        head.push("# no values come from the environment".into());
    } else {
        head.push("# from the environment:".into());
        for (k, var) in &loaded.env_overrides {
            head.push(format!("#   {k} <- {var}"));
        }
    }
    ui::out(format!("{}\n\n{}", head.join("\n"), body.trim_end()));
    Ok(ExitCode::SUCCESS)
}

/// Every scalar key commented out with its default, for a file `edit` creates.
fn commented_defaults() -> String {
    let mut out = String::from(
        "# llm-router configuration. Uncomment and change what you need;\n\
         # `llm-router config show` prints the values in force.\n",
    );
    let mut section = String::new();
    for (key, value) in keys::scalar_keys() {
        let Some((s, field)) = key.split_once('.') else {
            continue;
        };
        if s != section {
            out.push_str(&format!("\n[{s}]\n"));
            section = s.to_string();
        }
        out.push_str(&format!("# {field} = {value}\n"));
    }
    out
}

fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| if cfg!(windows) { "notepad" } else { "vi" }.to_string())
}

/// Run the editor on `path`. Through `sh -c` on unix so `EDITOR="code --wait"` works.
fn run_editor(editor: &str, path: &Path) -> anyhow::Result<()> {
    let mut cmd = if cfg!(unix) {
        let mut c = std::process::Command::new("sh");
        c.arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(path);
        c
    } else {
        let mut c = std::process::Command::new(editor);
        c.arg(path);
        c
    };
    let status = cmd
        .status()
        .with_context(|| format!("could not run the editor `{editor}` (set $VISUAL or $EDITOR)"))?;
    if !status.success() {
        anyhow::bail!(
            "the editor `{editor}` exited with {status}; {} is as the editor left it",
            path.display()
        );
    }
    Ok(())
}

/// The file's own validity (no environment), as `config set` checks it.
fn validate_file(path: &Path) -> Result<(), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    config::parse_str(&text, path)?
        .validate()
        .map_err(|e| e.with_origin(Origin::File(path.to_path_buf())))
}

fn edit_file(path: &Path) -> anyhow::Result<ExitCode> {
    if !path.exists() {
        config::atomic::write_atomic(path, commented_defaults().as_bytes())
            .with_context(|| format!("could not create {}", path.display()))?;
    }
    let before =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let editor = editor_command();
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    loop {
        run_editor(&editor, path)?;
        match validate_file(path) {
            Ok(()) => break,
            Err(e) if interactive => {
                ui::err(format!("llm-router: {e}"));
                let again = dialoguer::Confirm::new()
                    .with_prompt("Edit the file again?")
                    .default(true)
                    .interact()
                    .context("could not read the answer from the terminal")?;
                if !again {
                    return Err(left_invalid(path, &e));
                }
            }
            Err(e) => return Err(left_invalid(path, &e)),
        }
    }
    let after =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    if before == after {
        ui::out(format!("{} unchanged", path.display()));
        return Ok(ExitCode::SUCCESS);
    }
    ui::out(format!("{} is valid", path.display()));
    reload_daemon();
    Ok(ExitCode::SUCCESS)
}

fn left_invalid(path: &Path, e: &ConfigError) -> anyhow::Error {
    anyhow::anyhow!(
        "{e}; the edited {} is kept as it is and a running daemon keeps its old config (fix it with `llm-router config edit`)",
        path.display()
    )
}
