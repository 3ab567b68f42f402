//! The write side: [`UsageSink`] (what the gateway holds) and the writer thread behind it.
//!
//! Invariants:
//! - [`UsageSink::record`] never blocks and never fails: it sends into a channel bounded by
//!   a counter ([`CHANNEL_CAPACITY`]); a full channel, a stopped writer or a disabled sink drops the record and counts
//!   it in [`UsageSink::dropped`].
//! - SQLite runs only on the writer's own `std::thread`, never on the async runtime.
//! - Records are written in batches (up to [`BATCH_MAX`] records or [`BATCH_WINDOW`] after
//!   the first one, whichever comes first), one transaction per batch, so a busy gateway costs
//!   one fsync per batch, not per request.
//! - A failed batch (disk full, database locked past the busy timeout, file removed) is
//!   dropped, counted and logged with a rate-limited warning; the thread carries on with the
//!   next batch. It never panics the process.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::{UsageError, UsageRecord, now_unix_ms, schema};

/// Records waiting for the writer before new ones are dropped (about 10 MB at worst).
pub const CHANNEL_CAPACITY: usize = 50_000;
/// Most records written in one transaction.
pub const BATCH_MAX: usize = 500;
/// Rows inserted between two yields of the writer thread (~3 µs each).
const YIELD_EVERY: usize = 32;
/// The writer yields only while fewer records than this wait behind the batch.
const YIELD_WHILE_QUEUED_BELOW: usize = 2 * BATCH_MAX;
/// Longest a record waits in a partial batch.
pub const BATCH_WINDOW: Duration = Duration::from_secs(1);
/// How often old rows are deleted (also once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// How often the writer wakes to collect queued records. It is never woken per record: at
/// gateway rates a wake-up per request cost more CPU than the insert itself.
const TICK: Duration = Duration::from_millis(25);
/// How long the writer waits on a lock held by a reader or another process. Short enough that
/// a stuck lock costs a batch, not an ever-growing backlog.
const WRITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one warning per this interval; the rest are counted into the next one.
const WARN_EVERY: Duration = Duration::from_secs(60);

enum Msg {
    Record(Box<UsageRecord>),
    /// Wakes the writer so it notices the stop flag without waiting out its timeout.
    Wake,
}

/// The writer side handed to the gateway: cheap to clone, never blocks, never fails.
#[derive(Debug, Clone)]
pub struct UsageSink {
    tx: Option<Sender<Msg>>,
    /// Records sent and not yet received. The channel is a list that grows and shrinks
    /// with the queue; a preallocated ring of [`CHANNEL_CAPACITY`] slots became resident
    /// (~800 KB) as soon as the ring had wrapped once.
    queued: Arc<AtomicUsize>,
    capacity: usize,
    dropped: Arc<AtomicU64>,
}

/// The writer's end of the channel.
struct Queue {
    rx: Receiver<Msg>,
    queued: Arc<AtomicUsize>,
}

impl Queue {
    fn try_recv(&self) -> Result<Msg, TryRecvError> {
        let m = self.rx.try_recv()?;
        if let Msg::Record(_) = m {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
        Ok(m)
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Record(r) => write!(f, "Record({})", r.request_id),
            Msg::Wake => f.write_str("Wake"),
        }
    }
}

