//! `llm-router route-test`: which model a prompt would go to, and why, without answering it.
//!
//! Asks the running daemon over the control socket, so the answer reflects its live model
//! list, cooldowns and config. With no daemon it builds the same engine in-process (config →
//! `server::Runtime` → upstream model list joined with the catalog → the shared
//! `server::route_test`) and says so. Either way the router model really is called: the
//! decision is the one a real request would get.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use serde_json::{Value, json};

use crate::catalog::{Catalog, join};
use crate::config::{self, paths};
use crate::daemon::client::{Client, ClientError};
use crate::daemon::lock;
use crate::engine::Cooldowns;
use crate::server::Runtime;
use crate::server::models::display_url;
use crate::server::route_test::{RouteTestRequest, route_test};
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
    let req =
        RouteTestRequest::from_prompt(args.mode.as_str(), &prompt, image.as_deref(), args.tools);

    let (mut decision, via) = match ask_daemon(&req)? {
        Some((d, pid)) => (d, Via::Daemon(pid)),
        None => (in_process(&req, config_path)?, Via::InProcess),
    };
    let note = match via {
        Via::Daemon(Some(pid)) => format!("routed by the running daemon (pid {pid})"),
        Via::Daemon(None) => "routed by the running daemon".to_string(),
        Via::InProcess => "daemon not running; routed in-process".to_string(),
    };
    if args.json {
        if let Value::Object(o) = &mut decision {
            o.insert(
                "via".into(),
                json!(match via {
                    Via::Daemon(_) => "daemon",
                    Via::InProcess => "in-process",
                }),
            );
        }
        ui::err(&note);
        ui::json(&decision);
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
fn ask_daemon(req: &RouteTestRequest) -> anyhow::Result<Option<(Value, Option<u32>)>> {
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

/// The same engine as the daemon's, built here for one decision.
fn in_process(req: &RouteTestRequest, config_path: Option<&Path>) -> anyhow::Result<Value> {
    let loaded = config::load(config_path)?;
    let key = loaded.upstream_key(&|n| std::env::var(n).ok());
    let cfg = loaded.config;
    let port = cfg.server.port;
    // Built before the runtime so "no upstream configured" needs no runtime at all.
    let runtime = Runtime::build(cfg, port, Arc::new(Cooldowns::new()), key)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let decision = rt.block_on(async {
        let raw = runtime.upstream.models().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot list the models of {}: {e}; check `upstream.base_url` and the key (`llm-router config get upstream`)",
                display_url(runtime.upstream.base())
            )
        })?;
        let facts = join(&raw, Catalog::embedded(), &runtime.config.models);
        route_test(&runtime, &facts, req)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))
    })?;
    rt.shutdown_timeout(std::time::Duration::from_millis(50));
    serde_json::to_value(&decision).context("cannot serialise the decision")
}

fn print_human(d: &Value) {
    let s = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let effort = match (s("effort"), s("applied_effort")) {
        (Some(e), Some(a)) if e == a => e,
        (Some(e), Some(a)) => format!("{e} (sent as {a})"),
        (Some(e), None) => format!("{e} (not sent: the target does not take reasoning_effort)"),
        (None, _) => "-".into(),
    };
    let by_router = s("source").as_deref() == Some("router");
    let router = s("router_model").unwrap_or_else(|| "none".into());
    let ms = d.get("router_ms").and_then(Value::as_u64).unwrap_or(0);
    let cost = d
        .get("router_cost")
        .and_then(Value::as_f64)
        .map_or_else(|| "unknown cost".into(), |c| format!("${c:.6}"));
    let decided = if by_router {
        format!("router model {router} ({ms} ms, {cost})")
    } else {
        match s("router_error") {
            Some(e) => format!("fallback policy (router {router} failed after {ms} ms: {e})"),
            None => "fallback policy".to_string(),
        }
    };
    let candidates = d
        .get("candidates")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    ui::out(ui::kv(&[
        ("Target", dash(s("target"))),
        ("Mode", dash(s("mode"))),
        ("Effort", effort),
        ("Task type", dash(s("task_type"))),
        ("Difficulty", dash(s("difficulty"))),
        (
            "Confidence",
            d.get("confidence")
                .and_then(Value::as_f64)
                .map_or_else(|| "-".into(), |c| format!("{c:.2}")),
        ),
        ("Reason", dash(s("reason"))),
        ("Decided by", decided),
        ("Candidates", candidates),
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
