//! Tracing setup: tracing-subscriber's JSON lines when not on a terminal (and always in the
//! daemon's log file), its compact lines on a terminal; the daemon's file rotated by
//! tracing-appender; every line written by tracing-appender's non-blocking worker; panics
//! logged as one error line by a panic hook.
//!
//! The filter comes from `LLM_ROUTER_LOG`, else `RUST_LOG`, else `log.level`. Nothing here
//! ever formats a request body or a key: the request log line carries ids, models, statuses
//! and durations only.
//!
//! The daemon's file (`config::paths::log_file`, say `llm-router.log`): with `log.rotation`
//! `daily` or `hourly`, lines go to `llm-router.log.<date>` beside it and `llm-router.log`
//! is a symbolic link to the current one, so its name always shows the live log; at most
//! `log.max_files` dated files are kept. With `never` the name is the file itself.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::LogConfig;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot open log file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open log file {path}: {source}")]
    Rolling {
        path: String,
        source: tracing_appender::rolling::InitError,
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

/// The JSON formatter every JSON line goes through: tracing-subscriber's, one object per
/// event, `{"timestamp","level","message",<fields…>}` with the event's fields flattened to
/// the top level (the request line's `request_id`, `status`, … are read by name), no spans
/// and no target. Public so the benchmark measures exactly this.
pub fn json_layer<S, W>(writer: W) -> impl Layer<S> + Send + Sync + 'static
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
}

/// Held for the life of the process: dropping it makes the worker write out what is queued.
static GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// The worker's end of the non-blocking writer.
///
/// The worker drains every queued line and then flushes, so buffering here turns a burst of
/// lines into one write. Its thread also gets a lower priority on the first write (the
/// worker thread is tracing-appender's, this is the first code of ours that runs on it).
struct Background<W: Write> {
    out: BufWriter<W>,
    lowered: bool,
}

impl<W: Write> Background<W> {
    fn new(out: W) -> Self {
        Self {
            out: BufWriter::with_capacity(64 * 1024, out),
            lowered: false,
        }
    }
}

impl<W: Write> Write for Background<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if !self.lowered {
            self.lowered = true;
            crate::priority::background_priority();
        }
        self.out.write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A non-blocking writer over `out`. Not lossy: past tracing-appender's queue limit
/// (128,000 lines) a logging thread waits rather than drop a request line.
pub fn non_blocking<W: Write + Send + 'static>(out: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(Background::new(out))
}

/// The daemon's log file, rotated as `cfg` says (see the module comment for the names).
pub fn file_appender(cfg: &LogConfig, path: &Path) -> Result<RollingFileAppender, LogError> {
    let io_err = |source: std::io::Error| LogError::File {
        path: path.display().to_string(),
        source,
    };
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        io_err(std::io::Error::other(
            "the log file needs a UTF-8 file name",
        ))
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Create a missing directory private; never re-permission one the user owns.
    if !dir.exists() {
        crate::config::paths::ensure_private_dir(dir).map_err(io_err)?;
    }
    // Absolute, so the link's target resolves from the link's own directory.
    let dir = std::path::absolute(dir).map_err(io_err)?;
    let rotation = match cfg.rotation.as_str() {
        "hourly" => Some(Rotation::HOURLY),
        "never" => None,
        _ => Some(Rotation::DAILY),
    };
    let mut builder = RollingFileAppender::builder().filename_prefix(name);
    builder = match rotation {
        Some(rotation) => {
            keep_plain_log(&dir.join(name)).map_err(io_err)?;
            builder = builder.rotation(rotation).latest_symlink(name);
            if cfg.max_files > 0 {
                builder = builder.max_log_files(cfg.max_files as usize);
            }
            builder
        }
        // No pruning without rotation: it would count the one file and could delete it.
        None => builder.rotation(Rotation::NEVER),
    };
    builder.build(&dir).map_err(|source| LogError::Rolling {
        path: path.display().to_string(),
        source,
    })
}

/// A plain file where the link goes (the log from before rotation was on) would be deleted
/// when the appender puts its link there; it is moved beside the dated files instead, named
/// by its last write, where pruning counts it like them.
fn keep_plain_log(path: &Path) -> std::io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.is_file() {
        return Ok(());
    }
    let written = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let mut aside: PathBuf = path.as_os_str().to_owned().into();
    aside
        .as_mut_os_string()
        .push(format!(".{}", written.strftime("%Y-%m-%d-%H%M%S")));
    if aside.exists() {
        aside.as_mut_os_string().push(".old");
    }
    std::fs::rename(path, aside)
}

