//! `llm-router init`: write a first `config.toml`, interactively or from flags (`--yes`).
//!
//! Asks for the relay (a provider preset from the catalog or any URL), where its key comes
//! from (preferably the *name* of an environment variable, so the file holds no secret), an
//! optional router key and the port; probes the relay's `/v1/models` and shows what the router
//! would do with it; then writes a commented TOML document.
//!
//! Invariants: an existing config is never replaced without `--force`; the document is
//! re-parsed and validated before it is written, atomically and 0600, so `init` cannot leave
//! a file that `start` would reject; a failed probe is a warning, never a refusal, because the
//! relay may simply be unreachable from here right now.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Password, Select};

use crate::catalog::Catalog;
use crate::cli::models;
use crate::config::{self, Config, ConfigError, paths};
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router init\n  llm-router init --yes --provider openrouter --api-key-env OPENROUTER_API_KEY\n  llm-router init --yes --base-url https://relay.example.com/v1 --api-key-env RELAY_KEY --generate-router-key --port 8787\n  llm-router init --list-providers"
)]
pub struct Args {
    /// Use a provider preset (its base URL and usual key variable); see --list-providers.
    #[arg(long, value_name = "ID")]
    pub provider: Option<String>,
    /// The relay's OpenAI-compatible base URL, with or without /v1.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Name of the environment variable that holds the relay key (preferred: no secret in the file).
    #[arg(long, value_name = "NAME", conflicts_with = "api_key")]
    pub api_key_env: Option<String>,
    /// The relay key itself; it is stored in the config file (mode 0600).
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Key clients must send to the gateway.
    #[arg(long, value_name = "KEY", conflicts_with = "generate_router_key")]
    pub router_key: Option<String>,
    /// Generate a random router key.
    #[arg(long)]
    pub generate_router_key: bool,
    /// Port the gateway listens on [default: 8787].
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,
    /// Do not ask the relay for its models before saving.
    #[arg(long)]
    pub no_probe: bool,
    /// Ask nothing: take the answers from the flags (needs --base-url or --provider).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Replace an existing config file.
    #[arg(long)]
    pub force: bool,
    /// Print the provider presets and exit.
    #[arg(long)]
    pub list_providers: bool,
}

/// A relay offered by `init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub id: String,
    pub name: String,
    /// OpenAI-compatible base, ending with `/v1`.
    pub base: String,
    /// The variable that usually holds this provider's key.
    pub env: Option<String>,
}

/// Offered first, in this order: the relays most people already have a key for.
const POPULAR: &[&str] = &[
    "openai",
    "openrouter",
    "deepseek",
    "groq",
    "togetherai",
    "fireworks-ai",
    "mistral",
    "xai",
];

/// Providers whose catalog entry has no OpenAI-compatible base (models.dev leaves `api` empty
/// for providers with a native SDK) or one without `/v1` although the `/v1` path works.
/// (id, name, base, key variable).
const KNOWN_BASES: &[(&str, &str, &str, &str)] = &[
    (
        "openai",
        "OpenAI",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
    ),
    (
        "deepseek",
        "DeepSeek",
        "https://api.deepseek.com/v1",
        "DEEPSEEK_API_KEY",
    ),
    (
        "groq",
        "Groq",
        "https://api.groq.com/openai/v1",
        "GROQ_API_KEY",
    ),
    (
        "togetherai",
        "Together AI",
        "https://api.together.xyz/v1",
        "TOGETHER_API_KEY",
    ),
    (
        "mistral",
        "Mistral",
        "https://api.mistral.ai/v1",
        "MISTRAL_API_KEY",
    ),
    ("xai", "xAI", "https://api.x.ai/v1", "XAI_API_KEY"),
    (
        "cerebras",
        "Cerebras",
        "https://api.cerebras.ai/v1",
        "CEREBRAS_API_KEY",
    ),
];

/// The default variable name suggested for a custom relay's key.
const CUSTOM_KEY_VAR: &str = "RELAY_API_KEY";