impl UsageSink {
    /// Queue a finished request for writing. Drops (and counts) it when the queue is full,
    /// the writer has stopped, or accounting is disabled.
    pub fn record(&self, r: UsageRecord) {
        let sent = match &self.tx {
            Some(tx) => {
                let full = self.queued.fetch_add(1, Ordering::Relaxed) >= self.capacity;
                let sent = !full && tx.send(Msg::Record(Box::new(r))).is_ok();
                if !sent {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                }
                sent
            }
            None => false,
        };
        if !sent {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records that were not stored: queue full, writer stopped, failed batches, and every
    /// record given to a disabled sink.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Records waiting for the writer now.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// A sink that drops everything (`usage.enabled = false`, or the database could not be
    /// opened and the gateway serves without accounting).
    pub fn disabled() -> UsageSink {
        UsageSink {
            tx: None,
            queued: Arc::new(AtomicUsize::new(0)),
            capacity: 0,
            dropped: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Whether records can reach a writer (false for [`UsageSink::disabled`]).
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// A sink and the receiving end of its queue, for [`start`] and the tests.
    fn channel(capacity: usize) -> (UsageSink, Queue) {
        let (tx, rx) = mpsc::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let sink = UsageSink {
            tx: Some(tx),
            queued: queued.clone(),
            capacity,
            dropped: Arc::new(AtomicU64::new(0)),
        };
        (sink, Queue { rx, queued })
    }
}

/// Owned by whoever started the writer; stops it and waits for pending records on shutdown.
#[derive(Debug)]
pub struct UsageWriterHandle {
    stop: Arc<AtomicBool>,
    thread: std::thread::Thread,
    wake: Sender<Msg>,
    done: Receiver<()>,
    path: PathBuf,
}

impl UsageWriterHandle {
    /// Write every record queued so far, then stop the thread. Waits at most `timeout`; past
    /// it the thread is left to finish on its own (the process is usually exiting) and a
    /// warning says so. Records sent after this are dropped and counted.
    pub fn flush_and_stop(self, timeout: Duration) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
        let _ = self.wake.send(Msg::Wake);
        match self.done.recv_timeout(timeout) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {}
            Err(RecvTimeoutError::Timeout) => tracing::warn!(
                db = %self.path.display(),
                "usage writer did not finish within {timeout:?}; unwritten records may be lost"
            ),
        }
    }
}

/// Open (create) the database at `path`, apply migrations, and start the writer thread.
///
/// The directory is created 0700 when missing and the file is kept 0600 (SQLite gives its
/// `-wal`/`-shm` files the same mode). Rows older than `retention_days` are deleted at start
/// and hourly; 0 keeps everything. Any failure to open is an `Err`: the caller logs it and
/// serves with [`UsageSink::disabled`].
pub fn start(
    path: &Path,
    retention_days: u32,
) -> Result<(UsageSink, UsageWriterHandle), UsageError> {
    let conn = open_for_write(path)?;
    let (sink, rx) = UsageSink::channel(CHANNEL_CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let writer = Writer {
        conn,
        path: path.to_path_buf(),
        rx,
        stop: stop.clone(),
        dropped: sink.dropped.clone(),
        retention_days,
        warn: WarnLimiter::default(),
    };
    let wake = sink.tx.clone().ok_or_else(|| {
        // Unreachable: `channel` always makes a live sender; kept total rather than panicking.
        UsageError::Thread(std::io::Error::other("usage channel has no sender"))
    })?;
    let thread = std::thread::Builder::new()
        .name("usage-writer".into())
        .spawn(move || {
            crate::priority::background_priority();
            // `run` consumes the writer, so the connection is closed (and the WAL
            // checkpointed into the main file) before `flush_and_stop` hears it is done.
            writer.run();
            let _ = done_tx.send(());
        })
        .map_err(UsageError::Thread)?
        .thread()
        .clone();
    let handle = UsageWriterHandle {
        stop,
        thread,
        wake,
        done: done_rx,
        path: path.to_path_buf(),
    };
    Ok((sink, handle))
}

fn open_for_write(path: &Path) -> Result<Connection, UsageError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        create_private_dir(dir).map_err(|source| UsageError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    create_private_file(path).map_err(|source| UsageError::CreateFile {
        path: path.to_path_buf(),
        source,
    })?;
    let open_err = |source| UsageError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_err)?;
    conn.busy_timeout(WRITE_BUSY_TIMEOUT).map_err(open_err)?;
    // WAL: readers (the CLI, the admin page) never block the writer and vice versa.
    // synchronous=NORMAL: in WAL mode a power cut may lose the last batch, never corrupt
    // the file; accounting does not need an fsync per commit.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::debug!(db = %path.display(), mode, "usage database is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    // Appends touch the last pages of the table and its indexes only: a small page cache
    // (default 2 MiB) does as well and keeps the gateway's memory down.
    conn.pragma_update(None, "cache_size", -256)
        .map_err(open_err)?;
    schema::migrate(&mut conn).map_err(open_err)?;
    Ok(conn)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

/// Create the file 0600 before SQLite does (SQLite would use the umask), and tighten an
/// existing one: it lists what was asked of which model and what it cost.
#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    let meta = f.metadata()?;
    if meta.permissions().mode() & 0o077 != 0 {
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(|_| ())
}

/// The state owned by the writer thread.
struct Writer {
    conn: Connection,
    path: PathBuf,
    rx: Queue,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    retention_days: u32,
    warn: WarnLimiter,
}

impl Writer {
    fn run(mut self) {
        self.apply_retention();
        let mut last_retention = Instant::now();
        let mut batch: Vec<UsageRecord> = Vec::with_capacity(BATCH_MAX);
        let mut batch_started: Option<Instant> = None;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.drain(&mut batch);
                return;
            }
            // Sleep a tick (a stop unparks at once), then collect everything queued.
            std::thread::park_timeout(TICK);
            let mut disconnected = false;
            loop {
                match self.rx.try_recv() {
                    Ok(Msg::Record(r)) => {
                        batch_started.get_or_insert_with(Instant::now);
                        batch.push(*r);
                        if batch.len() >= BATCH_MAX {
                            self.write_batch(&mut batch);
                            batch_started = None;
                        }
                    }
                    Ok(Msg::Wake) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        disconnected = true;
                        break;
                    }
                }
            }
            let due = batch_started.is_some_and(|t| t.elapsed() >= BATCH_WINDOW);
            if disconnected {
                // Every sink and the handle are gone: nothing more can arrive.
                self.write_batch(&mut batch);
                return;
            }
            if due && !batch.is_empty() {
                self.write_batch(&mut batch);
                batch_started = None;
            }
            if last_retention.elapsed() >= RETENTION_EVERY {
                self.apply_retention();
                last_retention = Instant::now();
            }
        }
    }

