//! The control endpoint's server side: a unix socket in a 0700 directory, one JSON request
//! line in, one JSON reply line out (see `protocol.rs`).
//!
//! Invariants: the socket is bound only by the lock holder, which is what makes removing a
//! stale socket file safe; the socket is 0600 inside a 0700 directory, so only this user can
//! talk to the daemon; every reply carries the protocol version (via [`Reply`]); `stop` is
//! answered before the drain starts, so the client always gets its reply. The replies are
//! built in `reply.rs`; a reload is the gateway's one reload (`server::assembly::reload`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::info::DaemonInfo;
use super::lock::DaemonLock;
use super::protocol::{Reply, Request};
use super::reply;
use crate::config::paths;
use crate::server::{AppState, assembly};

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

/// Everything the control endpoint needs about the running daemon.
pub struct Daemon {
    pub state: Arc<AppState>,
    pub info: DaemonInfo,
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
        Request::Status => Reply::ok(&reply::status(&d.state, &d.info)),
        Request::Reload => {
            // Reading the file blocks: off the async workers.
            let st = d.state.clone();
            match tokio::task::spawn_blocking(move || assembly::reload(&st)).await {
                Ok(Ok(r)) => {
                    tracing::info!(
                        notes = ?r.notes,
                        relay_client = ?r.relay_client,
                        "configuration reloaded over the control socket"
                    );
                    Reply::ok(&reply::reloaded(r))
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "reload failed; keeping the old configuration");
                    Reply::err(format!("{e} (the running configuration is unchanged)"))
                }
                Err(e) => Reply::err(format!(
                    "the reload failed: {e} (the running configuration is unchanged)"
                )),
            }
        }
        Request::RouteTest(req) => match reply::route_test(&d.state, req).await {
            Ok(decision) => Reply::ok(&decision),
            Err(e) => Reply::err(e.message),
        },
        Request::Models => Reply::ok(&reply::models(&d.state)),
        Request::Stop => Reply::ok(&reply::stopping(&d.state, &d.info)),
    }
}
