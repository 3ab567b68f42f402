//! `install.sh`: shellcheck-clean, installs into a prefix, idempotent, uninstalls.

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn install_sh_is_shellcheck_clean() {
    let Some(shellcheck) = crate::util::tools::find_tool("shellcheck") else {
        return;
    };
    let out = Command::new(shellcheck)
        .args(["install.sh", "tests/run.sh", "tests/setup.sh"])
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn install_into_a_prefix_then_uninstall() {
    let prefix = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new("sh")
            .arg(repo().join("install.sh"))
            .args(args)
            // Reuse this checkout's debug build instead of a release build from scratch.
            .env("CARGO_TARGET_DIR", repo().join("target"))
            .env("HOME", prefix.path())
            .output()
            .unwrap()
    };
    let p = prefix.path().to_str().unwrap();
    for _ in 0..2 {
        // Twice: installing again over an installation works.
        let out = run(&["--prefix", p, "--debug"]);
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("eval \"$(llm-router env)\""), "{stdout}");
    }
    let bin = prefix.path().join("bin/llm-router");
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).contains(env!("CARGO_PKG_VERSION")));
    for f in [
        "share/bash-completion/completions/llm-router",
        "share/zsh/site-functions/_llm-router",
        "share/fish/vendor_completions.d/llm-router.fish",
    ] {
        assert!(prefix.path().join(f).is_file(), "{f} missing");
    }
    let out = run(&["--uninstall", "--prefix", p]);
    assert!(out.status.success());
    assert!(!bin.exists());
    assert!(
        !prefix
            .path()
            .join("share/zsh/site-functions/_llm-router")
            .exists()
    );
}

/// The container's contract, without a container engine: the Dockerfile's environment
/// (all interfaces, config and state under /data) refuses to start without a router key,
/// starts with one, and `llm-router healthcheck` (the HEALTHCHECK) answers.
#[test]
fn container_environment_contract() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    for needle in [
        "LLM_ROUTER_SERVER_HOST=0.0.0.0",
        "LLM_ROUTER_CONFIG_DIR=/data/config",
        "LLM_ROUTER_STATE_DIR=/data/state",
        "CMD [\"llm-router\", \"healthcheck\"]",
        "CMD [\"start\", \"--foreground\"]",
        "USER llm-router",
    ] {
        assert!(dockerfile.contains(needle), "Dockerfile lacks {needle}");
    }
    let data = tempfile::tempdir().unwrap();
    let port = crate::util::env::free_port();
    let base = |c: &mut Command| {
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", data.path())
            .env("LLM_ROUTER_CONFIG_DIR", data.path().join("config"))
            .env("LLM_ROUTER_STATE_DIR", data.path().join("state"))
            .env("LLM_ROUTER_RUNTIME_DIR", data.path().join("run"))
            .env("LLM_ROUTER_SERVER_HOST", "0.0.0.0")
            .env("PORT", port.to_string());
    };
    let bin = env!("CARGO_BIN_EXE_llm-router");
    // No router key: refused, with the fix in the message.
    let mut c = Command::new(bin);
    base(&mut c);
    let out = c
        .args(["start", "--foreground", "--demo"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("api_key"), "{err}");
    // With a key: serves, and the health check passes.
    let mut c = Command::new(bin);
    base(&mut c);
    let mut child = c
        .args(["start", "--foreground", "--demo"])
        .env("ROUTER_API_KEY", "container-router-key")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut ok = false;
    for _ in 0..100 {
        // HEALTHCHECK runs inside the container, with the container's environment.
        let mut h = Command::new(bin);
        base(&mut h);
        h.env("ROUTER_API_KEY", "container-router-key");
        if h.args(["healthcheck"]).output().unwrap().status.success() {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "healthcheck never passed");
}
