//! Micro-benchmarks of the gateway's hot pure functions (criterion):
//! SSE decoding and framing, the stage 2 body rewrite, the routing stage's own CPU (features,
//! candidates, redacted router prompt, decision parse) on a 100 KB conversation; the request
//! log line (tracing-subscriber's JSON formatter, into a sink and through the non-blocking
//! writer the daemon uses).
//!
//! `cargo bench --bench hot_paths`; results are relative, see docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

use llm_router::catalog::{Catalog, join};
use llm_router::config::RouterConfig;
use llm_router::engine::{
    Cooldowns, Engine, Mode, RouterCallError, RouterCaller, decision, features, redact, rewrite,
};
use llm_router::sim::sse_chunks_for;
use llm_router::upstream::sse::{SseDecoder, SseFramer};

fn sse(c: &mut Criterion) {
    let stream: Vec<u8> = sse_chunks_for("gpt-5.5", &"token ".repeat(400), 200)
        .iter()
        .flat_map(|b| b.to_vec())
        .collect();
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("decode_200_events_in_1k_reads", |b| {
        b.iter(|| {
            let mut d = SseDecoder::new();
            let mut n = 0;
            for chunk in stream.chunks(1024) {
                n += d.push(black_box(chunk)).len();
            }
            n
        })
    });
    // What the relay runs on every chunk after the commit point: boundaries only.
    g.bench_function("frame_200_events_in_1k_reads", |b| {
        b.iter(|| {
            let mut f = SseFramer::new();
            let mut last = 0;
            for chunk in stream.chunks(1024) {
                last = f.push(black_box(chunk));
            }
            last
        })
    });
    g.finish();
}

fn conversation(bytes: usize) -> Value {
    let para =
        "The service keeps failing under load when the queue backs up; we need to find out why. ";
    let mut msgs = vec![json!({"role": "system", "content": "You are a senior engineer."})];
    let mut size = 0;
    let mut i = 0;
    while size < bytes {
        let text = para.repeat(20);
        size += text.len();
        msgs.push(json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": text}));
        i += 1;
    }
    msgs.push(json!({"role": "user", "content": "Design a fix for the race condition."}));
    json!({"model": "auto", "messages": msgs})
}

fn rewrite_bench(c: &mut Criterion) {
    let body = serde_json::to_vec(&conversation(100_000)).unwrap();
    let image = serde_json::to_vec(&json!({"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", "iVBORw0KGgo".repeat(95_000))}}]}]}))
    .unwrap();
    let mut g = c.benchmark_group("rewrite");
    g.bench_function("model_and_effort_100kb", |b| {
        b.iter(|| rewrite::rewrite(black_box(&body), "gpt-5.5", Some("high")).unwrap())
    });
    g.bench_function("model_1mib_image", |b| {
        b.iter(|| rewrite::rewrite(black_box(&image), "gpt-5.5", None).unwrap())
    });
    g.finish();
}

/// A router that answers instantly, so only our own CPU is measured.
struct Instant;

impl RouterCaller for Instant {
    async fn call(&self, _body: Value, _t: Duration) -> Result<Value, RouterCallError> {
        Ok(json!({"choices": [{"message": {"content":
            "{\"target_model\":\"gpt-5.5\",\"reasoning_effort\":\"high\",\"confidence\":0.9,\"reason\":\"hard\"}"}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 40}}))
    }
}

fn routing_stage(c: &mut Criterion) {
    // The simulated relay's list: the same models the gateway routes among in tests.
    let upstream: Vec<Value> = llm_router::sim::default_models();
    let models = join(&upstream, Catalog::embedded(), &Default::default());
    let engine = Engine::new(RouterConfig::default(), Arc::new(Cooldowns::new()));
    let body = conversation(100_000);
    let raw = serde_json::to_vec(&body).unwrap();
    // The timer is on: the engine bounds the router call by `router.timeout_ms`.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("routing_stage");
    g.bench_function("parse_features_candidates_prompt_decide_100kb", |b| {
        b.iter(|| {
            let parsed: Value = serde_json::from_slice(black_box(&raw)).unwrap();
            let f = features::extract(&parsed);
            rt.block_on(engine.decide(&models, Mode::Coding, &parsed, &f, &[], &Instant))
                .unwrap()
        })
    });
    let msgs = body["messages"].as_array().unwrap().clone();
    g.bench_function("redacted_view_100kb", |b| {
        b.iter(|| redact::conversation_view(black_box(&msgs), 6000))
    });
    let answer = "```json\n{\"target_model\":\"gpt-5.5\",\"task_type\":\"hard_coding\",\"difficulty\":\"hard\",\"reasoning_effort\":\"xhigh\",\"confidence\":0.9,\"reason\":\"architecture work\"}\n```";
    let ids = ["gpt-5.4-mini", "gpt-5.5", "gpt-5.3-codex"];
    g.bench_function("decision_parse", |b| {
        b.iter(|| decision::parse(black_box(answer), &ids).unwrap())
    });
    g.finish();
}

/// The request log line as `server::chat` emits it, with typical values.
fn request_line(n: u64) {
    tracing::info!(
        target: "llm_router::request",
        request_id = %format_args!("req_3f2a9c81d0e4{n:08x}"),
        model = %"auto",
        target_model = "gpt-5.4-mini",
        decision = "router",
        router_model = "gpt-5.4-nano",
        router_ms = 412u64,
        router_error = "",
        effort = "low",
        task_type = "simple_qa",
        attempts = %"gpt-5.4-mini:ok:803ms",
        status = 200u16,
        stream = true,
        answer_ms = 803u64,
        prompt_tokens = 1234u64,
        completion_tokens = 321u64,
        total_ms = 1215u64,
        outcome = "ok",
        error = "",
        "request"
    );
}

fn log_line(c: &mut Criterion) {
    use tracing_subscriber::layer::SubscriberExt;
    let mut g = c.benchmark_group("request_log");
    let sink = tracing_subscriber::registry().with(llm_router::logging::json_layer(std::io::sink));
    tracing::subscriber::with_default(sink, || {
        let mut n = 0u64;
        g.bench_function("json_line_to_sink", |b| {
            b.iter(|| {
                n += 1;
                request_line(black_box(n))
            })
        });
    });
    // What a request pays in the daemon: format, then hand the line to the writer thread.
    let (w, guard) = llm_router::logging::non_blocking(std::io::sink());
    let sub = tracing_subscriber::registry().with(llm_router::logging::json_layer(w));
    tracing::subscriber::with_default(sub, || {
        let mut n = 0u64;
        g.bench_function("json_line_non_blocking", |b| {
            b.iter(|| {
                n += 1;
                request_line(black_box(n))
            })
        });
    });
    drop(guard);
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = sse, rewrite_bench, routing_stage, log_line
}
criterion_main!(benches);
