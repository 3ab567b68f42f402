//! The relay client under relay faults, through the real gateway: a relay that compresses
//! answers nobody asked to compress, one that refuses a large upload before reading it and
//! closes, and one that sends an error head and stalls its body.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use llm_router::sim::{Recorded, SseEnd, Step, error_json, sse_chunks_for};

use crate::util::gateway::TestGateway;

/// The model the engine picks as router among the simulated relay's defaults (cheapest).
const ROUTER: &str = "deepseek-chat";

/// A client that neither asks for nor decodes gzip, so the gateway's own answer is seen as
/// it is on the wire (reqwest's `gzip` feature is on in this build).
fn plain_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .no_gzip()
        .build()
        .expect("client")
}

async fn post(gw: &TestGateway, body: Bytes) -> reqwest::Response {
    plain_client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send")
}

async fn post_json(gw: &TestGateway, body: Value) -> reqwest::Response {
    post(gw, Bytes::from(body.to_string())).await
}

fn completion(model: &str, content: &str) -> Value {
    json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    })
}

fn router_says(target: &str) -> Step {
    let decision = json!({
        "target_model": target, "task_type": "test", "difficulty": "standard",
        "reasoning_effort": "none", "confidence": 0.8, "reason": "scripted"
    });
    Step::json(200, completion(ROUTER, &decision.to_string()))
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

fn chat_calls(gw: &TestGateway) -> Vec<Recorded> {
    gw.sim
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/chat/completions") && !r.is_router_call)
        .collect()
}

/// Waits (bounded) until the gateway counts no request in flight.
async fn in_flight_drains(gw: &TestGateway) -> bool {
    for _ in 0..200 {
        if gw
            .state
            .stats
            .in_flight
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn a_gzip_json_answer_reaches_the_client_decoded() {
    let gw = TestGateway::start(|_| {}).await;
    gw.sim.script(
        "gpt-5.5",
        Step::gzip_json(200, completion("gpt-5.5", "squeezed ünïcode")),
    );
    let r = post_json(&gw, json!({"model": "gpt-5.5", "messages": user("hi")})).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none(), "{r:?}");
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("plain JSON");
    assert_eq!(v["choices"][0]["message"]["content"], "squeezed ünïcode");
    // The relay was told gzip is welcome: that is what makes decoding it correct.
    let calls = chat_calls(&gw);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].header("accept-encoding"), Some("gzip"));
}

#[tokio::test]
async fn a_gzip_event_stream_reaches_the_client_decoded() {
    let gw = TestGateway::start(|_| {}).await;
    let chunks = sse_chunks_for("gpt-5.5", "one two three four", 4);
    let expected: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    gw.sim.script("gpt-5.5", Step::gzip_sse(chunks));
    let r = post_json(
        &gw,
        json!({"model": "gpt-5.5", "stream": true, "messages": user("hi")}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none(), "{r:?}");
    let body = r.bytes().await.expect("body");
    assert_eq!(
        String::from_utf8_lossy(&body),
        String::from_utf8_lossy(&expected)
    );
}

/// A relay answers 413 before reading a large upload and closes; `stream` picks the path.
async fn early_413(stream: bool) {
    let gw = TestGateway::start(|_| {}).await;
    // A first call leaves a kept-alive connection to the relay: a client that treats a
    // failed write on a reused connection as "never sent" would re-send the upload.
    let warm = post_json(&gw, json!({"model": "gpt-5.5", "messages": user("hi")})).await;
    assert_eq!(warm.status(), 200);
    gw.sim.script(
        "*",
        Step::reject_unread(413, error_json(413, "Request too large for the relay")),
    );
    // 12 MiB: more than the socket buffers hold (a send buffer grows to 4 MiB here), so the
    // relay answers and closes while the gateway is still writing.
    let filler = "x".repeat(12 * 1024 * 1024);
    let r = post_json(
        &gw,
        json!({"model": "gpt-5.5", "stream": stream, "messages": user(&filler)}),
    )
    .await;
    assert_eq!(r.status(), 413);
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("JSON error");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert!(v["error"]["message"].is_string(), "{v}");
    // The warm-up call and the upload, once. Had the gateway sent the upload again, the
    // relay (with nothing scripted any more) would have read and answered the copy: the
    // client would have got a 200.
    assert_eq!(chat_calls(&gw).len(), 2, "{:?}", gw.sim.requests());
    assert!(in_flight_drains(&gw).await);
}

#[tokio::test]
async fn gzip_events_are_relayed_as_they_arrive_not_at_the_end_of_the_body() {
    use futures_util::StreamExt as _;
    let gw = TestGateway::start(|_| {}).await;
    // The relay sends every event and then holds the body open: no gzip trailer, no end.
    // The client must still get every event, so nothing waits for the end of the member.
    gw.sim.script(
        "gpt-5.5",
        Step::gzip_sse(sse_chunks_for("gpt-5.5", "one two three", 3)).end(SseEnd::Hang),
    );
    let r = post_json(
        &gw,
        json!({"model": "gpt-5.5", "stream": true, "messages": user("hi")}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let mut text = String::new();
    let got_all = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
            if text.contains("data: [DONE]") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(got_all, Ok(true), "{text}");
    // All three content pieces, then the finish chunk.
    assert_eq!(text.matches("\"content\":").count(), 3, "{text}");
    assert!(text.contains("\"finish_reason\":\"stop\""), "{text}");
}

#[tokio::test]
async fn an_early_413_reaches_the_client_and_the_upload_is_sent_once() {
    early_413(false).await;
}

#[tokio::test]
async fn an_early_413_reaches_a_streaming_client_and_the_upload_is_sent_once() {
    early_413(true).await;
}

#[tokio::test]
async fn a_stalled_error_body_falls_back_to_the_next_model() {
    // The error body is read within the first-byte deadline and the idle timeout per chunk;
    // a short idle timeout keeps the test quick.
    let gw = TestGateway::start(|c| c.upstream.idle_timeout_ms = 300).await;
    gw.sim.script(ROUTER, router_says("gpt-5.5"));
    gw.sim.script(
        "gpt-5.5",
        Step::stall_body(500, 100, Bytes::from_static(b"{\"error\":")),
    );
    // Bounded so that a gateway that waits on the body forever fails here instead of hanging.
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        post_json(
            &gw,
            json!({"model": "auto", "stream": true, "messages": user("hello")}),
        ),
    )
    .await
    .expect("the gateway answered");
    assert_eq!(r.status(), 200);
    let text = String::from_utf8(r.bytes().await.expect("body").to_vec()).expect("utf-8");
    assert!(text.contains("[DONE]"), "{text}");
    let calls = chat_calls(&gw);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].model.as_deref(), Some("gpt-5.5"));
    assert_ne!(calls[1].model.as_deref(), Some("gpt-5.5"));
    // The stalled attempt's connection was given up, and nothing is left in flight.
    assert!(calls[0].was_cancelled() || wait_cancelled(&gw).await);
    assert!(in_flight_drains(&gw).await);
}

