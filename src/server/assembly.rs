//! The one assembly point: configuration file + command-line overrides → validated
//! [`Settings`] → [`Runtime`] (relay client, engine, guards) → [`AppState`]; and the one
//! reload, which re-reads the file the same way and swaps the runtime.
//!
//! Everything that turns a configuration into a running gateway goes through here: `start`
//! (foreground and daemon), `route-test` without a daemon, the tests' in-process gateway,
//! and every reload (SIGHUP, the control socket's `reload`, the admin page's save). One
//! path means a setting cannot mean one thing at start and another after a reload, and
//! `route-test` in-process decides exactly as the daemon would.
//!
//! Invariants:
//! - A reload never disturbs what is in flight: a request keeps the runtime it started with
//!   (an `ArcSwap` snapshot), and a bad file fails in [`Source::load`] before any swap.
//! - A reload keeps the relay client, and so its pool of open connections, when the relay
//!   settings (base URL, key, `[upstream]`) did not change; a changed relay gets a fresh
//!   client, and its model list is fetched again.
//! - The listener is bound once: a reload keeps the running host and port (a changed one is
//!   reported as a note and applies at the next start), and `--port`, `--host` and `--demo`
//!   given at start keep applying.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::guard::{HostCheck, KeyCheck};
use super::models::ModelState;
use super::{AppState, Runtime, ServeError};
use crate::catalog::{Catalog, join};
use crate::config::{self, Config, ConfigError, UpstreamConfig};
use crate::engine::{Cooldowns, Engine};
use crate::upstream::Upstream;

/// Command-line settings that win over the config file, kept so a reload re-applies them
/// (otherwise a SIGHUP would silently drop `--port` or the demo relay).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    pub port: Option<u16>,
    pub host: Option<String>,
    /// The simulated relay's URL under `--demo` (the relay key is then dropped).
    pub demo_upstream: Option<String>,
}

impl Overrides {
    pub fn apply(&self, cfg: &mut Config, key: &mut Option<String>) {
        if let Some(p) = self.port {
            cfg.server.port = p;
        }
        if let Some(h) = &self.host {
            cfg.server.host = h.clone();
        }
        if let Some(u) = &self.demo_upstream {
            cfg.upstream.base_url = u.clone();
            *key = None;
        }
    }
}

/// Where a gateway's configuration comes from: kept in [`AppState::source`] so every reload
/// reads it the way start did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Source {
    /// The config file (`None`: the default location, as `config::load` finds it).
    pub config_path: Option<PathBuf>,
    pub overrides: Overrides,
}

impl Source {
    pub fn new(config_path: Option<PathBuf>, overrides: Overrides) -> Self {
        Self {
            config_path,
            overrides,
        }
    }

    /// Read the file (environment overrides and `.env` applied), resolve the relay key,
    /// apply the command-line overrides and validate.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        let loaded = config::load(self.config_path.as_deref())?;
        let key = loaded.upstream_key(&|n| std::env::var(n).ok());
        let mut settings = Settings::new(loaded.config, key, &self.overrides)?;
        settings.path = Some(loaded.path);
        Ok(settings)
    }
}

/// A configuration ready to build a gateway from: overrides applied, relay key resolved,
/// validated. (No `Debug`: it holds the relay key.)
#[derive(Clone)]
pub struct Settings {
    pub config: Config,
    /// The relay key, from the config, the environment or `.env`.
    pub key: Option<String>,
    /// The file it was read from, when it was read from one.
    pub path: Option<PathBuf>,
}

impl Settings {
    /// Settings from a config in memory (tests, and a config already loaded by `start`).
    pub fn new(
        mut config: Config,
        mut key: Option<String>,
        overrides: &Overrides,
    ) -> Result<Settings, ConfigError> {
        overrides.apply(&mut config, &mut key);
        config.validate()?;
        Ok(Settings {
            config,
            key,
            path: None,
        })
    }
}

