//! Shared test helpers: isolated environments for the real binary, an in-process gateway
//! wired to a simulated relay, a raw-TCP relay for wire shapes hyper cannot produce, and the
//! external tools the tests drive.
#![allow(dead_code)]

pub mod env;
pub mod gateway;
pub mod raw_relay;
pub mod tools;
