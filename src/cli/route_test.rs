//! `llm-router route-test`: which model a prompt would go to, and why, without answering it.
//!
//! Asks the running daemon over the control socket, so the answer reflects its live model
//! list, cooldowns and config. With no daemon it assembles the same gateway in-process (the
//! config file through `server::assembly`, as `start` does, its model list fetched as the
//! daemon fetches it) and answers through the same `daemon::reply::route_test`, and says
//! so. Either way the router model really is called: the decision is the one a real request
//! would get.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use crate::config::paths;
use crate::daemon::client::{Client, ClientError};
use crate::daemon::protocol::{RouteDecision, RouteTest};
use crate::daemon::{lock, reply};
use crate::server::assembly::{self, Overrides, Source};
use crate::server::models::{self, display_url};
use crate::ui;

/// The virtual model to route as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// General requests.
    #[value(name = "auto")]
    Auto,
    /// Coding requests.
    #[value(name = "auto-coding")]
    AutoCoding,
    /// Long documents.
    #[value(name = "auto-longtext")]
    AutoLongtext,
}

impl ModeArg {
    fn as_str(self) -> &'static str {
        match self {
            ModeArg::Auto => "auto",
            ModeArg::AutoCoding => "auto-coding",
            ModeArg::AutoLongtext => "auto-longtext",
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router route-test \"Refactor this module to use async\"\n  llm-router route-test --mode auto-longtext --file report.txt\n  git diff | llm-router route-test --mode auto-coding\n  llm-router route-test --image chart.png \"What does this show?\"\n  llm-router route-test --json \"hi\" | jq .target"
)]
pub struct Args {
    /// The prompt to route; `-` (or nothing, with stdin piped) reads standard input.
    pub prompt: Option<String>,
    /// Read the prompt from a file.
    #[arg(long, value_name = "PATH", conflicts_with = "prompt")]
    pub file: Option<PathBuf>,
    /// The virtual model to route as.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
    /// Attach an image: a local file (sent as a data URL) or an http(s) URL.
    #[arg(long, value_name = "PATH_OR_URL")]
    pub image: Option<String>,
    /// Offer a dummy tool, as agents do (only tool-capable models remain candidates).
    #[arg(long)]
    pub tools: bool,
    /// Print the decision as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let prompt = read_prompt(args)?;
    let image = args.image.as_deref().map(image_url).transpose()?;
    let req = RouteTest::from_prompt(args.mode.as_str(), &prompt, image.as_deref(), args.tools);

    let (decision, via) = match ask_daemon(&req)? {
        Some((d, pid)) => (d, Via::Daemon(pid)),
        None => (in_process(&req, config_path)?, Via::InProcess),
    };
    let note = match via {
        Via::Daemon(Some(pid)) => format!("routed by the running daemon (pid {pid})"),
        Via::Daemon(None) => "routed by the running daemon".to_string(),
        Via::InProcess => "daemon not running; routed in-process".to_string(),
    };
    if args.json {
        ui::err(&note);
        ui::json(&Printed {
            decision: &decision,
            via: match via {
                Via::Daemon(_) => "daemon",
                Via::InProcess => "in-process",
            },
        });
    } else {
        ui::err(&note);
        print_human(&decision);
    }
    Ok(ExitCode::SUCCESS)
}

enum Via {
    Daemon(Option<u32>),
    InProcess,
}

/// `--json`: the decision and which side made it.
#[derive(Serialize)]
struct Printed<'a> {
    #[serde(flatten)]
    decision: &'a RouteDecision,
    via: &'static str,
}

fn read_prompt(args: &Args) -> anyhow::Result<String> {
    if let Some(path) = &args.file {
        return std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the prompt file {}", path.display()));
    }
    let from_stdin = match args.prompt.as_deref() {
        Some("-") => true,
        Some(_) => false,
        None => !std::io::stdin().is_terminal(),
    };
    if from_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("cannot read the prompt from standard input")?;
        return Ok(s);
    }
    match &args.prompt {
        Some(p) => Ok(p.clone()),
        None => anyhow::bail!(
            "no prompt given: pass it as an argument (`llm-router route-test \"…\"`), with --file PATH, or on stdin"
        ),
    }
}

