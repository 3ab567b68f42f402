//! `llm-router env`: not implemented yet.

use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: &Args, _config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`env` is not implemented yet")
}
