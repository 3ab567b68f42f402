//! The relay as a whole, not one model (issue 10, items 7–9): a gateway started before its
//! relay fetches the model list on demand, once for a burst of requests; metric labels stay
//! bounded whatever model names clients send; a relay outage cools no model down, so the
//! first request after the relay is back goes to the model the router prefers.
//!
//! "Relay down" is real: nothing listens on the relay's port (connection refused); "relay
//! up" is a simulated relay started on that same port.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use llm_router::sim::{SimOptions, SimRelay, Step};

use crate::util::gateway::TestGateway;

/// The router the engine picks among the simulated relay's defaults (cheapest).
const ROUTER: &str = "deepseek-chat";

/// A loopback port nothing listens on (the listener that found it is closed again).
fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// Waits until `addr` refuses connections (a relay that was shut down has let go of its
/// listener); bounded, so a relay that never goes away fails the test instead of hanging.
async fn wait_refused(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "relay still accepting"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn relay_on(addr: SocketAddr) -> SimRelay {
    SimRelay::start_on(addr, SimOptions::default())
        .await
        .expect("relay on its old port")
}

fn ids(list: &Value) -> Vec<String> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect()
}

fn model_list_fetches(sim: &SimRelay) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/v1/models")
        .count()
}

// ---- item 7: a cold relay ----------------------------------------------------------------

#[tokio::test]
async fn cold_gateway_fetches_the_model_list_on_demand_once_for_a_burst() {
    let addr = free_addr();
    // The gateway starts first: its start-up fetch is refused.
    let gw = TestGateway::start(|c| c.upstream.base_url = format!("http://{addr}")).await;
    assert!(gw.state.models.load().fetched_unix.is_none());
    let relay = relay_on(addr).await;
    let url = format!("{}/v1/models", gw.url);
    let burst = (0..8).map(|_| {
        let (client, url) = (gw.client.clone(), url.clone());
        async move {
            let r = client.get(url).send().await.expect("send");
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.expect("json")
        }
    });
    let lists = futures_util::future::join_all(burst).await;
    let expected: Vec<String> = llm_router::sim::default_models()
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_string))
        .collect();
    for list in &lists {
        let got = ids(list);
        assert_eq!(&got[..3], ["auto", "auto-coding", "auto-longtext"]);
        assert_eq!(
            &got[3..],
            expected.as_slice(),
            "the relay's models, not virtual only"
        );
    }
    assert_eq!(
        model_list_fetches(&relay),
        1,
        "one shared fetch for the burst"
    );
    // Warm now: a single model is served from the stored list, with no new fetch.
    let r = gw
        .client
        .get(format!("{}/v1/models/gpt-5.5", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(model_list_fetches(&relay), 1);
}

#[tokio::test]
async fn cold_gateway_serves_a_single_model_on_demand() {
    let addr = free_addr();
    let gw = TestGateway::start(|c| c.upstream.base_url = format!("http://{addr}")).await;
    let _relay = relay_on(addr).await;
    let r = gw
        .client
        .get(format!("{}/v1/models/claude-sonnet-4-5", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "not a 404 from an empty list");
    let m: Value = r.json().await.expect("json");
    assert_eq!(m["id"], "claude-sonnet-4-5");
}

// ---- item 8: bounded metric labels -------------------------------------------------------

#[tokio::test]
async fn made_up_model_names_share_one_metrics_label() {
    let gw = TestGateway::start(|_| {}).await;
    for i in 0..300 {
        let r = gw
            .chat(json!({"model": format!("made-up-{i}"), "messages": [{"role": "user", "content": "hi"}]}))
            .await;
        // Forwarded as they are: the relay is the authority on what exists.
        assert!(r.status().is_success() || r.status().is_client_error());
    }
    let r = gw
        .chat(json!({"model": "gpt-5.5", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(r.status(), 200);
    let text = gw
        .client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("llm_router_requests_total{"))
        .collect();
    assert!(!text.contains("made-up-"), "{text}");
    let other: u64 = series
        .iter()
        .filter(|l| l.contains("model=\"other\",target=\"other\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(other, 300, "{series:?}");
    assert!(
        series
            .iter()
            .any(|l| l.contains("model=\"gpt-5.5\",target=\"gpt-5.5\"")),
        "{series:?}"
    );
    assert!(series.len() <= 4, "bounded: {series:?}");
}

// ---- item 9: a relay outage is not a model fault -----------------------------------------

fn router_says(target: &str) -> Step {
    let decision = json!({"target_model": target, "task_type": "test", "difficulty": "standard",
        "reasoning_effort": "none", "confidence": 0.9, "reason": "scripted"});
    Step::json(
        200,
        json!({
            "id": "r", "object": "chat.completion", "created": 1, "model": ROUTER,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": decision.to_string()}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        }),
    )
}

fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn relay_outage_cools_no_model_and_the_first_request_after_is_served() {
    let addr = free_addr();
    let first = relay_on(addr).await;
    // One failure is enough for a cooldown: any charge to a model would show.
    let gw = TestGateway::start_on_sim(first.clone(), |c| c.router.cooldown_failures = 1).await;
    assert!(!gw.state.models.load().facts.is_empty());
    first.shutdown();
    wait_refused(addr).await;

    for stream in [false, true, false, true] {
        let r = gw
            .chat(json!({"model": "auto", "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]}))
            .await;
        // A clean OpenAI error, not a hang or a dropped connection.
        assert_eq!(r.status(), 502);
        assert_eq!(header(&r, "x-should-retry"), "false");
        let e: Value = r.json().await.expect("error JSON");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("cannot reach the relay"),
            "{e}"
        );
    }
    // Nothing is cooling and nothing was charged, in the admin API and in /metrics.
    let state: Value = gw
        .client
        .get(format!("{}/admin/api/state", gw.url))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    for m in state["models"].as_array().expect("models") {
        assert_eq!(m["health"]["failures"], 0, "{m}");
        assert!(m["health"]["cooldown_remaining_secs"].is_null(), "{m}");
    }
    let metrics = gw
        .client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("llm_router_models_cooling 0"), "{metrics}");
    assert!(
        metrics.contains("llm_router_cooldowns_total 0"),
        "{metrics}"
    );

    // The relay is back on the same port: the router is asked (not skipped as cooling) and
    // the model it prefers answers at the first attempt.
    let back = relay_on(addr).await;
    back.script(ROUTER, router_says("gpt-5.5"));
    let r = gw
        .chat(json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-llm-router-decision"), "router");
    assert_eq!(header(&r, "x-llm-router-target-model"), "gpt-5.5");
    assert_eq!(header(&r, "x-llm-router-attempts"), "1");
}
