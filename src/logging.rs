//! Tracing setup: JSON lines when not on a terminal (or to the daemon's log file), readable
//! lines on a terminal.
//!
//! The filter comes from `LLM_ROUTER_LOG`, else `RUST_LOG`, else `log.level`. Nothing here
//! ever formats a request body or a key: the request log line carries ids, models, statuses
//! and durations only.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open log file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid log filter `{0}` (log.level): use error, warn, info, debug or trace")]
    Filter(String),
}

fn filter(cfg: &LogConfig) -> Result<EnvFilter, LogError> {
    let spec = std::env::var("LLM_ROUTER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| cfg.level.clone());
    EnvFilter::try_new(&spec).map_err(|_| LogError::Filter(spec))
}

/// Keeps the background log writer alive; taken and dropped by [`flush`].
static GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Log lines are handed to a writer thread so a request never waits on a write syscall;
/// the queue is lossless (a full queue applies backpressure rather than dropping lines).
fn writer<W: std::io::Write + Send + 'static>(w: W) -> NonBlocking {
    let (nb, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(64 * 1024)
        .finish(w);
    *GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
    nb
}

/// Write out buffered log lines; call before the process exits.
pub fn flush() {
    let guard = GUARD.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(guard);
}

/// Log to stderr (foreground) or append to `file` (daemon). Safe to call once per process;
/// later calls are ignored.
pub fn init(cfg: &LogConfig, file: Option<&Path>) -> Result<(), LogError> {
    let filter = filter(cfg)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    match file {
        Some(path) => {
            // Create a missing directory private; never re-permission one the user owns.
            if let Some(dir) = path.parent()
                && !dir.exists()
            {
                let _ = crate::config::paths::ensure_private_dir(dir);
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| LogError::File {
                    path: path.display().to_string(),
                    source: e,
                })?;
            let _ = builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_writer(writer(f))
                .try_init();
        }
        None => {
            let json = match cfg.format.as_str() {
                "json" => true,
                "pretty" => false,
                _ => !std::io::stderr().is_terminal(),
            };
            if json {
                let _ = builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(writer(std::io::stderr()))
                    .try_init();
            } else {
                let _ = builder
                    .compact()
                    .with_writer(writer(std::io::stderr()))
                    .try_init();
            }
        }
    }
    Ok(())
}
