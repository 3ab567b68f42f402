//! The streaming relay and its commit point.
//!
//! Before commit ([`lookahead`]) the upstream stream is decoded until its first real event:
//! content, a tool-call delta or a finish reason. An error event, a `[DONE]` with nothing
//! before it, a close, or the first-byte deadline all fail the attempt so the caller can fall
//! back; nothing has reached the client yet. After commit ([`relay_body`]) bytes are passed
//! through unchanged, complete events only: where events end is what the SSE framer
//! ([`crate::upstream::sse::SseFramer`], the decoder's own line splitter) reports, and nothing
//! else, so the relay and the decoder can never disagree about a line ending. A partial event
//! waits for its end, which keeps an injected error event from being glued to half an event.
//!
//! A failure after commit becomes one `data: {"error":…}` event and the end of the stream:
//! never a fabricated `finish_reason` or `[DONE]`. A stream that ends (close, chunked
//! terminator) before `[DONE]` and before any finish reason is such a failure
//! (`stream_truncated`); one that sent a finish reason is complete and is passed on as it is.
//! Dropping the body (client gone) drops the upstream stream, which closes the upstream
//! connection.

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::{FutureExt, Stream, StreamExt};

use crate::error::ApiError;
use crate::upstream::sse::{
    EventKind, SseDecoder, SseFramer, classify, ends_answer, may_end_answer,
};
use crate::upstream::{Stage, UpstreamError};

pub use crate::upstream::ByteStream;

/// Read-ahead never holds more than this before committing anyway.
const MAX_LOOKAHEAD: usize = 1024 * 1024;
/// A single event larger than this is forwarded without waiting for its end.
const MAX_CARRY: usize = 4 * 1024 * 1024;
/// Already-arrived bytes are coalesced into one write up to this size.
const COALESCE_MAX: usize = 256 * 1024;
/// Turns given to the relay connection's task to hand over what it has already read, before
/// a write (see [`relay_body`]).
const COALESCE_TURNS: usize = 64;

