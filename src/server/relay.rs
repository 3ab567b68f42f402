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

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::error::ApiError;
use crate::upstream::UpstreamError;
use crate::upstream::sse::{EventKind, SseDecoder, classify};

/// The upstream byte stream.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// Read-ahead never holds more than this before committing anyway.
const MAX_LOOKAHEAD: usize = 1024 * 1024;
/// A single event larger than this is forwarded without waiting for its end.
const MAX_CARRY: usize = 4 * 1024 * 1024;

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
                    e.without_url()
                )));
            }
            Some(Ok(c)) => c,
        };
        buf.extend_from_slice(&chunk);
        let mut commit = false;
        for ev in dec.push(&chunk) {
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
    fn finished(&mut self, outcome: Outcome);
}

/// The committed stream as a body of byte chunks.
pub fn relay_body<G: EndGuard>(
    c: Committed,
    idle: Duration,
    guard: G,
) -> impl Stream<Item = Bytes> + Send {
    let st = State {
        prefix: Some(c.prefix),
        carry: c.carry,
        stream: c.stream,
        idle,
        done: false,
        guard,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        if let Some(p) = st.prefix.take()
            && !p.is_empty()
        {
            return Some((p, st));
        }
        loop {
            if st.done {
                return None;
            }
            match tokio::time::timeout(st.idle, st.stream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    st.carry.extend_from_slice(&chunk);
                    let cut = match last_boundary(&st.carry) {
                        Some(b) => b,
                        None if st.carry.len() > MAX_CARRY => st.carry.len(),
                        None => continue,
                    };
                    let out = st.carry.split_to(cut).freeze();
                    return Some((out, st));
                }
                Ok(None) => {
                    st.done = true;
                    let tail = std::mem::take(&mut st.carry);
                    let text = String::from_utf8_lossy(&tail);
                    let t = text.trim();
                    if t.is_empty() {
                        st.guard.finished(Outcome::Completed);
                        return None;
                    }
                    // A last event without its blank line: complete it if it is whole.
                    let data = t.strip_prefix("data:").map(str::trim);
                    let whole = data.is_some_and(|d| {
                        d == "[DONE]" || serde_json::from_str::<serde_json::Value>(d).is_ok()
                    });
                    if whole {
                        st.guard.finished(Outcome::Completed);
                        let mut b = BytesMut::from(&tail[..]);
                        b.extend_from_slice(b"\n\n");
                        return Some((b.freeze(), st));
                    }
                    let msg = "the relay closed the stream in the middle of an event".to_string();
                    st.guard.finished(Outcome::UpstreamFailed(msg.clone()));
                    return Some((error_event(502, "stream_truncated", &msg), st));
                }
                Ok(Some(Err(e))) => {
                    st.done = true;
                    let msg = format!("the relay stream failed: {}", e.without_url());
                    st.guard.finished(Outcome::UpstreamFailed(msg.clone()));
                    return Some((error_event(502, "stream_error", &msg), st));
                }
                Err(_) => {
                    st.done = true;
                    let msg = format!(
                        "the relay sent nothing for {} s (upstream.idle_timeout_ms)",
                        st.idle.as_secs()
                    );
                    st.guard.finished(Outcome::UpstreamFailed(msg.clone()));
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
    fn boundaries() {
        assert_eq!(last_boundary(b"data: a\n\n"), Some(9));
        assert_eq!(last_boundary(b"data: a\n\ndata: b"), Some(9));
        assert_eq!(last_boundary(b"data: a\r\n\r\ndata"), Some(11));
        assert_eq!(last_boundary(b"data: a\n"), None);
        assert_eq!(last_boundary(b""), None);
    }
}
