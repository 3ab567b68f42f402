//! The single integration-test binary. Each module drives real things: the gateway over real
//! sockets, the simulated relay, and the real `llm-router` binary with isolated dirs.

mod util;

/// The gateway end to end against the scriptable simulated relay (issue: gateway).
mod gateway;
/// `env` and `completions`: snapshots and real shells.
mod env_cmd;
/// The daemon lifecycle through the real binary: start, status, stop, races, reload.
mod daemon;
/// `init`, `config`, `models`, `route-test` through the real binary.
mod cli_cmds;
