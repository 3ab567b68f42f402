//! The daemon lifecycle through the real binary: start, status, chat through the gateway,
//! route-test, reload, stop (with a stream in flight), racing starts, a SIGKILLed daemon,
//! foreground mode, and the one-line errors (port in use, no upstream).
//!
//! Every test has its own `TestEnv` (own state, runtime and config dirs) and its own port,
//! and a [`World`] that runs `stop --force` when dropped, so no daemon outlives the test run
//! even when an assertion fails half way.

use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use llm_router::daemon::client::{Client, ClientError};
use llm_router::sim::{SimRelay, Step, sse_chunks_for};
use serde_json::{Value, json};

use crate::util::env::{TestEnv, free_port, stderr, stdout};

/// An isolated environment, an optional simulated relay, and a guaranteed `stop --force`.
struct World {
    env: TestEnv,
    port: u16,
    sim: Option<SimRelay>,
    rt: tokio::runtime::Runtime,
}

impl World {
    /// No config at all.
    fn bare() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        World {
            env: TestEnv::new(),
            port: free_port(),
            sim: None,
            rt,
        }
    }

    /// A simulated relay and a config pointing at it; in-flight requests get `drain_secs`.
    fn with_sim(drain_secs: u64) -> Self {
        let mut w = Self::bare();
        let sim = w.rt.block_on(SimRelay::start()).expect("sim relay");
        w.env.write_config(&format!(
            r#"[server]
port = {port}
drain_secs = {drain_secs}

[upstream]
base_url = "{base}"
api_key = "relay-test-key-0123456789"
first_byte_timeout_ms = 10000
idle_timeout_ms = 10000

[router]
timeout_ms = 5000
"#,
            port = w.port,
            base = sim.base_url(),
        ));
        w.sim = Some(sim);
        w
    }

    fn sim(&self) -> &SimRelay {
        self.sim.as_ref().expect("this world has a sim relay")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.env.cmd();
        c.args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run llm-router")
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// `status --json`: (exit code, reply).
    fn status(&self) -> (i32, Value) {
        let out = self.run(&["status", "--json"]);
        let v = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", text(&out)));
        (out.status.code().unwrap_or(-1), v)
    }

    fn start(&self) -> Output {
        let out = self.run(&["start"]);
        assert!(
            out.status.success(),
            "start failed: {}\nlog:\n{}",
            text(&out),
            self.log()
        );
        out
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.env.log_file()).unwrap_or_default()
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client")
    }

    fn port_open(&self) -> bool {
        TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = self.run(&["stop", "--force", "--timeout", "5"]);
    }
}

/// stdout and stderr, for assertion messages.
fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Poll `f` until it holds or `timeout` passes.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The text of an SSE chat stream (the `delta.content` pieces joined).
fn content_of(sse: &str) -> String {
    sse.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect()
}

fn pid_of(status: &Value) -> u64 {
    status["pid"].as_u64().expect("status has a pid")
}

