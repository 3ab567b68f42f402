//! `llm-router env`: print the shell code (or JSON) that points OpenAI clients at the gateway.
//!
//! It runs from shell start-up files (`eval "$(llm-router env)"`), so it must be fast and must
//! never leave a half-written script behind. Invariants:
//! - It reads the config (`config::load`: file, `.env`, environment) and nothing else: no async
//!   runtime, no catalog, no daemon, no network, no writes. The port comes from the config, not
//!   from a running daemon, so the output is the same before and after `start`.
//! - The whole output is built before anything is printed; on any error stdout stays empty and
//!   `main` prints the one error line on stderr with a non-zero exit, so `eval` runs nothing.
//! - Only the router key (`server.api_key`) is printed, never the relay key.

use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::{Serialize, Serializer};

use crate::config::{self, ServerConfig};
use crate::shell::Shell;
use crate::ui;

const AFTER_HELP: &str = "The relay key is never printed. See --help for examples per shell.";

const AFTER_LONG_HELP: &str = "\
Prints OPENAI_BASE_URL and OPENAI_API_BASE (http://<server.host>:<server.port>/v1; a wildcard
host such as 0.0.0.0 becomes 127.0.0.1) and OPENAI_API_KEY (the router key, server.api_key, or
the placeholder `llm-router` when the gateway needs no key, because SDKs refuse an empty key).
The relay key (upstream.api_key) is never printed.

The shell is --shell, else detected from $FISH_VERSION, $NU_VERSION, $PSModulePath and $SHELL.
On any error nothing is printed on stdout, so `eval` never runs a partial script.

Examples:
  bash, zsh, sh (add to ~/.bashrc or ~/.zshrc):
    eval \"$(llm-router env)\"
  fish (add to ~/.config/fish/config.fish):
    llm-router env --shell fish | source
  PowerShell (add to $PROFILE):
    llm-router env --shell powershell | Out-String | Invoke-Expression
  nushell:
    llm-router env --json | from json | load-env
  undo in the current shell:
    eval \"$(llm-router env --unset)\"
    llm-router env --shell fish --unset | source";

/// The router key stand-in when the gateway has none: SDKs refuse an empty `OPENAI_API_KEY`,
/// and the gateway ignores the key when `server.api_key` is empty.
pub const PLACEHOLDER_KEY: &str = "llm-router";

/// The variables, in output order.
const NAMES: [&str; 3] = ["OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_API_KEY"];

#[derive(Debug, clap::Args)]
#[command(after_help = AFTER_HELP, after_long_help = AFTER_LONG_HELP)]
pub struct Args {
    /// Shell syntax to print [default: detected from the environment]
    #[arg(long, short = 's', value_enum, value_name = "SHELL")]
    pub shell: Option<Shell>,

    /// Print the commands that remove the variables instead
    #[arg(long, short = 'u')]
    pub unset: bool,

    /// Print the variables as one JSON object instead of shell code
    #[arg(long, conflicts_with_all = ["shell", "unset"])]
    pub json: bool,
}

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let text = render(args, config_path, &|name| {
        // A non-UTF-8 $SHELL still names a shell by its (ASCII) basename.
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    })?;
    ui::out(text);
    Ok(ExitCode::SUCCESS)
}

/// The complete output for `args`, or an error; nothing is printed here.
fn render(
    args: &Args,
    config_path: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    // `--unset` needs no config: it must work even when the config is broken.
    if args.unset {
        let shell = pick_shell(args.shell, env)?;
        return Ok(shell.render_unset(&NAMES)?);
    }
    let loaded = config::load(config_path)?;
    let vars = client_vars(&loaded.config.server);
    if args.json {
        return serde_json::to_string_pretty(&Ordered(&vars))
            .context("could not serialise the variables as JSON");
    }
    let shell = pick_shell(args.shell, env)?;
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    shell
        .render_set(&pairs)
        .with_context(|| format!("could not write the variables for {}", shell.name()))
}

fn pick_shell(flag: Option<Shell>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Shell> {
    match flag {
        Some(shell) => Ok(shell),
        None => Ok(Shell::detect(env)?),
    }
}

/// The variables a client needs to reach the gateway configured by `server`.
pub fn client_vars(server: &ServerConfig) -> [(&'static str, String); 3] {
    let base = format!("http://{}:{}/v1", client_host(&server.host), server.port);
    // Same emptiness test as the gateway's key check: an empty key means no auth.
    let key = if server.api_key.is_empty() {
        PLACEHOLDER_KEY.to_string()
    } else {
        server.api_key.clone()
    };
    [(NAMES[0], base.clone()), (NAMES[1], base), (NAMES[2], key)]
}

/// The host a client should dial for a gateway bound to `host`.
fn client_host(host: &str) -> String {
    let host = host.trim();
    match host.parse::<IpAddr>() {
        // Bound to every interface: loopback is one of them and always reachable locally.
        Ok(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
        // An IPv4 address, or `localhost` (the only name validation allows).
        _ => host.to_string(),
    }
}

/// Pairs serialised as a JSON object in their given order (a map type would sort them).
struct Ordered<'a>(&'a [(&'static str, String)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16, key: &str) -> ServerConfig {
        ServerConfig {
            host: host.into(),
            port,
            api_key: key.into(),
            ..ServerConfig::default()
        }
    }

    #[test]
    fn hosts_clients_can_dial() {
        let cases = [
            ("127.0.0.1", "127.0.0.1"),
            ("0.0.0.0", "127.0.0.1"),
            ("::", "127.0.0.1"),
            ("::1", "[::1]"),
            ("fe80::1", "[fe80::1]"),
            ("192.168.1.5", "192.168.1.5"),
            ("localhost", "localhost"),
            (" 127.0.0.2 ", "127.0.0.2"),
        ];
        for (bound, want) in cases {
            assert_eq!(client_host(bound), want, "{bound}");
        }
    }

    #[test]
    fn vars_use_port_and_key() {
        let v = client_vars(&server("::1", 9001, "k"));
        assert_eq!(
            v[0],
            ("OPENAI_BASE_URL", "http://[::1]:9001/v1".to_string())
        );
        assert_eq!(
            v[1],
            ("OPENAI_API_BASE", "http://[::1]:9001/v1".to_string())
        );
        assert_eq!(v[2], ("OPENAI_API_KEY", "k".to_string()));
        let v = client_vars(&server("127.0.0.1", 8787, ""));
        assert_eq!(v[2].1, PLACEHOLDER_KEY);
    }

    #[test]
    fn json_keeps_order() {
        let v = client_vars(&server("127.0.0.1", 8787, ""));
        let s = serde_json::to_string(&Ordered(&v)).unwrap();
        assert_eq!(
            s,
            r#"{"OPENAI_BASE_URL":"http://127.0.0.1:8787/v1","OPENAI_API_BASE":"http://127.0.0.1:8787/v1","OPENAI_API_KEY":"llm-router"}"#
        );
    }
}
