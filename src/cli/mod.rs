//! The command line: one file per subcommand, dispatch only here.
//!
//! Only `cli/` and `ui.rs` print. Errors bubble up as `anyhow` with context and are printed
//! once by `main` as `llm-router: <error>`.

pub mod completions;
pub mod config;
pub mod env;
pub mod healthcheck;
pub mod init;
pub mod models;
pub mod route_test;
pub mod sim;
pub mod start;
pub mod status;
pub mod stop;
pub mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Route every OpenAI-compatible request to the right model, automatically.
#[derive(Debug, Parser)]
#[command(
    name = "llm-router",
    version,
    about,
    after_long_help = "Examples:\n  llm-router init                 # set up the relay URL and key\n  llm-router start                # run the gateway in the background\n  eval \"$(llm-router env)\"        # point OpenAI clients at it\n  llm-router route-test \"Refactor this module\"\n  llm-router start --foreground   # run attached (systemd, Docker)\n  llm-router start --demo         # try it with a simulated relay, no key needed"
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
    /// Set up the relay URL, key and port (interactive, or --yes with flags).
    Init(init::Args),
    /// Start the gateway (in the background unless --foreground).
    Start(start::Args),
    /// Stop the background gateway, letting open streams finish.
    Stop(stop::Args),
    /// Show whether the gateway runs, and what it does.
    Status(status::Args),
    /// List the upstream's models with prices, context and capabilities.
    Models(models::Args),
    /// Show which model a prompt would be routed to, without answering it.
    #[command(name = "route-test")]
    RouteTest(route_test::Args),
    /// Read or change the configuration file.
    Config(config::Args),
    /// Show requests, spend and savings from the usage database.
    Usage(usage::Args),
    /// Print the environment variables that point OpenAI clients at the gateway.
    Env(env::Args),
    /// Print a shell completion script.
    Completions(completions::Args),
    /// Run the simulated relay alone (for tests and benchmarks).
    #[command(hide = true)]
    Sim(sim::Args),
    /// Exit 0 when the local gateway answers /health (for container health checks).
    #[command(hide = true)]
    Healthcheck(healthcheck::Args),
}

/// Run the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = cli.config.as_deref();
    match &cli.command {
        Command::Init(a) => init::run(a, cfg),
        Command::Start(a) => start::run(a, cfg),
        Command::Stop(a) => stop::run(a, cfg),
        Command::Status(a) => status::run(a, cfg),
        Command::Models(a) => models::run(a, cfg),
        Command::RouteTest(a) => route_test::run(a, cfg),
        Command::Config(a) => config::run(a, cfg),
        Command::Usage(a) => usage::run(a, cfg),
        Command::Env(a) => env::run(a, cfg),
        Command::Completions(a) => completions::run(a, cfg),
        Command::Sim(a) => sim::run(a, cfg),
        Command::Healthcheck(a) => healthcheck::run(a, cfg),
    }
}
