//! `llm-router start`: run the gateway as a background daemon, or attached (`--foreground`).
//!
//! Detaching re-executes this binary (`start --daemon-child`, a hidden flag) in a new process
//! group, with stdin from /dev/null and stdout/stderr on `daemon.stderr` in the state
//! directory (the log itself is written by `logging`, which may rotate it). There is no
//! `fork()`: forking after threads exist is undefined territory for tokio and reqwest, and
//! `daemonize` is unmaintained (RUSTSEC-2025-0069); a fresh `exec` starts from a clean process
//! on every platform (docs/daemon.md has the full reasoning). The child inherits the caller's
//! working directory and environment, so `.env` and `upstream.api_key_env` work as in the
//! foreground.
//!
//! Invariants: no async runtime exists in the parent at any point; the startup lock is held
//! from the "is one running?" check until the new daemon answers, so racing `start`s give one
//! daemon; `start` returns only when the control socket and `GET /health` both answer, or
//! reports the daemon's own error line (from `daemon.stderr`) when it exits early.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::config::{self, Config, paths};
use crate::daemon::client::Client;
use crate::daemon::info::DaemonInfo;
use crate::daemon::lock::{self, Acquire, DaemonLock, Holder, StartupLock};
use crate::daemon::protocol::Status;
use crate::daemon::run::Spec;
use crate::server::ServeError;
use crate::server::assembly::{Overrides, Source};
use crate::ui;

#[derive(Debug, clap::Args)]
#[command(
    after_long_help = "Examples:\n  llm-router start\n  llm-router start --foreground --port 9000\n  llm-router start --demo"
)]
pub struct Args {
    /// Stay attached to the terminal (for systemd, launchd, Docker).
    #[arg(long, short = 'f')]
    pub foreground: bool,
    /// Serve a built-in simulated relay instead of a real one (no key needed).
    #[arg(long)]
    pub demo: bool,
    /// Port to listen on (overrides server.port).
    #[arg(long, short = 'p')]
    pub port: Option<u16>,
    /// Address to bind (overrides server.host).
    #[arg(long)]
    pub host: Option<String>,
    /// Seconds to wait for the background daemon to answer.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub wait: u64,
    /// Internal: this process is the detached daemon started by `start`.
    #[arg(long, hide = true)]
    pub daemon_child: bool,
}

/// Prefix `main` puts on the one error line; the parent looks for it in the log.
const ERROR_PREFIX: &str = "llm-router: ";

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        port: args.port,
        host: args.host.clone(),
        demo_upstream: None,
    };
    // Loaded here, before anything is spawned, so a bad file is this command's error line;
    // the daemon builds from it through the same assembly point.
    let settings = Source::new(config_path.map(Path::to_path_buf), overrides.clone()).load()?;
    let (cfg, key) = (settings.config, settings.key);
    let loaded_path = settings.path.unwrap_or_else(config::paths::config_file);
    if !args.demo && cfg.upstream_v1_base().is_none() {
        return Err(ServeError::NoUpstream.into());
    }
    if !args.demo
        && !args.daemon_child
        && let Some(why) = shadowed_key(&cfg, key.as_deref())
    {
        crate::ui::err(format!("llm-router: warning: {why}"));
    }
    // Absolute, so the daemon's reloads read the same file whatever happens to its cwd.
    let config_path = std::path::absolute(&loaded_path).unwrap_or(loaded_path);
    if args.foreground || args.daemon_child {
        attached(args, cfg, key, config_path, overrides)
    } else {
        detach(args, &config_path)
    }
}

/// The relay-key trap: a shell that ran `eval "$(llm-router env)"` has `OPENAI_API_KEY` set to
/// the key clients use for the gateway, so a relay key read from that variable is the
/// router's own key, which the relay will reject. Returns the warning, if any.
fn shadowed_key(cfg: &Config, key: Option<&str>) -> Option<String> {
    let key = key?;
    let router_key = &cfg.server.api_key;
    let is_router_key = key == crate::cli::env::PLACEHOLDER_KEY
        || (!router_key.is_empty() && key == router_key.as_str());
    if !is_router_key {
        return None;
    }
    let source = if cfg.upstream.api_key.is_empty() && !cfg.upstream.api_key_env.is_empty() {
        format!("${}", cfg.upstream.api_key_env)
    } else {
        "upstream.api_key".to_string()
    };
    Some(format!(
        "the relay key (from {source}) is the router key that `llm-router env` gives clients, so the relay will reject it; start the gateway from a shell where {source} holds the relay key (`llm-router env --unset` undoes the eval)"
    ))
}

