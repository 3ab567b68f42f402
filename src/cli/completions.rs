//! `llm-router completions <shell>`: print a completion script generated from the clap
//! definition of the whole CLI, so it can never disagree with the real flags.
//!
//! Invariants: reads no config, starts no runtime, touches no files; the script goes to stdout
//! only. The copies committed in `completions/` are this command's output; the test
//! `env_cmd::completions_match_committed_files` fails when they drift and rewrites them with
//! `UPDATE_COMPLETIONS=1` (see `docs/shell.md`).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::ui;

const AFTER_LONG_HELP: &str = "\
Examples:
  bash:        llm-router completions bash > ~/.local/share/bash-completion/completions/llm-router
  zsh:         llm-router completions zsh > ~/.zfunc/_llm-router   (with fpath+=~/.zfunc before compinit)
  fish:        llm-router completions fish > ~/.config/fish/completions/llm-router.fish
  PowerShell:  llm-router completions powershell | Out-String | Invoke-Expression   (in $PROFILE)
  elvish:      eval (llm-router completions elvish | slurp)   (in rc.elv)";

#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_LONG_HELP)]
pub struct Args {
    /// The shell to print the completion script for
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args, _config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    ui::out(script(args.shell)?);
    Ok(ExitCode::SUCCESS)
}

/// The completion script for `shell`, without its final newline (`ui::out` adds one).
pub fn script(shell: Shell) -> anyhow::Result<String> {
    let mut cmd = super::Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "llm-router", &mut buf);
    let text = String::from_utf8(buf)
        .with_context(|| format!("the {shell} completion script is not UTF-8"))?;
    Ok(text.trim_end_matches('\n').to_string())
}
