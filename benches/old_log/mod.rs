//! TEMPORARY: the hand-written JSON lines and buffered writer that logging.rs had before (copied from git), measured once against the new formatter.
#![allow(dead_code)]
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tracing_subscriber::fmt::MakeWriter;
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
pub struct BufferedWriter(Arc<Buffered>);

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

pub fn writer(w: Box<dyn Write + Send>) -> BufferedWriter {
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

/// One JSON object per event: `{"timestamp","level",<fields…>}`, fields flattened, the
/// message under `"message"`. Hand-written because the generic JSON formatter (a serde map
/// per event) cost about a tenth of the gateway's throughput at one log line per request.
pub struct JsonLine;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JsonLine
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let line = json_line(std::time::SystemTime::now(), event);
        writer.write_str(&line)
    }
}

fn json_line(now: std::time::SystemTime, event: &tracing::Event<'_>) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"timestamp\":\"");
    push_rfc3339(&mut out, now);
    out.push_str("\",\"level\":\"");
    out.push_str(event.metadata().level().as_str());
    out.push('"');
    event.record(&mut JsonFields { out: &mut out });
    out.push_str("}\n");
    out
}

/// Writes each field as `,"name":value`.
struct JsonFields<'a> {
    out: &'a mut String,
}

impl JsonFields<'_> {
    fn key(&mut self, field: &tracing::field::Field) {
        self.out.push_str(",\"");
        push_escaped(self.out, field.name());
        self.out.push_str("\":");
    }

    fn string(&mut self, field: &tracing::field::Field, value: &str) {
        self.key(field);
        self.out.push('"');
        push_escaped(self.out, value);
        self.out.push('"');
    }
}

impl tracing::field::Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.string(field, value);
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.key(field);
        let _ = std::fmt::Write::write_fmt(self.out, format_args!("{value}"));
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.key(field);
        let _ = std::fmt::Write::write_fmt(self.out, format_args!("{value}"));
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.key(field);
        self.out.push_str(if value { "true" } else { "false" });
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            let _ = std::fmt::Write::write_fmt(self.out, format_args!("{value}"));
        } else {
            self.out.push_str("null");
        }
    }

    fn record_error(
        &mut self,
        field: &tracing::field::Field,
        value: &(dyn std::error::Error + 'static),
    ) {
        self.string(field, &value.to_string());
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        // `message` and `%display` fields arrive here as format arguments.
        self.string(field, &format!("{value:?}"));
    }
}

/// Appends `s` escaped for the inside of a JSON string literal.
fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// `2026-11-26T05:59:21.354335Z`.
fn push_rfc3339(out: &mut String, t: std::time::SystemTime) {
    let ts = jiff::Timestamp::try_from(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let _ = std::fmt::Write::write_fmt(out, format_args!("{ts:.6}"));
}
