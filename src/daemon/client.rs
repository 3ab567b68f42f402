//! The control client used by `stop`, `status`, `models`, `route-test` and `config`.
//!
//! Blocking on purpose: CLI commands make one or two calls and need no async runtime. Each
//! request has a typed method returning its reply type from `protocol.rs`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::protocol::{self, Envelope, PROTOCOL_VERSION, Reply, Request};

/// Why a control call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the daemon is not running (no answer on {0})")]
    NotRunning(PathBuf),
    #[error(
        "the daemon speaks control protocol {theirs} (version {version}) but this binary speaks {ours}; restart it: `llm-router stop && llm-router start`"
    )]
    Protocol {
        theirs: u32,
        ours: u32,
        version: String,
    },
    #[error("control socket {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the daemon sent an unreadable reply: {0}")]
    BadReply(String),
    #[error("the daemon refused: {0}")]
    Refused(String),
}

/// A connection target.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
    timeout: Duration,
}

impl Client {
    pub fn new(socket: &Path) -> Self {
        Self {
            socket: socket.to_path_buf(),
            timeout: Duration::from_secs(30),
        }
    }

    /// The default socket (`config::paths::control_socket`).
    pub fn default_socket() -> Self {
        Self::new(&crate::config::paths::control_socket())
    }

    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Send one request; the reply's `data` on success.
    #[cfg(unix)]
    pub fn call(&self, req: &Request) -> Result<Value, ClientError> {
        use std::os::unix::net::UnixStream;
        let io = |source| ClientError::Io {
            path: self.socket.clone(),
            source,
        };
        let mut stream = match UnixStream::connect(&self.socket) {
            Ok(s) => s,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ) =>
            {
                return Err(ClientError::NotRunning(self.socket.clone()));
            }
            Err(e) => return Err(io(e)),
        };
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut line =
            serde_json::to_string(req).map_err(|e| ClientError::BadReply(e.to_string()))?;
        line.push('\n');
        stream.write_all(line.as_bytes()).map_err(io)?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply).map_err(io)?;
        if reply.trim().is_empty() {
            return Err(ClientError::BadReply("empty reply".into()));
        }
        // Check the protocol before trusting the shape of the rest.
        let envelope: Envelope =
            serde_json::from_str(&reply).map_err(|e| ClientError::BadReply(e.to_string()))?;
        if envelope.protocol != PROTOCOL_VERSION {
            return Err(ClientError::Protocol {
                theirs: envelope.protocol,
                ours: PROTOCOL_VERSION,
                version: envelope.version.unwrap_or_else(|| "unknown".into()),
            });
        }
        let reply: Reply =
            serde_json::from_str(&reply).map_err(|e| ClientError::BadReply(e.to_string()))?;
        if reply.ok {
            Ok(reply.data)
        } else {
            Err(ClientError::Refused(
                reply.error.unwrap_or_else(|| "unknown error".into()),
            ))
        }
    }

    #[cfg(not(unix))]
    pub fn call(&self, _req: &Request) -> Result<Value, ClientError> {
        Err(ClientError::NotRunning(self.socket.clone()))
    }

    /// Send one request and read its reply's data as `T`.
    fn typed<T: DeserializeOwned>(&self, req: &Request) -> Result<T, ClientError> {
        let data = self.call(req)?;
        serde_json::from_value(data).map_err(|e| {
            ClientError::BadReply(format!(
                "{e} (a daemon of another build? restart it: `llm-router stop && llm-router start`)"
            ))
        })
    }

    pub fn status(&self) -> Result<protocol::Status, ClientError> {
        self.typed(&Request::Status)
    }

    pub fn reload(&self) -> Result<protocol::Reloaded, ClientError> {
        self.typed(&Request::Reload)
    }

    pub fn models(&self) -> Result<protocol::Models, ClientError> {
        self.typed(&Request::Models)
    }

    pub fn stop(&self) -> Result<protocol::Stopping, ClientError> {
        self.typed(&Request::Stop)
    }

    pub fn route_test(
        &self,
        req: protocol::RouteTest,
    ) -> Result<protocol::RouteDecision, ClientError> {
        self.typed(&Request::RouteTest(req))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A one-shot fake daemon: answers the first request with `reply`, returns what it got.
    fn fake_daemon(
        reply: impl Into<String>,
    ) -> (tempfile::TempDir, PathBuf, std::thread::JoinHandle<String>) {
        let reply = reply.into();
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("control.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&stream).read_line(&mut line).unwrap();
            (&stream).write_all(reply.as_bytes()).unwrap();
            (&stream).write_all(b"\n").unwrap();
            line
        });
        (dir, sock, handle)
    }

    #[test]
    fn protocol_mismatch_is_reported_with_a_restart_hint() {
        let (_dir, sock, server) =
            fake_daemon(r#"{"protocol":999,"version":"9.9.9","ok":true,"data":{"pid":1}}"#);
        let err = Client::new(&sock).status().unwrap_err();
        assert!(
            matches!(err, ClientError::Protocol { theirs: 999, ours: PROTOCOL_VERSION, ref version } if version == "9.9.9"),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("999") && msg.contains("llm-router stop && llm-router start"),
            "{msg}"
        );
        let sent: Value = serde_json::from_str(&server.join().unwrap()).unwrap();
        assert_eq!(sent, serde_json::json!({"cmd": "status"}));
    }

    #[test]
    fn a_reply_without_protocol_is_a_mismatch_too() {
        let (_dir, sock, _server) = fake_daemon(r#"{"ok":true}"#);
        assert!(matches!(
            Client::new(&sock).status(),
            Err(ClientError::Protocol { theirs: 0, .. })
        ));
    }

    #[test]
    fn refusals_carry_the_daemons_message() {
        let (_dir, sock, server) = fake_daemon(format!(
            r#"{{"protocol":{PROTOCOL_VERSION},"version":"0.1.0","ok":false,"error":"config /x.toml: bad"}}"#
        ));
        match Client::new(&sock).reload() {
            Err(ClientError::Refused(m)) => assert_eq!(m, "config /x.toml: bad"),
            other => panic!("{other:?}"),
        }
        let sent: Value = serde_json::from_str(&server.join().unwrap()).unwrap();
        assert_eq!(sent["cmd"], "reload");
    }

    #[test]
    fn a_reply_of_the_wrong_shape_is_unreadable_not_misread() {
        let (_dir, sock, _server) = fake_daemon(format!(
            r#"{{"protocol":{PROTOCOL_VERSION},"version":"0.1.0","ok":true,"data":{{"stopping":"yes"}}}}"#
        ));
        match Client::new(&sock).stop() {
            Err(ClientError::BadReply(m)) => assert!(m.contains("restart it"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn no_socket_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("none.sock");
        assert!(matches!(
            Client::new(&sock).status(),
            Err(ClientError::NotRunning(p)) if p == sock
        ));
    }
}
