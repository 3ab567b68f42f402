//! The background daemon: lock file, the daemon's life (`run`), the control endpoint (server
//! in `control`, its replies in `reply`, client in `client`, wire types in `protocol`) and
//! `daemon.json` (`info`).
//!
//! Dependencies point one way: `run` → `control` → `reply` → `protocol`; `client` →
//! `protocol`; `protocol` depends on serde alone, so the CLI and the daemon share it
//! without sharing anything else.
//!
//! Only this module touches the lock file and the control socket. The lock (held
//! exclusively for the daemon's lifetime, never deleted) is the truth about "running"; the
//! control socket is how every other command talks to the daemon. Detaching itself is done
//! by `cli/start.rs` (re-executing the binary before any async runtime exists); see
//! docs/daemon.md for why.

pub mod client;
pub mod control;
pub mod info;
pub mod lock;
pub mod process;
pub mod protocol;
pub mod reply;
pub mod run;

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// `GET /health` on the gateway serving `url` (`http://HOST:PORT/v1`), blocking.
///
/// A plain HTTP/1.1 exchange over std sockets: `start` and `status` need one request and no
/// async runtime. Any HTTP 200 counts ("degraded" still means the gateway answers).
pub fn health_check(url: &str, timeout: Duration) -> Result<(), String> {
    let authority = url
        .strip_prefix("http://")
        .map(|r| r.split('/').next().unwrap_or(r))
        .ok_or_else(|| format!("cannot check {url}: not an http:// URL"))?;
    let addr = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let io = |e: std::io::Error| format!("health check on {addr}: {e}");
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    let req = format!(
        "GET /health HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: llm-router-cli\r\n\r\n"
    );
    s.write_all(req.as_bytes()).map_err(io)?;
    let mut head = [0u8; 64];
    let mut n = 0;
    // The status line fits in the first bytes; read until we have it.
    while n < head.len() {
        match s.read(&mut head[n..]).map_err(io)? {
            0 => break,
            k => n += k,
        }
        if head[..n].contains(&b'\n') {
            break;
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    let code = line.split_whitespace().nth(1).unwrap_or("");
    if code == "200" {
        Ok(())
    } else {
        Err(format!(
            "health check on {addr} answered `{}`",
            line.lines().next().unwrap_or("").trim()
        ))
    }
}