#[tokio::test]
async fn a_stalled_error_body_is_the_relay_status_for_a_single_model() {
    let gw = TestGateway::start(|c| c.upstream.idle_timeout_ms = 300).await;
    gw.sim
        .script("gpt-5.5", Step::stall_body(503, 100, Bytes::new()));
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        post_json(&gw, json!({"model": "gpt-5.5", "messages": user("hello")})),
    )
    .await
    .expect("the gateway answered");
    assert_eq!(r.status(), 503);
    let v: Value = serde_json::from_slice(&r.bytes().await.expect("body")).expect("JSON error");
    assert!(v["error"]["message"].is_string(), "{v}");
    assert!(in_flight_drains(&gw).await);
}

async fn wait_cancelled(gw: &TestGateway) -> bool {
    for _ in 0..400 {
        if gw
            .sim
            .requests()
            .iter()
            .any(|r| r.model.as_deref() == Some("gpt-5.5") && r.was_cancelled())
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_target_that_never_answers_falls_back_at_the_first_byte_deadline() {
    // No head in time (`first_byte_timeout_ms` for a stream; a non-streaming answer's head
    // and body share `total_timeout_ms`, since many relays send the head with the whole
    // answer): the attempt is given up (its connection dropped) and the next candidate
    // answers, before anything reached the client.
    let gw = TestGateway::start(|c| {
        c.upstream.first_byte_timeout_ms = 400;
        c.upstream.total_timeout_ms = 400;
    })
    .await;
    gw.sim.script(ROUTER, router_says("gpt-5.5"));
    gw.sim.script("gpt-5.5", Step::Hang);
    for stream in [false, true] {
        let r = tokio::time::timeout(
            Duration::from_secs(30),
            post_json(
                &gw,
                json!({"model": "auto", "stream": stream, "messages": user("hello")}),
            ),
        )
        .await
        .expect("the gateway answered");
        assert_eq!(r.status(), 200, "stream={stream}");
        let text = String::from_utf8(r.bytes().await.expect("body").to_vec()).expect("utf-8");
        assert!(!text.contains("\"error\""), "stream={stream}: {text}");
        if stream {
            assert!(text.contains("[DONE]"), "{text}");
        }
        // Script the hang again for the second round (steps are consumed).
        gw.sim.script(ROUTER, router_says("gpt-5.5"));
        gw.sim.script("gpt-5.5", Step::Hang);
    }
    let calls = chat_calls(&gw);
    let hung: Vec<_> = calls
        .iter()
        .filter(|c| c.model.as_deref() == Some("gpt-5.5"))
        .collect();
    assert!(hung.len() >= 2, "{calls:?}");
    assert!(
        calls.iter().any(|c| c.model.as_deref() != Some("gpt-5.5")),
        "another model answered: {calls:?}"
    );
    assert!(in_flight_drains(&gw).await);
}
