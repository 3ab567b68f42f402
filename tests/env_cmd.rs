//! `llm-router env` and `llm-router completions` through the real binary: insta snapshots of
//! every shell's output, the output evaluated by the real shells that are installed (a missing
//! shell prints a note and the test passes), the error path that must leave stdout empty, and
//! the committed completion files (`UPDATE_COMPLETIONS=1` rewrites them).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::env::{TestEnv, stderr, stdout};

/// A router key with every character that breaks naive quoting.
const TRICKY_KEY: &str = r#"it's $HOME "x" \ y"#;

/// The config the snapshots are taken with: a port and [`TRICKY_KEY`], so each snapshot shows
/// that shell's quoting.
const CONFIG: &str = r#"[server]
port = 9123
api_key = "it's $HOME \"x\" \\ y"
"#;

/// Variables that steer shell detection, on top of what `TestEnv` already scrubs.
const DETECTION_VARS: &[&str] = &["SHELL", "FISH_VERSION", "NU_VERSION", "PSModulePath"];

/// `llm-router <args>` in `t`, with no shell-detection variables inherited.
fn router(t: &TestEnv, args: &[&str]) -> Command {
    let mut c = t.cmd();
    for v in DETECTION_VARS {
        c.env_remove(v);
    }
    c.args(args).stdin(Stdio::null());
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("run command")
}

/// Run and require success; returns stdout.
fn ok(c: Command) -> String {
    let o = run(c);
    assert!(o.status.success(), "failed: {}", stderr(&o));
    stdout(&o)
}

/// Run and require the `eval`-safe failure: non-zero, empty stdout, one stderr line.
fn fails(c: Command) -> String {
    let o = run(c);
    assert!(!o.status.success(), "should fail, printed: {}", stdout(&o));
    assert_eq!(stdout(&o), "", "stdout must stay empty on error");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
    assert!(err.starts_with("llm-router: "), "{err}");
    err
}

fn configured(text: &str) -> TestEnv {
    let t = TestEnv::new();
    t.write_config(text);
    t
}

/// A TOML basic string holding `s`.
fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------------------------
// Snapshots

#[test]
fn snapshot_each_shell() {
    let t = configured(CONFIG);
    for shell in ["bash", "zsh", "fish", "powershell", "sh"] {
        let out = ok(router(&t, &["env", "--shell", shell]));
        insta::assert_snapshot!(format!("env_{shell}"), out);
    }
}

#[test]
fn snapshot_unset_each_shell() {
    let t = TestEnv::new();
    for shell in ["bash", "zsh", "fish", "powershell", "sh"] {
        let out = ok(router(&t, &["env", "--shell", shell, "--unset"]));
        insta::assert_snapshot!(format!("env_unset_{shell}"), out);
    }
}

#[test]
fn snapshot_json() {
    let t = configured(CONFIG);
    let out = ok(router(&t, &["env", "--json"]));
    insta::assert_snapshot!("env_json", out);
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    assert_eq!(v["OPENAI_API_KEY"], TRICKY_KEY);
}

#[test]
fn aliases_match_their_shells() {
    let t = configured(CONFIG);
    let a = ok(router(&t, &["env", "--shell", "pwsh"]));
    let b = ok(router(&t, &["env", "--shell", "powershell"]));
    assert_eq!(a, b);
    let a = ok(router(&t, &["env", "-s", "posix"]));
    let b = ok(router(&t, &["env", "--shell", "sh"]));
    assert_eq!(a, b);
}

// ---------------------------------------------------------------------------------------------
// What is printed

