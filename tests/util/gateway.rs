//! An in-process gateway on 127.0.0.1:0 in front of a simulated relay.

use std::sync::Arc;
use std::time::Duration;

use llm_router::config::Config;
use llm_router::engine::Cooldowns;
use llm_router::server::{self, AppState, Runtime, ServerLimits};
use llm_router::sim::{SimOptions, SimRelay};

pub struct TestGateway {
    pub sim: SimRelay,
    pub state: Arc<AppState>,
    pub url: String,
    pub client: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl TestGateway {
    /// A gateway with default settings, tweaked by `f`.
    pub async fn start(f: impl FnOnce(&mut Config)) -> Self {
        Self::start_with(SimOptions::default(), f).await
    }

    pub async fn start_with(opts: SimOptions, f: impl FnOnce(&mut Config)) -> Self {
        let sim = SimRelay::start_on("127.0.0.1:0".parse().expect("addr"), opts)
            .await
            .expect("sim relay");
        Self::start_on_sim(sim, f).await
    }

    /// A gateway in front of a relay the caller created (and maybe scripted) already.
    pub async fn start_on_sim(sim: SimRelay, f: impl FnOnce(&mut Config)) -> Self {
        Self::start_listener(sim, ServerLimits::default(), f).await
    }

    /// A gateway with short listener limits (head, idle, body deadlines).
    pub async fn start_limited(limits: ServerLimits, f: impl FnOnce(&mut Config)) -> Self {
        let sim = SimRelay::start_on("127.0.0.1:0".parse().expect("addr"), SimOptions::default())
            .await
            .expect("sim relay");
        Self::start_listener(sim, limits, f).await
    }

    /// The general form: the listener binds `server.host` as `f` leaves it.
    pub async fn start_listener(
        sim: SimRelay,
        limits: ServerLimits,
        f: impl FnOnce(&mut Config),
    ) -> Self {
        let mut cfg = Config::default();
        cfg.upstream.base_url = sim.base_url();
        cfg.upstream.api_key = "relay-secret-key-123456".into();
        cfg.upstream.first_byte_timeout_ms = 5_000;
        cfg.upstream.idle_timeout_ms = 5_000;
        cfg.router.timeout_ms = 2_000;
        f(&mut cfg);
        cfg.validate().expect("valid test config");
        let listener = server::bind(&cfg.server.host, 0).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let health = Arc::new(Cooldowns::new());
        let key = Some(cfg.upstream.api_key.clone()).filter(|k| !k.is_empty());
        let runtime = Runtime::build(cfg, addr.port(), health.clone(), key).expect("runtime");
        let state = AppState::new(runtime, addr, health, false);
        server::models::refresh_once(&state).await;
        let st = state.clone();
        let task = tokio::spawn(async move {
            server::serve_with(listener, st, Duration::from_secs(2), limits).await;
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        TestGateway {
            sim,
            state,
            url: format!("http://{addr}"),
            client,
            task,
        }
    }

    /// POST JSON to /v1/chat/completions.
    pub async fn chat(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&body)
            .send()
            .await
            .expect("send")
    }

    pub fn stop(&self) {
        self.state.shutdown.cancel();
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        self.task.abort();
        self.sim.shutdown();
    }
}
