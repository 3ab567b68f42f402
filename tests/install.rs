//! `install.sh`: shellcheck-clean, installs into a prefix, idempotent, uninstalls.

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn install_sh_is_shellcheck_clean() {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("note: shellcheck not installed; skipping (CI installs it)");
        return;
    }
    let out = Command::new("shellcheck")
        .args(["install.sh", "tests/run.sh"])
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
