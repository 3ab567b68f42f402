//! Relay faults on streams, through the real gateway: how an SSE answer ends on the wire
//! decides what the client gets. Events with `\n\r\n` terminators arrive whole; a stream that
//! ends (chunked terminator or connection close) before `[DONE]` and before any finish reason
//! is one `stream_truncated` error event and an error in the stats, metrics and usage; one that
//! sent a finish reason and then ended without `[DONE]` is passed on unchanged.

use std::time::Duration;

use serde_json::{Value, json};

use llm_router::sim::{SimOptions, SimRelay, Step};

use crate::util::gateway::TestGateway;
use crate::util::raw_relay::RawRelay;

const MODEL: &str = "gpt-5.5";

fn content(text: &str) -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
    .to_string()
}

fn stop() -> String {
    json!({"id": "c1", "object": "chat.completion.chunk", "model": MODEL,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    .to_string()
}

/// `data: …` events, each ended by `end` (its line's terminator and the blank line's).
fn events(data: &[String], end: &str) -> Vec<u8> {
    data.iter()
        .flat_map(|d| format!("data: {d}{end}").into_bytes())
        .collect()
}

async fn stream_chat(gw: &TestGateway) -> (u16, Vec<u8>) {
    let r = gw
        .chat(
            json!({"model": MODEL, "stream": true, "messages": [{"role": "user", "content": "x"}]}),
        )
        .await;
    let status = r.status().as_u16();
    (status, r.bytes().await.expect("body").to_vec())
}

/// The `data` of every event the client got that is an error envelope.
fn error_codes(body: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(body);
    text.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["error"]["code"].as_str().map(str::to_owned))
        .collect()
}

/// Waits until the gateway has recorded `n` finished requests (a stream's request is recorded
/// when its body ends, just after the client read the last byte).
async fn recorded(gw: &TestGateway, n: u64) -> llm_router::server::stats::StatsView {
    let wait = async {
        loop {
            let v = gw.state.stats.view();
            if v.requests >= n && v.in_flight == 0 {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the request was recorded")
}

async fn metrics(gw: &TestGateway) -> String {
    gw.client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

async fn gateway_on_sim(step: Step) -> TestGateway {
    let gw = TestGateway::start(|_| {}).await;
    gw.sim.script(MODEL, step);
    gw
}

#[tokio::test]
async fn lf_crlf_terminated_events_arrive_whole() {
    let sent = events(
        &[
            content("héllo "),
            content("wörld 日本語"),
            stop(),
            "[DONE]".into(),
        ],
        "\n\r\n",
    );
    // Split inside terminators and characters.
    let chunks = vec![
        sent[..20].to_vec(),
        sent[20..sent.len() - 1].to_vec(),
        sent[sent.len() - 1..].to_vec(),
    ];
    let gw = gateway_on_sim(Step::sse(chunks)).await;
    let (status, got) = stream_chat(&gw).await;
    assert_eq!(status, 200);
    assert_eq!(got, sent, "{}", String::from_utf8_lossy(&got));
    let stats = recorded(&gw, 1).await;
    assert_eq!(stats.errors, 0);
}

#[tokio::test]
async fn a_chunked_stream_ending_early_is_one_truncation_error_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("usage.sqlite3");
    let sent = events(&[content("one "), content("two ")], "\n\n");
    let gw = gateway_on_sim(Step::sse(vec![sent.clone()])).await;
    let (sink, writer) = llm_router::usage::start(&db, 0).expect("usage");
    assert!(gw.state.usage.set(sink).is_ok(), "usage sink");
    let (status, got) = stream_chat(&gw).await;
    assert_eq!(status, 200);
    assert!(got.starts_with(&sent), "{}", String::from_utf8_lossy(&got));
    assert_eq!(error_codes(&got), vec!["stream_truncated"]);
    let text = String::from_utf8_lossy(&got);
    assert!(!text.contains("data: [DONE]") && !text.contains("\"finish_reason\":\"stop\""));
    // Counted as an error everywhere, not as a success.
    let stats = recorded(&gw, 1).await;
    assert_eq!(stats.errors, 1);
    assert!(metrics(&gw).await.contains(&format!(
        "llm_router_requests_total{{model=\"{MODEL}\",target=\"{MODEL}\",status=\"502\"}} 1"
    )));
    writer.flush_and_stop(Duration::from_secs(5));
    let rec = llm_router::usage::UsageReader::open(&db)
        .expect("reader")
        .recent(10)
        .expect("recent");
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert_eq!(rec[0].status, 502);
    // Nothing is retried after the commit point.
    let answers = gw
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .count();
    assert_eq!(answers, 1);
}

#[tokio::test]
async fn a_stream_ending_after_finish_reason_without_done_is_passed_on_unchanged() {
    let sent = events(&[content("all "), content("done"), stop()], "\r\n\r\n");
    let gw = gateway_on_sim(Step::sse(vec![sent.clone()])).await;
    let (status, got) = stream_chat(&gw).await;
    assert_eq!(status, 200);
    assert_eq!(
        got,
        sent,
        "nothing added: {}",
        String::from_utf8_lossy(&got)
    );
    let stats = recorded(&gw, 1).await;
    assert_eq!(stats.errors, 0);
    assert!(metrics(&gw).await.contains(&format!(
        "llm_router_requests_total{{model=\"{MODEL}\",target=\"{MODEL}\",status=\"200\"}} 1"
    )));
}

/// A gateway in front of the raw relay (the simulated one it also starts is not used).
async fn gateway_on_raw(relay: &RawRelay) -> TestGateway {
    let sim = SimRelay::start_on("127.0.0.1:0".parse().expect("addr"), SimOptions::default())
        .await
        .expect("sim");
    let url = relay.base_url();
    TestGateway::start_on_sim(sim, move |c| c.upstream.base_url = url).await
}

#[tokio::test]
async fn an_http10_relay_closing_after_n_events_is_a_truncation_error() {
    let sent = events(&[content("a "), content("b "), content("c ")], "\n\n");
    // Three events, then half of a fourth, then the connection closes: the close ends the body.
    let mut pieces: Vec<Vec<u8>> = sent.chunks(25).map(<[u8]>::to_vec).collect();
    pieces.push(b"data: {\"choices\":[{\"del".to_vec());
    let relay = RawRelay::start("HTTP/1.0 200 OK\r\ncontent-type: text/event-stream", pieces).await;
    let gw = gateway_on_raw(&relay).await;
    let (status, got) = stream_chat(&gw).await;
    assert_eq!(status, 200);
    assert!(got.starts_with(&sent), "{}", String::from_utf8_lossy(&got));
    // The half event is dropped: the error event follows the last whole one.
    assert!(got[sent.len()..].starts_with(b"data: {\"error\""));
    assert_eq!(error_codes(&got), vec!["stream_truncated"]);
    assert_eq!(relay.chats(), 1);
    let stats = recorded(&gw, 1).await;
    assert_eq!(stats.errors, 1);
}

#[tokio::test]
async fn an_http10_relay_closing_after_done_is_a_complete_answer() {
    // The control: the same close-delimited body, ended properly, arrives as sent.
    let sent = events(&[content("a "), stop(), "[DONE]".into()], "\n\n");
    let relay = RawRelay::start(
        "HTTP/1.0 200 OK\r\ncontent-type: text/event-stream",
        vec![sent.clone()],
    )
    .await;
    let gw = gateway_on_raw(&relay).await;
    let (status, got) = stream_chat(&gw).await;
    assert_eq!(status, 200);
    assert_eq!(got, sent);
    let stats = recorded(&gw, 1).await;
    assert_eq!(stats.errors, 0);
}