/// The formatting layer under the filter, JSON or compact.
type BoxedLayer = Box<dyn Layer<Layered<EnvFilter, Registry>> + Send + Sync>;

/// Log to stderr (foreground) or to `file` (daemon), and log panics. Safe to call once per
/// process; later calls are ignored. Call [`flush`] before the process exits.
pub fn init(cfg: &LogConfig, file: Option<&Path>) -> Result<(), LogError> {
    let filter = filter(cfg)?;
    let (layer, guard): (BoxedLayer, WorkerGuard) = match file {
        Some(path) => {
            let (w, guard) = non_blocking(file_appender(cfg, path)?);
            (json_layer(w).boxed(), guard)
        }
        None => {
            let json = match cfg.format.as_str() {
                "json" => true,
                "pretty" => false,
                _ => !std::io::stderr().is_terminal(),
            };
            let (w, guard) = non_blocking(std::io::stderr());
            if json {
                (json_layer(w).boxed(), guard)
            } else {
                let compact = tracing_subscriber::fmt::layer()
                    .compact()
                    .with_target(false)
                    .with_writer(w);
                (compact.boxed(), guard)
            }
        }
    };
    if tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .try_init()
        .is_ok()
    {
        *GUARD.lock().unwrap_or_else(|e| e.into_inner()) = Some(guard);
        install_panic_hook();
    }
    Ok(())
}

/// Write out queued log lines and stop the writer; call once, right before the process
/// exits (lines logged after it are dropped).
pub fn flush() {
    let guard = GUARD.lock().unwrap_or_else(|e| e.into_inner()).take();
    // The guard's drop waits (up to a second) for the worker to write what is queued.
    drop(guard);
}

/// Panics become one error line (target `llm_router::panic`) instead of Rust's text on
/// stderr. A thread with nothing to log to, or a panic inside logging itself (the dispatcher
/// is then busy and reports none), keeps the previous hook, so nothing is lost.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let logs =
            tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>());
        if logs {
            log_panic(info);
        } else {
            previous(info);
        }
    }));
}

