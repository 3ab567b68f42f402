//! `llm-router models`: the upstream's models joined with the catalog (price, context,
//! capabilities, tier), which one is the router model, and which are excluded and why.
//!
//! With a daemon running, its live table is shown (the same one it routes with). Without
//! one, the relay is asked directly with the same join and router-model rule, and stderr
//! says so, so the two views never disagree about what the router would do.
//!
//! [`probe`] is shared with `init`, which shows the same facts before saving a config.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::{self, Catalog, ModelFacts, ModelOverride};
use crate::config::{self, UpstreamConfig};
use crate::daemon::client::{Client, ClientError};
use crate::engine::{Cooldowns, Engine, policy};
use crate::ui;
use crate::upstream::Upstream;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router models\n  llm-router models --json | jq '.models[] | select(.excluded == null) | .id'"
)]
pub struct Args {
    /// Print JSON instead of a table (same shape with or without a daemon).
    #[arg(long)]
    pub json: bool,
}

/// What `models` shows, from the daemon or from the relay directly. The JSON output is this.
#[derive(Debug, Serialize)]
struct View {
    /// `daemon` (the running gateway's live list) or `upstream` (asked directly).
    source: &'static str,
    /// The relay's `/v1` base the list came from (direct mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<String>,
    router_model: Option<String>,
    /// Whether `router.model` picked the router model (else the cheapest-capable rule did).
    router_model_configured: bool,
    fetched_unix: Option<u64>,
    /// The daemon's last refresh error, if any (its list may then be stale).
    error: Option<String>,
    /// `ModelFacts` as JSON, exactly as the daemon or the join produced them.
    models: Vec<Value>,
}

/// The fields of a `ModelFacts` JSON object the table shows. Lenient (every field defaults)
/// so a daemon of a slightly different build still renders.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Row {
    id: String,
    input_price: Option<f64>,
    output_price: Option<f64>,
    context: Option<u64>,
    tool_call: bool,
    vision: bool,
    reasoning: bool,
    tier: Option<String>,
    excluded: Option<String>,
}

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    // The config only says whether `router.model` is set; a broken or missing file must not
    // stop us from showing a running daemon's list.
    let configured_router = config::load(config_path)
        .ok()
        .map(|l| l.config.router.model)
        .unwrap_or_default();

    let view = match from_daemon(&configured_router)? {
        Some(v) => v,
        None => {
            let v = from_upstream(config_path)?;
            // After the fetch, so a failure stays one error line.
            ui::err("note: no daemon is running; asked the upstream directly");
            v
        }
    };

    if args.json {
        ui::json(&view);
    } else {
        print_table(&view);
    }
    Ok(ExitCode::SUCCESS)
}

/// The running daemon's table; `None` when no daemon answers.
fn from_daemon(configured_router: &str) -> anyhow::Result<Option<View>> {
    let client = Client::default_socket().with_timeout(Duration::from_secs(10));
    let reply = match client.models() {
        Ok(reply) => reply,
        Err(ClientError::NotRunning(_)) => return Ok(None),
        // An old daemon (protocol mismatch, another shape) or a refusal: the message says
        // what to do.
        Err(e) => return Err(e).context("could not get the model list from the daemon"),
    };
    if reply.models.is_empty()
        && let Some(e) = &reply.error
    {
        anyhow::bail!(
            "the daemon could not list the upstream's models: {e} (check `llm-router status` and the daemon log)"
        );
    }
    if let Some(e) = &reply.error {
        ui::err(format!(
            "llm-router: warning: the daemon's last model refresh failed ({e}); showing its previous list"
        ));
    }
    let configured =
        !configured_router.is_empty() && reply.router_model.as_deref() == Some(configured_router);
    Ok(Some(View {
        source: "daemon",
        upstream: None,
        router_model: reply.router_model,
        router_model_configured: configured,
        fetched_unix: reply.fetched_unix,
        error: reply.error,
        models: reply.models,
    }))
}

/// Ask the relay named in the config, join with the catalog, pick the router model.
fn from_upstream(config_path: Option<&Path>) -> anyhow::Result<View> {
    let loaded = config::load(config_path)?;
    let cfg = &loaded.config;
    let Some(base) = cfg.upstream_v1_base() else {
        anyhow::bail!(
            "no upstream is configured in {} (run `llm-router init`, or `llm-router config set upstream.base_url URL`)",
            loaded.path.display()
        );
    };
    let key = loaded.upstream_key(&|n| std::env::var(n).ok());
    let found = probe(&base, key, &cfg.upstream, &cfg.models, &cfg.router)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let models = found
        .facts
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .context("could not render the model table as JSON")?;
    Ok(View {
        source: "upstream",
        upstream: Some(base),
        router_model: found.router_model,
        router_model_configured: found.router_model_configured,
        fetched_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs()),
        error: None,
        models,
    })
}

