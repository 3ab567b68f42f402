//! The background daemon: lock file, detaching, the control endpoint (server and client).
//!
//! Only this module touches the lock file and the control socket. The lock (held
//! exclusively for the daemon's lifetime, never deleted) is the truth about "running"; the
//! control socket is how every other command talks to the daemon.

pub mod client;
pub mod protocol;
