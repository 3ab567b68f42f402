//! External tools the real-client tests drive (shells, shellcheck). Locally a missing tool
//! skips its test with a note naming the fix; under CI (`CI` set to anything but `false`/`0`)
//! it fails, so a green CI run never hides a missing install step (`tests/setup.sh`
//! installs them all).

use std::path::PathBuf;

/// Tools no registry this project can reach ships (PowerShell is not in Debian's packages
/// and its npm wrapper downloads from outside): their tests skip even under CI.
const UNOBTAINABLE: &[&str] = &["pwsh"];

/// Whether this run is CI's.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `program` on PATH; `None` with a note when it is missing (a panic under CI).
pub fn find_tool(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file());
    if found.is_none() {
        if ci() && !UNOBTAINABLE.contains(&program) {
            panic!(
                "`{program}` is not installed, and under CI a missing tool fails its test: run tests/setup.sh"
            );
        }
        eprintln!(
            "note: `{program}` is not installed; skipping its test (tests/setup.sh installs it)"
        );
    }
    found
}
