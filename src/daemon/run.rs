//! The daemon's life inside the async runtime: bind, control socket, info file, serve, drain.
//!
//! Used by both `start --foreground` and the detached daemon (which is the same binary
//! re-executed; see `cli/start.rs`). The caller holds the [`DaemonLock`] before calling
//! [`run`] and keeps it until the process exits, so "lock free" always means "exited".
//!
//! Order matters: the TCP listener is bound first (a taken port fails before anything is
//! written), then the control socket (a stale one is removed only because we hold the lock),
//! then `daemon.json`. On the way out the socket and `daemon.json` are removed, and the lock is
//! released last, by the caller.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, Config, ConfigError};
use crate::engine::Cooldowns;
use crate::server::{self, AppState, Runtime, ServeError};

use super::control::{self, ControlError};
use super::info::{DaemonInfo, InfoError};
use super::lock::DaemonLock;

/// Why the daemon could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Info(#[from] InfoError),
    #[error(transparent)]
    Control(#[from] ControlError),
    #[error("cannot start the simulated relay for --demo: {0}")]
    Demo(std::io::Error),
}

/// Command-line settings that win over the config file, kept so a reload re-applies them
/// (otherwise a SIGHUP would silently drop `--port` or the demo relay).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub port: Option<u16>,
    pub host: Option<String>,
    /// The simulated relay's URL under `--demo` (the relay key is then dropped).
    pub demo_upstream: Option<String>,
}

impl Overrides {
    pub fn apply(&self, cfg: &mut Config, key: &mut Option<String>) {
        if let Some(p) = self.port {
            cfg.server.port = p;
        }
        if let Some(h) = &self.host {
            cfg.server.host = h.clone();
        }
        if let Some(u) = &self.demo_upstream {
            cfg.upstream.base_url = u.clone();
            *key = None;
        }
    }
}

/// Re-reads the config file into a running gateway.
#[derive(Debug, Clone)]
pub struct Reloader {
    pub config_path: PathBuf,
    pub overrides: Overrides,
}

impl Reloader {
    /// Load, validate and swap in the config. On any error the running config stays.
    /// Returns notes for settings that only a restart applies.
    pub fn reload(&self, state: &AppState) -> Result<Vec<String>, DaemonError> {
        let loaded = config::load(Some(&self.config_path))?;
        let mut key = loaded.upstream_key(&|n| std::env::var(n).ok());
        let mut cfg = loaded.config;
        self.overrides.apply(&mut cfg, &mut key);
        cfg.validate()?;
        let mut notes = Vec::new();
        if cfg.server.port != state.addr.port() {
            notes.push(format!(
                "server.port is now {} but the gateway keeps listening on {} until a restart (`llm-router stop && llm-router start`)",
                cfg.server.port,
                state.addr.port()
            ));
        }
        let runtime = Runtime::build(cfg, state.addr.port(), state.health.clone(), key)?;
        state.reload(runtime);
        Ok(notes)
    }
}

/// Everything the control endpoint needs about the running daemon.
pub struct Daemon {
    pub state: Arc<AppState>,
    pub reloader: Reloader,
    pub info: DaemonInfo,
}

/// What [`run`] needs; `config` already has the overrides applied.
#[derive(Debug)]
pub struct Spec {
    pub config: Config,
    pub key: Option<String>,
    pub demo: bool,
    pub config_path: PathBuf,
    pub overrides: Overrides,
    /// Where the daemon logs (None: stderr, in the foreground).
    pub log_path: Option<PathBuf>,
    pub socket: PathBuf,
    pub info_path: PathBuf,
}

