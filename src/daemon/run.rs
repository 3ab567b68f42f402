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

use crate::config::{Config, ConfigError};
use crate::server::assembly::{self, Settings, Source};
use crate::server::{self, ServeError};

use super::control::{self, ControlError, Daemon};
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

/// Re-exported: the overrides belong to the assembly point, which re-applies them on reload.
pub use crate::server::assembly::Overrides;

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
        config,
        key,
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
        Some(sim)
    } else {
        None
    };
    // Applying the overrides again is harmless (`start` did) and adds the demo relay; every
    // reload re-reads `config_path` with the same overrides.
    let settings = Settings::new(config, key, &overrides)?;
    let (host, port) = (
        settings.config.server.host.clone(),
        settings.config.server.port,
    );
    let listener = server::bind(&host, port).await?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: format!("{host}:{port}"),
        source,
    })?;
    let drain = Duration::from_secs(settings.config.server.drain_secs);
    let usage_cfg = settings.config.usage.clone();
    let source = Source::new(Some(config_path.clone()), overrides);
    let state = assembly::build(settings, addr, demo, Some(source))?;
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
                // Blocking file reads: off the async workers.
                let st = daemon.state.clone();
                let reloaded = tokio::task::spawn_blocking(move || assembly::reload(&st)).await;
                match reloaded {
                    Ok(Ok(r)) => tracing::info!(
                        notes = ?r.notes,
                        relay_client = ?r.relay_client,
                        "SIGHUP: configuration reloaded"
                    ),
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "SIGHUP: reload failed; keeping the old configuration")
                    }
                    Err(e) => tracing::warn!(error = %e, "SIGHUP: reload task failed"),
                }
            }
        });
    }
}