/// Serve in this process (the foreground, or the re-executed daemon child).
fn attached(
    args: &Args,
    cfg: Config,
    key: Option<String>,
    config_path: PathBuf,
    overrides: Overrides,
) -> anyhow::Result<ExitCode> {
    // The lock first, before logging or the runtime: a second daemon must do nothing at all.
    let lock = match DaemonLock::acquire_patiently(&paths::lock_file(), Duration::from_millis(500))?
    {
        Acquire::Acquired(l) => l,
        Acquire::Busy(holder) => {
            ui::out(already_running(&holder));
            return Ok(ExitCode::SUCCESS);
        }
    };
    let log_path = args.daemon_child.then(paths::log_file);
    // Everything the gateway creates from here on is the user's alone: the log files
    // (tracing-appender sets no mode of its own), the usage database and its journal.
    #[cfg(unix)]
    {
        // SAFETY: umask(2) takes a mode and touches no memory; it cannot fail.
        unsafe { libc::umask(0o077) };
    }
    crate::logging::init(&cfg.log, log_path.as_deref())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let spec = Spec {
        config: cfg,
        key,
        demo: args.demo,
        config_path,
        overrides,
        log_path,
        socket: paths::control_socket(),
        info_path: paths::daemon_info_file(),
    };
    let result = rt.block_on(crate::daemon::run::run(spec, &lock));
    // Connections still open after the drain period are cut here.
    rt.shutdown_timeout(Duration::from_secs(1));
    if let Err(e) = &result {
        tracing::error!(error = %e, "llm-router could not run");
    }
    // Released only now, right before exit: "lock free" must mean "the daemon is gone".
    drop(lock);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// Start the daemon in the background and wait until it answers.
fn detach(args: &Args, config_path: &Path) -> anyhow::Result<ExitCode> {
    let wait = Duration::from_secs(args.wait.max(1));
    let state_dir = paths::state_dir();
    paths::ensure_private_dir(&state_dir).with_context(|| {
        format!(
            "cannot create the state directory {}; set LLM_ROUTER_STATE_DIR to a directory you own",
            state_dir.display()
        )
    })?;
    let _startup =
        StartupLock::acquire(&paths::startup_lock_file(), wait + Duration::from_secs(30))?;
    if let Some(holder) = lock::probe(&paths::lock_file())? {
        ui::out(already_running(&holder));
        return Ok(ExitCode::SUCCESS);
    }

    let log_path = paths::log_file();
    // The child's stdio is a file of its own, not the log: with rotation on, the log's name
    // is a link that the child's log writer replaces, which would orphan a file opened here.
    let stderr_path = paths::daemon_stderr_file();
    let stdio = open_stdio(&stderr_path)?;
    let exe = std::env::current_exe()
        .context("cannot find this program's path to re-run it as the daemon")?;
    let mut cmd = Command::new(&exe);
    cmd.arg("--config")
        .arg(config_path)
        .arg("start")
        .arg("--daemon-child");
    if args.demo {
        cmd.arg("--demo");
    }
    if let Some(p) = args.port {
        cmd.arg("--port").arg(p.to_string());
    }
    if let Some(h) = &args.host {
        cmd.arg("--host").arg(h);
    }
    let stdio_err = stdio
        .try_clone()
        .with_context(|| format!("cannot reopen {}", stderr_path.display()))?;
    cmd.stdin(Stdio::null()).stdout(stdio).stderr(stdio_err);
    detach_from_terminal(&mut cmd);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start the daemon ({})", exe.display()))?;

    let pb = ui::spinner("starting llm-router…");
    let outcome = wait_ready(&mut child, wait);
    pb.finish_and_clear();
    match outcome {
        Ready::Up(status) => {
            if status.pid != child.id() {
                // A `start --foreground` won the lock between our check and our child.
                ui::out(already_running(&lock::read_holder(&paths::lock_file())));
                return Ok(ExitCode::SUCCESS);
            }
            print_started(&status, &log_path);
            Ok(ExitCode::SUCCESS)
        }
        Ready::Exited(code) => {
            if code.success()
                && let Some(holder) = lock::probe(&paths::lock_file())?
            {
                ui::out(already_running(&holder));
                return Ok(ExitCode::SUCCESS);
            }
            match child_error(&stderr_path) {
                Some(line) => anyhow::bail!("{line}"),
                None => anyhow::bail!(
                    "the daemon exited ({code}) before it was ready; see the log {}",
                    log_path.display()
                ),
            }
        }
        Ready::TimedOut(last) => anyhow::bail!(
            "the daemon (pid {}) did not answer within {} s ({last}); see the log {}, or stop it with `llm-router stop --force`",
            child.id(),
            wait.as_secs(),
            log_path.display()
        ),
    }
}

/// Put the child in its own process group so the terminal's Ctrl-C and job control do not
/// reach it (`setsid` would need `unsafe` in `pre_exec`; a new group is enough because the
/// daemon ignores a stray SIGHUP by reloading, and never reads the terminal).
fn detach_from_terminal(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        cmd.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
}

/// `daemon.stderr`, emptied: it holds what the last daemon wrote outside its log.
fn open_stdio(path: &Path) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        paths::ensure_private_dir(dir)
            .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    }
    let mut o = OpenOptions::new();
    o.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path).with_context(|| {
        format!(
            "cannot open {}; check its directory's permissions or set LLM_ROUTER_STATE_DIR",
            path.display()
        )
    })
}

