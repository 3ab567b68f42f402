//! `llm-router sim` (hidden): run the simulated relay on its own, for the SDK tests and the
//! benchmark. It is the same relay `start --demo` serves; `POST /_sim/script` scripts it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::sim::{SimOptions, SimRelay};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on (0 = any free port; the chosen one is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Chunks per streamed answer.
    #[arg(long, default_value_t = 20)]
    pub chunks: usize,
    /// Delay between streamed chunks, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Require this relay key (`Authorization: Bearer <key>`).
    #[arg(long)]
    pub require_key: Option<String>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: &Args, _config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(t) = args.threads {
        b.worker_threads(t.max(1));
    }
    let rt = b
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let opts = SimOptions {
            stream_chunks: args.chunks.max(1),
            chunk_delay: Duration::from_millis(args.chunk_delay_ms),
            latency: Duration::from_millis(args.latency_ms),
            require_key: args.require_key.clone(),
            ..SimOptions::default()
        };
        let addr = format!("127.0.0.1:{}", args.port)
            .parse()
            .context("invalid port")?;
        let sim = SimRelay::start_on(addr, opts)
            .await
            .with_context(|| format!("cannot listen on port {}", args.port))?;
        crate::ui::out(format!("sim relay listening on {}", sim.base_url()));
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown();
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