#[test]
fn start_status_chat_route_test_reload_stop() {
    let w = World::with_sim(5);

    let out = w.start();
    let said = stdout(&out);
    assert!(said.contains("llm-router started"), "{said}");
    assert!(said.contains(&w.url()), "{said}");
    assert!(
        said.contains(&w.env.log_file().display().to_string()),
        "{said}"
    );

    let (code, st) = w.status();
    assert_eq!(code, 0, "{st}");
    assert_eq!(st["running"], true);
    let pid = pid_of(&st);
    assert!(
        said.contains(&pid.to_string()),
        "start prints the pid: {said}"
    );
    assert_eq!(st["url"], w.url());
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        st["process"]["memory_bytes"].as_u64().unwrap_or(0) > 0,
        "{st}"
    );
    assert!(
        !st["upstream"]["base_url"]
            .as_str()
            .unwrap_or("")
            .contains("relay-test-key"),
        "no credentials in status: {st}"
    );

    // The lock file names the daemon; the info file is private.
    let lock = std::fs::read_to_string(w.env.state_dir().join("daemon.lock")).expect("lock file");
    assert_eq!(lock.lines().next(), Some(pid.to_string().as_str()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let info = w.env.state_dir().join("daemon.json");
        let mode = std::fs::metadata(&info)
            .expect("daemon.json")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let run = std::fs::metadata(w.env.runtime_dir())
            .expect("runtime dir")
            .permissions()
            .mode();
        assert_eq!(run & 0o777, 0o700);
    }

    // A second start finds it and says so, without starting another.
    let again = w.run(&["start"]);
    assert!(again.status.success(), "{}", text(&again));
    let again = stdout(&again);
    assert!(
        again.contains("already running") && again.contains(&pid.to_string()),
        "{again}"
    );
    assert!(again.contains(&w.url()), "{again}");

    // Real traffic through the gateway, plain and streamed.
    let client = w.client();
    let url = w.url();
    let (plain, streamed) = w.rt.block_on(async {
        let plain = client
            .post(format!("{url}/chat/completions"))
            .json(
                &json!({"model": "auto", "messages": [{"role": "user", "content": "hello there"}]}),
            )
            .send()
            .await
            .expect("chat");
        assert_eq!(plain.status(), 200);
        let plain: Value = plain.json().await.expect("chat json");
        let streamed = client
            .post(format!("{url}/chat/completions"))
            .json(&json!({"model": "auto", "stream": true,
                "messages": [{"role": "user", "content": "write a haiku"}]}))
            .send()
            .await
            .expect("stream");
        assert_eq!(streamed.status(), 200);
        (plain, streamed.text().await.expect("stream body"))
    });
    assert!(
        plain["choices"][0]["message"]["content"].is_string(),
        "{plain}"
    );
    assert!(streamed.contains("data: [DONE]"), "{streamed}");

    // route-test asks the daemon.
    let out = w.run(&[
        "route-test",
        "--json",
        "Refactor this Rust module to use async I/O",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let d: Value = serde_json::from_slice(&out.stdout).expect("route-test json");
    assert_eq!(d["via"], "daemon", "{d}");
    assert!(!d["target"].as_str().unwrap_or("").is_empty(), "{d}");
    assert!(
        d["candidates"].as_array().is_some_and(|c| !c.is_empty()),
        "{d}"
    );
    assert!(stderr(&out).contains(&format!("routed by the running daemon (pid {pid})")));

    // The human table too.
    let out = w.run(&[
        "route-test",
        "--mode",
        "auto-coding",
        "--tools",
        "fix this bug",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("Decided by"), "{}", text(&out));

    // Status counts the traffic and shows the decisions.
    let (_, st) = w.status();
    assert!(st["stats"]["requests"].as_u64().unwrap_or(0) >= 2, "{st}");
    assert!(
        !st["stats"]["recent"].as_array().expect("recent").is_empty(),
        "{st}"
    );
    let human = w.run(&["status"]);
    assert!(human.status.success());
    let human = stdout(&human);
    for k in [
        "PID",
        "Uptime",
        "Upstream",
        "Router model",
        "CPU",
        "Memory",
        "Recent decisions",
    ] {
        assert!(human.contains(k), "status lacks {k}:\n{human}");
    }

    // Reload: a good config is taken, a bad one is refused and the old one stays.
    let control = Client::new(&w.env.socket());
    control.reload().expect("reload a good config");
    let good = std::fs::read_to_string(w.env.config_file()).expect("config");
    w.env.write_config(&format!("{good}\n[nonsense]\nx = 1\n"));
    match control.reload() {
        Err(ClientError::Refused(m)) => {
            assert!(m.contains("config.toml") && m.contains("unchanged"), "{m}")
        }
        other => panic!("a bad config must be refused: {other:?}"),
    }
    assert_eq!(w.status().0, 0, "still running after a refused reload");
    w.env.write_config(&good);

    // Stop: the lock is released, the port closes, status says not running.
    let out = w.run(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("llm-router stopped (pid {pid})")),
        "{}",
        text(&out)
    );
    let (code, st) = w.status();
    assert_eq!(code, 3);
    assert_eq!(st, json!({"running": false}));
    assert!(!w.port_open(), "port {} still open after stop", w.port);
    assert!(!w.env.socket().exists(), "control socket removed on exit");
    let human = w.run(&["status"]);
    assert_eq!(human.status.code(), Some(3));
    assert!(
        stdout(&human).contains("llm-router start"),
        "{}",
        text(&human)
    );

    // Stopping again is not an error.
    let out = w.run(&["stop"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("not running"), "{}", text(&out));
}

#[test]
fn racing_starts_give_one_daemon() {
    let w = World::with_sim(5);
    let spawn = || {
        w.cmd(&["start"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn start")
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (
        a.wait_with_output().expect("start a"),
        b.wait_with_output().expect("start b"),
    );
    assert!(a.status.success(), "{}\nlog:\n{}", text(&a), w.log());
    assert!(b.status.success(), "{}\nlog:\n{}", text(&b), w.log());
    let said = [stdout(&a), stdout(&b)];
    assert_eq!(
        said.iter()
            .filter(|s| s.contains("llm-router started"))
            .count(),
        1,
        "{said:?}"
    );
    assert_eq!(
        said.iter()
            .filter(|s| s.contains("already running"))
            .count(),
        1,
        "{said:?}"
    );
    let (code, st) = w.status();
    assert_eq!(code, 0);
    let pid = pid_of(&st).to_string();
    assert!(
        said.iter().all(|s| s.contains(&pid)),
        "both name pid {pid}: {said:?}"
    );
    // Exactly one daemon ever listened: one "listening" line in the log.
    assert_eq!(
        w.log().matches("llm-router listening on").count(),
        1,
        "{}",
        w.log()
    );
}

#[test]
fn a_sigkilled_daemon_leaves_a_lock_the_next_start_recovers() {
    let w = World::with_sim(5);
    w.start();
    let (_, st) = w.status();
    let old = pid_of(&st);
    let killed = Command::new("kill")
        .args(["-KILL", &old.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(
        eventually(Duration::from_secs(10), || w.status().0 == 3),
        "the kernel releases the lock of a dead daemon"
    );
    // What the crash left behind: the lock file (never deleted) and a stale socket.
    assert!(w.env.state_dir().join("daemon.lock").exists());
    assert!(
        w.env.socket().exists(),
        "a SIGKILLed daemon cannot remove its socket"
    );

    let out = w.start();
    assert!(
        stdout(&out).contains("llm-router started"),
        "{}",
        text(&out)
    );
    let (code, st) = w.status();
    assert_eq!(code, 0);
    assert_ne!(pid_of(&st), old);
    assert!(w.port_open());
}

#[test]
fn stop_lets_an_open_stream_finish() {
    let w = World::with_sim(15);
    let model = "gpt-5.4-mini";
    let words = "one two three four five six seven eight";
    w.sim().script(
        model,
        Step::sse(sse_chunks_for(model, words, 8)).gap(Duration::from_millis(400)),
    );
    w.start();
    let client = w.client();
    let url = w.url();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let stream = w.rt.spawn(async move {
        use futures_util::StreamExt;
        let resp = client
            .post(format!("{url}/chat/completions"))
            .json(&json!({"model": model, "stream": true,
                "messages": [{"role": "user", "content": "count to eight"}]}))
            .send()
            .await
            .expect("stream request");
        assert_eq!(resp.status(), 200);
        let mut body = String::new();
        let mut chunks = resp.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.expect("the stream must not be cut by the drain");
            body.push_str(&String::from_utf8_lossy(&chunk));
            let _ = first_tx.send(());
        }
        body
    });
    first_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the stream started");

    let out = w.run(&["stop"]);
    assert!(out.status.success(), "{}\nlog:\n{}", text(&out), w.log());
    let body = w.rt.block_on(stream).expect("stream task");
    assert_eq!(content_of(&body), words, "the whole answer arrived: {body}");
    assert!(body.contains("data: [DONE]"), "{body}");
    // The stream was open when the drain began, and the drain ended because the stream did,
    // not because its 15 s ran out.
    let log = w.log();
    let draining = log.lines().find(|l| l.contains("draining"));
    assert!(
        draining.is_some_and(|l| l.contains("\"in_flight\":1")),
        "{log}"
    );
    assert!(!log.contains("drain period over"), "{log}");
    assert_eq!(w.status().0, 3, "the daemon exited after the drain");
    assert!(!w.port_open());
}

#[test]
fn a_port_in_use_is_named_in_one_line() {
    let w = World::with_sim(5);
    let _taken = std::net::TcpListener::bind(("127.0.0.1", w.port)).expect("take the port");
    let out = w.run(&["start"]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("port {}", w.port)) && err.contains("in use"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(w.status().0, 3, "the failed daemon released the lock");
}

#[test]
fn no_upstream_points_at_init() {
    let w = World::bare();
    let out = w.run(&["start"]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = stderr(&out);
    assert!(
        err.contains("llm-router init") && err.contains("--demo"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(w.status().0, 3);
}

#[test]
fn demo_starts_without_a_relay() {
    let w = World::bare();
    let port = w.port.to_string();
    let out = w.run(&["start", "--demo", "--port", &port]);
    assert!(out.status.success(), "{}\nlog:\n{}", text(&out), w.log());
    assert!(stdout(&out).contains("demo"), "{}", text(&out));
    let (code, st) = w.status();
    assert_eq!(code, 0);
    assert_eq!(st["demo"], true);
    assert_eq!(st["port"], w.port);
}

#[test]
fn route_test_without_a_daemon_routes_in_process() {
    let w = World::with_sim(5);
    let out = w.run(&["route-test", "--json", "Summarise this paragraph for me"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains("daemon not running; routed in-process"),
        "{}",
        text(&out)
    );
    let d: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(d["via"], "in-process");
    assert!(!d["target"].as_str().unwrap_or("").is_empty(), "{d}");
    // The sim relay saw the model list and the router call, not an answer call.
    let reqs = w.sim().requests();
    assert!(reqs.iter().any(|r| r.path.ends_with("/models")), "{reqs:?}");
    assert!(
        reqs.iter()
            .filter(|r| r.path.ends_with("/chat/completions"))
            .all(|r| r.is_router_call)
    );

    // The prompt may come from stdin too.
    let mut child = w
        .cmd(&["route-test", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"fn main() { println!(\"hi\"); }")
            .expect("write");
    }
    let out = child.wait_with_output().expect("route-test from stdin");
    assert!(out.status.success(), "{}", text(&out));
}

/// With a proxy in the environment, relay calls go through it (reqwest's proxy support);
/// without one they use the direct connection pool. The simulated relay doubles as an HTTP
/// forward proxy here: it answers absolute-form requests for a host that does not exist.
#[test]
fn a_proxy_in_the_environment_carries_relay_calls() {
    let w = World::bare();
    let sim = w.rt.block_on(SimRelay::start()).expect("sim relay");
    w.env.write_config(&format!(
        r#"[server]
port = {port}

[upstream]
base_url = "http://relay.invalid:9/v1"
api_key = "relay-test-key-0123456789"
"#,
        port = w.port,
    ));
    let proxy = format!("http://{}", sim.addr());
    let out = w
        .cmd(&["start"])
        .env("HTTP_PROXY", &proxy)
        .output()
        .expect("start");
    assert!(out.status.success(), "{}\n{}", text(&out), w.log());
    let client = w.client();
    let url = w.url();
    let status = w.rt.block_on(async {
        client
            .post(format!("{url}/chat/completions"))
            .json(&json!({"model": "gpt-5.5", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("chat")
            .status()
    });
    assert_eq!(status, 200, "{}", w.log());
    let seen = sim.requests();
    assert!(
        seen.iter().any(|r| r.path.ends_with("/chat/completions")),
        "the proxy saw no chat call: {seen:?}"
    );
    assert!(w.log().contains(r#""relay_via":"proxy""#), "{}", w.log());
}

#[test]
fn foreground_takes_the_lock_and_answers_stop() {
    let w = World::with_sim(5);
    let mut fg = w
        .cmd(&["start", "--foreground"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn foreground");
    // Running *and* answering (the lock alone is taken before the socket is up).
    let up = eventually(Duration::from_secs(20), || w.status().1["url"].is_string());
    if !up {
        let _ = fg.kill();
        panic!("the foreground gateway never answered status");
    }
    // A background start now finds it.
    let out = w.run(&["start"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains(&format!("already running (pid {})", fg.id())),
        "{}",
        text(&out)
    );

    let out = w.run(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));
    let exited = eventually(Duration::from_secs(10), || {
        matches!(fg.try_wait(), Ok(Some(_)))
    });
    if !exited {
        let _ = fg.kill();
    }
    assert!(exited, "the foreground process exited after stop");
    assert!(fg.wait().expect("wait").success());
}

#[test]
fn init_start_config_set_reloads_while_a_stream_runs_and_models_come_from_the_daemon() {
    let w = World::bare();
    let sim = w.rt.block_on(SimRelay::start()).expect("sim relay");
    let port = w.port.to_string();
    let out = w
        .cmd(&[
            "init",
            "--yes",
            "--base-url",
            &sim.base_url(),
            "--api-key-env",
            "SIM_RELAY_KEY",
            "--port",
            &port,
        ])
        .env("SIM_RELAY_KEY", "relay-test-key-0123456789")
        .output()
        .expect("init");
    assert!(out.status.success(), "{}", text(&out));
    let started = w
        .cmd(&["start"])
        .env("SIM_RELAY_KEY", "relay-test-key-0123456789")
        .output()
        .expect("start");
    assert!(started.status.success(), "{}\n{}", text(&started), w.log());

    // A slow stream is in flight while the config changes.
    let model = "gpt-5.4";
    let words = "alpha beta gamma delta epsilon zeta";
    sim.script(
        model,
        Step::sse(sse_chunks_for(model, words, 6)).gap(Duration::from_millis(300)),
    );
    let client = w.client();
    let url = w.url();
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let stream = w.rt.spawn(async move {
        use futures_util::StreamExt;
        let resp = client
            .post(format!("{url}/chat/completions"))
            .json(&json!({"model": model, "stream": true,
                "messages": [{"role": "user", "content": "list six letters"}]}))
            .send()
            .await
            .expect("stream request");
        let mut body = String::new();
        let mut chunks = resp.bytes_stream();
        while let Some(chunk) = chunks.next().await {
            body.push_str(&String::from_utf8_lossy(
                &chunk.expect("not cut by the reload"),
            ));
            let _ = first_tx.send(());
        }
        body
    });
    first_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the stream started");

    let out = w.run(&["config", "set", "router.model", "gpt-5.4-mini"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("daemon reloaded"), "{}", text(&out));
    // A bad value never reaches the file, so the daemon keeps running as it was.
    let before = std::fs::read(w.env.config_file()).expect("config");
    let out = w.run(&["config", "set", "router.max_attempts", "99"]);
    assert!(!out.status.success());
    assert_eq!(std::fs::read(w.env.config_file()).expect("config"), before);

    let body = w.rt.block_on(stream).expect("stream task");
    assert_eq!(content_of(&body), words, "{body}");
    assert_eq!(body.matches("data: [DONE]").count(), 1);

    // The reloaded config is in force: the router model is the one just set.
    let r = w.rt.block_on(async {
        w.client()
            .post(format!("{}/chat/completions", w.url()))
            .json(&json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("chat")
    });
    assert_eq!(
        r.headers()
            .get("x-llm-router-router-model")
            .and_then(|v| v.to_str().ok()),
        Some("gpt-5.4-mini")
    );

    // `models` reads the daemon's live table.
    let out = w.run(&["models", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let m: Value = serde_json::from_slice(&out.stdout).expect("models json");
    assert_eq!(m["source"], "daemon", "{m}");
    assert_eq!(m["router_model"], "gpt-5.4-mini", "{m}");
    assert!(
        m["models"]
            .as_array()
            .expect("models")
            .iter()
            .any(|x| x["id"] == "gpt-5.5"),
        "{m}"
    );
}

/// The daemon's log with the default daily rotation: `llm-router.log` is a link to today's
/// dated file, which holds tracing-subscriber JSON lines with the request line's fields at
/// the top level; a plain log left from before rotation is moved aside, not lost; and
/// `daemon.stderr` holds only what the daemon wrote outside its log (nothing, here).
#[cfg(unix)]
#[test]
fn the_daemon_log_is_a_link_to_the_dated_file_of_json_lines() {
    let w = World::with_sim(5);
    let link = w.env.log_file();
    std::fs::create_dir_all(link.parent().expect("state dir")).expect("state dir");
    std::fs::write(&link, "a line from before rotation\n").expect("old log");
    w.start();
    let status = w.rt.block_on(async {
        w.client()
            .post(format!("{}/chat/completions", w.url()))
            .json(&json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("chat")
            .status()
    });
    assert_eq!(status, 200);
    // `stop` returns when the daemon is gone, so its queued lines were written out.
    let out = w.run(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));

    let meta = std::fs::symlink_metadata(&link).expect("the log's name exists");
    assert!(meta.file_type().is_symlink(), "{meta:?}");
    let target = std::fs::read_link(&link).expect("link");
    let name = target
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("llm-router.log.20"), "{name}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let dated = link.parent().expect("dir").join(&target);
        let mode = std::fs::metadata(&dated)
            .expect("dated log")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the log is the user's alone: {mode:o}");
    }
    let lines: Vec<Value> = w
        .log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no request line: {lines:?}"));
    assert_eq!(request["status"], 200, "{request}");
    assert_eq!(request["model"], "auto", "{request}");
    assert!(
        request["request_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("req_"))
    );
    assert!(
        request["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(lines.iter().any(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("llm-router listening on"))
    }));

    let dir = link.parent().expect("state dir");
    let kept = std::fs::read_dir(dir)
        .expect("state dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p != &link && p.file_name() != target.file_name())
        .filter(|p| p.to_string_lossy().contains("llm-router.log."))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<Vec<_>>();
    assert_eq!(kept, vec!["a line from before rotation\n".to_string()]);
    let stderr_file = dir.join("daemon.stderr");
    assert_eq!(
        std::fs::read_to_string(&stderr_file).expect("daemon.stderr"),
        "",
        "{}",
        stderr_file.display()
    );
}

/// The prompts that used to panic the handler (a multi-byte character where the data-URL
/// check cut the text), through the real daemon, streaming and not: every one gets a real
/// answer, and the log has no panic.
#[test]
fn the_daemon_answers_non_ascii_prompts_that_used_to_panic() {
    let w = World::with_sim(5);
    w.start();
    let long = format!("{}you’re", "x".repeat(586)); // the ’ straddles byte 588..591
    let prompts = [
        "Привет",
        "こんにちは",
        "hi → there",
        "مرحبا 🎉",
        long.as_str(),
    ];
    w.rt.block_on(async {
        for prompt in prompts {
            for stream in [false, true] {
                let r = w
                    .client()
                    .post(format!("{}/chat/completions", w.url()))
                    .json(&json!({"model": "auto", "stream": stream,
                        "messages": [{"role": "user", "content": prompt}]}))
                    .send()
                    .await
                    .expect("chat");
                assert_eq!(r.status(), 200, "{prompt:?} stream={stream}");
                let body = r.text().await.expect("body");
                let answer = if stream {
                    content_of(&body)
                } else {
                    body.clone()
                };
                assert!(
                    answer.contains("answered"),
                    "{prompt:?} stream={stream}: {body}"
                );
            }
        }
    });
    let out = w.run(&["stop"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!w.log().contains("panicked"), "{}", w.log());
}
