//! The single-instance lock (`paths::lock_file`) and the startup lock (`paths::startup_lock_file`).
//!
//! Invariants:
//! - "Running" means "some process holds the exclusive `flock` on the lock file", never "a pid
//!   is written there": pids lie after a crash and get reused. The kernel drops the lock when
//!   the holder dies, so a SIGKILLed daemon leaves nothing stale to clean up.
//! - The lock file is never deleted, and only its holder truncates and rewrites it (pid and
//!   version, one per line). Deleting it would let a second daemon lock a fresh inode while
//!   the first still holds the old one (see docs/daemon.md).
//! - Files are opened close-on-exec (Rust's default), so a lock never leaks into a child.
//!
//! Locking is std's `File::try_lock` (`flock(2)` on Unix, `LockFileEx` on Windows), stable
//! since Rust 1.89, our MSRV.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::paths;

/// Why a lock could not be taken or read.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "cannot open lock file {path}: {source}; check the permissions of its directory or move it with LLM_ROUTER_STATE_DIR"
    )]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}: {source}")]
    Lock {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the pid into lock file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another `llm-router start` has held {path} for {secs} s; wait for it, or check the log with `llm-router status`"
    )]
    StartupBusy { path: PathBuf, secs: u64 },
}

/// Who holds the daemon lock, as written in the lock file by the holder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// None while the holder has locked the file but not yet written into it.
    pub pid: Option<u32>,
    pub version: Option<String>,
}

/// The daemon lock, held for the daemon's whole life. Dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct DaemonLock {
    _file: File,
    path: PathBuf,
}

/// The outcome of trying to take the daemon lock.
#[derive(Debug)]
pub enum Acquire {
    Acquired(DaemonLock),
    Busy(Holder),
}

fn open(path: &Path, create: bool) -> Result<Option<File>, LockError> {
    let mut o = OpenOptions::new();
    o.read(true);
    if create {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            paths::ensure_private_dir(dir).map_err(|source| LockError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        }
        o.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
    }
    match o.open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(LockError::Open {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parse `pid\nversion\n`.
fn parse_holder(text: &str) -> Holder {
    let mut lines = text.lines().map(str::trim);
    Holder {
        pid: lines.next().and_then(|l| l.parse().ok()),
        version: lines.next().filter(|l| !l.is_empty()).map(str::to_string),
    }
}

/// What the holder wrote into the lock file (best effort: unreadable → empty).
pub fn read_holder(path: &Path) -> Holder {
    let mut text = String::new();
    match File::open(path).and_then(|mut f| f.read_to_string(&mut text)) {
        Ok(_) => parse_holder(&text),
        Err(_) => Holder::default(),
    }
}

impl DaemonLock {
    /// Try once to take the lock; on success write our pid and version into it.
    pub fn try_acquire(path: &Path) -> Result<Acquire, LockError> {
        let Some(mut file) = open(path, true)? else {
            // `open` with create never answers None; treat it as an open failure anyway.
            return Err(LockError::Open {
                path: path.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Acquire::Busy(read_holder(path))),
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            let text = format!("{}\n{}\n", std::process::id(), env!("CARGO_PKG_VERSION"));
            // `set_len` does not move the cursor; write from the start explicitly.
            std::io::Seek::seek(file, std::io::SeekFrom::Start(0))?;
            file.write_all(text.as_bytes())?;
            file.sync_data()
        };
        write(&mut file).map_err(|source| LockError::Write {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Acquire::Acquired(DaemonLock {
            _file: file,
            path: path.to_path_buf(),
        }))
    }

    /// [`Self::try_acquire`], retrying for `patience` while the lock is busy.
    ///
    /// Because `status` and `stop` probe the lock by taking it for an instant, a daemon that
    /// starts at that very moment would see it busy; a short retry window absorbs that. A
    /// real daemon holds it far longer than `patience`.
    pub fn acquire_patiently(path: &Path, patience: Duration) -> Result<Acquire, LockError> {
        let deadline = Instant::now() + patience;
        loop {
            match Self::try_acquire(path)? {
                Acquire::Busy(h) if Instant::now() < deadline => {
                    let _ = h;
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return Ok(other),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Is a daemon holding the lock? `None` when nobody does (or the file does not exist yet).
///
/// Probes with a shared lock taken for an instant and released at once: it never creates or
/// changes the file.
pub fn probe(path: &Path) -> Result<Option<Holder>, LockError> {
    let Some(file) = open(path, false)? else {
        return Ok(None);
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(TryLockError::WouldBlock) => Ok(Some(read_holder(path))),
        Err(TryLockError::Error(source)) => Err(LockError::Lock {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Held while one `start` checks for a daemon and spawns it, so two racing `start`s give
/// exactly one daemon (the second then finds it running).
#[derive(Debug)]
pub struct StartupLock {
    _file: File,
}

impl StartupLock {
    /// Wait up to `timeout` for the startup lock.
    pub fn acquire(path: &Path, timeout: Duration) -> Result<StartupLock, LockError> {
        let Some(file) = open(path, true)? else {
            return Err(LockError::Open {
                path: path.to_path_buf(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        };
        let deadline = Instant::now() + timeout;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StartupLock { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(LockError::StartupBusy {
                        path: path.to_path_buf(),
                        secs: timeout.as_secs(),
                    });
                }
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Lock {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holder_parses_pid_and_version() {
        assert_eq!(
            parse_holder("123\n0.1.0\n"),
            Holder {
                pid: Some(123),
                version: Some("0.1.0".into())
            }
        );
        assert_eq!(parse_holder(""), Holder::default());
        assert_eq!(parse_holder("x\n").pid, None);
    }

    #[test]
    fn second_acquire_is_busy_and_probe_sees_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("daemon.lock");
        assert_eq!(probe(&path).unwrap(), None);
        let Acquire::Acquired(lock) = DaemonLock::try_acquire(&path).unwrap() else {
            panic!("first acquire must succeed");
        };
        // flock locks belong to the open file description, so a second open in the same
        // process conflicts just like another process would.
        match DaemonLock::try_acquire(&path).unwrap() {
            Acquire::Busy(h) => assert_eq!(h.pid, Some(std::process::id())),
            Acquire::Acquired(_) => panic!("second acquire must be busy"),
        }
        let h = probe(&path).unwrap().unwrap();
        assert_eq!(h.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
        drop(lock);
        assert_eq!(probe(&path).unwrap(), None);
        // The file stays: it is never deleted.
        assert!(path.exists());
        assert!(matches!(
            DaemonLock::try_acquire(&path).unwrap(),
            Acquire::Acquired(_)
        ));
    }

    #[test]
    fn startup_lock_times_out_while_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("start.lock");
        let _held = StartupLock::acquire(&path, Duration::from_millis(10)).unwrap();
        let err = StartupLock::acquire(&path, Duration::from_millis(100)).unwrap_err();
        assert!(matches!(err, LockError::StartupBusy { .. }));
    }
}