/// Serve until stopped (control `stop`, SIGTERM, SIGINT), then drain. `lock` proves the
/// caller holds the daemon lock, which makes removing a stale control socket safe.
pub async fn run(spec: Spec, lock: &DaemonLock) -> Result<(), DaemonError> {
    let Spec {
        mut config,
        mut key,
        demo,
        config_path,
        mut overrides,
        log_path,
        socket,
        info_path,
    } = spec;
    let sim = if demo {
        let sim = crate::sim::SimRelay::start()
            .await
            .map_err(DaemonError::Demo)?;
        overrides.demo_upstream = Some(sim.base_url());
        overrides.apply(&mut config, &mut key);
        Some(sim)
    } else {
        None
    };
    let listener = server::bind(&config.server.host, config.server.port).await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: format!("{}:{}", config.server.host, config.server.port),
        source,
    })?;
    let health = Arc::new(Cooldowns::new());
    let drain = Duration::from_secs(config.server.drain_secs);
    let runtime = Runtime::build(config, addr.port(), health.clone(), key)?;
    let usage_cfg = runtime.config.usage.clone();
    let state = AppState::new(runtime, addr, health, demo);
    if !demo {
        // `/admin` writes router choices here; the demo has no file of its own.
        let _ = state.config_path.set(config_path.clone());
    }
    let usage_writer = if usage_cfg.enabled {
        // The demo's simulated costs must not mix with real spending.
        let db = if demo {
            crate::config::paths::state_dir().join("demo-usage.sqlite3")
        } else {
            crate::config::paths::usage_db()
        };
        match crate::usage::start(&db, usage_cfg.retention_days) {
            Ok((sink, handle)) => {
                let _ = state.usage.set(sink);
                let _ = state.usage_db.set(db);
                Some(handle)
            }
            Err(e) => {
                // Accounting is optional: serve anyway, and say why nothing is recorded.
                tracing::warn!(error = %e, "usage accounting is off");
                None
            }
        }
    } else {
        None
    };

    let control_listener = control::bind(&socket, lock)?;
    let info = DaemonInfo::new(
        addr,
        config_path.clone(),
        log_path.unwrap_or_default(),
        socket.clone(),
        demo,
    );
    info.write(&info_path)?;
    let daemon = Arc::new(Daemon {
        state: state.clone(),
        reloader: Reloader {
            config_path,
            overrides,
        },
        info,
    });
    let control_task = tokio::spawn(control::serve(control_listener, daemon.clone()));
    spawn_signals(daemon.clone());
    // Says whether a proxy from the environment carries relay calls.
    let relay_via = if state.runtime.load().upstream.via_proxy() {
        "proxy"
    } else {
        "direct"
    };
    tracing::info!(
        %addr,
        demo,
        relay_via,
        pid = std::process::id(),
        lock = %lock.path().display(),
        socket = %socket.display(),
        "llm-router listening on http://{addr}/v1"
    );

    server::serve(listener, state, drain).await;

    control_task.abort();
    // Best effort: a leftover socket is removed by the next daemon anyway (under the lock),
    // and a leftover daemon.json is never trusted without the lock.
    let _ = std::fs::remove_file(&socket);
    let _ = std::fs::remove_file(&info_path);
    drop(sim);
    if let Some(h) = usage_writer {
        h.flush_and_stop(Duration::from_secs(3));
    }
    tracing::info!(pid = std::process::id(), "llm-router stopped");
    Ok(())
}

/// SIGINT/SIGTERM start the drain (like `stop`); SIGHUP reloads the config file, keeping the
/// old one if the new one is bad.
fn spawn_signals(daemon: Arc<Daemon>) {
    let st = daemon.state.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("SIGINT: stopping");
            st.shutdown.cancel();
        }
    });
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let st = daemon.state.clone();
        tokio::spawn(async move {
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    term.recv().await;
                    tracing::info!("SIGTERM: stopping");
                    st.shutdown.cancel();
                }
                Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM"),
            }
        });
        tokio::spawn(async move {
            let mut hup = match signal(SignalKind::hangup()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGHUP");
                    return;
                }
            };
            while hup.recv().await.is_some() {
                match daemon.reloader.reload(&daemon.state) {
                    Ok(notes) => tracing::info!(?notes, "SIGHUP: configuration reloaded"),
                    Err(e) => {
                        tracing::warn!(error = %e, "SIGHUP: reload failed; keeping the old configuration")
                    }
                }
            }
        });
    }
}
