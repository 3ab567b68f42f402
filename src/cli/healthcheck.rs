//! `llm-router healthcheck` (hidden): exit 0 when the local gateway answers `/health`.
//!
//! For container HEALTHCHECKs: plain blocking HTTP/1.1 over std, no runtime, no curl needed
//! in the image.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port of the gateway (default: server.port from the config).
    #[arg(long)]
    pub port: Option<u16>,
}

pub fn run(args: &Args, config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let port = match args.port {
        Some(p) => p,
        None => crate::config::load(config_path)?.config.server.port,
    };
    let addr = format!("127.0.0.1:{port}");
    let sock = addr.parse().context("invalid address")?;
    let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(3))
        .with_context(|| format!("nothing answers on {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)
        .with_context(|| format!("no answer from {addr}"))?;
    let status_ok = buf.starts_with("HTTP/1.1 200");
    anyhow::ensure!(
        status_ok,
        "gateway on {addr} answered: {}",
        buf.lines().next().unwrap_or("")
    );
    crate::ui::out(buf.split("\r\n\r\n").nth(1).unwrap_or("").trim());
    Ok(ExitCode::SUCCESS)
}
