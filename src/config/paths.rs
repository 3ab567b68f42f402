//! Every file location llm-router uses. Nothing else in the crate computes a path.
//!
//! Each location has an environment override so tests, packagers and users with unusual
//! setups can move it. Defaults on Linux **and macOS** are XDG-style (`~/.config`,
//! `~/.local/state`) rather than `~/Library/Application Support`, because a CLI user on
//! macOS expects dotfiles next to their other tools' (atuin and starship choose the same).
//! Windows uses the `directories` crate (`%APPDATA%`, `%LOCALAPPDATA%`).
//!
//! Invariant: these functions never fail. When no home directory can be found they fall back
//! to a relative `.llm-router` directory so the caller's I/O error names a real path.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

const APP: &str = "llm-router";

/// Environment variables that move a location; exposed for `status` and docs.
pub const CONFIG_DIR_VAR: &str = "LLM_ROUTER_CONFIG_DIR";
pub const CONFIG_FILE_VAR: &str = "LLM_ROUTER_CONFIG";
pub const STATE_DIR_VAR: &str = "LLM_ROUTER_STATE_DIR";
pub const RUNTIME_DIR_VAR: &str = "LLM_ROUTER_RUNTIME_DIR";
pub const LOG_FILE_VAR: &str = "LLM_ROUTER_LOG_FILE";

/// The injectable view of the process used to compute locations (tests pass a fake).
struct Env<'a> {
    var: &'a dyn Fn(&str) -> Option<OsString>,
    home: Option<PathBuf>,
}