/// What the relay client is built from. Equal settings mean the client (and its
/// connections) can be kept; the key is held as a digest, so the comparison keeps no second
/// copy of it.
#[derive(Clone, PartialEq)]
pub struct RelaySettings {
    base: String,
    key_digest: Option<[u8; 32]>,
    upstream: UpstreamConfig,
}

impl RelaySettings {
    fn new(base: &str, key: Option<&str>, upstream: &UpstreamConfig) -> Self {
        Self {
            base: base.to_string(),
            key_digest: key.map(|k| Sha256::digest(k.as_bytes()).into()),
            upstream: upstream.clone(),
        }
    }

    /// The same relay (same URL, same key): its model list still holds.
    fn same_relay(&self, other: &RelaySettings) -> bool {
        self.base == other.base && self.key_digest == other.key_digest
    }
}

/// Whether a new runtime kept the previous one's relay client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayClient {
    Kept,
    New,
}

/// The runtime for `config`: the one place a relay client, an engine and the guards are
/// made. `port` is the port actually bound (for the Host check); `key` the relay key. With
/// `previous`, its relay client is kept when the relay settings are unchanged.
pub fn runtime(
    config: Config,
    key: Option<String>,
    port: u16,
    health: Arc<Cooldowns>,
    previous: Option<&Runtime>,
) -> Result<(Runtime, RelayClient), ServeError> {
    let base = config.upstream_v1_base().ok_or(ServeError::NoUpstream)?;
    let relay = RelaySettings::new(&base, key.as_deref(), &config.upstream);
    let (upstream, kept) = match previous.filter(|p| p.relay == relay) {
        // A clone shares the reqwest client, so its pool of open connections.
        Some(p) => (p.upstream.clone(), RelayClient::Kept),
        None => (
            Upstream::new(&base, key, &config.upstream)
                .map_err(|e| ServeError::Upstream(e.to_string()))?,
            RelayClient::New,
        ),
    };
    Ok((
        Runtime {
            engine: Engine::new(config.router.clone(), health),
            hosts: HostCheck::new(
                config.is_loopback(),
                &config.server.host,
                port,
                &config.server.allowed_hosts,
            ),
            key: KeyCheck::new(&config.server.api_key),
            body_limit: config.server.body_limit_mb * 1024 * 1024,
            upstream,
            relay,
            config,
        },
        kept,
    ))
}

/// A gateway's shared state for `settings`, serving on `addr` (already bound). `source`
/// is what a reload re-reads (`None`: this gateway cannot be reloaded from a file).
pub fn build(
    settings: Settings,
    addr: SocketAddr,
    demo: bool,
    source: Option<Source>,
) -> Result<Arc<AppState>, ServeError> {
    let health = Arc::new(Cooldowns::new());
    let (rt, _) = runtime(
        settings.config,
        settings.key,
        addr.port(),
        health.clone(),
        None,
    )?;
    let state = AppState::new(rt, addr, health, demo);
    if let Some(s) = source {
        let _ = state.source.set(s);
    }
    Ok(state)
}

/// Why a reload did not apply (the running configuration is then unchanged).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("this gateway was not started from a config file, so there is nothing to reload")]
    NoSource,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub struct Reloaded {
    /// The file read.
    pub config_path: Option<PathBuf>,
    /// Settings that only a restart applies.
    pub notes: Vec<String>,
    pub relay_client: RelayClient,
}

