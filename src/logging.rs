//! Tracing setup: JSON lines when not on a terminal (or to the daemon's log file), readable
//! lines on a terminal.
//!
//! The filter comes from `LLM_ROUTER_LOG`, else `RUST_LOG`, else `log.level`. Nothing here
//! ever formats a request body or a key: the request log line carries ids, models, statuses
//! and durations only.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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

/// Buffered lines are written out this often by the flusher thread.
const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Past this many buffered bytes the logging thread writes itself (backpressure, no loss).
const MAX_BUFFERED: usize = 4 * 1024 * 1024;

/// Log lines go into a shared buffer that a flusher thread writes out every
/// [`FLUSH_EVERY`]. A request never waits on a write syscall and never wakes another thread:
/// a per-line hand-off (a channel to a writer thread) cost a context switch per request.
struct Buffered {
    buf: Mutex<Vec<u8>>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Buffered {
    fn write_out(&self) {
        let pending = std::mem::take(&mut *self.buf.lock().unwrap_or_else(|e| e.into_inner()));
        if !pending.is_empty() {
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = out.write_all(&pending);
            let _ = out.flush();
        }
    }
}

/// The writer handed to tracing: one clone per event, appending to the shared buffer.
#[derive(Clone)]
struct BufferedWriter(Arc<Buffered>);

impl Write for BufferedWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let full = {
            let mut b = self.0.buf.lock().unwrap_or_else(|e| e.into_inner());
            b.extend_from_slice(data);
            b.len() >= MAX_BUFFERED
        };
        if full {
            self.0.write_out();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BufferedWriter {
    type Writer = BufferedWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static SINK: OnceLock<Arc<Buffered>> = OnceLock::new();

/// Lower the calling thread's scheduling priority. Background work (log flushing, usage
/// writes) then yields the CPU to request handling instead of adding to its tail latency
/// when both share a core.
pub fn background_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: nice(2) takes an integer and touches no memory; on Linux it applies to the
        // calling thread only. A failure just leaves the priority as it was.
        let _ = unsafe { libc::nice(10) };
    }
}

fn writer(w: Box<dyn Write + Send>) -> BufferedWriter {
    let b = Arc::new(Buffered {
        buf: Mutex::new(Vec::with_capacity(64 * 1024)),
        out: Mutex::new(w),
    });
    if SINK.set(b.clone()).is_ok() {
        let flusher = b.clone();
        let _ = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                background_priority();
                loop {
                    std::thread::park_timeout(FLUSH_EVERY);
                    flusher.write_out();
                }
            });
    }
    BufferedWriter(b)
}

/// Write out buffered log lines; call before the process exits.
pub fn flush() {
    if let Some(b) = SINK.get() {
        b.write_out();
    }
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
                .with_writer(writer(Box::new(f)))
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
                    .with_writer(writer(Box::new(std::io::stderr())))
                    .try_init();
            } else {
                let _ = builder
                    .compact()
                    .with_writer(writer(Box::new(std::io::stderr())))
                    .try_init();
            }
        }
    }
    Ok(())
}
