//! The gateway's HTTP/1.1 server on the wire: raw bytes over a real socket, for what client
//! libraries never send (pipelining, chunked uploads, `Expect`, smuggling shapes, HTTP/1.0).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
