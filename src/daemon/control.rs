//! The control endpoint's server side: a unix socket in a 0700 directory, one JSON request
//! line in, one JSON reply line out (see `protocol.rs`).
//!
//! Invariants: the socket is bound only by the lock holder, which is what makes removing a
//! stale socket file safe; the socket is 0600 inside a 0700 directory, so only this user can
//! talk to the daemon; every reply carries the protocol version (via [`Reply`]); `stop` is
//! answered before the drain starts, so the client always gets its reply.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::lock::DaemonLock;
use super::protocol::{PROTOCOL_VERSION, Reply, Request};
use super::run::Daemon;
use crate::config::paths;
use crate::server::models::{ModelState, display_url, loaded};
use crate::server::{Runtime, route_test};

/// Largest request line accepted (a route-test may carry a base64 image).
const MAX_REQUEST: u64 = 64 * 1024 * 1024;
/// A client that connects and says nothing is dropped after this.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "cannot create the runtime directory {path}: {source}; set LLM_ROUTER_RUNTIME_DIR to a private directory you own"
    )]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove the stale control socket {path}: {source}; remove it by hand")]
    Stale {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on control socket {path}: {source}; unix socket paths must be under ~100 bytes, so set LLM_ROUTER_RUNTIME_DIR to a short private directory if it is long"
    )]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("control sockets need a unix system; {path} cannot be served here")]
    Unsupported { path: PathBuf },
}

#[cfg(unix)]
pub type Listener = tokio::net::UnixListener;
#[cfg(not(unix))]
pub type Listener = ();

/// Bind the control socket at `socket`. `_lock` proves we are the one daemon, so an existing
/// socket file is a leftover of a crashed one and may be removed.
#[cfg(unix)]
pub fn bind(socket: &Path, _lock: &DaemonLock) -> Result<Listener, ControlError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        paths::ensure_private_dir(dir).map_err(|source| ControlError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    match std::fs::remove_file(socket) {
        Ok(()) => tracing::info!(socket = %socket.display(), "removed a stale control socket"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ControlError::Stale {
                path: socket.to_path_buf(),
                source,
            });
        }
    }
    let bind_err = |source| ControlError::Bind {
        path: socket.to_path_buf(),
        source,
    };
    let listener = tokio::net::UnixListener::bind(socket).map_err(bind_err)?;
    // The directory is already private; this is belt and braces for an override that points
    // at a shared directory.
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600)).map_err(bind_err)?;
    Ok(listener)
}

#[cfg(not(unix))]
pub fn bind(socket: &Path, _lock: &DaemonLock) -> Result<Listener, ControlError> {
    Err(ControlError::Unsupported {
        path: socket.to_path_buf(),
    })
}