/// A stream that passed the commit point.
pub struct Committed {
    /// Complete events read during look-ahead.
    pub prefix: Bytes,
    /// Bytes of an event not yet complete.
    pub carry: BytesMut,
    /// The framer that has seen everything in `prefix` and `carry`.
    pub framer: SseFramer,
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
            .map_err(|_| UpstreamError::Timeout(Stage::FirstEvent))?;
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
            // `buf` holds every byte the decoder has seen, so its boundary is an index here.
            let cut = usize::try_from(dec.boundary())
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let prefix = buf.split_to(cut).freeze();
            return Ok(Committed {
                prefix,
                carry: buf,
                framer: dec.into_framer(),
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
    /// The stream failed after the commit point; the client got one error event with this
    /// status and code.
    UpstreamFailed {
        status: u16,
        code: &'static str,
        message: String,
    },
}

struct State<G> {
    tap: UsageTap,
    /// Resolves when the drain period is over (armed once per stream, not per chunk).
    drain_over: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    /// The idle deadline, re-armed lazily: a chunk only records when it came
    /// (`last_data`), and the timer, when it fires early, moves to `last_data + idle`. A
    /// timer entry per chunk cost more than the chunk's own relaying.
    idle_timer: Pin<Box<tokio::time::Sleep>>,
    last_data: tokio::time::Instant,
    /// An end or error seen while coalescing, handled on the next turn.
    stashed: Option<Option<Result<Bytes, crate::upstream::BodyError>>>,
    prefix: Option<Bytes>,
    carry: BytesMut,
    /// Stream offset of `carry[0]`, in the framer's count.
    carry_at: u64,
    framer: SseFramer,
    /// `[DONE]` or a finish reason has been forwarded: the answer is complete, and how the
    /// connection ends after it no longer matters.
    answered: bool,
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

    /// Pass a run of complete events (starting at an event boundary) through the tap.
    pub fn process(&mut self, seg: Bytes) -> Bytes {
        if !has_usage_object(&seg) {
            return seg;
        }
        // The slow path, about once per stream: the decoder says where each event ends.
        let mut out = BytesMut::with_capacity(seg.len());
        let mut start = 0usize;
        SseDecoder::mid_stream().push_with(&seg, |end, ev| {
            let end = usize::try_from(end).unwrap_or(usize::MAX).min(seg.len());
            let event = seg.get(start..end).unwrap_or_default();
            start = end;
            if let Some(ev) = ev
                && has_usage_object(event)
                && self.observe(&ev.data)
            {
                return;
            }
            out.extend_from_slice(event);
        });
        out.extend_from_slice(seg.get(start..).unwrap_or_default());
        out.freeze()
    }

    /// Read the usage of one event's data; true when the event should be dropped.
    fn observe(&mut self, data: &str) -> bool {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(data) else {
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
    memchr::memmem::find_iter(buf, KEY).any(|pos| {
        let after = buf.get(pos + KEY.len()..).unwrap_or_default();
        after.iter().find(|b| !matches!(b, b' ' | b':' | b'\t')) == Some(&b'{')
    })
}

/// Does a run of complete events (starting at an event boundary) complete the answer?
fn ends_answer_in(seg: &[u8]) -> bool {
    if !may_end_answer(seg) {
        return false;
    }
    let mut found = false;
    SseDecoder::mid_stream().push_with(seg, |_, ev| {
        found |= ev.is_some_and(|ev| ends_answer(&ev));
    });
    found
}

impl<G: EndGuard> State<G> {
    /// Everything that leaves for the client passes here, in order.
    fn forward(&mut self, seg: Bytes) -> Bytes {
        if !self.answered {
            self.answered = ends_answer_in(&seg);
        }
        self.tap.process(seg)
    }

    /// The upstream stream ended (`how` says why when it was not a clean end).
    fn end(&mut self, how: Option<(u16, &'static str, String)>) -> Option<Bytes> {
        self.done = true;
        let tail = std::mem::take(&mut self.carry).freeze();
        if self.answered {
            // Complete: pass on whatever is left, as it is, and add nothing.
            if let Some((_, code, msg)) = how {
                tracing::debug!(code, error = %msg, "relay stream ended after the answer was complete");
            }
            let out = self.forward(tail);
            self.guard.finished(Outcome::Completed, &self.tap);
            return (!out.is_empty()).then_some(out);
        }
        let (status, code, message) = how.unwrap_or_else(|| {
            let what = if tail.is_empty() {
                "after a complete event"
            } else {
                "in the middle of an event"
            };
            (
                502,
                "stream_truncated",
                format!(
                    "the relay ended the stream {what}, before [DONE] and before any finish_reason"
                ),
            )
        });
        // The partial event is dropped: the error event starts at an event boundary.
        let ev = error_event(status, code, &message);
        self.guard.finished(
            Outcome::UpstreamFailed {
                status,
                code,
                message,
            },
            &self.tap,
        );
        Some(ev)
    }
}

/// The committed stream as a body of byte chunks.
pub fn relay_body<G: EndGuard>(
    c: Committed,
    idle: Duration,
    tap: UsageTap,
    drain_over: tokio_util::sync::CancellationToken,
    guard: G,
) -> impl Stream<Item = Bytes> + Send {
    let carry_at = c.prefix.len() as u64;
    let now = tokio::time::Instant::now();
    let st = State {
        tap,
        drain_over: Box::pin(drain_over.cancelled_owned()),
        idle_timer: Box::pin(tokio::time::sleep_until(now + idle)),
        last_data: now,
        stashed: None,
        prefix: Some(c.prefix),
        carry: c.carry,
        carry_at,
        framer: c.framer,
        answered: false,
        stream: c.stream,
        idle,
        done: false,
        guard,
    };
    futures_util::stream::unfold(st, |mut st| async move {
        if let Some(p) = st.prefix.take() {
            let p = st.forward(p);
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
                    tokio::select! {
                        biased;
                        item = st.stream.next() => Ok(item),
                        _ = st.drain_over.as_mut() => {
                            // Shutting down past the drain period: end cleanly, at an event
                            // boundary, with an error the client can read.
                            st.done = true;
                            let msg = "the gateway is shutting down; the stream was ended after the drain period (server.drain_secs)".to_string();
                            let ev = error_event(503, "shutting_down", &msg);
                            st.guard.finished(Outcome::UpstreamFailed { status: 503, code: "shutting_down", message: msg }, &st.tap);
                            return Some((ev, st));
                        }
                        _ = st.idle_timer.as_mut() => {
                            let due = st.last_data + st.idle;
                            if due > tokio::time::Instant::now() {
                                st.idle_timer.as_mut().reset(due);
                                continue;
                            }
                            Err(())
                        }
                    }
                }
            };
            match next {
                Ok(Some(Ok(chunk))) => {
                    st.last_data = tokio::time::Instant::now();
                    st.framer.push(&chunk);
                    st.carry.extend_from_slice(&chunk);
                    // Take what has already arrived as well, so it leaves in one write:
                    // writing each event separately costs a syscall and a TCP segment per
                    // event. The relay client (hyper under reqwest) decodes one HTTP chunk
                    // per turn of its connection task and hands it over a channel, so a
                    // burst that arrived in one read is only "ready" one chunk at a time:
                    // give that task a turn (`yield_now`, never a timer) while it keeps
                    // producing, and write as soon as a turn brings nothing. Nothing waits
                    // for data that has not arrived.
                    let mut turns = 0;
                    // Turns in a row that brought nothing: the connection task may not have
                    // run yet in the first (another task went first), so one is forgiven.
                    let mut empty = 0;
                    'coalesce: while st.carry.len() < COALESCE_MAX {
                        let mut got = false;
                        while st.carry.len() < COALESCE_MAX {
                            match st.stream.next().now_or_never() {
                                Some(Some(Ok(c))) => {
                                    st.framer.push(&c);
                                    st.carry.extend_from_slice(&c);
                                    got = true;
                                }
                                Some(other) => {
                                    st.stashed = Some(other);
                                    break 'coalesce;
                                }
                                None => break,
                            }
                        }
                        empty = if got { 0 } else { empty + 1 };
                        if (turns > 0 && empty > 1) || turns == COALESCE_TURNS {
                            break;
                        }
                        turns += 1;
                        tokio::task::yield_now().await;
                    }
                    // Complete events end at the framer's boundary; it lies before `carry`
                    // only after an oversized event was forwarded unfinished.
                    let complete = st
                        .framer
                        .boundary()
                        .checked_sub(st.carry_at)
                        .and_then(|n| usize::try_from(n).ok())
                        .filter(|&n| n > 0)
                        .map(|n| n.min(st.carry.len()));
                    let cut = match complete {
                        Some(n) => n,
                        // An oversized event leaves unfinished (the one place an event is
                        // split; its finish reason, if any, is then not seen by the check).
                        None if st.carry.len() > MAX_CARRY => st.carry.len(),
                        None => continue,
                    };
                    st.carry_at += cut as u64;
                    let seg = st.carry.split_to(cut).freeze();
                    let out = st.forward(seg);
                    if out.is_empty() {
                        continue;
                    }
                    return Some((out, st));
                }
                Ok(None) => return st.end(None).map(|b| (b, st)),
                Ok(Some(Err(e))) => {
                    let msg = format!("the relay stream failed: {e}");
                    return st.end(Some((502, "stream_error", msg))).map(|b| (b, st));
                }
                Err(_) => {
                    let msg = format!(
                        "the relay sent nothing for {} s (upstream.idle_timeout_ms)",
                        st.idle.as_secs()
                    );
                    return st
                        .end(Some((504, "stream_idle_timeout", msg)))
                        .map(|b| (b, st));
                }
            }
        }
    })
}

fn error_event(status: u16, code: &str, msg: &str) -> Bytes {
    ApiError::new(status, "upstream_error", code, msg).to_sse_event()
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

    use std::sync::{Arc, Mutex};

    use futures_util::stream;
    use proptest::prelude::*;

    use crate::upstream::BodyError;
    use crate::upstream::sse::SseEvent;

    /// Records how the relayed stream ended.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Option<Outcome>>>);

    impl EndGuard for Seen {
        fn finished(&mut self, outcome: Outcome, _usage: &UsageTap) {
            *self.0.lock().unwrap() = Some(outcome);
        }
    }

    /// Relays `pieces` (each a read; `true` makes the read wait one scheduler turn, so the
    /// relay cannot coalesce it with the previous one) and returns the client's writes.
    async fn relay(pieces: Vec<(Vec<u8>, bool)>) -> (Vec<Bytes>, Option<Outcome>) {
        let upstream = stream::iter(pieces)
            .then(|(b, wait)| async move {
                if wait {
                    tokio::task::yield_now().await;
                }
                Ok::<_, BodyError>(Bytes::from(b))
            })
            .boxed();
        relay_stream(upstream).await
    }

    /// Looks ahead to the commit point, relays the rest, and returns the client's writes
    /// with the outcome the guard saw.
    async fn relay_stream(upstream: ByteStream) -> (Vec<Bytes>, Option<Outcome>) {
        let now = Instant::now();
        let c = lookahead(upstream, now + Duration::from_secs(600), now)
            .await
            .expect("commits");
        let seen = Seen::default();
        let out = relay_body(
            c,
            Duration::from_secs(600),
            UsageTap::new(false),
            tokio_util::sync::CancellationToken::new(),
            seen.clone(),
        )
        .collect::<Vec<Bytes>>()
        .await;
        let outcome = seen.0.lock().unwrap().clone();
        (out, outcome)
    }

    fn run(pieces: Vec<(Vec<u8>, bool)>) -> (Vec<Bytes>, Option<Outcome>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(relay(pieces))
    }

    fn whole(pieces: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        pieces.iter().map(|p| (p.to_vec(), true)).collect()
    }

    fn concat(out: &[Bytes]) -> Vec<u8> {
        out.iter().flat_map(|b| b.to_vec()).collect()
    }

    fn decode(bytes: &[u8]) -> Vec<SseEvent> {
        SseDecoder::new().push(bytes)
    }

    fn code(o: &Option<Outcome>) -> Option<&'static str> {
        match o {
            Some(Outcome::UpstreamFailed { code, .. }) => Some(code),
            _ => None,
        }
    }

    const CONTENT: &[u8] =
        b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}";
    const STOP: &[u8] = b"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}";

