//! `TestEnv`: an isolated HOME/XDG/LLM_ROUTER_* world for running the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Variables from the developer's own environment that would leak into a test.
const SCRUB: &[&str] = &[
    "UPSTREAM_BASE_URL",
    "UPSTREAM_API_KEY",
    "ROUTER_API_KEY",
    "PORT",
    "UPSTREAM_TIMEOUT_MS",
    "AUTO_MAX_ATTEMPTS",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    "LLM_ROUTER_CONFIG",
    "LLM_ROUTER_LOG",
    "RUST_LOG",
    "SHELL",
    "FISH_VERSION",
    "NU_VERSION",
    "PSModulePath",
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> Self {
        // Short paths: unix socket paths are limited to ~100 bytes.
        let dir = tempfile::Builder::new()
            .prefix("lr")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let t = Self { dir };
        // The working directory of the binary (for `.env`) is the env root.
        std::fs::create_dir_all(t.root().join("work")).expect("work dir");
        t
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_dir(&self) -> PathBuf {
        self.root().join("config")
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir().join("config.toml")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root().join("state")
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.root().join("run")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("control.sock")
    }

    pub fn log_file(&self) -> PathBuf {
        self.state_dir().join("llm-router.log")
    }

    /// The working directory commands run in.
    pub fn work(&self) -> PathBuf {
        self.root().join("work")
    }

    /// The real binary with an isolated environment.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_llm-router"));
        for v in SCRUB {
            c.env_remove(v);
        }
        c.env("HOME", self.root())
            .env("XDG_CONFIG_HOME", self.root().join("xdg-config"))
            .env("XDG_STATE_HOME", self.root().join("xdg-state"))
            .env("XDG_RUNTIME_DIR", self.root().join("xdg-run"))
            .env("LLM_ROUTER_CONFIG_DIR", self.config_dir())
            .env("LLM_ROUTER_STATE_DIR", self.state_dir())
            .env("LLM_ROUTER_RUNTIME_DIR", self.runtime_dir())
            .current_dir(self.work());
        c
    }

    /// Run the binary with `args` (no stdin) and collect its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run llm-router")
    }

    /// Write the config file.
    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.config_dir()).expect("config dir");
        std::fs::write(self.config_file(), text).expect("write config");
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A command's stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
