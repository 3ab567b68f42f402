//! llm-router: a local OpenAI-compatible gateway that picks the model by itself.
//!
//! Clients send `model: "auto" | "auto-coding" | "auto-longtext"`; a cheap router model reads
//! the request and chooses the real model and reasoning effort; the request is forwarded to
//! that model through the user's relay, streaming included, with fallback. See
//! `docs/architecture.md` for the codemap.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod logging;
pub mod priority;
pub mod server;
pub mod shell;
pub mod sim;
pub mod text;
pub mod ui;
pub mod upstream;
pub mod usage;