/// Accept control connections until the task is aborted (at process exit).
#[cfg(unix)]
pub async fn serve(listener: Listener, daemon: Arc<Daemon>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let d = daemon.clone();
                tokio::spawn(async move {
                    if let Err(e) = connection(stream, &d).await {
                        tracing::debug!(error = %e, "control connection failed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "control accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(not(unix))]
pub async fn serve(_listener: Listener, _daemon: Arc<Daemon>) {}

#[cfg(unix)]
async fn connection(stream: tokio::net::UnixStream, d: &Daemon) -> std::io::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::new(r.take(MAX_REQUEST));
    let mut line = String::new();
    tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let request = serde_json::from_str::<Request>(&line);
    let stop = matches!(request, Ok(Request::Stop));
    let reply = match request {
        Ok(req) => dispatch(d, req).await,
        Err(_) if !line.ends_with('\n') && line.len() as u64 >= MAX_REQUEST => Reply::err(format!(
            "request larger than {} MiB",
            MAX_REQUEST / 1024 / 1024
        )),
        Err(e) => Reply::err(format!(
            "unreadable request ({e}); this client may be newer than the daemon, restart it: `llm-router stop && llm-router start`"
        )),
    };
    let mut out = serde_json::to_vec(&reply).map_err(std::io::Error::other)?;
    out.push(b'\n');
    let written = async {
        w.write_all(&out).await?;
        w.flush().await?;
        w.shutdown().await
    }
    .await;
    // Start the drain only after the reply left, so `stop` always hears back.
    if stop {
        tracing::info!("stop requested over the control socket");
        d.state.shutdown.cancel();
    }
    written
}

/// Answer one request.
pub async fn dispatch(d: &Daemon, req: Request) -> Reply {
    match req {
        Request::Status => Reply::ok(status(d)),
        Request::Reload => match d.reloader.reload(&d.state) {
            Ok(notes) => {
                tracing::info!(?notes, "configuration reloaded over the control socket");
                Reply::ok(json!({
                    "reloaded": true,
                    "config_path": d.reloader.config_path,
                    "notes": notes,
                }))
            }
            Err(e) => {
                tracing::warn!(error = %e, "reload failed; keeping the old configuration");
                Reply::err(format!("{e} (the running configuration is unchanged)"))
            }
        },
        Request::RouteTest(req) => {
            // Right after start the first model fetch may still be running: share it (or
            // fetch on demand when the relay was down at start).
            let models = loaded(&d.state).await;
            let rt = d.state.runtime.load_full();
            match route_test::route_test(&rt, &models.facts, &req).await {
                Ok(decision) => match serde_json::to_value(&decision) {
                    Ok(v) => Reply::ok(v),
                    Err(e) => Reply::err(format!("cannot serialise the decision: {e}")),
                },
                Err(e) => Reply::err(e.message),
            }
        }
        Request::Models => {
            let rt = d.state.runtime.load_full();
            let models = d.state.models.load_full();
            Reply::ok(json!({
                "models": models.facts,
                "router_model": router_model(&rt, &models),
                "fetched_unix": models.fetched_unix,
                "error": models.error,
            }))
        }
        Request::Stop => Reply::ok(json!({
            "stopping": true,
            "pid": d.info.pid,
            "drain_secs": d.state.runtime.load().config.server.drain_secs,
            "in_flight": d.state.stats.view().in_flight,
        })),
    }
}

/// The router model the engine would use now, else the configured one.
fn router_model(rt: &Runtime, models: &ModelState) -> Option<String> {
    rt.engine
        .router_model(&models.facts)
        .map(|m| m.id.clone())
        .or_else(|| {
            let configured = rt.config.router.model.trim();
            (!configured.is_empty()).then(|| configured.to_string())
        })
}

/// The `status` reply (documented in docs/daemon.md; `status --json` prints it).
fn status(d: &Daemon) -> Value {
    let st = &d.state;
    let rt = st.runtime.load_full();
    let models = st.models.load_full();
    json!({
        "running": true,
        "pid": d.info.pid,
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": PROTOCOL_VERSION,
        "uptime_secs": st.started.elapsed().as_secs(),
        "started_at": d.info.started_at,
        "url": d.info.url,
        "host": d.info.host,
        "port": d.info.port,
        "config_path": d.info.config_path,
        "log_path": d.info.log_path,
        "socket": d.info.socket,
        "lock_path": paths::lock_file(),
        "demo": st.demo,
        "draining": st.shutdown.is_cancelled(),
        "drain_secs": rt.config.server.drain_secs,
        "upstream": {
            "base_url": display_url(rt.upstream.base()),
            "reachable": models.reachable(),
            "error": models.error,
            "last_refresh_unix": models.fetched_unix,
        },
        "router_model": router_model(&rt, &models),
        "models": models.facts.len(),
        "stats": st.stats.view(),
        "health": st.health.snapshot(Instant::now()),
        "usage": usage_totals(st),
    })
}

/// Today's and the last 7 days' totals from the usage database, when accounting is on.
fn usage_totals(st: &crate::server::AppState) -> Value {
    let Some(db) = st.usage_db.get() else {
        return Value::Null;
    };
    let now = crate::usage::now_unix_ms();
    let read = || -> Result<Value, crate::usage::UsageError> {
        let r = crate::usage::UsageReader::open(db)?;
        Ok(json!({
            "db": db,
            "today": r.totals(crate::usage::utc_day_start(now))?,
            "last_7_days": r.totals(now - 7 * 24 * 3600 * 1000)?,
        }))
    };
    read().unwrap_or_else(|e| json!({"db": db, "error": e.to_string()}))
}
