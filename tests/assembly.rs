//! One assembly point and one reload, through the real binary: `route-test` decides alike
//! in-process and through the daemon (both assemble the gateway the same way), and a reload
//! keeps open streams and the relay client's connections unless the upstream settings
//! changed (the simulated relay counts the connections it accepts).

use std::process::Output;
use std::time::Duration;

use llm_router::daemon::client::Client;
use llm_router::sim::{SimRelay, SseEnd, Step, sse_chunks_for};
use serde_json::{Value, json};

use crate::util::env::{TestEnv, free_port, stderr, stdout};

/// An isolated environment with a simulated relay, and a `stop --force` when dropped.
struct World {
    env: TestEnv,
    port: u16,
    sim: SimRelay,
    rt: tokio::runtime::Runtime,
}

impl World {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = rt.block_on(SimRelay::start()).expect("sim relay");
        let w = World {
            env: TestEnv::new(),
            port: free_port(),
            sim,
            rt,
        };
        w.env.write_config(&w.config(""));
        w
    }

    /// The config file, with `upstream_extra` added to `[upstream]`. The model list is not
    /// refreshed on a timer during a test, so every relay connection is one a test caused.
    fn config(&self, upstream_extra: &str) -> String {
        format!(
            r#"[server]
port = {port}
drain_secs = 5

[upstream]
base_url = "{base}"
api_key = "relay-test-key-0123456789"
first_byte_timeout_ms = 10000
idle_timeout_ms = 10000
models_refresh_secs = 3600
{upstream_extra}

[router]
timeout_ms = 5000
"#,
            port = self.port,
            base = self.sim.base_url(),
        )
    }

    fn run(&self, args: &[&str]) -> Output {
        self.env.run(args)
    }

    fn start(&self) {
        let out = self.run(&["start"]);
        assert!(
            out.status.success(),
            "start failed: {}\nlog:\n{}",
            text(&out),
            std::fs::read_to_string(self.env.log_file()).unwrap_or_default()
        );
    }

    /// `route-test --json` for `mode` and `prompt`, with the side that answered.
    fn route_test(&self, mode: &str, prompt: &str, tools: bool) -> Value {
        let mut args = vec!["route-test", "--json", "--mode", mode];
        if tools {
            args.push("--tools");
        }
        args.push(prompt);
        let out = self.run(&args);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).expect("route-test --json")
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client")
    }

    /// One `auto` chat through the gateway; returns the router model header.
    fn chat_auto(&self) -> String {
        let url = format!("http://127.0.0.1:{}/v1/chat/completions", self.port);
        self.rt.block_on(async {
            let r = self
                .client()
                .post(url)
                .json(&json!({"model": "auto",
                    "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("chat");
            assert_eq!(r.status(), 200);
            let router = r
                .headers()
                .get("x-llm-router-router-model")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            r.bytes().await.expect("body");
            router
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.run(&["stop", "--force", "--timeout", "5"]);
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// A decision without what may differ between two runs of the same decision: who answered
/// and how long the router call took.
fn comparable(mut d: Value) -> Value {
    if let Value::Object(o) = &mut d {
        o.remove("via");
        o.remove("router_ms");
    }
    d
}

#[test]
fn route_test_decides_alike_in_process_and_through_the_daemon() {
    let w = World::new();
    let asks = [
        ("auto", "Summarise this paragraph for me", false),
        (
            "auto-coding",
            "Refactor this Rust module to use async I/O",
            true,
        ),
        (
            "auto-longtext",
            "Translate this long report into French",
            false,
        ),
    ];
    let in_process: Vec<Value> = asks
        .iter()
        .map(|(mode, prompt, tools)| w.route_test(mode, prompt, *tools))
        .collect();
    w.start();
    let daemon: Vec<Value> = asks
        .iter()
        .map(|(mode, prompt, tools)| w.route_test(mode, prompt, *tools))
        .collect();
    for (a, b) in in_process.into_iter().zip(daemon) {
        assert_eq!(a["via"], "in-process", "{a}");
        assert_eq!(b["via"], "daemon", "{b}");
        // The router really decided both times (a policy fallback would hide a difference).
        assert_eq!(a["source"], "router", "{a}");
        assert!(!a["candidates"].as_array().expect("candidates").is_empty());
        assert_eq!(comparable(a), comparable(b));
    }
}

#[test]
fn a_reload_keeps_open_streams_and_relay_connections_unless_upstream_changed() {
    let w = World::new();
    w.start();
    let control = Client::new(&w.env.socket());
    w.chat_auto();

    // Two slow streams are open while the configuration is reloaded; they finish intact.
    // Both hold a relay connection at once, so afterwards the pool has at least two idle
    // ones: a request's router call and answer never need a third, even if the first
    // connection is still on its way back to the pool when the second call starts.
    let model = "gpt-5.4";
    let words = "alpha beta gamma delta epsilon zeta";
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let streams: Vec<_> = (0..2)
        .map(|_| {
            w.sim.script(
                model,
                Step::Sse {
                    status: 200,
                    chunks: sse_chunks_for(model, words, 6),
                    delay: Duration::ZERO,
                    gap: Duration::from_millis(200),
                    end: SseEnd::Close,
                },
            );
            let client = w.client();
            let url = format!("http://127.0.0.1:{}/v1/chat/completions", w.port);
            let first_tx = first_tx.clone();
            w.rt.spawn(async move {
                use futures_util::StreamExt;
                let resp = client
                    .post(url)
                    .json(&json!({"model": model, "stream": true,
                        "messages": [{"role": "user", "content": "six words"}]}))
                    .send()
                    .await
                    .expect("stream request");
                let mut body = String::new();
                let mut chunks = resp.bytes_stream();
                let mut started = false;
                while let Some(chunk) = chunks.next().await {
                    body.push_str(&String::from_utf8_lossy(
                        &chunk.expect("not cut by the reload"),
                    ));
                    if !started && body.contains("data: ") {
                        started = true;
                        let _ = first_tx.send(());
                    }
                }
                body
            })
        })
        .collect();
    for _ in 0..2 {
        first_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("both streams started");
    }
    assert!(
        w.sim.connections() >= 2,
        "two streams, two relay connections"
    );
    let r = control.reload().expect("reload");
    assert!(r.relay_client_kept, "{r:?}");
    for stream in streams {
        let body = w.rt.block_on(stream).expect("stream task");
        assert!(
            body.contains("zeta") && body.contains("data: [DONE]"),
            "{body}"
        );
    }

    // Steady state: the next request finds an idle relay connection.
    w.chat_auto();
    let before = w.sim.connections();

    // A reload that leaves `[upstream]` alone keeps the client and its pool: the next
    // request (router call and answer) opens no connection, and the new config is in force.
    let out = w.run(&["config", "set", "router.model", "gpt-5.4-mini"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("daemon reloaded"), "{}", text(&out));
    assert_eq!(w.chat_auto(), "gpt-5.4-mini");
    assert_eq!(
        w.sim.connections(),
        before,
        "a reload without upstream changes must reuse the relay's connections"
    );

    // A changed upstream setting is a new client: the next request connects afresh.
    let changed = std::fs::read_to_string(w.env.config_file())
        .expect("config")
        .replace(
            "first_byte_timeout_ms = 10000",
            "first_byte_timeout_ms = 9000",
        );
    w.env.write_config(&changed);
    let r = control.reload().expect("reload");
    assert!(!r.relay_client_kept, "{r:?}");
    assert_eq!(w.chat_auto(), "gpt-5.4-mini");
    assert!(
        w.sim.connections() > before,
        "a new relay client has no connections to reuse"
    );
}

/// SIGHUP is the same reload: the file's new router model applies, the relay client stays.
#[test]
fn sighup_reloads_through_the_same_path() {
    let w = World::new();
    w.start();
    let control = Client::new(&w.env.socket());
    let status = control.status().expect("status");
    let router = "gpt-5.4";
    assert_ne!(status.router_model.as_deref(), Some(router), "{status:?}");

    w.env
        .write_config(&format!("{}model = \"{router}\"\n", w.config("")));
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &status.pid.to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hup.success());
    // The reload is asynchronous: wait until the daemon reports the new router model.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while control.status().expect("status").router_model.as_deref() != Some(router) {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not reload the config"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(w.chat_auto(), router);
    let log = std::fs::read_to_string(w.env.log_file()).unwrap_or_default();
    let line = log
        .lines()
        .find(|l| l.contains("SIGHUP: configuration reloaded"))
        .unwrap_or_else(|| panic!("no reload line in the log:\n{log}"));
    assert!(line.contains("Kept"), "{line}");
}
