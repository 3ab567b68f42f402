//! Terminal output helpers: tables, spinners, JSON, TTY detection.
//!
//! With `cli/`, the only code that prints. Colours and spinners only when stdout/stderr is a
//! terminal, so piped output stays plain and scripts can parse `--json`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::IsTerminal;
use std::time::Duration;

use comfy_table::{ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressStyle};

/// Is stdout a terminal?
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// A table with a header row, sized to the terminal.
pub fn table<S: ToString>(headers: &[&str], rows: Vec<Vec<S>>) -> Table {
    let mut t = Table::new();
    t.set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(headers.iter().copied());
    for r in rows {
        t.add_row(r.into_iter().map(|c| c.to_string()).collect::<Vec<_>>());
    }
    t
}

/// Aligned `key  value` lines.
pub fn kv(pairs: &[(&str, String)]) -> String {
    let w = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    pairs
        .iter()
        .map(|(k, v)| format!("{k:<w$}  {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A spinner on stderr (hidden when stderr is not a terminal).
pub fn spinner(message: &str) -> ProgressBar {
    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(80));
    pb
}

/// Print a line to stdout. A closed pipe (`llm-router … | head -1`) is not an error: the
/// reader has what it wanted, so the write is dropped instead of panicking like `println!`.
pub fn out(s: impl std::fmt::Display) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{s}");
}

/// Print a line to stderr.
pub fn err(s: impl std::fmt::Display) {
    eprintln!("{s}");
}

/// Pretty JSON to stdout.
pub fn json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => out(s),
        Err(e) => eprintln!("llm-router: cannot serialise output: {e}"),
    }
}

/// Format an optional USD-per-million price.
pub fn price(p: Option<f64>) -> String {
    match p {
        Some(0.0) => "free".into(),
        Some(v) if v < 0.1 => format!("${v:.3}"),
        Some(v) => format!("${v:.2}"),
        None => "?".into(),
    }
}

/// Format a token count compactly (128k, 1.05M).
pub fn tokens(n: Option<u64>) -> String {
    match n {
        None => "?".into(),
        Some(n) if n >= 1_000_000 => format!("{:.2}M", n as f64 / 1e6),
        Some(n) if n >= 1_000 => format!("{}k", n / 1000),
        Some(n) => n.to_string(),
    }
}
