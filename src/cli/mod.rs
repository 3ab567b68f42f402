//! The command line: one file per subcommand, dispatch only here.
//!
//! Only `cli/` and `ui.rs` print. Errors bubble up as `anyhow` with context and are printed
//! once by `main` as `llm-router: <error>`.

pub mod start;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Route every OpenAI-compatible request to the right model, automatically.
#[derive(Debug, Parser)]
#[command(
    name = "llm-router",
    version,
    about,
    after_long_help = "Examples:\n  llm-router init                 # set up the relay URL and key\n  llm-router start                # run the gateway in the background\n  eval \"$(llm-router env)\"        # point OpenAI clients at it\n  llm-router start --foreground   # run attached (systemd, Docker)\n  llm-router start --demo         # try it with a simulated relay, no key needed"
)]
pub struct Cli {
    /// Config file to use instead of the default (also LLM_ROUTER_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the gateway (in the background unless --foreground).
    Start(start::Args),
}

/// Run the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Start(args) => start::run(&args, cli.config.as_deref()),
    }
}