    #[test]
    fn lf_crlf_terminated_events_arrive_whole() {
        // `\n\r\n` ends an event (a LF line end, then a blank line ended by CRLF): the relay's
        // old boundary finder held these back and replaced the answer with an error.
        let mut sent = Vec::new();
        for line in [CONTENT, CONTENT, STOP, b"data: [DONE]"] {
            sent.extend_from_slice(line);
            sent.extend_from_slice(b"\n\r\n");
        }
        let (out, outcome) = run(whole(&[&sent[..40], &sent[40..150], &sent[150..]]));
        assert_eq!(concat(&out), sent);
        assert_eq!(outcome, Some(Outcome::Completed));
    }

    #[test]
    fn a_stream_that_ends_without_done_or_finish_reason_is_truncated() {
        let mut sent = CONTENT.to_vec();
        sent.extend_from_slice(b"\n\n");
        sent.extend_from_slice(CONTENT);
        sent.extend_from_slice(b"\r\n\r\n");
        let (out, outcome) = run(whole(&[&sent]));
        let got = concat(&out);
        assert!(got.starts_with(&sent));
        let evs = decode(&got);
        assert_eq!(evs.len(), 3);
        assert!(evs[2].data.contains("\"stream_truncated\""), "{evs:?}");
        assert_eq!(code(&outcome), Some("stream_truncated"));
        // The same with half an event at the end: the half is dropped, the error follows the
        // last complete event.
        let mut half = sent.clone();
        half.extend_from_slice(b"data: {\"choi");
        let (out, outcome) = run(whole(&[&half]));
        let got = concat(&out);
        assert!(got.starts_with(&sent) && !got.windows(5).any(|w| w == b"choi\""));
        assert_eq!(decode(&got).len(), 3);
        assert_eq!(code(&outcome), Some("stream_truncated"));
    }