enum Ready {
    /// The control socket answered `status` (the reply) and `/health` answered 200.
    Up(Box<Status>),
    Exited(ExitStatus),
    /// With the last probe error.
    TimedOut(String),
}

fn wait_ready(child: &mut Child, wait: Duration) -> Ready {
    let client = Client::default_socket().with_timeout(Duration::from_secs(2));
    let deadline = Instant::now() + wait;
    let mut last;
    loop {
        if let Ok(Some(code)) = child.try_wait() {
            return Ready::Exited(code);
        }
        match client.status() {
            Ok(status) => match crate::daemon::health_check(&status.url, Duration::from_secs(2)) {
                Ok(()) => return Ready::Up(Box::new(status)),
                Err(e) => last = e,
            },
            Err(e) => last = e.to_string(),
        }
        if Instant::now() >= deadline {
            return Ready::TimedOut(last);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The daemon's one error line (`llm-router: …`, printed by `main` to its stderr, which is
/// `daemon.stderr`).
fn child_error(stderr_path: &Path) -> Option<String> {
    let mut f = std::fs::File::open(stderr_path).ok()?;
    let len = f.metadata().ok()?.len();
    // Only the tail matters; bound what we read if something wrote a lot.
    let start = len.saturating_sub(1024 * 1024);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut text = String::new();
    f.take(1024 * 1024).read_to_string(&mut text).ok()?;
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix(ERROR_PREFIX))
        .map(|l| l.trim().to_string())
}

/// "already running (pid, URL)", from the lock holder and `daemon.json` (or the control socket).
fn already_running(holder: &Holder) -> String {
    let info = DaemonInfo::read(&paths::daemon_info_file())
        .filter(|i| holder.pid.is_none_or(|p| p == i.pid));
    let url = info.as_ref().map(|i| i.url.clone()).or_else(|| {
        Client::default_socket()
            .with_timeout(Duration::from_secs(2))
            .status()
            .ok()
            .map(|s| s.url)
    });
    let pid = holder.pid.or(info.as_ref().map(|i| i.pid));
    match (pid, url) {
        (Some(pid), Some(url)) => format!("llm-router is already running (pid {pid}) at {url}"),
        (Some(pid), None) => format!("llm-router is already running (pid {pid})"),
        (None, Some(url)) => format!("llm-router is already running at {url}"),
        (None, None) => "llm-router is already running (it is still starting up)".into(),
    }
}

fn print_started(status: &Status, log_path: &Path) {
    ui::out(if status.demo {
        "llm-router started (demo: answers come from a built-in simulated relay)"
    } else {
        "llm-router started"
    });
    ui::out(ui::kv(&[
        ("URL", status.url.clone()),
        ("PID", status.pid.to_string()),
        ("Log", log_path.display().to_string()),
    ]));
    ui::out("Point OpenAI clients at it: eval \"$(llm-router env)\"");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_when_the_relay_key_is_the_router_key() {
        let mut cfg = Config::default();
        cfg.upstream.api_key_env = "OPENAI_API_KEY".into();
        let w = shadowed_key(&cfg, Some("llm-router")).unwrap();
        assert!(w.contains("$OPENAI_API_KEY"), "{w}");
        assert!(shadowed_key(&cfg, Some("sk-relay-123")).is_none());
        assert!(shadowed_key(&cfg, None).is_none());
        cfg.server.api_key = "router-secret".into();
        assert!(shadowed_key(&cfg, Some("router-secret")).is_some());
    }
}
