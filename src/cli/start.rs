//! `llm-router start`: run the gateway, attached (`--foreground`) or as a background daemon.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::{self, Config};
use crate::engine::Health;
use crate::server::{self, AppState, Runtime};

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router start\n  llm-router start --foreground --port 9000\n  llm-router start --demo"
)]
pub struct Args {
    /// Stay attached to the terminal (for systemd, launchd, Docker).
    #[arg(long, short = 'f')]
    pub foreground: bool,
    /// Serve a built-in simulated relay instead of a real one (no key needed).
    #[arg(long)]
    pub demo: bool,
    /// Port to listen on (overrides server.port).
    #[arg(long, short = 'p')]
    pub port: Option<u16>,
    /// Address to bind (overrides server.host).
    #[arg(long)]
    pub host: Option<String>,
}

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let loaded = config::load(config_path)?;
    let key = loaded.upstream_key(&|n| std::env::var(n).ok());
    let mut cfg = loaded.config;
    if let Some(p) = args.port {
        cfg.server.port = p;
    }
    if let Some(h) = &args.host {
        cfg.server.host = h.clone();
    }
    cfg.validate()?;
    crate::logging::init(&cfg.log, None)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(foreground(cfg, key, args.demo, loaded.path))?;
    Ok(ExitCode::SUCCESS)
}

/// Run the gateway until SIGINT/SIGTERM (drain) ; SIGHUP reloads the config file.
pub async fn foreground(
    mut cfg: Config,
    mut key: Option<String>,
    demo: bool,
    config_path: std::path::PathBuf,
) -> anyhow::Result<()> {
    let sim = if demo {
        let sim = crate::sim::SimRelay::start()
            .await
            .context("cannot start the simulated relay")?;
        cfg.upstream.base_url = sim.base_url();
        key = None;
        Some(sim)
    } else {
        None
    };
    let listener = server::bind(&cfg.server.host, cfg.server.port).await?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let health = Arc::new(Health::new());
    let drain = Duration::from_secs(cfg.server.drain_secs);
    let runtime = Runtime::build(cfg, addr.port(), health.clone(), key)?;
    let state = AppState::new(runtime, addr, health, demo);
    tracing::info!(%addr, demo, "llm-router listening on http://{addr}/v1");
    spawn_signals(state.clone(), config_path, demo);
    server::serve(listener, state, drain).await;
    drop(sim);
    Ok(())
}

/// SIGINT/SIGTERM start the drain; SIGHUP reloads the config (keeping the old one if bad).
fn spawn_signals(state: Arc<AppState>, config_path: std::path::PathBuf, demo: bool) {
    let st = state.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        st.shutdown.cancel();
    });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let st = state.clone();
        tokio::spawn(async move {
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                term.recv().await;
                st.shutdown.cancel();
            }
        });
        tokio::spawn(async move {
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                if demo {
                    continue;
                }
                match reload_from(&state, &config_path) {
                    Ok(()) => tracing::info!("configuration reloaded"),
                    Err(e) => {
                        tracing::warn!(error = %e, "reload failed; keeping the old configuration")
                    }
                }
            }
        });
    }
}

/// Re-read the config file and swap it in; the running config stays on any error.
pub fn reload_from(state: &AppState, path: &Path) -> anyhow::Result<()> {
    let loaded = config::load(Some(path))?;
    let key = loaded.upstream_key(&|n| std::env::var(n).ok());
    let runtime = Runtime::build(loaded.config, state.addr.port(), state.health.clone(), key)?;
    state.reload(runtime);
    Ok(())
}
