//! Shared test helpers: isolated environments for the real binary, and an in-process gateway
//! wired to a simulated relay.
#![allow(dead_code)]

pub mod env;
pub mod gateway;
pub mod raw_relay;