#[test]
fn defaults_without_a_config_file_and_no_writes() {
    let t = TestEnv::new();
    let out = ok(router(&t, &["env", "--shell", "bash"]));
    assert!(
        out.contains("export OPENAI_BASE_URL='http://127.0.0.1:8787/v1'\n"),
        "{out}"
    );
    assert!(
        out.contains("export OPENAI_API_BASE='http://127.0.0.1:8787/v1'\n"),
        "{out}"
    );
    // SDKs refuse an empty key; the placeholder is accepted by a gateway without a key.
    assert!(
        out.contains("export OPENAI_API_KEY='llm-router'\n"),
        "{out}"
    );
    assert!(out.ends_with("# eval \"$(llm-router env)\"\n"), "{out}");
    // env runs in every new shell: it must not create config, state or runtime files.
    for dir in [t.config_dir(), t.state_dir(), t.runtime_dir()] {
        assert!(!dir.exists(), "{} was created", dir.display());
    }
}

#[test]
fn wildcard_and_ipv6_hosts_become_dialable() {
    let t = configured("[server]\nhost = \"0.0.0.0\"\nport = 9001\napi_key = \"k\"\n");
    let out = ok(router(&t, &["env", "--json"]));
    assert!(out.contains("\"http://127.0.0.1:9001/v1\""), "{out}");
    let t = configured("[server]\nhost = \"::1\"\nport = 9002\n");
    let out = ok(router(&t, &["env", "--json"]));
    assert!(out.contains("\"http://[::1]:9002/v1\""), "{out}");
}

#[test]
fn environment_and_dotenv_override_the_file() {
    let t = configured(CONFIG);
    std::fs::write(t.work().join(".env"), "ROUTER_API_KEY=from-dotenv\n").expect("write .env");
    let mut c = router(&t, &["env", "--json"]);
    c.env("PORT", "9555");
    let out = ok(c);
    assert!(out.contains("127.0.0.1:9555/v1"), "{out}");
    assert!(out.contains("\"from-dotenv\""), "{out}");
}

#[test]
fn relay_key_is_never_printed() {
    let t = configured(
        "[upstream]\nbase_url = \"https://relay.example.com/v1\"\napi_key = \"sk-relay-secret-123456\"\n",
    );
    for args in [
        &["env", "--shell", "bash"][..],
        &["env", "--json"],
        &["env", "--help"],
    ] {
        let out = ok(router(&t, args));
        assert!(!out.contains("sk-relay-secret"), "{args:?}: {out}");
    }
}

#[test]
fn help_has_examples_per_shell_and_the_key_promise() {
    let t = TestEnv::new();
    let long = ok(router(&t, &["env", "--help"]));
    for needle in [
        "eval \"$(llm-router env)\"",
        "llm-router env --shell fish | source",
        "Invoke-Expression",
        "--unset",
        "relay key (upstream.api_key) is never printed",
    ] {
        assert!(long.contains(needle), "--help lacks {needle:?}:\n{long}");
    }
    let short = ok(router(&t, &["env", "-h"]));
    assert!(short.contains("relay key is never printed"), "{short}");
}

// ---------------------------------------------------------------------------------------------
// Detection and errors

#[test]
fn detects_the_shell_from_the_environment() {
    let t = configured(CONFIG);
    let detect = |vars: &[(&str, &str)]| {
        let mut c = router(&t, &["env"]);
        for (k, v) in vars {
            c.env(k, v);
        }
        ok(c)
    };
    let fish = ok(router(&t, &["env", "--shell", "fish"]));
    let zsh = ok(router(&t, &["env", "--shell", "zsh"]));
    let ps = ok(router(&t, &["env", "--shell", "powershell"]));
    let sh = ok(router(&t, &["env", "--shell", "sh"]));
    assert_eq!(detect(&[("SHELL", "/bin/zsh")]), zsh);
    assert_eq!(detect(&[("SHELL", "/usr/bin/fish")]), fish);
    assert_eq!(
        detect(&[("SHELL", "/bin/bash"), ("FISH_VERSION", "3.7.1")]),
        fish
    );
    assert_eq!(detect(&[("SHELL", "/usr/local/bin/pwsh.exe")]), ps);
    assert_eq!(detect(&[("PSModulePath", "C:\\Modules")]), ps);
    assert_eq!(detect(&[("SHELL", "/bin/dash")]), sh);
}

