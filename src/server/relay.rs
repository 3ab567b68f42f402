//! The streaming relay and its commit point.
//!
//! Before commit ([`lookahead`]) the upstream stream is read until its first real event:
//! content, a tool-call delta or a finish reason. An error event, a `[DONE]` with nothing
//! before it, a close, or the first-byte deadline all fail the attempt so the caller can fall
//! back; nothing has reached the client yet. After commit ([`relay_body`]) bytes are passed
//! through unchanged, one complete event at a time (a partial event waits for its end, which
//! keeps an injected error event from being glued to half an event). A failure then becomes
//! one `data: {"error":…}` event and the end of the stream: never a fabricated
//! `finish_reason` or `[DONE]`. Dropping the body (client gone) drops the upstream stream,
//! which closes the upstream connection.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, Stream, StreamExt};

use crate::error::ApiError;
use crate::upstream::UpstreamError;
use crate::upstream::sse::{EventKind, SseDecoder, classify};

pub use crate::upstream::ByteStream;

/// Read-ahead never holds more than this before committing anyway.
const MAX_LOOKAHEAD: usize = 1024 * 1024;
/// A single event larger than this is forwarded without waiting for its end.
const MAX_CARRY: usize = 4 * 1024 * 1024;
/// Already-arrived bytes are coalesced into one write up to this size.
const COALESCE_MAX: usize = 256 * 1024;

/// A stream that passed the commit point.
pub struct Committed {
    /// Complete events read during look-ahead.
    pub prefix: Bytes,
    /// Bytes of an event not yet complete.
    pub carry: BytesMut,
    pub stream: ByteStream,
    /// Time from sending the request to the first real event.
    pub first_event: Duration,
}

/// Read until the first real event or a failure.
pub async fn lookahead(
    mut stream: ByteStream,
    deadline: Instant,
    sent_at: Instant,
) -> Result<Committed, UpstreamError> {
    let mut dec = SseDecoder::new();
    let mut buf = BytesMut::new();
    loop {
        let next = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .map_err(|_| UpstreamError::Timeout("first stream event"))?;
        let chunk = match next {
            None => {
                return Err(UpstreamError::Stream(
                    "the stream closed before any content".into(),
                ));
            }
            Some(Err(e)) => {
                return Err(UpstreamError::Stream(format!(
                    "the connection failed before any content: {}",
                    e
                )));
            }
            Some(Ok(c)) => c,
        };
        buf.extend_from_slice(&chunk);
        let mut commit = false;
        for ev in dec.push(&chunk) {
            // Past the first real event nothing is classified: after the commit point events
            // pass through as they are, and a whole answer often arrives in one read.
            if commit {
                break;
            }
            match classify(&ev) {
                EventKind::Error => {
                    let (msg, _, _) = crate::upstream::error_fields(ev.data.as_bytes(), 200);
                    return Err(UpstreamError::Stream(format!(
                        "error event before any content: {msg}"
                    )));
                }
                EventKind::Content => commit = true,
                EventKind::Done if !commit => {
                    return Err(UpstreamError::Stream(
                        "the stream ended with no content".into(),
                    ));
                }
                EventKind::Done | EventKind::Empty | EventKind::Usage => {}
            }
        }
        if commit || buf.len() > MAX_LOOKAHEAD {
            let cut = last_boundary(&buf).unwrap_or(0);
            let prefix = buf.split_to(cut).freeze();
            return Ok(Committed {
                prefix,
                carry: buf,
                stream,
                first_event: sent_at.elapsed(),
            });
        }
    }
}

/// How a relayed stream ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed,
    UpstreamFailed(String),
}

struct State<G> {
    tap: UsageTap,
    drain_over: tokio_util::sync::CancellationToken,
    /// An end or error seen while coalescing, handled on the next turn.
    stashed: Option<Option<Result<Bytes, crate::upstream::BodyError>>>,
    prefix: Option<Bytes>,
    carry: BytesMut,
    stream: ByteStream,
    idle: Duration,
    done: bool,
    /// Notified once with the outcome; dropped with the stream when the client goes away.
    guard: G,
}

/// Receives the end of a relayed stream (for the request log and stats).
pub trait EndGuard: Send + 'static {
    fn finished(&mut self, outcome: Outcome, usage: &UsageTap);
}

/// Watches relayed events for the usage chunk: records its token counts, and removes it when
/// the gateway (not the client) asked for it. Events without a `"usage": {` object take a
/// fast path that only scans bytes.
#[derive(Debug, Default, Clone)]
pub struct UsageTap {
    /// Remove usage-only chunks (`choices: []`): the client did not ask for them.
    pub strip: bool,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

impl UsageTap {
    pub fn new(strip: bool) -> Self {
        Self {
            strip,
            ..Self::default()
        }
    }

