//! `llm-router stop`: ask the daemon to drain and exit, then wait until it has.
//!
//! The proof of exit is the daemon lock becoming free (the kernel releases it when the process
//! is gone), never a pid check. `--force` skips the control socket: SIGTERM to the pid written
//! in the lock file (a graceful drain too), then SIGKILL once `--timeout` runs out.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crate::config::paths;
use crate::daemon::client::{Client, ClientError};
use crate::daemon::info::DaemonInfo;
use crate::daemon::lock;
use crate::daemon::process::{self, Sig};
use crate::daemon::protocol::Stopping;
use crate::ui;

/// Extra time on top of the daemon's drain period before `stop` gives up.
const MARGIN_SECS: u64 = 10;
/// How long a locked daemon without a control socket counts as "starting up".
const STARTING_SECS: u64 = 5;
/// How long `--force` waits after SIGTERM before SIGKILL, unless `--timeout` says otherwise.
const FORCE_TERM_SECS: u64 = 10;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router stop\n  llm-router stop --timeout 5\n  llm-router stop --force     # SIGTERM, then SIGKILL after the timeout"
)]
pub struct Args {
    /// Signal the process instead of asking over the control socket: SIGTERM, then SIGKILL
    /// when the timeout runs out.
    #[arg(long)]
    pub force: bool,
    /// Seconds to wait for the daemon to exit (default: its drain period + 10 s; 10 s before
    /// SIGKILL with --force).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

pub fn run(args: &Args, _config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let lock_path = paths::lock_file();
    let Some(holder) = lock::probe(&lock_path)? else {
        ui::out("llm-router is not running");
        return Ok(ExitCode::SUCCESS);
    };
    // The holder may not have written its pid yet (it is starting); daemon.json may know.
    let pid = holder
        .pid
        .or_else(|| DaemonInfo::read(&paths::daemon_info_file()).map(|i| i.pid));
    if args.force {
        return force(pid, args.timeout, &lock_path);
    }
    let pid_text = pid.map_or_else(|| "unknown pid".to_string(), |p| format!("pid {p}"));
    let reply = match ask_to_stop(&lock_path)? {
        Some(r) => r,
        None => {
            ui::out("llm-router is not running");
            return Ok(ExitCode::SUCCESS);
        }
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot ask llm-router ({pid_text}) to stop: {e}; run `llm-router stop --force`"
        )
    })?;
    let (drain, in_flight) = (reply.drain_secs, reply.in_flight);
    let timeout = Duration::from_secs(args.timeout.unwrap_or(drain + MARGIN_SECS));
    let msg = if in_flight > 0 {
        format!(
            "stopping llm-router ({pid_text}); {in_flight} open request(s) get up to {drain} s…"
        )
    } else {
        format!("stopping llm-router ({pid_text})…")
    };
    let pb = ui::spinner(&msg);
    let released = wait_released(&lock_path, timeout);
    pb.finish_and_clear();
    if !released? {
        anyhow::bail!(
            "llm-router ({pid_text}) is still running after {} s; run `llm-router stop --force`",
            timeout.as_secs()
        );
    }
    ui::out(format!("llm-router stopped ({pid_text})"));
    Ok(ExitCode::SUCCESS)
}

fn force(pid: Option<u32>, timeout: Option<u64>, lock_path: &Path) -> anyhow::Result<ExitCode> {
    let Some(pid) = pid else {
        anyhow::bail!(
            "llm-router is running but {} holds no pid yet (it is starting); try again in a moment",
            lock_path.display()
        );
    };
    let term_wait = Duration::from_secs(timeout.unwrap_or(FORCE_TERM_SECS));
    let pb = ui::spinner(&format!("sending SIGTERM to llm-router (pid {pid})…"));
    let sent = process::signal(pid, Sig::Term);
    if let Err(e) = sent {
        pb.finish_and_clear();
        return Err(anyhow::anyhow!("{e}; is pid {pid} yours?"));
    }
    if wait_released(lock_path, term_wait)? {
        pb.finish_and_clear();
        ui::out(format!("llm-router stopped (pid {pid}, SIGTERM)"));
        return Ok(ExitCode::SUCCESS);
    }
    pb.set_message(format!(
        "llm-router (pid {pid}) ignored SIGTERM for {} s; sending SIGKILL…",
        term_wait.as_secs()
    ));
    let killed = process::signal(pid, Sig::Kill);
    let released = killed.is_ok() && wait_released(lock_path, Duration::from_secs(5))?;
    pb.finish_and_clear();
    if let Err(e) = killed {
        return Err(anyhow::anyhow!("{e}; is pid {pid} yours?"));
    }
    if !released {
        anyhow::bail!(
            "llm-router (pid {pid}) still holds {} after SIGKILL; check `ps -p {pid}`",
            lock_path.display()
        );
    }
    ui::out(format!("llm-router killed (pid {pid}, SIGKILL)"));
    Ok(ExitCode::SUCCESS)
}

/// Send `stop`. A daemon that holds the lock but has no socket yet is still starting: retry
/// for a few seconds rather than failing. `None` when it exited meanwhile.
fn ask_to_stop(lock_path: &Path) -> anyhow::Result<Option<Result<Stopping, ClientError>>> {
    let client = Client::default_socket().with_timeout(Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(STARTING_SECS);
    loop {
        match client.stop() {
            Err(ClientError::NotRunning(_)) if Instant::now() < deadline => {
                if lock::probe(lock_path)?.is_none() {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return Ok(Some(other)),
        }
    }
}

/// Poll until nobody holds the daemon lock; false on timeout.
fn wait_released(lock_path: &Path, timeout: Duration) -> anyhow::Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if lock::probe(lock_path)?.is_none() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
