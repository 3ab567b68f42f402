//! The single integration-test binary. Each module drives real things: the gateway over real
//! sockets, the simulated relay, and the real `llm-router` binary with isolated dirs.

mod util;

/// The accounting sink: every request, failed ones included, reaches usage exactly once.
mod accounting;
/// One assembly point: `route-test` in-process and through the daemon agree; a reload keeps
/// streams and relay connections unless the upstream settings changed.
mod assembly;
/// `init`, `config`, `models`, `route-test` through the real binary.
mod cli_cmds;
/// The daemon lifecycle through the real binary: start, status, stop, races, reload.
mod daemon;
/// `env` and `completions`: snapshots and real shells.
mod env_cmd;
/// The gateway end to end against the scriptable simulated relay (issue: gateway).
mod gateway;
/// `install.sh` into a temporary prefix.
mod install;
/// The relay client under relay faults: gzip answers, an early 413, a stalled error body.
mod relay_client;
/// The relay as a whole: a cold relay's model list, bounded metric labels, outages that
/// cool no model down.
mod relay_health;
/// Relay faults on streams: line endings, truncation, close-delimited bodies (issue 10).
mod stream_faults;
/// No panic on any text: every script at every offset, a fuzz suite, and `auto` end to end.
mod text_safety;
/// `llm-router usage` against a database the test writes.
mod usage;
/// The gateway's HTTP/1.1 server on the wire: raw bytes over a real socket.
mod wire;