/// A URL as is; a local file as a `data:` URL (the router only sees that an image is there).
fn image_url(arg: &str) -> anyhow::Result<String> {
    let lower = arg.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("data:") {
        return Ok(arg.to_string());
    }
    let bytes = std::fs::read(arg).with_context(|| {
        format!("cannot read the image {arg}; pass a local file or an http(s) URL")
    })?;
    Ok(data_url(Path::new(arg), &bytes))
}

fn data_url(path: &Path, bytes: &[u8]) -> String {
    use base64::Engine;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let mime = match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        _ => "image/png",
    };
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The daemon's decision, or None when no daemon runs.
fn ask_daemon(req: &RouteTest) -> anyhow::Result<Option<(RouteDecision, Option<u32>)>> {
    let Some(holder) = lock::probe(&paths::lock_file())? else {
        return Ok(None);
    };
    match Client::default_socket().route_test(req.clone()) {
        Ok(d) => Ok(Some((d, holder.pid))),
        // Locked but no socket yet: starting up, or exiting. Route here instead of failing.
        Err(ClientError::NotRunning(_)) => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// The daemon's gateway, assembled here for one decision: the same config loading, runtime,
/// model fetch and dry run as `start` and the control socket's `route_test`.
fn in_process(req: &RouteTest, config_path: Option<&Path>) -> anyhow::Result<RouteDecision> {
    let source = Source::new(config_path.map(Path::to_path_buf), Overrides::default());
    let settings = source.load()?;
    // Nothing listens: the address only feeds the Host check, which a dry run never meets.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], settings.config.server.port));
    let state = assembly::build(settings, addr, false, Some(source))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let decision = rt.block_on(async {
        if !models::refresh_once(&state).await {
            let m = state.models.load();
            anyhow::bail!(
                "cannot list the models of {}: {}; check `upstream.base_url` and the key (`llm-router config get upstream`)",
                display_url(state.runtime.load().upstream.base()),
                m.error.as_deref().unwrap_or("no answer")
            );
        }
        reply::route_test(&state, req.clone())
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))
    })?;
    rt.shutdown_timeout(std::time::Duration::from_millis(50));
    Ok(decision)
}

fn print_human(d: &RouteDecision) {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let effort = match (&d.effort, &d.applied_effort) {
        (Some(e), Some(a)) if e == a => e.clone(),
        (Some(e), Some(a)) => format!("{e} (sent as {a})"),
        (Some(e), None) => format!("{e} (not sent: the target does not take reasoning_effort)"),
        (None, _) => "-".into(),
    };
    let router = d.router_model.as_deref().unwrap_or("none");
    let ms = d.router_ms;
    let cost = d
        .router_cost
        .map_or_else(|| "unknown cost".into(), |c| format!("${c:.6}"));
    let decided = if d.source == "router" {
        format!("router model {router} ({ms} ms, {cost})")
    } else {
        match &d.router_error {
            Some(e) => format!("fallback policy (router {router} failed after {ms} ms: {e})"),
            None => "fallback policy".to_string(),
        }
    };
    ui::out(ui::kv(&[
        ("Target", d.target.clone()),
        ("Mode", d.mode.clone()),
        ("Effort", effort),
        ("Task type", dash(&d.task_type)),
        ("Difficulty", dash(&d.difficulty)),
        (
            "Confidence",
            d.confidence
                .map_or_else(|| "-".into(), |c| format!("{c:.2}")),
        ),
        ("Reason", d.reason.clone()),
        ("Decided by", decided),
        ("Candidates", d.candidates.join(", ")),
    ]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_images_become_data_urls() {
        assert_eq!(
            data_url(Path::new("a.JPG"), b"hi"),
            "data:image/jpeg;base64,aGk="
        );
        assert!(data_url(Path::new("x"), b"").starts_with("data:image/png;base64,"));
        assert_eq!(image_url("https://x/y.png").unwrap(), "https://x/y.png");
        assert!(image_url("/nonexistent/file.png").is_err());
    }
}
