//! The `llm-router` binary: parse, run, print the one error line, exit.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = llm_router::cli::Cli::parse();
    let result = llm_router::cli::run(cli);
    llm_router::logging::flush();
    match result {
        Ok(code) => code,
        Err(e) => {
            // The one place errors are printed.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("llm-router: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