    /// On stop: write the partial batch and everything still queued, then return.
    fn drain(&mut self, batch: &mut Vec<UsageRecord>) {
        loop {
            while batch.len() < BATCH_MAX {
                match self.rx.try_recv() {
                    Ok(Msg::Record(r)) => batch.push(*r),
                    Ok(Msg::Wake) => {}
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            if batch.is_empty() {
                return;
            }
            self.write_batch(batch);
        }
    }

    /// Write `batch` in one transaction and clear it; on failure count and warn.
    fn write_batch(&mut self, batch: &mut Vec<UsageRecord>) {
        if batch.is_empty() {
            return;
        }
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            for (i, r) in batch.iter().enumerate() {
                schema::insert(&tx, r)?;
                let behind = self.rx.queued.load(Ordering::Relaxed) > YIELD_WHILE_QUEUED_BELOW;
                if i % YIELD_EVERY == YIELD_EVERY - 1 && !behind {
                    // The writer may share a core with the gateway (a pinned gateway): a
                    // batch of ~800 rows is ~2 ms of CPU that a request arriving meanwhile
                    // would wait out. Giving way every few rows bounds that wait, but only
                    // while the writer keeps up: a writer that always gives way to a
                    // saturated gateway starves and its queue grows without bound.
                    std::thread::yield_now();
                }
            }
            tx.commit()
        })();
        if let Err(e) = result {
            let n = batch.len() as u64;
            self.dropped.fetch_add(n, Ordering::Relaxed);
            if let Some(suppressed) = self.warn.allow() {
                tracing::warn!(
                    db = %self.path.display(),
                    records = n,
                    suppressed_warnings = suppressed,
                    "cannot write usage records, dropping them (requests are unaffected): {e}"
                );
            }
        }
        batch.clear();
    }

    fn apply_retention(&mut self) {
        if self.retention_days == 0 {
            return;
        }
        let cutoff = now_unix_ms().saturating_sub(i64::from(self.retention_days) * 86_400_000);
        match self
            .conn
            .execute("DELETE FROM requests WHERE at_unix_ms < ?1", [cutoff])
        {
            Ok(0) => {}
            Ok(n) => tracing::debug!(db = %self.path.display(), rows = n, "usage retention"),
            Err(e) => {
                if let Some(suppressed) = self.warn.allow() {
                    tracing::warn!(
                        db = %self.path.display(),
                        suppressed_warnings = suppressed,
                        "cannot delete old usage records: {e}"
                    );
                }
            }
        }
    }
}

/// Lets one warning through per [`WARN_EVERY`], so a full disk logs once a minute rather than
/// once a second.
#[derive(Default)]
struct WarnLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    /// `Some(suppressed since the last one)` when a warning may be logged now.
    fn allow(&mut self) -> Option<u64> {
        match self.last {
            Some(t) if t.elapsed() < WARN_EVERY => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(Instant::now());
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
pub(super) mod test_support {
    //! Access to a sink whose queue nobody drains, for the back-pressure test.
    use super::*;

    pub struct Undrained {
        pub sink: UsageSink,
        _rx: Queue,
    }

    pub fn undrained(capacity: usize) -> Undrained {
        let (sink, rx) = UsageSink::channel(capacity);
        Undrained { sink, _rx: rx }
    }

    pub fn disconnected() -> UsageSink {
        UsageSink::channel(4).0
    }
}