    #[test]
    fn a_finish_reason_without_done_is_complete_and_passed_on_as_is() {
        let mut sent = CONTENT.to_vec();
        sent.extend_from_slice(b"\n\n");
        sent.extend_from_slice(STOP);
        sent.extend_from_slice(b"\n\n");
        let (out, outcome) = run(whole(&[&sent[..10], &sent[10..]]));
        assert_eq!(concat(&out), sent);
        assert_eq!(outcome, Some(Outcome::Completed));
        // Bytes after the answer that are not a whole event are passed on too: nothing is
        // added or taken away once the answer is complete.
        let mut tail = sent.clone();
        tail.extend_from_slice(b"data: [DONE]");
        let (out, outcome) = run(whole(&[&tail]));
        assert_eq!(concat(&out), tail);
        assert_eq!(outcome, Some(Outcome::Completed));
        // A finish reason `null` is no finish reason.
        let mut null = CONTENT.to_vec();
        null.extend_from_slice(b"\n\n");
        let (_, outcome) = run(whole(&[&null]));
        assert_eq!(code(&outcome), Some("stream_truncated"));
    }

    #[test]
    fn a_transport_error_after_the_answer_adds_nothing() {
        let mut sent = CONTENT.to_vec();
        sent.extend_from_slice(b"\n\n");
        sent.extend_from_slice(STOP);
        sent.extend_from_slice(b"\n\n");
        let bytes = Bytes::from(sent.clone());
        let upstream =
            stream::iter(vec![Ok(bytes), Err(BodyError("connection reset".into()))]).boxed();
        let (out, outcome) = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(relay_stream(upstream));
        assert_eq!(concat(&out), sent);
        assert_eq!(outcome, Some(Outcome::Completed));
    }