/// The panic's message, where it happened, the thread, the request being served on that
/// thread when the panic net knows it, and a backtrace only when `RUST_BACKTRACE` asks for
/// one (as one string field, so the line stays one line).
fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let message = crate::server::panic_net::message(info.payload());
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
    let thread = std::thread::current();
    let request_id = crate::server::panic_net::current_request_id();
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = (backtrace.status() == std::backtrace::BacktraceStatus::Captured)
        .then(|| backtrace.to_string());
    tracing::error!(
        target: "llm_router::panic",
        panic = message,
        location = location.as_deref(),
        thread = thread.name().unwrap_or("unnamed"),
        request_id = request_id.as_deref(),
        backtrace = backtrace.as_deref(),
        "panicked"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer appending to a shared buffer.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Capture {
        fn lines(&self) -> Vec<serde_json::Value> {
            let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
            text.lines()
                .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                .collect()
        }
    }

    impl Write for Capture {
        fn write(&mut self, d: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(d);
            Ok(d.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capturing() -> (Capture, impl tracing::Subscriber + Send + Sync) {
        let cap = Capture::default();
        let sub = tracing_subscriber::registry().with(json_layer(cap.clone()));
        (cap, sub)
    }

    #[test]
    fn lines_are_json_with_flattened_fields() {
        let (cap, sub) = capturing();
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                target: "llm_router::request",
                request_id = "r\"1",
                status = 200u64,
                ok = true,
                ratio = 0.5,
                note = %"a\nb",
                "request"
            );
        });
        let lines = cap.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v = &lines[0];
        assert_eq!(v["message"], "request");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["request_id"], "r\"1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["ok"], true);
        assert_eq!(v["ratio"], 0.5);
        assert_eq!(v["note"], "a\nb");
        assert!(
            v.get("fields").is_none() && v.get("target").is_none(),
            "{v}"
        );
        let ts = v["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z'), "{ts}");
        ts.parse::<jiff::Timestamp>().unwrap();
    }

    #[test]
    fn the_non_blocking_writer_writes_everything_by_the_time_its_guard_drops() {
        let cap = Capture::default();
        let (w, guard) = non_blocking(cap.clone());
        let sub = tracing_subscriber::registry().with(json_layer(w));
        tracing::subscriber::with_default(sub, || {
            for i in 0..1000u64 {
                tracing::info!(n = i, "line");
            }
        });
        drop(guard);
        let lines = cap.lines();
        assert_eq!(lines.len(), 1000);
        assert_eq!(lines[999]["n"], 999);
    }

    fn cfg(rotation: &str, max_files: u32) -> LogConfig {
        LogConfig {
            rotation: rotation.into(),
            max_files,
            ..LogConfig::default()
        }
    }

    fn write_line(appender: RollingFileAppender, text: &str) {
        let (w, guard) = non_blocking(appender);
        let sub = tracing_subscriber::registry().with(json_layer(w));
        tracing::subscriber::with_default(sub, || tracing::info!(text, "hello"));
        drop(guard);
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[cfg(unix)]
    #[test]
    fn daily_rotation_links_the_name_to_the_dated_file_and_keeps_an_old_plain_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, "the old log\n").unwrap();

        write_line(file_appender(&cfg("daily", 7), &path).unwrap(), "first");

        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_symlink(), "{:?}", entries(dir.path()));
        let today = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
        let target = std::fs::read_link(&path).unwrap();
        assert_eq!(
            target.file_name().unwrap().to_string_lossy(),
            format!("x.log.{today}")
        );
        let live = std::fs::read_to_string(&path).unwrap();
        assert!(live.contains(r#""text":"first""#), "{live}");
        // The old plain file was moved aside, not deleted.
        let names = entries(dir.path());
        let old = names
            .iter()
            .find(|n| *n != "x.log" && **n != format!("x.log.{today}"))
            .unwrap_or_else(|| panic!("the old log is gone: {names:?}"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(old)).unwrap(),
            "the old log\n"
        );

        // A restart the same day appends to the same file through the same link.
        write_line(file_appender(&cfg("daily", 7), &path).unwrap(), "second");
        let live = std::fs::read_to_string(&path).unwrap();
        assert!(live.contains("first") && live.contains("second"), "{live}");
        assert_eq!(entries(dir.path()).len(), 3);
    }

    #[cfg(unix)]
    #[test]
    fn max_files_bounds_the_dated_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        for day in 1..=9 {
            std::fs::write(dir.path().join(format!("x.log.2020-01-0{day}")), "old\n").unwrap();
        }
        write_line(file_appender(&cfg("daily", 3), &path).unwrap(), "now");
        let names = entries(dir.path());
        // The link plus three files: the current one and two older ones.
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(names.contains(&"x.log".to_string()));
    }

    #[test]
    fn without_rotation_the_name_is_the_file_and_it_is_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("x.log");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "kept\n").unwrap();
        write_line(file_appender(&cfg("never", 7), &path).unwrap(), "appended");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("kept\n") && text.contains("appended"),
            "{text}"
        );
        assert_eq!(entries(path.parent().unwrap()), vec!["x.log".to_string()]);
    }

    #[test]
    fn a_panic_is_one_error_line_with_the_request_id() {
        install_panic_hook();
        let (cap, sub) = capturing();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let caught = tracing::subscriber::with_default(sub, || {
            rt.block_on(crate::server::panic_net::catch_request("req_p1", async {
                if std::hint::black_box(true) {
                    panic!("boom {}", 7);
                }
            }))
        });
        assert_eq!(caught.unwrap_err().message, "boom 7");
        let lines = cap.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v = &lines[0];
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["message"], "panicked");
        assert_eq!(v["panic"], "boom 7");
        assert_eq!(v["request_id"], "req_p1");
        assert!(
            v["location"]
                .as_str()
                .unwrap()
                .starts_with("src/logging.rs:"),
            "{v}"
        );
        assert!(!v["thread"].as_str().unwrap().is_empty(), "{v}");

        // Outside a request: the same line without a request id.
        let (cap, sub) = capturing();
        tracing::subscriber::with_default(sub, || {
            let r = std::panic::catch_unwind(|| {
                if std::hint::black_box(true) {
                    panic!("elsewhere");
                }
            });
            assert!(r.is_err());
        });
        let lines = cap.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["panic"], "elsewhere");
        assert!(lines[0].get("request_id").is_none(), "{}", lines[0]);
    }
}