#[test]
fn unknown_shell_is_an_eval_safe_error() {
    let t = configured(CONFIG);
    let mut c = router(&t, &["env"]);
    c.env("SHELL", "/bin/tcsh");
    let err = fails(c);
    assert!(
        err.contains("`/bin/tcsh`") && err.contains("--shell"),
        "{err}"
    );
    assert!(err.contains("bash, zsh, fish, powershell"), "{err}");

    let err = fails(router(&t, &["env"]));
    assert!(err.contains("$SHELL is not set"), "{err}");

    let mut c = router(&t, &["env"]);
    c.env("SHELL", "/bin/bash").env("NU_VERSION", "0.99.0");
    let err = fails(c);
    assert!(err.contains("nushell") && err.contains("load-env"), "{err}");

    // clap rejects an unknown --shell value before anything runs.
    let o = run(router(&t, &["env", "--shell", "tcsh"]));
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
    assert!(stderr(&o).contains("bash"), "{}", stderr(&o));
}

#[test]
fn broken_config_is_an_eval_safe_error() {
    let t = configured("[server\nport = 1\n");
    let err = fails(router(&t, &["env", "--shell", "bash"]));
    assert!(
        err.contains(&t.config_file().display().to_string()),
        "{err}"
    );
    let err = fails(router(&t, &["env", "--json"]));
    assert!(err.contains("config.toml"), "{err}");

    // A valid file with a bad value fails the same way.
    let t = configured("[server]\nport = 0\n");
    let err = fails(router(&t, &["env", "--shell", "zsh"]));
    assert!(err.contains("server.port"), "{err}");

    // --unset needs no config, so it still works to clean up.
    let t = configured("[server\n");
    ok(router(&t, &["env", "--shell", "bash", "--unset"]));
}

#[test]
fn json_conflicts_with_shell_and_unset() {
    let t = TestEnv::new();
    for args in [
        &["env", "--json", "--shell", "bash"][..],
        &["env", "--json", "--unset"],
    ] {
        let o = run(router(&t, args));
        assert!(!o.status.success(), "{args:?}");
        assert_eq!(stdout(&o), "");
    }
}

// ---------------------------------------------------------------------------------------------
// Real shells

/// `program` on PATH, or `None` with a note (a failure under CI).
fn find_shell(program: &str) -> Option<PathBuf> {
    crate::util::tools::find_tool(program)
}

/// `shell args… script` with the same isolated environment the binary gets, `llm-router` first
/// on PATH and `$SHELL` pointing at `shell`, as in a user's start-up file.
fn in_shell(t: &TestEnv, shell: &Path, args: &[&str], script: &str) -> Command {
    let base = router(t, &[]);
    let mut c = Command::new(shell);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(dir) = base.get_current_dir() {
        c.current_dir(dir);
    }
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_llm-router"))
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let mut path: Vec<PathBuf> = vec![bin_dir];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path: OsString = std::env::join_paths(path).expect("PATH");
    c.env("PATH", path)
        .env("SHELL", shell)
        .args(args)
        .arg(script)
        .stdin(Stdio::null());
    c
}

/// One real shell: how to run a script, and the user's one-liners for it.
struct RealShell {
    program: &'static str,
    args: &'static [&'static str],
    apply: &'static str,
    undo: &'static str,
}