impl Env<'_> {
    /// A set, non-empty variable as a path.
    fn path(&self, name: &str) -> Option<PathBuf> {
        (self.var)(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    /// An XDG base variable: the spec says relative values are invalid and must be ignored.
    fn xdg(&self, name: &str) -> Option<PathBuf> {
        self.path(name).filter(|p| p.is_absolute())
    }

    fn home_or_fallback(&self, suffix: &[&str]) -> PathBuf {
        match &self.home {
            Some(home) => suffix.iter().fold(home.clone(), |p, s| p.join(s)),
            None => PathBuf::from(".llm-router"),
        }
    }

    fn config_dir(&self) -> PathBuf {
        if let Some(p) = self.path(CONFIG_DIR_VAR) {
            return p;
        }
        if let Some(p) = self.xdg("XDG_CONFIG_HOME") {
            return p.join(APP);
        }
        if cfg!(windows)
            && let Some(d) = directories::BaseDirs::new()
        {
            return d.config_dir().join(APP);
        }
        self.home_or_fallback(&[".config", APP])
    }

    fn config_file(&self) -> PathBuf {
        self.path(CONFIG_FILE_VAR)
            .unwrap_or_else(|| self.config_dir().join("config.toml"))
    }

    fn state_dir(&self) -> PathBuf {
        if let Some(p) = self.path(STATE_DIR_VAR) {
            return p;
        }
        if let Some(p) = self.xdg("XDG_STATE_HOME") {
            return p.join(APP);
        }
        if cfg!(windows)
            && let Some(d) = directories::BaseDirs::new()
        {
            return d.data_local_dir().join(APP);
        }
        match &self.home {
            Some(_) => self.home_or_fallback(&[".local", "state", APP]),
            None => PathBuf::from(".llm-router").join("state"),
        }
    }

    fn runtime_dir(&self) -> PathBuf {
        if let Some(p) = self.path(RUNTIME_DIR_VAR) {
            return p;
        }
        if let Some(p) = self.xdg("XDG_RUNTIME_DIR") {
            return p.join(APP);
        }
        // macOS has no XDG_RUNTIME_DIR; the state dir is private too and short enough for
        // the ~104-byte unix socket path limit in the usual case.
        self.state_dir().join("run")
    }

    fn log_file(&self) -> PathBuf {
        self.path(LOG_FILE_VAR)
            .unwrap_or_else(|| self.state_dir().join("llm-router.log"))
    }
}

fn with_process_env<T>(f: impl FnOnce(&Env<'_>) -> T) -> T {
    let var = |name: &str| std::env::var_os(name);
    let home = directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    f(&Env { var: &var, home })
}

/// Directory of `config.toml`: `$LLM_ROUTER_CONFIG_DIR`, else `$XDG_CONFIG_HOME/llm-router`,
/// else `~/.config/llm-router` (Linux and macOS) or `%APPDATA%\llm-router` (Windows).
pub fn config_dir() -> PathBuf {
    with_process_env(|e| e.config_dir())
}

/// The config file: `$LLM_ROUTER_CONFIG` (a file path), else `config_dir()/config.toml`.
pub fn config_file() -> PathBuf {
    with_process_env(|e| e.config_file())
}

/// Daemon state (lock, info, log, usage db): `$LLM_ROUTER_STATE_DIR`, else
/// `$XDG_STATE_HOME/llm-router`, else `~/.local/state/llm-router`
/// (`%LOCALAPPDATA%\llm-router` on Windows).
pub fn state_dir() -> PathBuf {
    with_process_env(|e| e.state_dir())
}

/// Where the control socket lives (must be 0700, see [`ensure_private_dir`]):
/// `$LLM_ROUTER_RUNTIME_DIR`, else `$XDG_RUNTIME_DIR/llm-router`, else `state_dir()/run`.
pub fn runtime_dir() -> PathBuf {
    with_process_env(|e| e.runtime_dir())
}

/// The exclusive daemon lock (pid + version inside).
pub fn lock_file() -> PathBuf {
    state_dir().join("daemon.lock")
}

/// Held while a `start` is in progress, so two starts cannot race.
pub fn startup_lock_file() -> PathBuf {
    state_dir().join("start.lock")
}

/// What the running daemon wrote about itself (address, pid, version).
pub fn daemon_info_file() -> PathBuf {
    state_dir().join("daemon.json")
}

/// The daemon's log: `$LLM_ROUTER_LOG_FILE`, else `state_dir()/llm-router.log`. With
/// `log.rotation` on, this is a symbolic link to the current file, `<name>.<date>` in the
/// same directory (named by `logging`); with `never`, the file itself.
pub fn log_file() -> PathBuf {
    with_process_env(|e| e.log_file())
}

/// What the background daemon writes outside its log (stdout and stderr: `main`'s one error
/// line when it cannot run), read back by `start`. Rewritten at each `start`.
pub fn daemon_stderr_file() -> PathBuf {
    state_dir().join("daemon.stderr")
}

/// The control endpoint's unix socket.
pub fn control_socket() -> PathBuf {
    runtime_dir().join("control.sock")
}

/// The usage/cost database.
pub fn usage_db() -> PathBuf {
    state_dir().join("usage.sqlite3")
}

/// The `.env` file read by `config::load`: `.env` in the current directory (as the original
/// project did). Relative, so it resolves against the cwd at the moment it is opened.
pub fn dotenv_file() -> PathBuf {
    PathBuf::from(".env")
}

/// Create `p` (and missing parents) and make `p` itself mode 0700 on unix.
///
/// Missing parents are created 0700 too. An existing directory is tightened to 0700, except
/// a sticky world-writable one such as `/tmp` (someone pointed an override at a shared
/// directory; changing its mode would break other users).
pub fn ensure_private_dir(p: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::fs::{DirBuilder, Permissions};
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

        DirBuilder::new().recursive(true).mode(0o700).create(p)?;
        let mode = std::fs::metadata(p)?.permissions().mode() & 0o7777;
        let shared_tmp = mode & 0o1000 != 0 && mode & 0o002 != 0;
        if mode & 0o777 != 0o700 && !shared_tmp {
            std::fs::set_permissions(p, Permissions::from_mode(0o700))?;
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_with(vars: &[(&str, &str)], home: Option<&str>, f: impl FnOnce(&Env<'_>)) {
        let map: HashMap<String, OsString> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        let var = move |k: &str| map.get(k).cloned();
        f(&Env {
            var: &var,
            home: home.map(PathBuf::from),
        });
    }

    #[cfg(unix)]
    #[test]
    fn defaults_are_xdg_style_under_home() {
        env_with(&[], Some("/home/u"), |e| {
            assert_eq!(e.config_dir(), Path::new("/home/u/.config/llm-router"));
            assert_eq!(
                e.config_file(),
                Path::new("/home/u/.config/llm-router/config.toml")
            );
            assert_eq!(e.state_dir(), Path::new("/home/u/.local/state/llm-router"));
            assert_eq!(
                e.runtime_dir(),
                Path::new("/home/u/.local/state/llm-router/run")
            );
            assert_eq!(
                e.log_file(),
                Path::new("/home/u/.local/state/llm-router/llm-router.log")
            );
        });
    }

    #[cfg(unix)]
    #[test]
    fn xdg_variables_are_honoured_only_when_absolute() {
        env_with(
            &[
                ("XDG_CONFIG_HOME", "/x/conf"),
                ("XDG_STATE_HOME", "relative/state"),
                ("XDG_RUNTIME_DIR", "/run/user/1000"),
            ],
            Some("/home/u"),
            |e| {
                assert_eq!(e.config_dir(), Path::new("/x/conf/llm-router"));
                assert_eq!(e.state_dir(), Path::new("/home/u/.local/state/llm-router"));
                assert_eq!(e.runtime_dir(), Path::new("/run/user/1000/llm-router"));
            },
        );
    }

    #[test]
    fn overrides_win() {
        env_with(
            &[
                (CONFIG_DIR_VAR, "/c"),
                (STATE_DIR_VAR, "/s"),
                (RUNTIME_DIR_VAR, "/r"),
                (LOG_FILE_VAR, "/l/x.log"),
                ("XDG_CONFIG_HOME", "/x"),
            ],
            Some("/home/u"),
            |e| {
                assert_eq!(e.config_file(), Path::new("/c").join("config.toml"));
                assert_eq!(e.state_dir(), Path::new("/s"));
                assert_eq!(e.runtime_dir(), Path::new("/r"));
                assert_eq!(e.log_file(), Path::new("/l/x.log"));
            },
        );
        env_with(
            &[(CONFIG_FILE_VAR, "/etc/r.toml"), (CONFIG_DIR_VAR, "/c")],
            None,
            |e| assert_eq!(e.config_file(), Path::new("/etc/r.toml")),
        );
        // Empty values count as unset.
        env_with(&[(CONFIG_DIR_VAR, "")], Some("/h"), |e| {
            assert_eq!(e.config_dir(), Path::new("/h").join(".config").join(APP));
        });
    }

    #[cfg(unix)]
    #[test]
    fn no_home_falls_back_to_relative() {
        env_with(&[], None, |e| {
            assert_eq!(e.config_dir(), Path::new(".llm-router"));
            assert_eq!(e.state_dir(), Path::new(".llm-router/state"));
        });
    }

    #[cfg(unix)]
    #[test]
    fn private_dir_is_0700() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("a").join("b");
        ensure_private_dir(&p).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700);
        // An existing, too-open directory is tightened.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        ensure_private_dir(&p).unwrap();
        assert_eq!(mode(&p), 0o700);
    }
}
