//! The gateway's HTTP/1.1 server on the wire: raw bytes over a real socket, for what client
//! libraries never send (pipelining, chunked uploads, `Expect`, smuggling shapes, HTTP/1.0).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use llm_router::server::ServerLimits;
use llm_router::sim::{SimOptions, SimRelay};

use crate::util::gateway::TestGateway;

const CHAT: &str = r#"{"model":"gpt-5.5","messages":[{"role":"user","content":"hi"}]}"#;

async fn connect(gw: &TestGateway) -> TcpStream {
    TcpStream::connect(gw.url.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Everything the gateway sends until it closes the connection.
async fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("the gateway should close the connection")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// Read until `needle` has arrived (the connection stays open).
async fn read_until(s: &mut TcpStream, needle: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&out).contains(needle) {
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&out));
            out.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{needle}` in {}", String::from_utf8_lossy(&out)));
    String::from_utf8_lossy(&out).into_owned()
}

/// The requests below say `Host: 127.0.0.1`; the Host guard wants the port too.
fn with_host(gw: &TestGateway, request: &str) -> Vec<u8> {
    let host = format!("Host: {}\r\n", gw.url.trim_start_matches("http://"));
    request.replace("Host: 127.0.0.1\r\n", &host).into_bytes()
}

async fn raw(gw: &TestGateway, request: &str) -> String {
    let mut s = connect(gw).await;
    s.write_all(&with_host(gw, request)).await.expect("write");
    read_to_close(&mut s).await
}

fn post_chat(extra: &str, body: &str) -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let gw = TestGateway::start(|_| {}).await;
    let two = format!(
        "{}GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
        post_chat("", CHAT)
    );
    let out = raw(&gw, &two).await;
    let first = out.find("HTTP/1.1 200 OK").expect("first answer");
    let second = out.rfind("HTTP/1.1 200 OK").expect("second answer");
    assert!(first < second, "{out}");
    assert!(
        out[..second].contains("[simulated] gpt-5.5 answered"),
        "{out}"
    );
    assert!(out[second..].contains("connection: close"), "{out}");
}

#[tokio::test]
async fn a_chunked_upload_is_read_whole() {
    let gw = TestGateway::start(|_| {}).await;
    let (a, b) = CHAT.split_at(20);
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{a}\r\n{:x};ext=1\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    let out = raw(&gw, &req).await;
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    assert!(out.contains("[simulated] gpt-5.5 answered: hi"), "{out}");
    let bad = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
    let out = raw(&gw, bad).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("invalid_request_error"), "{out}");
}

#[tokio::test]
async fn expect_continue_gets_100_only_when_the_body_is_wanted() {
    let gw = TestGateway::start(|c| c.server.api_key = "router-key-abcdef".into()).await;
    let head = |auth: &str| {
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            CHAT.len()
        )
    };
    // Allowed: 100 first, then the body goes up and the answer comes back on the same
    // connection, which stays open.
    let mut s = connect(&gw).await;
    s.write_all(&with_host(
        &gw,
        &head("Authorization: Bearer router-key-abcdef\r\n"),
    ))
    .await
    .unwrap();
    let got = read_until(&mut s, "\r\n\r\n").await;
    assert_eq!(got, "HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(CHAT.as_bytes()).await.unwrap();
    let got = read_until(&mut s, "answered: hi").await;
    assert!(got.starts_with("HTTP/1.1 200 OK"), "{got}");
    // Refused on its head: no 100, a 401, and the connection closes (the body never came).
    let out = raw(&gw, &head("")).await;
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert!(!out.contains("100 Continue"), "{out}");
    assert!(out.contains("connection: close"), "{out}");
    let out = raw(
        &gw,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: tea\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 417"), "{out}");
}

#[tokio::test]
async fn smuggling_shapes_are_refused_and_the_connection_closed() {
    let gw = TestGateway::start(|_| {}).await;
    // hyper refuses these on the head itself: a bare 400 (no body) that closes.
    for extra in ["Content-Length: 3\r\n", "Transfer-Encoding: identity\r\n"] {
        let out = raw(&gw, &post_chat(extra, CHAT)).await;
        assert!(out.starts_with("HTTP/1.1 400"), "{extra}: {out}");
        assert!(out.contains("connection: close"), "{extra}: {out}");
        assert!(!out.contains("answered"), "{extra}: {out}");
    }
    // Content-Length with Transfer-Encoding: hyper drops the length and reads chunked, so
    // this JSON body is a broken chunk: 400 in the OpenAI shape, and the connection closes.
    let out = raw(&gw, &post_chat("Transfer-Encoding: chunked\r\n", CHAT)).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("\"type\":\"invalid_request_error\""), "{out}");
    assert!(out.contains("connection: close"), "{out}");
    // With a valid chunked body the request is served as chunked, and a request smuggled
    // behind it is never read: the connection closes after the first answer.
    let smuggled = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{CHAT}\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        CHAT.len()
    );
    let out = raw(&gw, &smuggled).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{out}");
    assert!(!out.contains("\"status\":\"ok\""), "{out}");
    // A coding hyper would pass through: refused before the body is read.
    let out = raw(
        &gw,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 501"), "{out}");
    assert!(out.contains("connection: close"), "{out}");
    let out = raw(&gw, "NOT HTTP AT ALL\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}

#[tokio::test]
async fn oversized_heads_get_431() {
    let gw = TestGateway::start(|_| {}).await;
    let big = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let out = raw(&gw, &big).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    assert!(out.contains("request_header_fields_too_large"), "{out}");
    // A large head under the cap is fine.
    let ok = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let out = raw(&gw, &ok).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[tokio::test]
async fn http_1_0_closes_unless_asked_to_keep_alive() {
    let gw = TestGateway::start(|_| {}).await;
    // hyper answers in the request's version; HTTP/1.0 closes by default, so no header is
    // needed (`read_to_close` proves the close).
    let out = raw(&gw, "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.0 200"), "{out}");
    assert!(!out.contains("keep-alive"), "{out}");
    let mut s = connect(&gw).await;
    s.write_all(&with_host(
        &gw,
        "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n",
    ))
    .await
    .unwrap();
    let got = read_until(&mut s, "\"status\"").await;
    assert!(got.contains("connection: keep-alive"), "{got}");
    // The same connection answers again.
    s.write_all(&with_host(
        &gw,
        "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n",
    ))
    .await
    .unwrap();
    let again = read_to_close(&mut s).await;
    assert!(again.starts_with("HTTP/1.0 200"), "{again}");
}

#[tokio::test]
async fn head_requests_get_a_length_and_no_body() {
    let gw = TestGateway::start(|_| {}).await;
    let out = raw(
        &gw,
        "HEAD /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("content-length: "), "{out}");
    assert!(out.contains("date: "), "{out}");
    assert!(
        out.ends_with("\r\n\r\n"),
        "a HEAD answer has no body: {out}"
    );
}

#[tokio::test]
async fn a_stream_is_chunked_and_ends_with_the_zero_chunk() {
    let gw = TestGateway::start(|_| {}).await;
    let body = r#"{"model":"gpt-5.5","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let out = raw(&gw, &post_chat("Connection: close\r\n", body)).await;
    assert!(out.contains("transfer-encoding: chunked"), "{out}");
    assert!(out.contains("data: [DONE]"), "{out}");
    assert!(out.ends_with("0\r\n\r\n"), "{out}");
}

fn limits(head_ms: u64, idle_ms: u64, body_ms: u64) -> ServerLimits {
    ServerLimits {
        head_timeout: Duration::from_millis(head_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        body_timeout: Some(Duration::from_millis(body_ms)),
    }
}

const HOUR: u64 = 3_600_000;

/// Write `bytes` one at a time, `gap` apart, until the gateway closes the connection.
fn trickle(mut w: tokio::net::tcp::OwnedWriteHalf, bytes: Vec<u8>, gap: Duration) {
    tokio::spawn(async move {
        for b in bytes.iter().cycle() {
            if w.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(gap).await;
        }
    });
}

async fn read_half_to_close(r: &mut tokio::net::tcp::OwnedReadHalf) -> String {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut out))
        .await
        .expect("the gateway should close the connection")
        .ok();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn a_trickled_head_is_cut_at_its_deadline() {
    // Idle connections may wait an hour; a head that has started gets 300 ms in all, and
    // a byte every 20 ms does not extend it (if it did, this would trickle forever).
    let gw = TestGateway::start_limited(limits(300, HOUR, HOUR), |_| {}).await;
    let (mut r, w) = connect(&gw).await.into_split();
    let head = with_host(&gw, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
    let mut bytes = head.clone();
    bytes.extend(std::iter::repeat_n(b'a', 10_000));
    trickle(w, bytes, Duration::from_millis(20));
    let out = read_half_to_close(&mut r).await;
    assert!(!out.contains("200 OK"), "{out}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_closes_at_the_idle_limit() {
    let gw = TestGateway::start_limited(limits(HOUR, 300, HOUR), |_| {}).await;
    let mut s = connect(&gw).await;
    s.write_all(&with_host(
        &gw,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    ))
    .await
    .unwrap();
    let got = read_until(&mut s, "\"status\"").await;
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(!got.contains("connection: close"), "{got}");
    // Nothing more is sent: the gateway closes the idle connection on its own.
    let rest = read_to_close(&mut s).await;
    assert!(rest.is_empty() || !rest.contains("HTTP/1.1"), "{rest}");
}

#[tokio::test]
async fn a_stalled_or_trickled_body_gets_408() {
    let gw = TestGateway::start_limited(limits(HOUR, HOUR, 300), |_| {}).await;
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        CHAT.len()
    );
    // Stalled: part of the body, then nothing (the socket stays open).
    let mut s = connect(&gw).await;
    s.write_all(&with_host(&gw, &head)).await.unwrap();
    s.write_all(&CHAT.as_bytes()[..10]).await.unwrap();
    let out = read_to_close(&mut s).await;
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("\"code\":\"request_timeout\""), "{out}");
    assert!(out.contains("server.body_timeout_secs"), "{out}");
    assert!(out.contains("connection: close"), "{out}");
    // Trickled: a byte every 20 ms would take far longer than the deadline.
    let (mut r, mut w) = connect(&gw).await.into_split();
    w.write_all(&with_host(&gw, &head)).await.unwrap();
    trickle(w, CHAT.as_bytes().to_vec(), Duration::from_millis(20));
    let out = read_half_to_close(&mut r).await;
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("\"code\":\"request_timeout\""), "{out}");
    assert!(
        gw.sim
            .requests()
            .iter()
            .all(|r| r.path != "/v1/chat/completions")
    );
}

#[tokio::test]
async fn chunk_sizes_are_strict() {
    let gw = TestGateway::start(|_| {}).await;
    for size in ["+4a", " 4a", "0x4a", "4a\n"] {
        let req = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\n{}\r\n0\r\n\r\n",
            &CHAT[..0x4a.min(CHAT.len())]
        );
        let out = raw(&gw, &req).await;
        assert!(out.starts_with("HTTP/1.1 400"), "{size:?}: {out}");
        assert!(out.contains("invalid_request_error"), "{size:?}: {out}");
        assert!(out.contains("connection: close"), "{size:?}: {out}");
        assert!(!out.contains("answered"), "{size:?}: {out}");
    }
}

#[tokio::test]
async fn two_host_headers_are_refused() {
    let gw = TestGateway::start(|_| {}).await;
    let out = raw(
        &gw,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("only one Host header"), "{out}");
    assert!(out.contains("connection: close"), "{out}");
    // Even two identical ones.
    let out = raw(
        &gw,
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}

#[tokio::test]
async fn any_loopback_address_serves_its_own_host_name() {
    let sim = SimRelay::start_on("127.0.0.1:0".parse().expect("addr"), SimOptions::default())
        .await
        .expect("sim relay");
    let gw = TestGateway::start_listener(sim, ServerLimits::default(), |c| {
        c.server.host = "127.0.0.2".into();
    })
    .await;
    assert!(gw.url.starts_with("http://127.0.0.2:"), "{}", gw.url);
    // reqwest sends `Host: 127.0.0.2:<port>`; no allowed_hosts entry was needed.
    let resp = gw
        .client
        .get(format!("{}/health", gw.url))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let resp = gw
        .chat(serde_json::json!({"model": "gpt-5.5", "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(resp.status(), 200);
    // Another loopback name with the same port is still refused.
    let port = gw.url.rsplit(':').next().expect("port");
    let out = raw(
        &gw,
        &format!("GET /health HTTP/1.1\r\nHost: 127.0.0.3:{port}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 403"), "{out}");
}