    /// Pass a run of complete events through the tap.
    pub fn process(&mut self, seg: Bytes) -> Bytes {
        if !has_usage_object(&seg) {
            return seg;
        }
        let mut out = BytesMut::with_capacity(seg.len());
        let mut rest: &[u8] = &seg;
        while !rest.is_empty() {
            let end = first_boundary(rest).unwrap_or(rest.len());
            let (event, tail) = rest.split_at(end);
            rest = tail;
            if has_usage_object(event) && self.observe(event) {
                continue;
            }
            out.extend_from_slice(event);
        }
        out.freeze()
    }

    /// Read the usage of one event; true when the event should be dropped.
    fn observe(&mut self, event: &[u8]) -> bool {
        let text = String::from_utf8_lossy(event);
        let data: String = text
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect::<Vec<_>>()
            .join("\n");
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&data) else {
            return false;
        };
        let usage = &v["usage"];
        if let Some(p) = usage
            .get("prompt_tokens")
            .and_then(serde_json::Value::as_u64)
        {
            self.prompt_tokens = Some(p);
        }
        if let Some(c) = usage
            .get("completion_tokens")
            .and_then(serde_json::Value::as_u64)
        {
            self.completion_tokens = Some(c);
        }
        let usage_only = v
            .get("choices")
            .and_then(serde_json::Value::as_array)
            .is_none_or(|c| c.is_empty());
        self.strip && usage_only
    }
}