    #[test]
    fn the_tap_finds_events_by_the_decoders_boundaries() {
        // A usage chunk between `\n\r\n` and lone-CR terminated events is removed exactly.
        let seg = Bytes::from_static(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\r\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\r\rdata: [DONE]\n\r\n",
        );
        let mut tap = UsageTap::new(true);
        let out = tap.process(seg);
        assert_eq!(
            &out[..],
            b"data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\r\ndata: [DONE]\n\r\n"
        );
        assert_eq!(
            (tap.prompt_tokens, tap.completion_tokens),
            (Some(4), Some(2))
        );
    }

    /// One generated event after the first content event.
    #[derive(Debug, Clone)]
    struct GenEvent {
        comment: Option<String>,
        name: Option<String>,
        id: Option<String>,
        data: Vec<String>,
    }

    /// Text for fields and data: non-ASCII, colons, quotes, braces, spaces, a BOM character;
    /// never a line break, and never `[DONE]` or a `"finish_reason"` key (no `[`, few letters).
    fn text() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a",
                "Z",
                " ",
                ":",
                "{",
                "}",
                "\"",
                "\\",
                "日",
                "本",
                "🙂",
                "é",
                "Привет",
                "\u{FEFF}",
                "\u{301}",
                "ع",
            ]),
            0..10,
        )
        .prop_map(|v| v.concat())
    }

    fn gen_event() -> impl Strategy<Value = GenEvent> {
        (
            prop::option::of(text()),
            prop::option::of("[a-z]{1,6}"),
            prop::option::of("[0-9]{1,3}"),
            prop::collection::vec(text(), 1..4),
        )
            .prop_map(|(comment, name, id, data)| GenEvent {
                comment,
                name,
                id,
                data,
            })
    }

    /// Writes lines with the terminators picked in turn from `ends` (0 `\r\n`, 1 `\n`,
    /// 2 `\r`).
    struct Writer<'a> {
        bytes: Vec<u8>,
        ends: &'a [u8],
        k: usize,
        prev_cr: bool,
    }

    impl Writer<'_> {
        fn line(&mut self, line: &[u8]) {
            self.bytes.extend_from_slice(line);
            let mut term: &[u8] = match self.ends[self.k % self.ends.len()] % 3 {
                0 => b"\r\n",
                1 => b"\n",
                _ => b"\r",
            };
            self.k += 1;
            // A CR then an empty line ended by LF reads as one CRLF: write CRLF instead.
            if self.prev_cr && line.is_empty() && term == b"\n" {
                term = b"\r\n";
            }
            self.prev_cr = term == b"\r";
            self.bytes.extend_from_slice(term);
        }

        fn event(&mut self, e: &GenEvent, last_id: &mut Option<String>) -> Option<SseEvent> {
            if let Some(c) = &e.comment {
                self.line(format!(":{c}").as_bytes());
            }
            if let Some(n) = &e.name {
                self.line(format!("event: {n}").as_bytes());
            }
            if let Some(i) = &e.id {
                self.line(format!("id: {i}").as_bytes());
                *last_id = Some(i.clone());
            }
            for d in &e.data {
                self.line(format!("data: {d}").as_bytes());
            }
            self.line(b"");
            let data = e.data.join("\n");
            (!(data.is_empty() && e.name.is_none())).then(|| SseEvent {
                event: e.name.clone(),
                data,
                id: last_id.clone(),
            })
        }
    }

    /// Cuts `bytes` at `cuts` into reads, each waiting or not per `waits`.
    fn reads(bytes: &[u8], cuts: &[prop::sample::Index], waits: &[bool]) -> Vec<(Vec<u8>, bool)> {
        let mut at: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        at.sort_unstable();
        at.push(bytes.len());
        let mut out = Vec::new();
        let mut from = 0;
        for (k, to) in at.into_iter().enumerate() {
            out.push((
                bytes[from..to].to_vec(),
                waits.get(k).copied().unwrap_or(true),
            ));
            from = to;
        }
        out
    }

    /// Every write the client gets ends where an event ends.
    fn writes_end_at_boundaries(out: &[Bytes]) -> bool {
        let mut f = SseFramer::new();
        out.iter().all(|w| f.push(w) == f.seen())
    }

    /// An event with one data line and nothing else.
    fn data_event(data: &str) -> GenEvent {
        GenEvent {
            comment: None,
            name: None,
            id: None,
            data: vec![data.into()],
        }
    }

    /// Writes the opening every generated stream shares (a content event, then `events`)
    /// and returns the events a decoder must see for it.
    fn open(
        w: &mut Writer<'_>,
        last_id: &mut Option<String>,
        first: String,
        events: &[GenEvent],
    ) -> Vec<SseEvent> {
        let content = serde_json::json!({"choices": [{"delta": {"content": first + "."}}]});
        let mut expected: Vec<SseEvent> = w
            .event(&data_event(&content.to_string()), last_id)
            .into_iter()
            .collect();
        for e in events {
            expected.extend(w.event(e, last_id));
        }
        expected
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_client_gets_the_events_sent(
            first in text(),
            events in prop::collection::vec(gen_event(), 0..8),
            ends in prop::collection::vec(any::<u8>(), 1..16),
            done in any::<bool>(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
            waits in prop::collection::vec(any::<bool>(), 0..13),
        ) {
            let mut w = Writer { bytes: Vec::new(), ends: &ends, k: 0, prev_cr: false };
            let mut last_id = None;
            let mut expected = open(&mut w, &mut last_id, first, &events);
            let stop = r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#;
            let tail = data_event(stop);
            expected.extend(w.event(&tail, &mut last_id));
            if done {
                let d = data_event("[DONE]");
                expected.extend(w.event(&d, &mut last_id));
            }
            let sent = w.bytes;
            prop_assert_eq!(&decode(&sent), &expected);

            let (out, outcome) = run(reads(&sent, &cuts, &waits));
            prop_assert_eq!(concat(&out), sent);
            prop_assert_eq!(decode(&concat(&out)), expected);
            prop_assert!(writes_end_at_boundaries(&out));
            prop_assert_eq!(outcome, Some(Outcome::Completed));
        }

        #[test]
        fn a_truncated_stream_gets_its_whole_events_and_one_error(
            first in text(),
            events in prop::collection::vec(gen_event(), 0..6),
            ends in prop::collection::vec(any::<u8>(), 1..16),
            partial in prop::option::of(text()),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
            waits in prop::collection::vec(any::<bool>(), 0..13),
        ) {
            let mut w = Writer { bytes: Vec::new(), ends: &ends, k: 0, prev_cr: false };
            let mut last_id = None;
            let expected = open(&mut w, &mut last_id, first, &events);
            let complete = w.bytes.clone();
            if let Some(p) = &partial {
                // Half an event: a data line, maybe ended, but no blank line.
                w.line(format!("data: {p}").as_bytes());
            }
            let sent = w.bytes;

            let (out, outcome) = run(reads(&sent, &cuts, &waits));
            let got = concat(&out);
            prop_assert!(got.starts_with(&complete));
            let evs = decode(&got);
            prop_assert_eq!(evs.len(), expected.len() + 1);
            prop_assert_eq!(&evs[..expected.len()], &expected[..]);
            prop_assert!(evs[expected.len()].data.contains("\"stream_truncated\""));
            prop_assert!(writes_end_at_boundaries(&out));
            prop_assert_eq!(code(&outcome), Some("stream_truncated"));
        }
    }
}