/// The one reload: read the gateway's [`Source`] again and swap in the runtime built from
/// it. On any error the running configuration stays. Serialised, so two reloads at once
/// cannot interleave their read and swap.
pub fn reload(state: &AppState) -> Result<Reloaded, ReloadError> {
    static RELOAD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = RELOAD.lock().unwrap_or_else(|e| e.into_inner());
    let source = state.source.get().ok_or(ReloadError::NoSource)?;
    let Settings {
        mut config,
        key,
        path,
    } = source.load()?;
    let current = state.runtime.load_full();
    let mut notes = Vec::new();
    // The listener stays where it is: keep the running address, say what changed.
    let (host, port) = (&current.config.server.host, current.config.server.port);
    if config.server.port != port {
        notes.push(format!(
            "server.port is now {} but the gateway keeps listening on {port} until a restart (`llm-router stop && llm-router start`)",
            config.server.port,
        ));
        config.server.port = port;
    }
    if config.server.host != *host {
        notes.push(format!(
            "server.host is now {} but the gateway keeps listening on {host} until a restart (`llm-router stop && llm-router start`)",
            config.server.host,
        ));
        config.server.host = host.clone();
    }
    let (rt, relay_client) = runtime(
        config,
        key,
        state.addr.port(),
        state.cooldowns.clone(),
        Some(&current),
    )?;
    let same_relay = rt.relay.same_relay(&current.relay);
    let overrides_changed = rt.config.models != current.config.models;
    let rt = Arc::new(rt);
    state.runtime.store(rt.clone());
    let models = state.models.load_full();
    if !same_relay {
        // Another relay's list says nothing about this one: fetch it again (the refresher
        // skips a list it thinks is fresh), keeping the old facts until then.
        state.models.store(Arc::new(ModelState {
            fetched_unix: None,
            ..(*models).clone()
        }));
        state.refresh.notify_one();
    } else if overrides_changed {
        // Same relay, new `[models]` overrides: join again, no fetch needed.
        let facts = join(&models.raw, Catalog::embedded(), &rt.config.models);
        let mut joined = ModelState::new(models.raw.clone(), facts, models.fetched_unix);
        joined.error = models.error.clone();
        state.models.store(Arc::new(joined));
    }
    tracing::debug!(
        ?relay_client,
        same_relay,
        overrides_changed,
        "configuration reloaded"
    );
    Ok(Reloaded {
        config_path: path,
        notes,
        relay_client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "relay-key-0123456789";

    fn file(extra: &str) -> String {
        format!("[upstream]\nbase_url = \"http://127.0.0.1:9\"\napi_key = \"{KEY}\"\n{extra}")
    }

    /// A gateway built from `text` in a fresh config file, as `start` builds it.
    fn gateway(text: &str, overrides: Overrides) -> (tempfile::TempDir, PathBuf, Arc<AppState>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let source = Source::new(Some(path.clone()), overrides);
        let settings = source.load().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], settings.config.server.port));
        let state = build(settings, addr, false, Some(source)).unwrap();
        (dir, path, state)
    }

    #[tokio::test]
    async fn a_reload_keeps_the_relay_client_unless_the_upstream_settings_change() {
        let (_dir, path, state) = gateway(&file("[router]\nmodel = \"a\"\n"), Overrides::default());

        std::fs::write(&path, file("[router]\nmodel = \"b\"\n")).unwrap();
        let r = reload(&state).unwrap();
        assert_eq!(r.relay_client, RelayClient::Kept);
        assert_eq!(r.config_path.as_deref(), Some(path.as_path()));
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        assert_eq!(state.runtime.load().config.router.model, "b");

        // Any `[upstream]` setting makes a new client (timeouts live in it too).
        std::fs::write(
            &path,
            file("first_byte_timeout_ms = 1234\n[router]\nmodel = \"b\"\n"),
        )
        .unwrap();
        let r = reload(&state).unwrap();
        assert_eq!(r.relay_client, RelayClient::New);
        assert_eq!(
            state.runtime.load().upstream.first_byte_timeout,
            std::time::Duration::from_millis(1234)
        );

        // So does another key, from wherever it comes.
        std::fs::write(
            &path,
            file("first_byte_timeout_ms = 1234\n[router]\nmodel = \"b\"\n")
                .replace(KEY, "another-relay-key-987"),
        )
        .unwrap();
        assert_eq!(reload(&state).unwrap().relay_client, RelayClient::New);
    }

    #[tokio::test]
    async fn a_bad_file_changes_nothing() {
        let (_dir, path, state) = gateway(&file(""), Overrides::default());
        let before = state.runtime.load_full();
        std::fs::write(&path, file("[nonsense]\nx = 1\n")).unwrap();
        assert!(matches!(reload(&state), Err(ReloadError::Config(_))));
        std::fs::write(&path, file("[router]\nmax_attempts = 99\n")).unwrap();
        assert!(matches!(reload(&state), Err(ReloadError::Config(_))));
        assert!(Arc::ptr_eq(&before, &state.runtime.load_full()));
    }

    #[tokio::test]
    async fn the_listener_stays_and_start_overrides_keep_applying() {
        let overrides = Overrides {
            port: Some(9001),
            ..Default::default()
        };
        let (_dir, path, state) = gateway(&file(""), overrides);
        assert_eq!(state.addr.port(), 9001);
        // `--port` wins over the file at every reload, as it did at start.
        std::fs::write(&path, format!("[server]\nport = 7000\n{}", file(""))).unwrap();
        let r = reload(&state).unwrap();
        assert!(r.notes.is_empty(), "{:?}", r.notes);
        assert_eq!(state.runtime.load().config.server.port, 9001);

        // Without an override, a new port or host in the file is a note; the running
        // address stays.
        let (_dir, path, state) = gateway(&file(""), Overrides::default());
        let port = state.runtime.load().config.server.port;
        std::fs::write(
            &path,
            format!("[server]\nport = 7000\nhost = \"localhost\"\n{}", file("")),
        )
        .unwrap();
        let r = reload(&state).unwrap();
        assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
        assert!(r.notes[0].contains("7000") && r.notes[0].contains("restart"));
        let rt = state.runtime.load();
        assert_eq!(rt.config.server.port, port);
        assert_eq!(rt.config.server.host, "127.0.0.1");
    }

    #[tokio::test]
    async fn the_model_list_is_joined_again_or_fetched_again_as_needed() {
        let (_dir, path, state) = gateway(&file(""), Overrides::default());
        let raw = vec![json!({"id": "gpt-5.4-mini", "object": "model"})];
        let facts = join(&raw, Catalog::embedded(), &Default::default());
        state
            .models
            .store(Arc::new(ModelState::new(raw, facts, Some(1))));
        assert!(state.models.load().facts[0].excluded.is_none());

        // New `[models]` overrides, same relay: joined again at once, nothing fetched.
        std::fs::write(&path, file("[models.\"gpt-5.4-mini\"]\nexclude = true\n")).unwrap();
        assert_eq!(reload(&state).unwrap().relay_client, RelayClient::Kept);
        let m = state.models.load();
        assert!(m.facts[0].excluded.is_some(), "{:?}", m.facts[0]);
        assert_eq!(m.fetched_unix, Some(1));
        drop(m);

        // Another relay: its list is unknown until fetched (the old facts stay meanwhile).
        std::fs::write(
            &path,
            file("[models.\"gpt-5.4-mini\"]\nexclude = true\n")
                .replace("127.0.0.1:9", "127.0.0.1:10"),
        )
        .unwrap();
        assert_eq!(reload(&state).unwrap().relay_client, RelayClient::New);
        let m = state.models.load();
        assert_eq!(m.fetched_unix, None);
        assert_eq!(m.facts.len(), 1);
    }

    #[test]
    fn a_gateway_without_a_file_cannot_be_reloaded() {
        let mut cfg = Config::default();
        cfg.upstream.base_url = "http://127.0.0.1:9".into();
        let settings = Settings::new(cfg, None, &Overrides::default()).unwrap();
        let state = build(settings, "127.0.0.1:80".parse().unwrap(), false, None).unwrap();
        assert!(matches!(reload(&state), Err(ReloadError::NoSource)));
    }
}