/// What a direct look at the relay found.
#[derive(Debug)]
pub(crate) struct Probe {
    pub facts: Vec<ModelFacts>,
    /// What the engine would use as router model.
    pub router_model: Option<String>,
    /// Whether that is `router.model` from the config.
    pub router_model_configured: bool,
    /// The strongest routable chat model.
    pub strongest: Option<String>,
}

impl Probe {
    /// Chat models the router may pick.
    pub fn routable(&self) -> usize {
        self.facts
            .iter()
            .filter(|m| m.chat && m.is_routable())
            .count()
    }

    pub fn find(&self, id: &str) -> Option<&ModelFacts> {
        self.facts.iter().find(|m| m.id == id)
    }
}

/// `GET {base_v1}/models` on a current-thread runtime (with a spinner on a terminal), joined
/// with the embedded catalog and `overrides`. The error is one line naming the URL.
pub(crate) fn probe(
    base_v1: &str,
    key: Option<String>,
    upstream: &UpstreamConfig,
    overrides: &BTreeMap<String, ModelOverride>,
    router: &config::RouterConfig,
) -> Result<Probe, String> {
    let url = format!("{}/models", base_v1.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the async runtime: {e}"))?;
    let client = Upstream::new(base_v1, key, upstream).map_err(|e| format!("{url}: {e}"))?;
    let spinner = ui::spinner(&format!("asking {url} …"));
    let listed = rt.block_on(client.models());
    spinner.finish_and_clear();
    let listed = listed.map_err(|e| {
        format!("could not list models at {url}: {e} (check upstream.base_url and the relay key)")
    })?;
    let facts = catalog::join(&listed, Catalog::embedded(), overrides);
    let engine = Engine::new(router.clone(), Arc::new(Cooldowns::new()));
    let router_model = engine.router_model(&facts).map(|m| m.id.clone());
    let router_model_configured =
        !router.model.is_empty() && router_model.as_deref() == Some(router.model.as_str());
    let routable: Vec<&ModelFacts> = facts.iter().filter(|m| m.chat && m.is_routable()).collect();
    let strongest = (!routable.is_empty()).then(|| policy::strongest(&routable).id.clone());
    Ok(Probe {
        facts,
        router_model,
        router_model_configured,
        strongest,
    })
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "-" }
}

fn print_table(view: &View) {
    let mut rows: Vec<Row> = view
        .models
        .iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect();
    // Routable models first, each group by id: the list a relay returns is in no useful order.
    rows.sort_by(|a, b| {
        a.excluded
            .is_some()
            .cmp(&b.excluded.is_some())
            .then_with(|| a.id.cmp(&b.id))
    });
    let router = view.router_model.as_deref();
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let note = match (&r.excluded, Some(r.id.as_str()) == router) {
                (Some(why), _) => format!("excluded: {why}"),
                (None, true) => "router model".to_string(),
                (None, false) => String::new(),
            };
            vec![
                r.id.clone(),
                ui::tokens(r.context),
                ui::price(r.input_price),
                ui::price(r.output_price),
                yes(r.tool_call).to_string(),
                yes(r.vision).to_string(),
                yes(r.reasoning).to_string(),
                r.tier.clone().unwrap_or_else(|| "?".into()),
                note,
            ]
        })
        .collect();
    ui::out(ui::table(
        &[
            "model",
            "context",
            "input $/1M",
            "output $/1M",
            "tools",
            "vision",
            "reasoning",
            "tier",
            "note",
        ],
        table_rows,
    ));
    let routable = rows.iter().filter(|r| r.excluded.is_none()).count();
    let router_line = match (router, view.router_model_configured) {
        (Some(id), true) => format!("{id} (router.model in the config)"),
        (Some(id), false) => format!("{id} (cheapest priced capable chat model)"),
        (None, _) => "none (no usable chat model)".to_string(),
    };
    let from = match (view.source, &view.upstream) {
        ("daemon", _) => "the running daemon".to_string(),
        (_, Some(u)) => u.clone(),
        (other, None) => other.to_string(),
    };
    ui::out(ui::kv(&[
        (
            "models",
            format!("{} listed, {routable} routable", rows.len()),
        ),
        ("router model", router_line),
        ("from", from),
    ]));
}