/// The gateway calls `<base>/chat/completions` on a base that ends in an API version
/// (`/v1`, or another one such as `/api/paas/v4`, see `Config::upstream_v1_base`), so only
/// such bases are offered; templated (`${ACCOUNT}`) and Anthropic-style bases cannot work.
fn usable_base(api: &str) -> bool {
    let a = api.trim().trim_end_matches('/');
    let last = a.rsplit('/').next().unwrap_or("");
    let versioned =
        last.len() >= 2 && last.starts_with('v') && last[1..].bytes().all(|b| b.is_ascii_digit());
    !a.contains("${") && !a.contains("/anthropic") && versioned
}

/// Every preset, popular ones first (in [`POPULAR`] order), then the rest by name.
pub fn presets() -> Vec<Preset> {
    let mut all: Vec<Preset> = KNOWN_BASES
        .iter()
        .map(|(id, name, base, env)| Preset {
            id: (*id).into(),
            name: (*name).into(),
            base: (*base).into(),
            env: Some((*env).into()),
        })
        .collect();
    for p in Catalog::embedded().providers() {
        if all.iter().any(|k| k.id == p.id) || !usable_base(&p.api) {
            continue;
        }
        all.push(Preset {
            base: p.api.trim().trim_end_matches('/').to_string(),
            env: p.env.first().cloned(),
            id: p.id,
            name: p.name,
        });
    }
    let rank = |p: &Preset| {
        POPULAR
            .iter()
            .position(|id| *id == p.id)
            .unwrap_or(POPULAR.len())
    };
    all.sort_by(|a, b| {
        rank(a)
            .cmp(&rank(b))
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
            .then_with(|| a.id.cmp(&b.id))
    });
    all
}

/// Where the relay key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySource {
    Env(String),
    Inline(String),
    None,
}

/// Everything `init` asks.
#[derive(Debug, Clone)]
struct Answers {
    base_url: String,
    provider: Option<String>,
    key: KeySource,
    router_key: String,
    port: u16,
}

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    if args.list_providers {
        list_providers();
        return Ok(ExitCode::SUCCESS);
    }
    let path = config_path.map_or_else(paths::config_file, Path::to_path_buf);
    // Refuse before asking anything, so nobody answers questions for nothing.
    if path.exists() && !args.force {
        anyhow::bail!(
            "config {} already exists; change values with `llm-router config set KEY VALUE`, or run `llm-router init --force` to replace it",
            path.display()
        );
    }
    let interactive = !args.yes;
    if interactive && !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        anyhow::bail!(
            "init asks questions and needs a terminal; in scripts pass --yes with --base-url URL (or --provider ID) and --api-key-env NAME"
        );
    }
    let theme = ColorfulTheme::default();
    let ask = Ask { theme: &theme };

    let answers = if interactive {
        ui::out(format!(
            "Setting up llm-router; the config goes to {}\n",
            path.display()
        ));
        ask_all(args, &ask)?
    } else {
        from_flags(args)?
    };
    if let KeySource::Inline(_) = answers.key {
        ui::err(format!(
            "llm-router: warning: the relay key is stored in {} (mode 0600); `--api-key-env NAME` keeps it out of the file",
            path.display()
        ));
    }

    let text = render(&answers);
    // The document must be one `start` accepts; a failure here is a bug in `render` or a bad
    // flag value, and the message names the key either way.
    config::parse_str(&text, &path)?
        .validate()
        .map_err(|e| e.with_origin(config::Origin::File(path.clone())))
        .context("the generated config is invalid; nothing was written")?;

    if !args.no_probe {
        let ok = show_probe(&answers);
        if !ok && interactive {
            let save = ask.confirm("Save the config anyway?", true)?;
            if !save {
                anyhow::bail!(
                    "nothing was written; run `llm-router init` again when the relay answers"
                );
            }
        }
    }

    write_config(&path, &text)?;
    ui::out(format!("\nSaved {}", path.display()));
    next_steps(&answers, config_path);
    Ok(ExitCode::SUCCESS)
}