const REAL_SHELLS: &[RealShell] = &[
    RealShell {
        program: "bash",
        args: &["--noprofile", "--norc", "-eu", "-o", "pipefail", "-c"],
        apply: r#"eval "$(llm-router env)""#,
        undo: r#"eval "$(llm-router env --unset)""#,
    },
    RealShell {
        program: "zsh",
        args: &["--no-rcs", "-eu", "-c"],
        apply: r#"eval "$(llm-router env)""#,
        undo: r#"eval "$(llm-router env --unset)""#,
    },
    RealShell {
        program: "dash",
        args: &["-eu", "-c"],
        apply: r#"eval "$(llm-router env)""#,
        undo: r#"eval "$(llm-router env --unset)""#,
    },
    RealShell {
        program: "fish",
        args: &["--no-config", "-c"],
        apply: "llm-router env | source",
        undo: "llm-router env --unset | source",
    },
    RealShell {
        program: "pwsh",
        args: &["-NoProfile", "-NonInteractive", "-Command"],
        apply: "$ErrorActionPreference = 'Stop'; llm-router env | Out-String | Invoke-Expression",
        undo: "llm-router env --unset | Out-String | Invoke-Expression",
    },
];

/// After `apply`, a child process sees exactly the configured values (so they are exported,
/// and the tricky key survived quoting); after `undo`, none of them.
#[test]
fn real_shells_apply_and_undo() {
    let key = TRICKY_KEY;
    let t = configured(&format!(
        "[server]\nport = 9124\napi_key = {}\n",
        toml_str(key)
    ));
    for sh in REAL_SHELLS {
        let Some(program) = find_shell(sh.program) else {
            continue;
        };
        // printenv is an external program: it sees only what was exported.
        let script = format!(
            "{}; printenv OPENAI_BASE_URL OPENAI_API_BASE OPENAI_API_KEY",
            sh.apply
        );
        let out = ok(in_shell(&t, &program, sh.args, &script));
        assert_eq!(
            out,
            format!("http://127.0.0.1:9124/v1\nhttp://127.0.0.1:9124/v1\n{key}\n"),
            "{}",
            sh.program
        );

        let script = format!("{}; {}; env", sh.apply, sh.undo);
        let out = ok(in_shell(&t, &program, sh.args, &script));
        let left: Vec<&str> = out.lines().filter(|l| l.starts_with("OPENAI_")).collect();
        assert!(
            left.is_empty(),
            "{}: still set after undo: {left:?}",
            sh.program
        );
    }
}

/// Keys that stress each quoting rule, evaluated by each installed shell.
#[test]
fn real_shells_read_awkward_keys_back() {
    let keys = [
        "'",
        "\\",
        "\\'",
        "a'b'c",
        "`id` $(id) ${HOME} !! *",
        "‘curly’ quotes",
        "trailing backslash\\",
    ];
    for sh in REAL_SHELLS {
        let Some(program) = find_shell(sh.program) else {
            continue;
        };
        for key in keys {
            let t = configured(&format!("[server]\napi_key = {}\n", toml_str(key)));
            let script = format!("{}; printenv OPENAI_API_KEY", sh.apply);
            let out = ok(in_shell(&t, &program, sh.args, &script));
            assert_eq!(out, format!("{key}\n"), "{} with key {key:?}", sh.program);
        }
    }
}

/// A failing `env` inside `eval` defines nothing and runs nothing.
#[test]
fn real_bash_evaluates_nothing_on_error() {
    let Some(bash) = find_shell("bash") else {
        return;
    };
    let t = configured("[server\n");
    let script = r#"eval "$(llm-router env)"; printf '%s' "${OPENAI_BASE_URL-none}""#;
    let o = run(in_shell(
        &t,
        &bash,
        &["--noprofile", "--norc", "-u", "-c"],
        script,
    ));
    assert_eq!(stdout(&o), "none");
    assert!(stderr(&o).contains("config.toml"), "{}", stderr(&o));
}