/// Does `buf` contain `"usage"` followed by an object (not `null`)?
fn has_usage_object(buf: &[u8]) -> bool {
    const KEY: &[u8] = b"\"usage\"";
    let mut i = 0;
    while let Some(pos) = find(&buf[i..], KEY) {
        let mut j = i + pos + KEY.len();
        while j < buf.len() && matches!(buf[j], b' ' | b':' | b'\t') {
            j += 1;
        }
        if j < buf.len() && buf[j] == b'{' {
            return true;
        }
        i = i + pos + KEY.len();
    }
    false
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// End (exclusive) of the first complete event in `buf`.
fn first_boundary(buf: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < buf.len() {
        let (a, b) = (buf[i - 1], buf[i]);
        if (a == b'\n' && b == b'\n')
            || (a == b'\r' && b == b'\r' && buf.get(i + 1) != Some(&b'\n'))
        {
            return Some(i + 1);
        }
        if a == b'\r' && b == b'\n' && i >= 3 && buf[i - 2] == b'\n' && buf[i - 3] == b'\r' {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The committed stream as a body of byte chunks.
pub fn relay_body<G: EndGuard>(
    c: Committed,
    idle: Duration,
    tap: UsageTap,
    drain_over: tokio_util::sync::CancellationToken,
    guard: G,
) -> impl Stream<Item = Bytes> + Send {
    let st = State {
        tap,
        drain_over,
        stashed: None,
        prefix: Some(c.prefix),
        carry: c.carry,
        stream: c.stream,
        idle,
        done: false,
        guard,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        if let Some(p) = st.prefix.take() {
            let p = st.tap.process(p);
            if !p.is_empty() {
                return Some((p, st));
            }
        }
        loop {
            if st.done {
                return None;
            }
            let next = match st.stashed.take() {
                Some(item) => Ok(item),
                None => {
                    let drain_over = st.drain_over.clone();
                    tokio::select! {
                        r = tokio::time::timeout(st.idle, st.stream.next()) => r,
                        _ = drain_over.cancelled() => {
                            // Shutting down past the drain period: end cleanly, at an event
                            // boundary, with an error the client can read.
                            st.done = true;
                            let msg = "the gateway is shutting down; the stream was ended after the drain period (server.drain_secs)".to_string();
                            st.guard.finished(Outcome::UpstreamFailed(msg.clone()), &st.tap);
                            return Some((error_event(503, "shutting_down", &msg), st));
                        }
                    }
                }
            };
            match next {
                Ok(Some(Ok(chunk))) => {
                    st.carry.extend_from_slice(&chunk);
                    // Take what has already arrived as well (never waiting). The pool's
                    // client already yields everything it has read; the reqwest path (a
                    // proxy) yields one HTTP chunk at a time, and writing each event
                    // separately cost a syscall and a TCP segment per event.
                    while st.carry.len() < COALESCE_MAX {
                        match st.stream.next().now_or_never() {
                            Some(Some(Ok(c))) => st.carry.extend_from_slice(&c),
                            Some(other) => {
                                st.stashed = Some(other);
                                break;
                            }
                            None => break,
                        }
                    }
                    let cut = match last_boundary(&st.carry) {
                        Some(b) => b,
                        None if st.carry.len() > MAX_CARRY => st.carry.len(),
                        None => continue,
                    };
                    let out = st.tap.process(st.carry.split_to(cut).freeze());
                    if out.is_empty() {
                        continue;
                    }
                    return Some((out, st));
                }
                Ok(None) => {
                    st.done = true;
                    let tail = std::mem::take(&mut st.carry);
                    let text = String::from_utf8_lossy(&tail);
                    let t = text.trim();
                    if t.is_empty() {
                        st.guard.finished(Outcome::Completed, &st.tap);
                        return None;
                    }
                    // A last event without its blank line: complete it if it is whole.
                    let data = t.strip_prefix("data:").map(str::trim);
                    let whole = data.is_some_and(|d| {
                        d == "[DONE]" || serde_json::from_str::<serde_json::Value>(d).is_ok()
                    });
                    if whole {
                        let mut b = BytesMut::from(&tail[..]);
                        b.extend_from_slice(b"\n\n");
                        let out = st.tap.process(b.freeze());
                        st.guard.finished(Outcome::Completed, &st.tap);
                        if out.is_empty() {
                            return None;
                        }
                        return Some((out, st));
                    }
                    let msg = "the relay closed the stream in the middle of an event".to_string();
                    st.guard
                        .finished(Outcome::UpstreamFailed(msg.clone()), &st.tap);
                    return Some((error_event(502, "stream_truncated", &msg), st));
                }
                Ok(Some(Err(e))) => {
                    st.done = true;
                    let msg = format!("the relay stream failed: {e}");
                    st.guard
                        .finished(Outcome::UpstreamFailed(msg.clone()), &st.tap);
                    return Some((error_event(502, "stream_error", &msg), st));
                }
                Err(_) => {
                    st.done = true;
                    let msg = format!(
                        "the relay sent nothing for {} s (upstream.idle_timeout_ms)",
                        st.idle.as_secs()
                    );
                    st.guard
                        .finished(Outcome::UpstreamFailed(msg.clone()), &st.tap);
                    return Some((error_event(504, "stream_idle_timeout", &msg), st));
                }
            }
        }
    })
}

fn error_event(status: u16, code: &str, msg: &str) -> Bytes {
    ApiError::new(status, "upstream_error", code, msg).to_sse_event()
}

/// End (exclusive) of the last complete event in `buf`: after a blank line.
pub fn last_boundary(buf: &[u8]) -> Option<usize> {
    let n = buf.len();
    let mut i = n;
    while i >= 2 {
        let a = buf[i - 2];
        let b = buf[i - 1];
        if (a == b'\n' && b == b'\n') || (a == b'\r' && b == b'\r') {
            return Some(i);
        }
        if b == b'\n' && a == b'\r' && i >= 4 && buf[i - 3] == b'\n' && buf[i - 4] == b'\r' {
            return Some(i);
        }
        i -= 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_strips_usage_only_chunks_it_added() {
        let seg = Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3}}\n\ndata: [DONE]\n\n",
        );
        let mut tap = UsageTap::new(true);
        let out = tap.process(seg.clone());
        assert_eq!(tap.prompt_tokens, Some(7));
        assert_eq!(tap.completion_tokens, Some(3));
        let text = std::str::from_utf8(&out).unwrap();
        assert!(!text.contains("prompt_tokens"));
        assert!(text.contains("\"hi\"") && text.ends_with("data: [DONE]\n\n"));
        // A client that asked keeps the chunk.
        let mut keep = UsageTap::new(false);
        assert_eq!(keep.process(seg.clone()), seg);
        assert_eq!(keep.completion_tokens, Some(3));
        // Usage inside a content chunk is read but never removed.
        let mixed = Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"usage\": {\"prompt_tokens\":1,\"completion_tokens\":2}}\r\n\r\n",
        );
        let mut t = UsageTap::new(true);
        assert_eq!(t.process(mixed.clone()), mixed);
        assert_eq!(t.completion_tokens, Some(2));
    }

    #[test]
    fn boundaries() {
        assert_eq!(last_boundary(b"data: a\n\n"), Some(9));
        assert_eq!(last_boundary(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(last_boundary(b"data: a\r\n\r\ndata"), Some(11));
        assert_eq!(last_boundary(b"data: a\n"), None);
        assert_eq!(last_boundary(b""), None);
    }
}
