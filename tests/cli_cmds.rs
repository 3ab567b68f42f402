//! `init`, `config` and `models` through the real binary, with isolated dirs (`TestEnv`) and
//! a simulated relay on 127.0.0.1:0 for the probe and the model list.

// Unix only: file modes, `sh` as the editor runner and the pseudo-terminal are unix things.
#![cfg(unix)]

use std::path::Path;
use std::process::{Output, Stdio};

use llm_router::catalog::{Catalog, NOT_A_CHAT_MODEL};
use llm_router::sim::SimRelay;
use serde_json::Value;

use crate::util::env::{TestEnv, free_port, stderr, stdout};

/// A multi-thread runtime so the relay keeps serving while the test blocks on the binary.
fn sim() -> (tokio::runtime::Runtime, SimRelay) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt.block_on(SimRelay::start()).expect("sim relay");
    (rt, sim)
}

/// Succeeded; returns stdout.
fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "expected success\nstdout: {}\nstderr: {}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Failed with exactly one line on stderr; returns that line.
fn one_line_error(o: Output) -> String {
    assert!(
        !o.status.success(),
        "expected failure\nstdout: {}",
        stdout(&o)
    );
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got:\n{err}");
    assert!(lines[0].starts_with("llm-router: "), "{err}");
    lines[0].to_string()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn parse(env: &TestEnv) -> llm_router::config::Config {
    let text = std::fs::read_to_string(env.config_file()).expect("config written");
    llm_router::config::parse_str(&text, &env.config_file()).expect("valid config")
}

#[test]
fn init_yes_writes_a_private_valid_config_and_refuses_to_overwrite() {
    let (_rt, sim) = sim();
    let env = TestEnv::new();
    let port = free_port();
    let port_s = port.to_string();
    let out = ok(env
        .cmd()
        .args(["init", "--yes", "--base-url", &sim.base_url()])
        .args(["--api-key-env", "SIMKEY", "--port", &port_s])
        .env("SIMKEY", "sim-relay-key-123456")
        .stdin(Stdio::null())
        .output()
        .expect("run"));
    // The probe found the sim's models and named the router model and the strongest.
    assert!(out.contains("8 models"), "{out}");
    assert!(out.contains("router model"), "{out}");
    assert!(out.contains("strongest"), "{out}");
    assert!(out.contains("llm-router start"), "{out}");
    assert!(out.contains("eval \"$(llm-router env)\""), "{out}");

    let cfg = parse(&env);
    assert_eq!(cfg.upstream.base_url, sim.base_url());
    assert_eq!(cfg.upstream.api_key_env, "SIMKEY");
    assert_eq!(cfg.upstream.api_key, "");
    assert_eq!(cfg.server.port, port);
    cfg.validate().expect("validates");
    let text = std::fs::read_to_string(env.config_file()).expect("read");
    assert!(text.starts_with("# llm-router configuration"), "{text}");
    assert_eq!(mode(&env.config_file()), 0o600);
    assert_eq!(mode(&env.config_dir()), 0o700);

    // A second init refuses and names the file; nothing changes.
    let err = one_line_error(env.run(&["init", "--yes", "--base-url", "http://x.test"]));
    assert!(
        err.contains(&env.config_file().display().to_string()),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_to_string(env.config_file()).expect("read"),
        text
    );

    // --force replaces it.
    ok(env.run(&[
        "init",
        "--yes",
        "--force",
        "--no-probe",
        "--base-url",
        "https://relay.example.com/v1",
        "--generate-router-key",
    ]));
    let cfg = parse(&env);
    assert_eq!(cfg.upstream.base_url, "https://relay.example.com/v1");
    assert_eq!(cfg.server.port, 8787);
    assert!(cfg.server.api_key.starts_with("sk-lr-"), "{cfg:?}");
    assert_eq!(mode(&env.config_file()), 0o600);
}

#[test]
fn init_presets_and_missing_answers() {
    let env = TestEnv::new();
    // A preset supplies the base URL and the usual key variable.
    let out = ok(env.run(&["init", "--yes", "--no-probe", "--provider", "openrouter"]));
    assert!(out.contains("OPENROUTER_API_KEY"), "{out}");
    let cfg = parse(&env);
    assert_eq!(cfg.upstream.base_url, "https://openrouter.ai/api/v1");
    assert_eq!(cfg.upstream.api_key_env, "OPENROUTER_API_KEY");

    let env = TestEnv::new();
    let err = one_line_error(env.run(&["init", "--yes"]));
    assert!(err.contains("--base-url"), "{err}");
    let err = one_line_error(env.run(&["init", "--yes", "--provider", "nope"]));
    assert!(err.contains("--list-providers"), "{err}");
    let err = one_line_error(env.run(&["init", "--yes", "--base-url", "ftp://x"]));
    assert!(err.contains("--base-url"), "{err}");
    // Without --yes and without a terminal there is nobody to ask.
    let err = one_line_error(env.run(&["init"]));
    assert!(err.contains("--yes"), "{err}");
    assert!(!env.config_file().exists());

    // The inline key lands in the file, with a warning that says so.
    let o = env.run(&[
        "init",
        "--yes",
        "--no-probe",
        "--base-url",
        "http://127.0.0.1:1",
        "--api-key",
        "sk-inline-secret-9876",
    ]);
    assert!(stderr(&o).contains("warning"), "{}", stderr(&o));
    ok(o);
    assert_eq!(parse(&env).upstream.api_key, "sk-inline-secret-9876");

    let list = ok(env.run(&["init", "--list-providers"]));
    assert!(
        list.contains("openai") && list.contains("deepseek"),
        "{list}"
    );
}

#[test]
fn init_with_an_unreachable_relay_still_saves() {
    let env = TestEnv::new();
    let url = format!("http://127.0.0.1:{}", free_port());
    let o = env.run(&["init", "--yes", "--base-url", &url]);
    assert!(
        stderr(&o).contains("warning: could not list models"),
        "{}",
        stderr(&o)
    );
    ok(o);
    assert_eq!(parse(&env).upstream.base_url, url);
}

/// Waits until the terminal of the pty whose master is `master` is out of canonical mode (a
/// prompt reading single keys). Polled: the terminal settings have no change notification;
/// the bound only turns a prompt that never reads into a failure.
fn wait_for_raw_mode(master: &std::fs::File) {
    use std::os::fd::AsRawFd;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
        // SAFETY: `master` is an open pty master and `t` is large enough for a termios;
        // tcgetattr initialises it fully when it returns 0.
        let rc = unsafe { libc::tcgetattr(master.as_raw_fd(), t.as_mut_ptr()) };
        assert_eq!(rc, 0, "tcgetattr: {}", std::io::Error::last_os_error());
        // SAFETY: initialised by the successful call above.
        let t = unsafe { t.assume_init() };
        if t.c_lflag & libc::ICANON == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the prompt never switched the terminal to raw mode"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The interactive form in a real pseudo-terminal: arrow-key menus, typed text, defaults.
#[test]
fn init_interactive_in_a_pty() {
    use rexpect::process::PtyProcess;
    use rexpect::reader::Options;
    use rexpect::session::PtySession;

    let (_rt, sim) = sim();
    let env = TestEnv::new();
    let mut cmd = env.cmd();
    cmd.arg("init")
        .env("TERM", "xterm")
        .env("SIMKEY", "sim-relay-key-123456");
    let opts = Options::new()
        .timeout_ms(Some(30_000))
        .strip_ansi_escape_codes(true);
    let mut process = PtyProcess::new(cmd).expect("spawn in a pty");
    process.set_kill_timeout(Some(30_000));
    // The terminal side's settings, read through the master: they say when a prompt waits.
    let master = process.get_file_handle().expect("pty handle");
    let mut p = PtySession::new(process, opts).expect("pty session");
    let step = |r: Result<String, rexpect::error::Error>, what: &str| {
        if let Err(e) = r {
            panic!("waiting for {what}: {e}");
        }
    };
    // A key goes in once the prompt reads keys, i.e. has switched the terminal out of
    // canonical mode, as a human types at what they see; `send` is line-buffered, so every
    // key is flushed.
    let keys = |p: &mut PtySession, s: &str| {
        wait_for_raw_mode(&master);
        p.send(s).expect("send");
        p.flush().expect("flush");
    };
    step(p.exp_string("More providers"), "the relay menu");
    // Up from the first item wraps to "More providers…", once more is "Custom URL".
    keys(&mut p, "k");
    keys(&mut p, "k");
    keys(&mut p, "\r");
    step(p.exp_string("Base URL of the relay"), "the URL prompt");
    keys(&mut p, &format!("{}\r", sim.base_url()));
    step(
        p.exp_string("No key (the relay needs none)"),
        "the key menu",
    );
    keys(&mut p, "\r"); // default: an environment variable
    step(
        p.exp_string("Environment variable holding the key"),
        "the variable prompt",
    );
    keys(&mut p, "SIMKEY\r");
    step(p.exp_string("No key (any program"), "the router key menu");
    keys(&mut p, "\r"); // default: generate one
    step(p.exp_string("Port for the gateway"), "the port prompt");
    keys(&mut p, "9123\r");
    step(p.exp_string("strongest"), "the probe result");
    step(p.exp_string("Saved"), "the saved message");
    step(p.exp_eof(), "exit");

    let cfg = parse(&env);
    assert_eq!(cfg.upstream.base_url, sim.base_url());
    assert_eq!(cfg.upstream.api_key_env, "SIMKEY");
    assert_eq!(cfg.server.port, 9123);
    assert!(cfg.server.api_key.starts_with("sk-lr-"), "{cfg:?}");
    assert_eq!(mode(&env.config_file()), 0o600);
}

const COMMENTED: &str = "# my router\n[server]\n# the port clients use\nport = 9000 # keep me\n\n[upstream]\nbase_url = \"https://relay.example.com/v1\"\n";

#[test]
fn config_set_keeps_comments_and_refuses_bad_values() {
    let env = TestEnv::new();
    env.write_config(COMMENTED);

    let out = ok(env.run(&["config", "set", "server.port", "9100"]));
    assert!(out.contains("server.port = 9100"), "{out}");
    let text = std::fs::read_to_string(env.config_file()).expect("read");
    assert_eq!(text, COMMENTED.replace("9000", "9100"));
    assert_eq!(mode(&env.config_file()), 0o600);

    for (args, key) in [
        (["config", "set", "server.port", "abc"], "server.port"),
        (["config", "set", "server.prot", "1"], "server.prot"),
        (
            ["config", "set", "upstream.base_url", "ftp://x"],
            "upstream.base_url",
        ),
        (
            ["config", "set", "router.max_attempts", "0"],
            "router.max_attempts",
        ),
    ] {
        let err = one_line_error(env.run(&args));
        assert!(err.contains(&format!("`{key}`")), "{err}");
        let after = std::fs::read_to_string(env.config_file()).expect("read");
        assert_eq!(after, text, "file changed after refused {args:?}");
    }

    // Quoted model ids with dots.
    ok(env.run(&["config", "set", "models.\"gpt-5.5\".exclude", "true"]));
    let out = ok(env.run(&["config", "get", "models.\"gpt-5.5\".exclude"]));
    assert_eq!(out.trim(), "true");
    let text = std::fs::read_to_string(env.config_file()).expect("read");
    assert!(
        text.starts_with("# my router\n[server]\n# the port clients use\n"),
        "{text}"
    );
}

#[test]
fn config_get_unset_show_path() {
    let env = TestEnv::new();
    env.write_config(COMMENTED);

    assert_eq!(
        ok(env.run(&["config", "get", "server.port"])).trim(),
        "9000"
    );
    // Defaults count as values in force.
    assert_eq!(ok(env.run(&["config", "get", "log.level"])).trim(), "info");
    let err = one_line_error(env.run(&["config", "get", "server.prot"]));
    assert!(err.contains("server.prot"), "{err}");

    // Secrets are masked everywhere but `get --reveal`.
    let secret = "sk-relay-very-secret-4321";
    let out = ok(env.run(&["config", "set", "upstream.api_key", secret]));
    assert!(!out.contains(secret), "{out}");
    let got = ok(env.run(&["config", "get", "upstream.api_key"]));
    assert!(!got.contains(secret) && got.contains("4321"), "{got}");
    let got = ok(env.run(&["config", "get", "upstream.api_key", "--reveal"]));
    assert_eq!(got.trim(), secret);
    let show = ok(env.run(&["config", "show"]));
    assert!(
        !show.contains(secret) && show.contains("port = 9000"),
        "{show}"
    );

    let o = env
        .cmd()
        .args(["config", "show", "--json"])
        .env("PORT", "9555")
        .output()
        .expect("run");
    let v: Value = serde_json::from_str(&ok(o)).expect("json");
    assert!(!v.to_string().contains(secret), "{v}");
    assert_eq!(v["config"]["upstream"]["api_key"], "sk-…4321");
    assert_eq!(v["config"]["server"]["port"], 9555);
    assert_eq!(v["file_exists"], true);
    assert_eq!(
        v["path"].as_str(),
        Some(env.config_file().display().to_string().as_str())
    );
    let overrides = v["env_overrides"].as_array().expect("array");
    assert!(
        overrides
            .iter()
            .any(|o| o["key"] == "server.port" && o["var"] == "PORT"),
        "{v}"
    );

    let out = ok(env.run(&["config", "unset", "server.port"]));
    assert!(out.contains("8787"), "{out}");
    assert_eq!(
        ok(env.run(&["config", "get", "server.port"])).trim(),
        "8787"
    );
    let text = std::fs::read_to_string(env.config_file()).expect("read");
    assert!(text.starts_with("# my router\n"), "{text}");
    assert!(!text.contains("9000"), "{text}");
    // Unsetting what is not set writes nothing.
    let out = ok(env.run(&["config", "unset", "server.port"]));
    assert!(out.contains("nothing to do"), "{out}");

    let out = ok(env.run(&["config", "path"]));
    assert_eq!(out.trim(), env.config_file().display().to_string());
}

#[test]
fn config_set_creates_a_missing_file_and_broken_files_are_named() {
    let env = TestEnv::new();
    ok(env.run(&["config", "set", "router.model", "gpt-5.4-mini"]));
    assert_eq!(parse(&env).router.model, "gpt-5.4-mini");
    assert_eq!(mode(&env.config_file()), 0o600);

    env.write_config("[server\nport = 1\n");
    let before = std::fs::read(env.config_file()).expect("read");
    let err = one_line_error(env.run(&["config", "set", "server.port", "9000"]));
    assert!(
        err.contains(&env.config_file().display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(env.config_file()).expect("read"), before);
    let err = one_line_error(env.run(&["config", "show"]));
    assert!(
        err.contains(&env.config_file().display().to_string()),
        "{err}"
    );
}

#[test]
fn config_edit_validates_what_the_editor_wrote() {
    let env = TestEnv::new();
    env.write_config(COMMENTED);
    let out = ok(env
        .cmd()
        .args(["config", "edit"])
        .env("VISUAL", "sed -i -e s/9000/9200/")
        .stdin(Stdio::null())
        .output()
        .expect("run"));
    assert!(out.contains("is valid"), "{out}");
    assert_eq!(parse(&env).server.port, 9200);

    // Invalid and no terminal: non-zero, the edit stays in place, the error names the key.
    let o = env
        .cmd()
        .args(["config", "edit"])
        .env("VISUAL", "sed -i -e s/9200/70000/")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let err = one_line_error(o);
    assert!(err.contains("`server.port`"), "{err}");
    let text = std::fs::read_to_string(env.config_file()).expect("read");
    assert!(text.contains("port = 70000"), "{text}");
}

#[test]
fn models_without_a_daemon_asks_the_relay() {
    let (_rt, sim) = sim();
    let env = TestEnv::new();
    env.write_config(&format!("[upstream]\nbase_url = \"{}\"\n", sim.base_url()));

    let o = env.run(&["models", "--json"]);
    assert!(stderr(&o).contains("no daemon"), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&ok(o)).expect("json");
    assert_eq!(v["source"], "upstream");
    let models = v["models"].as_array().expect("models");
    assert_eq!(models.len(), 8, "{v}");
    let find = |id: &str| {
        models
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {v}"))
    };
    let gpt = find("gpt-5.5");
    let entry = Catalog::embedded().lookup("gpt-5.5").expect("in catalog");
    assert_eq!(gpt["input_price"].as_f64(), entry.input_price);
    assert_eq!(gpt["output_price"].as_f64(), entry.output_price);
    assert!(gpt["excluded"].is_null(), "{gpt}");
    let emb = find("text-embedding-3-small");
    assert_eq!(emb["excluded"], NOT_A_CHAT_MODEL);
    let router = v["router_model"].as_str().expect("router model");
    assert!(find(router)["excluded"].is_null());

    // The table says the same.
    let table = ok(env.run(&["models"]));
    assert!(table.contains("gpt-5.5"), "{table}");
    assert!(table.contains("excluded: not a chat model"), "{table}");
    assert!(table.contains(&format!("{router} (cheapest")), "{table}");
}

#[test]
fn models_errors_say_what_to_do() {
    let env = TestEnv::new();
    let err = one_line_error(env.run(&["models"]));
    assert!(err.contains("llm-router init"), "{err}");

    let url = format!("http://127.0.0.1:{}", free_port());
    env.write_config(&format!("[upstream]\nbase_url = \"{url}\"\n"));
    let err = one_line_error(env.run(&["models", "--json"]));
    assert!(
        err.contains(&url) && err.contains("upstream.base_url"),
        "{err}"
    );
}
