//! `daemon.json` (`paths::daemon_info_file`): what the running daemon says about itself.
//!
//! Written atomically with mode 0600 once the listener and the control socket are up, and
//! removed on a clean exit. It is a convenience for people and scripts, never the truth about
//! "running": a SIGKILLed daemon leaves it behind, so readers check the lock first.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::protocol::PROTOCOL_VERSION;

/// The contents of `daemon.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    /// What clients use: `http://HOST:PORT/v1` (an unspecified bind address shows as loopback).
    pub url: String,
    pub host: String,
    pub port: u16,
    pub version: String,
    pub protocol: u32,
    /// Unix seconds.
    pub started_at: u64,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
    pub socket: PathBuf,
    pub demo: bool,
}

/// Why `daemon.json` could not be written.
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    #[error("cannot write daemon info {path}: {source}; check the permissions of its directory")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DaemonInfo {
    /// Describe this process serving on `addr`.
    pub fn new(
        addr: std::net::SocketAddr,
        config_path: PathBuf,
        log_path: PathBuf,
        socket: PathBuf,
        demo: bool,
    ) -> Self {
        Self {
            pid: std::process::id(),
            url: url_for(addr),
            host: addr.ip().to_string(),
            port: addr.port(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: PROTOCOL_VERSION,
            started_at: crate::server::stats::now_unix(),
            config_path,
            log_path,
            socket,
            demo,
        }
    }

    pub fn write(&self, path: &Path) -> Result<(), InfoError> {
        let err = |source| InfoError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_vec_pretty(self).map_err(|e| err(std::io::Error::other(e)))?;
        crate::config::atomic::write_atomic(path, &text).map_err(err)
    }

    /// The info file, if present and readable (it may be stale: check the lock).
    pub fn read(path: &Path) -> Option<DaemonInfo> {
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

/// The address a client on this machine connects to for a listener bound to `addr`.
pub fn connect_addr(addr: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    std::net::SocketAddr::new(ip, addr.port())
}

/// `http://ADDR/v1` for a listener bound to `addr`.
pub fn url_for(addr: std::net::SocketAddr) -> String {
    format!("http://{}/v1", connect_addr(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_uses_loopback_for_unspecified_binds() {
        assert_eq!(
            url_for("0.0.0.0:8787".parse().unwrap()),
            "http://127.0.0.1:8787/v1"
        );
        assert_eq!(
            url_for("[::]:9000".parse().unwrap()),
            "http://[::1]:9000/v1"
        );
        assert_eq!(
            url_for("192.168.1.2:1".parse().unwrap()),
            "http://192.168.1.2:1/v1"
        );
    }

    #[cfg(unix)]
    #[test]
    fn written_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.json");
        let info = DaemonInfo::new(
            "127.0.0.1:8787".parse().unwrap(),
            "/c.toml".into(),
            "/l.log".into(),
            "/s.sock".into(),
            true,
        );
        info.write(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(DaemonInfo::read(&path), Some(info));
    }
}