fn list_providers() {
    let rows: Vec<Vec<String>> = presets()
        .into_iter()
        .map(|p| vec![p.id, p.name, p.base, p.env.unwrap_or_default()])
        .collect();
    ui::out(ui::table(&["id", "name", "base URL", "key variable"], rows));
}

fn find_preset(id: &str) -> anyhow::Result<Preset> {
    presets()
        .into_iter()
        .find(|p| p.id.eq_ignore_ascii_case(id.trim()))
        .with_context(|| {
            format!(
                "unknown provider `{id}`; run `llm-router init --list-providers` for the ids, or pass --base-url URL"
            )
        })
}

/// The message of a config validation error, without the config-file wording.
fn bare_message(e: &ConfigError) -> String {
    match e {
        ConfigError::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn check_base_url(url: &str) -> Result<(), String> {
    let mut c = Config::default();
    c.upstream.base_url = url.trim().to_string();
    if c.upstream.base_url.is_empty() {
        return Err("the base URL is empty".into());
    }
    c.validate().map_err(|e| bare_message(&e))
}

fn check_env_name(name: &str) -> Result<(), String> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{n}` is not an environment variable name (letters, digits and _, e.g. RELAY_API_KEY)"
        ))
    }
}

/// A random router key: 122 random bits from a v4 UUID (the OS RNG), `sk-` so that tools
/// which sniff key formats accept it.
fn generate_router_key() -> String {
    format!("sk-lr-{}", uuid::Uuid::new_v4().simple())
}

/// Answers for `--yes`: flags only, defaults where a default is safe.
fn from_flags(args: &Args) -> anyhow::Result<Answers> {
    let preset = args.provider.as_deref().map(find_preset).transpose()?;
    let base_url = match (&args.base_url, &preset) {
        (Some(u), _) => u.trim().to_string(),
        (None, Some(p)) => p.base.clone(),
        (None, None) => anyhow::bail!(
            "init --yes needs the relay: pass --base-url URL or --provider ID (see `llm-router init --list-providers`)"
        ),
    };
    check_base_url(&base_url).map_err(|e| anyhow::anyhow!("--base-url: {e}"))?;
    let key = match (&args.api_key_env, &args.api_key, &preset) {
        (Some(name), _, _) => {
            check_env_name(name).map_err(|e| anyhow::anyhow!("--api-key-env: {e}"))?;
            KeySource::Env(name.trim().to_string())
        }
        (None, Some(k), _) if !k.trim().is_empty() => KeySource::Inline(k.trim().to_string()),
        (None, _, Some(Preset { env: Some(var), .. })) => KeySource::Env(var.clone()),
        _ => {
            ui::err(
                "llm-router: warning: no relay key configured (fine for a local relay); add one later with `llm-router config set upstream.api_key_env NAME`",
            );
            KeySource::None
        }
    };
    let router_key = match (&args.router_key, args.generate_router_key) {
        (Some(k), _) => k.trim().to_string(),
        (None, true) => generate_router_key(),
        (None, false) => String::new(),
    };
    Ok(Answers {
        base_url,
        provider: preset.map(|p| p.name),
        key,
        router_key,
        port: args.port.unwrap_or(Config::default().server.port),
    })
}

/// The prompts, with one theme and errors that say the terminal went away.
struct Ask<'t> {
    theme: &'t ColorfulTheme,
}

fn term_err(e: dialoguer::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "could not read the answer from the terminal: {e} (use --yes with flags instead)"
    )
}

impl Ask<'_> {
    fn select(&self, prompt: &str, items: &[String], default: usize) -> anyhow::Result<usize> {
        Select::with_theme(self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .max_length(12)
            .interact()
            .map_err(term_err)
    }

    fn text(
        &self,
        prompt: &str,
        default: Option<String>,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> anyhow::Result<String> {
        let mut input = Input::<String>::with_theme(self.theme).with_prompt(prompt);
        if let Some(d) = default {
            input = input.default(d);
        }
        input
            .validate_with(|s: &String| check(s))
            .interact_text()
            .map(|s| s.trim().to_string())
            .map_err(term_err)
    }

    fn secret(&self, prompt: &str) -> anyhow::Result<String> {
        Password::with_theme(self.theme)
            .with_prompt(prompt)
            .interact()
            .map(|s| s.trim().to_string())
            .map_err(term_err)
    }

    fn confirm(&self, prompt: &str, default: bool) -> anyhow::Result<bool> {
        Confirm::with_theme(self.theme)
            .with_prompt(prompt)
            .default(default)
            .interact()
            .map_err(term_err)
    }
}

/// The interactive questions; a flag that was given answers its question.
fn ask_all(args: &Args, ask: &Ask<'_>) -> anyhow::Result<Answers> {
    let all = presets();
    let mut preset = args.provider.as_deref().map(find_preset).transpose()?;

    let base_url = if let Some(u) = &args.base_url {
        check_base_url(u).map_err(|e| anyhow::anyhow!("--base-url: {e}"))?;
        u.trim().to_string()
    } else if let Some(p) = &preset {
        p.base.clone()
    } else {
        let popular: Vec<&Preset> = all
            .iter()
            .filter(|p| POPULAR.contains(&p.id.as_str()))
            .collect();
        let mut items: Vec<String> = popular
            .iter()
            .map(|p| format!("{}  ({})", p.name, p.base))
            .collect();
        let custom = items.len();
        items.push("Custom URL (any OpenAI-compatible relay)".into());
        items.push(format!("More providers ({})…", all.len() - popular.len()));
        let choice = ask.select("Where are your models?", &items, 0)?;
        if choice < custom {
            preset = popular.get(choice).map(|p| (*p).clone());
        } else if choice > custom {
            let rest: Vec<&Preset> = all
                .iter()
                .filter(|p| !POPULAR.contains(&p.id.as_str()))
                .collect();
            let names: Vec<String> = rest
                .iter()
                .map(|p| format!("{}  ({})", p.name, p.base))
                .collect();
            let i = ask.select("Provider", &names, 0)?;
            preset = rest.get(i).map(|p| (*p).clone());
        }
        match &preset {
            Some(p) => p.base.clone(),
            None => ask.text(
                "Base URL of the relay (e.g. https://relay.example.com/v1)",
                None,
                check_base_url,
            )?,
        }
    };

    let key = if let Some(name) = &args.api_key_env {
        check_env_name(name).map_err(|e| anyhow::anyhow!("--api-key-env: {e}"))?;
        KeySource::Env(name.trim().to_string())
    } else if let Some(k) = args.api_key.as_deref().filter(|k| !k.trim().is_empty()) {
        KeySource::Inline(k.trim().to_string())
    } else {
        let items = [
            "Read it from an environment variable (recommended: no secret in the file)".to_string(),
            "Paste the key (stored in the config file, mode 0600)".to_string(),
            "No key (the relay needs none)".to_string(),
        ];
        match ask.select("How does the gateway get the relay key?", &items, 0)? {
            0 => {
                let default = preset
                    .as_ref()
                    .and_then(|p| p.env.clone())
                    .unwrap_or_else(|| CUSTOM_KEY_VAR.into());
                KeySource::Env(ask.text(
                    "Environment variable holding the key",
                    Some(default),
                    check_env_name,
                )?)
            }
            1 => {
                let k = ask.secret("Relay key (hidden)")?;
                if k.is_empty() {
                    KeySource::None
                } else {
                    KeySource::Inline(k)
                }
            }
            _ => KeySource::None,
        }
    };

    let router_key = if let Some(k) = &args.router_key {
        k.trim().to_string()
    } else if args.generate_router_key {
        generate_router_key()
    } else {
        let items = [
            "Generate a random key (recommended)".to_string(),
            "Enter my own key".to_string(),
            "No key (any program on this machine may use the gateway)".to_string(),
        ];
        match ask.select("Router key that clients must send", &items, 0)? {
            0 => generate_router_key(),
            1 => ask.secret("Router key (hidden)")?,
            _ => String::new(),
        }
    };

    let port = match args.port {
        Some(p) => p,
        None => {
            let default = Config::default().server.port;
            let p = ask.text(
                "Port for the gateway",
                Some(default.to_string()),
                |s| match s.trim().parse::<u16>() {
                    Ok(p) if p > 0 => Ok(()),
                    _ => Err("a port number 1-65535".into()),
                },
            )?;
            p.parse::<u16>().unwrap_or(default)
        }
    };

    Ok(Answers {
        base_url,
        provider: preset.map(|p| p.name),
        key,
        router_key,
        port,
    })
}

/// A TOML string literal (quotes and escapes done by toml_edit).
fn quoted(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

/// The commented config document.
fn render(a: &Answers) -> String {
    let relay = a
        .provider
        .as_deref()
        .map(|p| format!(" ({p})"))
        .unwrap_or_default();
    let key_lines = match &a.key {
        KeySource::Env(name) => format!(
            "# The relay key is read from this environment variable when the gateway starts,\n\
             # so this file holds no secret.\n\
             api_key_env = {}\n",
            quoted(name)
        ),
        KeySource::Inline(k) => format!(
            "# The relay key itself (this file is mode 0600). Safer: keep it in an environment\n\
             # variable, `llm-router config set upstream.api_key_env NAME`, and delete this line.\n\
             api_key = {}\n",
            quoted(k)
        ),
        KeySource::None => {
            "# No relay key. Add one with `llm-router config set upstream.api_key_env NAME`.\n\
             api_key_env = \"\"\n"
                .to_string()
        }
    };
    format!(
        "# llm-router configuration, written by `llm-router init`.\n\
         # Change a value with `llm-router config set KEY VALUE` (comments are kept); see the\n\
         # values in force with `llm-router config show`.\n\
         \n\
         [server]\n\
         # Clients use http://127.0.0.1:{port}/v1. Loopback only: another host needs api_key.\n\
         host = \"127.0.0.1\"\n\
         port = {port}\n\
         # Key clients must send (Authorization: Bearer, or x-api-key); empty = no key.\n\
         api_key = {router_key}\n\
         \n\
         [upstream]\n\
         # The OpenAI-compatible relay that requests are forwarded to{relay}.\n\
         base_url = {base}\n\
         {key_lines}\
         \n\
         [router]\n\
         # Router model; empty = the cheapest priced capable chat model the relay lists\n\
         # (`llm-router models` shows which one that is).\n\
         model = \"\"\n\
         \n\
         # Per-model overrides, keyed by the relay's model id. For example, never route to one:\n\
         # [models.\"gpt-5.5\"]\n\
         # exclude = true\n",
        port = a.port,
        router_key = quoted(&a.router_key),
        base = quoted(&a.base_url),
    )
}

/// Ask the relay for its models and show what the router would do. False when it failed.
fn show_probe(a: &Answers) -> bool {
    let mut cfg = Config::default();
    cfg.upstream.base_url = a.base_url.clone();
    // Quicker than the gateway's own timeouts: someone is waiting at the prompt.
    cfg.upstream.connect_timeout_ms = 5_000;
    cfg.upstream.first_byte_timeout_ms = 15_000;
    let Some(base) = cfg.upstream_v1_base() else {
        return false;
    };
    let key = match &a.key {
        KeySource::Inline(k) => Some(k.clone()),
        KeySource::Env(name) => {
            let v = std::env::var(name).ok().filter(|v| !v.trim().is_empty());
            if v.is_none() {
                ui::err(format!(
                    "note: {name} is not set in this shell; asking the relay without a key"
                ));
            }
            v
        }
        KeySource::None => None,
    };
    match models::probe(&base, key, &cfg.upstream, &cfg.models, &cfg.router) {
        Ok(found) => {
            let describe = |id: &str| match found.find(id) {
                Some(m) => format!(
                    "{id}  ({} in / {} out per 1M tokens, context {})",
                    ui::price(m.input_price),
                    ui::price(m.output_price),
                    ui::tokens(m.context)
                ),
                None => id.to_string(),
            };
            ui::out(ui::kv(&[
                (
                    "relay",
                    format!(
                        "{base}: {} models, {} the router may pick",
                        found.facts.len(),
                        found.routable()
                    ),
                ),
                (
                    "router model",
                    found
                        .router_model
                        .as_deref()
                        .map_or_else(|| "none (no usable chat model)".into(), describe),
                ),
                (
                    "strongest",
                    found
                        .strongest
                        .as_deref()
                        .map_or_else(|| "none".into(), describe),
                ),
            ]));
            true
        }
        Err(e) => {
            ui::err(format!("llm-router: warning: {e}"));
            false
        }
    }
}

fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    // Our own default directory is made private even if it exists; a directory the user
    // chose with --config or LLM_ROUTER_CONFIG is theirs (write_atomic creates a missing
    // one 0700).
    if let Some(dir) = path.parent()
        && dir == paths::config_dir()
    {
        paths::ensure_private_dir(dir)
            .with_context(|| format!("could not create the config directory {}", dir.display()))?;
    }
    config::atomic::write_atomic(path, text.as_bytes()).with_context(|| {
        format!(
            "could not write {} (check that its directory is writable)",
            path.display()
        )
    })
}

fn next_steps(a: &Answers, config_path: Option<&Path>) {
    let flag = config_path
        .map(|p| format!(" --config {}", p.display()))
        .unwrap_or_default();
    let mut lines = vec!["\nNext:".to_string()];
    if let KeySource::Env(name) = &a.key
        && std::env::var(name).is_err()
    {
        lines.push(format!(
            "  export {name}=...                # the relay key, in the shell that starts the gateway"
        ));
    }
    lines.push(format!(
        "  llm-router{flag} start            # run the gateway in the background"
    ));
    lines.push(format!(
        "  eval \"$(llm-router{flag} env)\"    # point OpenAI clients at http://127.0.0.1:{}/v1",
        a.port
    ));
    if a.key == KeySource::Env("OPENAI_API_KEY".into()) {
        lines.push(
            "  note: `llm-router env` sets OPENAI_API_KEY to the router key for clients; start the gateway from a shell where OPENAI_API_KEY still holds the relay key".into(),
        );
    }
    ui::out(lines.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_start_with_the_popular_ones_and_all_bases_work() {
        let all = presets();
        let ids: Vec<&str> = all
            .iter()
            .take(POPULAR.len())
            .map(|p| p.id.as_str())
            .collect();
        assert_eq!(ids, POPULAR);
        for p in &all {
            let last = p.base.rsplit('/').next().unwrap_or("");
            assert!(last.starts_with('v'), "{p:?}");
            assert_eq!(check_base_url(&p.base), Ok(()), "{p:?}");
        }
        assert!(!all.iter().any(|p| p.base.contains("${")));
        assert!(all.len() > 50, "{}", all.len());
    }

    #[test]
    fn every_rendered_document_is_a_valid_config() {
        for key in [
            KeySource::Env("RELAY_KEY".into()),
            KeySource::Inline("sk-\"quoted\\key".into()),
            KeySource::None,
        ] {
            let a = Answers {
                base_url: "https://relay.example.com".into(),
                provider: Some("Example \"Relay\"".into()),
                key: key.clone(),
                router_key: generate_router_key(),
                port: 9001,
            };
            let text = render(&a);
            let cfg = config::parse_str(&text, Path::new("t.toml")).unwrap();
            cfg.validate().unwrap();
            assert_eq!(cfg.server.port, 9001);
            assert_eq!(cfg.server.api_key, a.router_key);
            match key {
                KeySource::Env(n) => assert_eq!(cfg.upstream.api_key_env, n),
                KeySource::Inline(k) => assert_eq!(cfg.upstream.api_key, k),
                KeySource::None => assert!(cfg.upstream.api_key.is_empty()),
            }
        }
    }

    #[test]
    fn env_names_and_router_keys() {
        assert!(check_env_name("RELAY_API_KEY").is_ok());
        assert!(check_env_name("1BAD").is_err());
        assert!(check_env_name("A B").is_err());
        let k = generate_router_key();
        assert!(k.starts_with("sk-lr-") && k.len() == 38, "{k}");
        assert_ne!(k, generate_router_key());
    }
}
