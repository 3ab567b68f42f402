//! The daemon as an OS process: CPU and memory for `status`, signals for `stop --force`.
//!
//! Through `sysinfo`, refreshing only the one pid asked about (a full process scan costs
//! tens of milliseconds on a busy machine). Callers only pass a pid read from the lock file
//! while the lock is held, so the pid is the daemon's and not a reused one.

use std::time::Duration;

use serde::Serialize;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// CPU and memory of a process.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Usage {
    /// Percent of one core, averaged over the sampling interval.
    pub cpu_percent: f32,
    /// Resident memory in bytes.
    pub memory_bytes: u64,
}

/// A signal `stop --force` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
}

/// Why a signal could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot inspect processes on this system: {0}")]
    System(String),
    #[error("cannot send {sig} to pid {pid}: not permitted or not supported here")]
    Signal { pid: u32, sig: &'static str },
}

fn refreshed(pid: Pid, kind: ProcessRefreshKind) -> Result<System, ProcessError> {
    let mut sys = System::new().map_err(|e| ProcessError::System(e.to_string()))?;
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), true, kind);
    Ok(sys)
}

/// Sample CPU and memory of `pid` (takes about [`sysinfo::MINIMUM_CPU_UPDATE_INTERVAL`]:
/// CPU usage is a difference between two readings). None if the process is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let p = Pid::from_u32(pid);
    let kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    let mut sys = refreshed(p, kind).ok()?;
    std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL.max(Duration::from_millis(100)));
    sys.refresh_processes_specifics(ProcessesToUpdate::Some(&[p]), true, kind);
    let proc = sys.process(p)?;
    Some(Usage {
        cpu_percent: proc.cpu_usage(),
        memory_bytes: proc.memory(),
    })
}

/// Is `pid` alive?
pub fn alive(pid: u32) -> bool {
    let p = Pid::from_u32(pid);
    refreshed(p, ProcessRefreshKind::nothing())
        .map(|s| s.process(p).is_some())
        .unwrap_or(false)
}

/// Send `sig` to `pid`. `Ok(false)` when the process is already gone.
pub fn signal(pid: u32, sig: Sig) -> Result<bool, ProcessError> {
    let p = Pid::from_u32(pid);
    let sys = refreshed(p, ProcessRefreshKind::nothing())?;
    let Some(proc) = sys.process(p) else {
        return Ok(false);
    };
    let (s, name) = match sig {
        Sig::Term => (sysinfo::Signal::Term, "SIGTERM"),
        Sig::Kill => (sysinfo::Signal::Kill, "SIGKILL"),
    };
    match proc.kill_with(s) {
        Some(true) => Ok(true),
        _ => Err(ProcessError::Signal { pid, sig: name }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_is_alive_and_measured() {
        let me = std::process::id();
        assert!(alive(me));
        let u = usage(me).unwrap();
        assert!(u.memory_bytes > 0);
    }
}
