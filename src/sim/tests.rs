//! End-to-end tests of the simulated relay over real sockets, with reqwest as the client.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use super::*;
use crate::upstream::sse::{EventKind, SseDecoder, SseEvent, classify};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(relay: &SimRelay, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/chat/completions", relay.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn events_of(resp: reqwest::Response) -> Vec<SseEvent> {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        out.extend(dec.push(&chunk.unwrap()));
    }
    out.extend(dec.finish());
    out
}

/// Polls a cancellation flag (set by another task when the relay notices the client left);
/// bounded at ten seconds, so a flag that never turns fails instead of hanging.
async fn eventually_cancelled(rec: &Recorded) -> bool {
    for _ in 0..1000 {
        if rec.was_cancelled() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[test]
fn step_constructors_fill_the_defaults_and_modifiers_set_one_field() {
    let s = Step::json(429, json!({"e": 1}))
        .header("retry-after", "2")
        .header("x-a", "b")
        .after(Duration::from_millis(7));
    assert!(matches!(
        &s,
        Step::Json { status: 429, body, headers, delay }
            if body == &json!({"e": 1})
            && headers == &[("retry-after".to_owned(), "2".to_owned()), ("x-a".to_owned(), "b".to_owned())]
            && *delay == Duration::from_millis(7)
    ));
    assert!(matches!(
        Step::json(200, json!(null)),
        Step::Json { headers, delay: Duration::ZERO, .. } if headers.is_empty()
    ));

    let s = Step::sse([&b"a"[..], &b"b"[..]]);
    assert!(matches!(
        &s,
        Step::Sse { status: 200, chunks, delay: Duration::ZERO, gap: Duration::ZERO, end: SseEnd::Close }
            if chunks == &[Bytes::from_static(b"a"), Bytes::from_static(b"b")]
    ));
    let s = s
        .status(503)
        .after(Duration::from_secs(1))
        .gap(Duration::from_secs(2))
        .end(SseEnd::Reset);
    assert!(matches!(
        s,
        Step::Sse { status: 503, delay, gap, end: SseEnd::Reset, .. }
            if delay == Duration::from_secs(1) && gap == Duration::from_secs(2)
    ));

    let s = Step::gzip_sse(vec![Bytes::from_static(b"x")])
        .gap(Duration::from_secs(3))
        .end(SseEnd::Hang);
    assert!(matches!(
        s,
        Step::GzipSse { ref chunks, gap, end: SseEnd::Hang } if chunks.len() == 1 && gap == Duration::from_secs(3)
    ));
    assert!(matches!(
        Step::default_answer().after(Duration::from_secs(4)),
        Step::Default { delay } if delay == Duration::from_secs(4)
    ));
    assert!(matches!(
        Step::stall_body(500, 100, &b"{"[..]),
        Step::StallBody { status: 500, content_length: 100, ref sent } if sent == &b"{"[..]
    ));
    assert!(matches!(
        Step::reject_unread(413, json!(1)),
        Step::RejectUnread { status: 413, .. }
    ));
    assert!(matches!(
        Step::gzip_json(201, json!(1)),
        Step::GzipJson { status: 201, .. }
    ));
    // A modifier for a field a step does not have leaves it as it was.
    assert!(matches!(
        Step::Hang
            .after(Duration::from_secs(1))
            .header("a", "b")
            .gap(Duration::from_secs(1)),
        Step::Hang
    ));
    assert!(matches!(
        Step::json(200, json!(1)).status(500).end(SseEnd::Reset),
        Step::Json { status: 200, .. }
    ));
}

#[tokio::test]
async fn models_list_and_lookup() {
    let relay = SimRelay::start().await.unwrap();
    assert!(relay.base_url().starts_with("http://127.0.0.1:"));
    let resp = client()
        .get(format!("{}/v1/models", relay.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "sim-1");
    assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "999");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-5.5") && ids.contains(&"text-embedding-3-small"));
    assert_eq!(v["data"][0]["owned_by"], "sim");

    let one = client()
        .get(format!("{}/v1/models/gpt-5.4", relay.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    assert_eq!(one.json::<Value>().await.unwrap()["id"], "gpt-5.4");
    let missing = client()
        .get(format!("{}/v1/models/nope", relay.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.json::<Value>().await.unwrap()["error"]["message"].is_string());

    relay.set_models(vec![
        json!({"id": "x", "object": "model", "owned_by": "o", "pricing": {"prompt": "1"}}),
    ]);
    let v: Value = client()
        .get(format!("{}/v1/models", relay.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["data"],
        json!([{"id": "x", "object": "model", "owned_by": "o", "pricing": {"prompt": "1"}}])
    );

    relay.script_models_list(Step::json(500, error_json(500, "boom")));
    let failed = client()
        .get(format!("{}/v1/models", relay.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 500);
    assert_eq!(relay.requests().len(), 5);
}

#[tokio::test]
async fn default_answer_and_recording() {
    let relay = SimRelay::start().await.unwrap();
    let resp = post(
        &relay,
        json!({"model": "gpt-5.4", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "Hello there, how are you?"},
        ]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-5.4");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "[simulated] gpt-5.4 answered: Hello there, how are you?"
    );
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(v["id"].is_string() && v["created"].is_u64());

    let recs = relay.wait_for_requests(1, Duration::from_secs(1)).await;
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(r.model.as_deref(), Some("gpt-5.4"));
    assert!(!r.is_router_call && !r.stream);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert_eq!(r.body["messages"][1]["role"], "user");
    // No wait needed: the guard is disarmed before the last frame leaves (`body.rs`), so once
    // the client holds the whole body the flag is final.
    assert!(!r.was_cancelled());

    // Not JSON → 400 OpenAI error, still recorded with a Null body.
    let bad = client()
        .post(format!("{}/v1/chat/completions", relay.base_url()))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"]["type"],
        "invalid_request_error"
    );
    assert_eq!(relay.requests()[1].body, Value::Null);

    relay.clear();
    assert!(relay.requests().is_empty());
}

#[tokio::test]
async fn stream_with_and_without_usage() {
    let relay = SimRelay::start().await.unwrap();
    let body = json!({"model": "deepseek-chat", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "日本語🙂 please"}]});
    let resp = post(&relay, body).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let evs = events_of(resp).await;
    assert_eq!(evs.len(), 20 + 3, "20 content chunks, finish, usage, done");
    let parsed: Vec<Value> = evs[..22]
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert_eq!(parsed[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(parsed[1]["choices"][0]["delta"].get("role").is_none());
    let text: String = parsed[..20]
        .iter()
        .map(|p| p["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "[simulated] deepseek-chat answered: 日本語🙂 please");
    assert!(parsed.iter().all(|p| p["id"] == parsed[0]["id"]));
    assert_eq!(parsed[20]["choices"][0]["finish_reason"], "stop");
    assert_eq!(parsed[21]["choices"], json!([]));
    assert!(parsed[21]["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(classify(&evs[21]), EventKind::Usage);
    assert!(evs[22].is_done());
    assert!(relay.requests()[0].stream);

    let resp = post(
        &relay,
        json!({"model": "deepseek-chat", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    let evs = events_of(resp).await;
    assert_eq!(evs.len(), 20 + 2, "no usage chunk unless asked");
    assert!(evs.iter().all(|e| classify(e) != EventKind::Usage));
}

#[tokio::test]
async fn tool_calls_non_stream_and_stream() {
    let relay = SimRelay::start().await.unwrap();
    let tools =
        json!([{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]);
    let v: Value = post(
        &relay,
        json!({"model": "gpt-5.4", "tools": tools, "messages": [{"role": "user", "content": "weather?"}]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let call = &v["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{}");

    let evs = events_of(
        post(
            &relay,
            json!({"model": "gpt-5.4", "stream": true, "tools": tools,
                "messages": [{"role": "user", "content": "weather?"}]}),
        )
        .await,
    )
    .await;
    let parsed: Vec<Value> = evs[..evs.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    let args: String = parsed
        .iter()
        .filter_map(|p| p["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, "{}");
    assert_eq!(
        parsed.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );

    // After a tool result the model answers in text.
    let v: Value = post(
        &relay,
        json!({"model": "gpt-5.4", "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "sunny"},
        ]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

fn routing_request(router_model: &str, text: &str) -> Value {
    let payload = json!({
        "virtual_model": "auto",
        "candidates": [
            {"id": "gpt-5.4-mini", "tier": "low", "input_price": 0.25, "output_price": 2.0},
            {"id": "gpt-5.3-codex", "tier": "coding", "input_price": 1.25, "output_price": 10.0},
            {"id": "gpt-5.5", "tier": "frontier", "input_price": 5.0, "output_price": 40.0},
        ],
        "conversation": [{"role": "user", "content": text}],
    });
    json!({"model": router_model, "messages": [
        {"role": "system", "content": format!("Pick a model. {ROUTER_MARKER}")},
        {"role": "user", "content": payload.to_string()},
    ]})
}

#[tokio::test]
async fn router_decisions_over_http() {
    let relay = SimRelay::start().await.unwrap();
    for (text, target, effort) in [
        ("plan a zero-downtime database migration", "gpt-5.5", "high"),
        ("why does this function not compile", "gpt-5.3-codex", "low"),
        ("say hello", "gpt-5.4-mini", "none"),
    ] {
        let v: Value = post(&relay, routing_request("gpt-4.1-nano", text))
            .await
            .json()
            .await
            .unwrap();
        assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
        let d: Value =
            serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
        assert_eq!(d["target_model"], target, "{text}");
        assert_eq!(d["reasoning_effort"], effort, "{text}");
        assert!(
            d["reason"]
                .as_str()
                .unwrap()
                .starts_with("simulated router: ")
        );
        for k in ["task_type", "difficulty", "confidence"] {
            assert!(!d[k].is_null(), "{k}");
        }
    }
    assert!(relay.requests().iter().all(|r| r.is_router_call));
}

#[tokio::test]
async fn scripted_json_429_then_default_and_wildcard() {
    let relay = SimRelay::start().await.unwrap();
    relay.script(
        "gpt-5.5",
        Step::json(429, error_json(429, "slow down"))
            .header("retry-after", "1")
            .after(Duration::from_millis(20)),
    );
    relay.script("*", Step::json(503, error_json(503, "overloaded")));
    let msg = json!([{"role": "user", "content": "x"}]);
    let r = post(&relay, json!({"model": "gpt-5.5", "messages": msg})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(r.headers().contains_key("x-request-id"));
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["message"],
        "slow down"
    );
    // The model's own queue is empty now: the wildcard step plays, once.
    let r = post(&relay, json!({"model": "gpt-5.5", "messages": msg})).await;
    assert_eq!(r.status(), 503);
    let r = post(&relay, json!({"model": "gpt-5.5", "messages": msg})).await;
    assert_eq!(r.status(), 200);

    // Router calls are matched by the model they are sent to.
    relay.script("gpt-4.1-nano", Step::default_answer());
    relay.script(
        "gpt-4.1-nano",
        Step::json(
            200,
            json!({"choices": [{"message": {"role": "assistant", "content": "garbage"}}]}),
        ),
    );
    let first: Value = post(&relay, routing_request("gpt-4.1-nano", "hi"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        first["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("target_model")
    );
    let second: Value = post(&relay, routing_request("gpt-4.1-nano", "hi"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(second["choices"][0]["message"]["content"], "garbage");
}

#[tokio::test]
async fn scripted_sse_split_bytes_and_resets() {
    let relay = SimRelay::start().await.unwrap();
    // Split every event at every byte, including inside the multibyte characters.
    let whole: Vec<u8> = sse_chunks_for("m", "日本語🙂 ok", 3).concat();
    let chunks: Vec<Bytes> = whole
        .iter()
        .map(|b| Bytes::copy_from_slice(&[*b]))
        .collect();
    relay.script("m", Step::sse(chunks).gap(Duration::from_micros(50)));
    let resp = post(
        &relay,
        json!({"model": "m", "stream": true, "messages": []}),
    )
    .await;
    let evs = events_of(resp).await;
    let mut expect = SseDecoder::new();
    assert_eq!(evs, expect.push(&whole));
    let text: String = evs[..3]
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "日本語🙂 ok");
    assert!(!relay.requests()[0].was_cancelled());

    // Reset: the body errors after the scripted bytes.
    relay.script(
        "m",
        Step::sse(vec![Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n",
        )])
        .end(SseEnd::Reset),
    );
    let resp = post(
        &relay,
        json!({"model": "m", "stream": true, "messages": []}),
    )
    .await;
    let mut stream = resp.bytes_stream();
    let mut saw_error = false;
    let mut got = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(b) => got.extend_from_slice(&b),
            Err(_) => {
                saw_error = true;
                break;
            }
        }
    }
    assert!(saw_error, "a reset must surface as a body error");
    assert!(got.starts_with(b"data: "));
}

#[tokio::test]
async fn hang_then_client_drop_marks_cancelled() {
    let relay = SimRelay::start().await.unwrap();
    relay.script("gpt-5.5", Step::Hang);
    let url = format!("{}/v1/chat/completions", relay.base_url());
    let pending = tokio::spawn(
        client()
            .post(url)
            .json(&json!({"model": "gpt-5.5", "messages": []}))
            .send(),
    );
    // The relay has the request (recorded before it is answered); then the client leaves.
    let recs = relay.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(recs.len(), 1);
    pending.abort();
    assert!(
        pending.await.is_err_and(|e| e.is_cancelled()),
        "a hanging step never answers, so the client was still waiting"
    );
    assert!(eventually_cancelled(&recs[0]).await);
}

#[tokio::test]
async fn sse_hang_then_client_drop_marks_cancelled() {
    let relay = SimRelay::start().await.unwrap();
    relay.script(
        "m",
        Step::sse(sse_chunks_for("m", "partial", 1)[..1].to_vec()).end(SseEnd::Hang),
    );
    let resp = post(
        &relay,
        json!({"model": "m", "stream": true, "messages": []}),
    )
    .await;
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    // The body is still open: a body that ended (`SseEnd::Close`, or `Reset`) disarms the
    // guard, so the flag turning after the drop below is what shows it hung.
    let rec = relay.requests().remove(0);
    assert!(!rec.was_cancelled());
    drop(stream);
    assert!(eventually_cancelled(&rec).await);
}

#[tokio::test]
async fn delay_then_client_drop_marks_cancelled() {
    let relay = SimRelay::start().await.unwrap();
    relay.script(
        "gpt-5.4",
        Step::default_answer().after(Duration::from_secs(3600)),
    );
    let pending = tokio::spawn(
        client()
            .post(format!("{}/v1/chat/completions", relay.base_url()))
            .json(&json!({"model": "gpt-5.4", "messages": []}))
            .send(),
    );
    // Recorded, then waiting out its delay: the client gives up.
    let recs = relay.wait_for_requests(1, Duration::from_secs(10)).await;
    assert_eq!(recs.len(), 1);
    pending.abort();
    assert!(pending.await.is_err_and(|e| e.is_cancelled()));
    assert!(eventually_cancelled(&recs[0]).await);
}

#[tokio::test]
async fn require_key_and_unknown_routes() {
    let opts = SimOptions {
        require_key: Some("sk-sim".into()),
        ..SimOptions::default()
    };
    let relay = SimRelay::start_on("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let url = format!("{}/v1/models", relay.base_url());
    let r = client().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_api_key"
    );
    let r = client()
        .get(&url)
        .bearer_auth("sk-sim")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .get(format!("{}/v2/nothing", relay.base_url()))
        .bearer_auth("sk-sim")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client()
        .delete(&url)
        .bearer_auth("sk-sim")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
}

// Paused time: the clock moves only to the next timer, when every task waits, so the time a
// stream takes on it is the pauses the relay made, whatever the load on the machine (the
// relay and the client set no other timers).
#[tokio::test(start_paused = true)]
async fn options_shape_default_streams() {
    let gap = Duration::from_secs(3600);
    let opts = SimOptions {
        stream_chunks: 3,
        chunk_delay: gap,
        ..SimOptions::default()
    };
    let relay = SimRelay::start_on("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let evs = events_of(
        post(
            &relay,
            json!({"model": "gpt-5.4", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await,
    )
    .await;
    assert_eq!(evs.len(), 3 + 2);
    // Pauses sit between the 5 events: at least 4 of them.
    assert!(started.elapsed() >= gap * 4, "{:?}", started.elapsed());
}

#[tokio::test]
async fn shutdown_closes_hanging_requests_and_the_port() {
    let relay = SimRelay::start().await.unwrap();
    relay.script("*", Step::Hang);
    let url = format!("{}/v1/chat/completions", relay.base_url());
    let pending = tokio::spawn(
        client()
            .post(url.clone())
            .json(&json!({"model": "a", "messages": []}))
            .send(),
    );
    let recs = relay.wait_for_requests(1, Duration::from_secs(10)).await;
    relay.shutdown();
    let res = tokio::time::timeout(Duration::from_secs(10), pending)
        .await
        .unwrap()
        .unwrap();
    assert!(
        res.is_err(),
        "the hanging request fails once the relay closes it"
    );
    assert!(eventually_cancelled(&recs[0]).await);
    // The accept loop lets go of the listener as it ends: wait (bounded) for the refusal.
    let refused = async {
        while client().post(&url).json(&json!({})).send().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("the port is closed after shutdown");
}

#[tokio::test]
async fn keep_alive_reuses_connections() {
    let relay = SimRelay::start().await.unwrap();
    let c = client();
    for _ in 0..20 {
        let r = c
            .post(format!("{}/v1/chat/completions", relay.base_url()))
            .json(&json!({"model": "gpt-5.4", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
    }
    assert_eq!(relay.requests().len(), 20);
}

#[tokio::test]
async fn accepted_connections_are_counted() {
    let relay = SimRelay::start().await.unwrap();
    assert_eq!(relay.connections(), 0);
    let url = format!("{}/v1/models", relay.base_url());
    let reused = client();
    for _ in 0..3 {
        let resp = reused.get(&url).send().await.unwrap();
        // Read to the end, so the connection goes back to the client's pool.
        resp.bytes().await.unwrap();
    }
    assert_eq!(
        relay.connections(),
        1,
        "one keep-alive connection for three requests"
    );
    client()
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(relay.connections(), 2, "another client, another connection");
}