/// shellcheck finds nothing to say about the POSIX output (when it is installed).
#[test]
fn shellcheck_is_clean() {
    let Some(shellcheck) = find_shell("shellcheck") else {
        return;
    };
    let t = configured(&format!("[server]\napi_key = {}\n", toml_str(TRICKY_KEY)));
    for (shell, dialect) in [("bash", "bash"), ("sh", "sh"), ("zsh", "bash")] {
        for unset in [false, true] {
            let mut args = vec!["env", "--shell", shell];
            if unset {
                args.push("--unset");
            }
            let script = ok(router(&t, &args));
            let dir = tempfile::tempdir().expect("tempdir");
            let file = dir.path().join("env.sh");
            std::fs::write(&file, &script).expect("write script");
            // SC2016 ("expressions don't expand in single quotes") flags the `$HOME` in the
            // key: not expanding it is the point.
            let o = Command::new(&shellcheck)
                .args(["--shell", dialect, "--enable=all", "--exclude=SC2016"])
                .arg(&file)
                .output()
                .expect("run shellcheck");
            assert!(o.status.success(), "{shell}: {}\n{script}", stdout(&o));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Completions

/// (`completions` argument, committed file name).
const COMPLETIONS: &[(&str, &str)] = &[
    ("bash", "llm-router.bash"),
    ("zsh", "_llm-router"),
    ("fish", "llm-router.fish"),
    ("powershell", "_llm-router.ps1"),
    ("elvish", "llm-router.elv"),
];

fn completions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("completions")
}

/// The committed scripts are what the binary prints now. Other commands' flags change them:
/// rerun with `UPDATE_COMPLETIONS=1` to rewrite the files, then commit them.
#[test]
fn completions_match_committed_files() {
    // A broken config proves `completions` never reads it.
    let t = configured("[server\n");
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some_and(|v| v == "1");
    let mut drifted = Vec::new();
    for (shell, file) in COMPLETIONS {
        let out = ok(router(&t, &["completions", shell]));
        assert!(out.contains("llm-router"), "{shell}: {out}");
        let path = completions_dir().join(file);
        if update {
            std::fs::create_dir_all(completions_dir()).expect("completions dir");
            std::fs::write(&path, &out).expect("write completions");
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != out {
            drifted.push(format!("completions/{file}"));
        }
    }
    assert!(
        drifted.is_empty(),
        "out of date: {}; refresh with\n  UPDATE_COMPLETIONS=1 cargo test --test tests env_cmd::completions\n(or `cargo run -q -- completions <shell> > completions/<file>`)",
        drifted.join(", ")
    );
}

#[test]
fn completions_reject_unknown_shells() {
    let t = TestEnv::new();
    let o = run(router(&t, &["completions", "tcsh"]));
    assert!(!o.status.success());
    assert_eq!(stdout(&o), "");
}

/// The scripts load in the real shells that are installed. They are generated afresh rather
/// than read from `completions/`, which the drift test may be rewriting concurrently.
#[test]
fn completions_load_in_real_shells() {
    let t = TestEnv::new();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    for (shell, file) in COMPLETIONS {
        let out = ok(router(&t, &["completions", shell]));
        std::fs::write(dir.join(file), out).expect("write completions");
    }
    if let Some(bash) = find_shell("bash") {
        let script = format!(
            "source {}; complete -p llm-router",
            dir.join("llm-router.bash").display()
        );
        let o = run({
            let mut c = Command::new(bash);
            c.args(["--noprofile", "--norc", "-c", &script]);
            c
        });
        assert!(o.status.success(), "bash: {}", stderr(&o));
        assert!(stdout(&o).contains("llm-router"), "{}", stdout(&o));
    }
    if let Some(zsh) = find_shell("zsh") {
        let o = run({
            let mut c = Command::new(zsh);
            c.arg("--no-rcs").arg("-n").arg(dir.join("_llm-router"));
            c
        });
        assert!(o.status.success(), "zsh -n: {}", stderr(&o));
    }
    if let Some(fish) = find_shell("fish") {
        let script = format!(
            "source {}; complete -C 'llm-router '",
            dir.join("llm-router.fish").display()
        );
        let o = run({
            let mut c = Command::new(fish);
            c.args(["--no-config", "-c", &script]);
            c
        });
        assert!(o.status.success(), "fish: {}", stderr(&o));
        assert!(
            stdout(&o).contains("env"),
            "fish completes subcommands: {}",
            stdout(&o)
        );
    }
}
