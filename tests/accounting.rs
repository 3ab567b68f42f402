//! The accounting sink end to end (issue 11, item 3): every request reaches the log line,
//! stats, metrics and usage exactly once, failed ones included. "Relay down" is real: nothing
//! listens on the relay's port, so the gateway has no model list and `auto` is answered 503.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use llm_router::usage::{self, UsageReader};

use crate::util::gateway::TestGateway;

/// A loopback port nothing listens on (the listener that found it is closed again).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

async fn metrics(gw: &TestGateway) -> String {
    gw.client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text")
}

/// The sum of `llm_router_requests_total` series whose labels contain `label`.
fn requests_with(text: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("llm_router_requests_total{") && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn requests_failed_while_the_relay_is_down_reach_usage_once_each() {
    let addr = free_addr();
    let gw = TestGateway::start(|c| c.upstream.base_url = format!("http://{addr}")).await;
    let dir = tempfile::Builder::new()
        .prefix("llm-router-accounting")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let db = dir.path().join("usage.sqlite3");
    let (sink, writer) = usage::start(&db, 0).expect("usage store");
    assert!(gw.state.usage.set(sink).is_ok(), "no sink set before");

    for _ in 0..3 {
        let r = gw
            .chat(json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
            .await;
        assert_eq!(r.status(), 503);
        assert_eq!(
            r.headers()
                .get("x-llm-router-original-model")
                .and_then(|v| v.to_str().ok()),
            Some("auto")
        );
    }
    // A body that is not a request at all: the log, stats and metrics count it, usage not.
    let r = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);

    let v = gw.state.stats.view();
    assert_eq!((v.requests, v.errors, v.in_flight), (4, 4, 0));
    let text = metrics(&gw).await;
    assert_eq!(requests_with(&text, "status=\"503\""), 3, "{text}");
    assert_eq!(requests_with(&text, "status=\"400\""), 1, "{text}");

    writer.flush_and_stop(Duration::from_secs(10));
    let reader = UsageReader::open(&db).expect("reader");
    let totals = reader.totals(0).expect("totals");
    assert_eq!((totals.requests, totals.errors), (3, 3), "{totals:?}");
    let recent = reader.recent(10).expect("recent");
    assert_eq!(recent.len(), 3);
    for rec in &recent {
        assert_eq!(rec.status, 503);
        assert_eq!(rec.model, "auto");
        assert_eq!(rec.mode.as_deref(), Some("auto"));
        assert_eq!(rec.attempts, 0, "no model was tried");
    }
}
