//! Byte-buffered Server-Sent Events framing and decoding (WHATWG event-stream rules), pure and
//! I/O-free. This is the gateway's one SSE framer: the decoder is built on it, and the
//! streaming relay uses it alone to know where complete events end.
//!
//! - [`SseFramer`] splits bytes into lines (`\n`, `\r\n`, `\r`, mixed, a `\r\n` split across
//!   reads) and reports event boundaries: the byte offset just past the blank line that ends an
//!   event, counted over everything it has been fed. It keeps no bytes and allocates nothing,
//!   so the relay can run every chunk of a committed stream through it.
//! - [`SseDecoder`] is the framer plus the bytes of a line that straddles reads and the fields
//!   of the event being assembled; it dispatches events exactly at the framer's boundaries.
//!
//! Invariants:
//!
//! - **Bytes, not text, are buffered.** A network read may end inside a line, inside a CRLF pair
//!   or inside a multibyte UTF-8 sequence; only complete lines are decoded, so a character split
//!   across reads is never turned into U+FFFD (the bug behind api7/aisix#111 and friends).
//!   Invalid UTF-8 is decoded lossily for that line only.
//! - **Splitting never changes the result.** Decoding the pieces of a stream yields exactly the
//!   events and boundaries of decoding the whole (property-tested below).
//! - **No per-byte allocation.** Lines that lie entirely inside one chunk are parsed in place;
//!   only a line straddling chunks is copied into the carry-over buffer. Allocation happens per
//!   event (its `data` string), not per byte or per line; the framer alone never allocates.
//!
//! [`classify`] tells the streaming relay whether an event is real content (the commit point),
//! an in-band error, or noise that must not commit the response; [`ends_answer`] whether it
//! completes the answer (`[DONE]` or a finish reason).

use serde_json::Value;

/// One dispatched event. `event` is `None` for the default `message` type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    /// The last event id seen on the stream (per WHATWG it persists across events).
    pub id: Option<String>,
}

impl SseEvent {
    /// The OpenAI end-of-stream sentinel `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum BomState {
    /// Still at the start of the stream; `n` bytes of the BOM have been matched (and withheld).
    #[default]
    Start,
    Partial(usize),
    Done,
}

/// What the framer found in a chunk, in stream order.
enum Piece<'a> {
    /// Bytes of the current line, which has not ended in this chunk.
    Partial(&'a [u8]),
    /// The current line ended. `tail` is its part in this chunk (earlier parts came as
    /// `Partial`); `blank` says the whole line was empty, which ends an event at `end`.
    Line {
        tail: &'a [u8],
        blank: bool,
        end: u64,
    },
}

/// The line splitter and event-boundary tracker shared by the decoder and the relay.
#[derive(Debug, Default, Clone)]
pub struct SseFramer {
    /// The previous chunk ended with CR: a LF at the start of the next chunk belongs to the
    /// same CRLF terminator and must not produce a second (empty, dispatching) line.
    after_cr: bool,
    /// How the leading byte-order mark has been handled so far.
    bom: BomState,
    /// The current line has bytes already (so its end is not a blank line).
    open: bool,
    /// Bytes fed so far.
    seen: u64,
    /// End of the last complete event: just past the last blank line's terminator.
    boundary: u64,
}

impl SseFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// A framer for bytes that continue a stream at an event boundary: no byte-order mark is
    /// expected. (The relay's usage tap reads runs of complete events with one.)
    pub fn mid_stream() -> Self {
        Self {
            bom: BomState::Done,
            ..Self::default()
        }
    }

    /// Feed raw bytes as they arrive; returns [`boundary`](Self::boundary) afterwards.
    pub fn push(&mut self, chunk: &[u8]) -> u64 {
        self.split(chunk, |_| {});
        self.boundary
    }

    /// End (exclusive, counted from the first byte fed) of the last complete event: the bytes
    /// before it are whole events and comments. A blank line ended by a CR counts as soon as
    /// the CR is seen (an event is never held back waiting for a LF that may not come); when
    /// the LF of that CRLF arrives next, the boundary moves past it.
    pub fn boundary(&self) -> u64 {
        self.boundary
    }

    /// Bytes fed so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    fn split<'a>(&mut self, chunk: &'a [u8], mut sink: impl FnMut(Piece<'a>)) {
        let base = self.seen;
        self.seen = base.saturating_add(chunk.len() as u64);
        let (handback, mut rest) = self.strip_bom(chunk);
        let mut at = self.seen - rest.len() as u64;
        if !handback.is_empty() {
            self.open = true;
            sink(Piece::Partial(handback));
        }
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some((b'\n', tail)) = rest.split_first() {
                // A boundary exactly at the CR we saw last means that CR ended a blank line:
                // its LF belongs to the same terminator, so the event ends after it.
                if self.boundary == at {
                    self.boundary = at + 1;
                }
                rest = tail;
                at += 1;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', rest) {
            let (line, term) = rest.split_at(pos);
            let mut len = 1;
            if term.first() == Some(&b'\r') {
                match term.get(1) {
                    Some(b'\n') => len = 2,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let blank = !self.open && line.is_empty();
            let end = at + (pos + len) as u64;
            self.open = false;
            if blank {
                self.boundary = end;
            }
            sink(Piece::Line {
                tail: line,
                blank,
                end,
            });
            rest = term.get(len..).unwrap_or_default();
            at = end;
        }
        if !rest.is_empty() {
            self.open = true;
            sink(Piece::Partial(rest));
        }
    }

    /// Drops one leading UTF-8 BOM, even when it arrives split across chunks. Bytes that looked
    /// like a BOM prefix but were not are handed back (first) as ordinary line content.
    fn strip_bom<'a>(&mut self, chunk: &'a [u8]) -> (&'static [u8], &'a [u8]) {
        let matched = match self.bom {
            BomState::Done => return (&[], chunk),
            BomState::Start => 0,
            BomState::Partial(n) => n,
        };
        if chunk.is_empty() {
            return (&[], chunk);
        }
        let (done, want) = BOM.split_at(matched.min(BOM.len()));
        let take = want.len().min(chunk.len());
        if chunk.get(..take) == want.get(..take) {
            if take == want.len() {
                self.bom = BomState::Done;
                return (&[], chunk.get(take..).unwrap_or_default());
            }
            self.bom = BomState::Partial(matched + take);
            return (&[], &[]);
        }
        // Not a BOM after all: the withheld bytes are ordinary line content.
        self.bom = BomState::Done;
        (done, chunk)
    }
}

/// Incremental decoder; feed it chunks with [`push`](Self::push), then call
/// [`finish`](Self::finish) at end of stream.
#[derive(Debug, Default)]
pub struct SseDecoder {
    framer: SseFramer,
    /// Bytes of a line that started in an earlier chunk and has not ended yet.
    carry: Vec<u8>,
    /// Fields of the event being assembled.
    state: EventState,
}

#[derive(Debug, Default)]
struct EventState {
    event: Option<String>,
    data: String,
    /// At least one `data` field was seen (distinguishes `data:` from no data at all).
    has_data: bool,
    last_id: Option<String>,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder for bytes that continue a stream at an event boundary (see
    /// [`SseFramer::mid_stream`]).
    pub fn mid_stream() -> Self {
        Self {
            framer: SseFramer::mid_stream(),
            ..Self::default()
        }
    }

    /// Feed raw bytes as they arrive; returns the events completed by this chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.push_with(chunk, |_, ev| out.extend(ev));
        out
    }

    /// Feed raw bytes; `f` is called at every event boundary in them with the boundary's
    /// offset ([`SseFramer::boundary`]) and the event it dispatched, if any (a block of only
    /// comments, ids or empty data dispatches none).
    pub fn push_with(&mut self, chunk: &[u8], mut f: impl FnMut(u64, Option<SseEvent>)) {
        let Self {
            framer,
            carry,
            state,
        } = self;
        framer.split(chunk, |piece| match piece {
            Piece::Partial(bytes) => carry.extend_from_slice(bytes),
            Piece::Line { tail, blank, end } => {
                if blank {
                    f(end, state.dispatch());
                } else if carry.is_empty() {
                    state.line(tail);
                } else {
                    carry.extend_from_slice(tail);
                    state.line(carry);
                }
                carry.clear();
            }
        });
    }

    /// End of stream. An event is dispatched only by a blank line, so a final event whose blank
    /// line never arrived is discarded (WHATWG); a partial line is discarded too. Returns the
    /// events that were still due, which with these rules is none: the method exists so callers
    /// have one place to flush, and it resets the decoder for reuse.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        *self = Self::default();
        Vec::new()
    }

    /// Bytes buffered but not yet forming a complete line.
    pub fn pending(&self) -> usize {
        let bom = match self.framer.bom {
            BomState::Partial(n) => n,
            _ => 0,
        };
        self.carry.len() + bom
    }

    /// See [`SseFramer::boundary`].
    pub fn boundary(&self) -> u64 {
        self.framer.boundary
    }

    /// The framer, to go on framing the same stream without decoding it.
    pub fn into_framer(self) -> SseFramer {
        self.framer
    }
}

impl EventState {
    /// Interprets one complete, non-empty line (without its terminator).
    fn line(&mut self, raw: &[u8]) {
        if raw.first() == Some(&b':') {
            return; // comment / keepalive
        }
        let text = String::from_utf8_lossy(raw); // borrows unless the line is invalid UTF-8
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (&*text, ""),
        };
        match field {
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "event" => self.event = Some(value.to_owned()),
            // A NUL in the id is ignored by the spec (it could not round-trip in headers).
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            _ => {} // `retry` and unknown fields carry nothing the proxy uses
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take().filter(|e| !e.is_empty());
        let data = std::mem::take(&mut self.data);
        self.has_data = false;
        // An event with empty data and no event name carries nothing: not dispatched. (`data:`
        // alone would be an empty `message` event under WHATWG; no consumer here wants one.)
        if data.is_empty() && event.is_none() {
            return None;
        }
        Some(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
        })
    }
}

/// What a chat-completions stream event means for the relay's commit point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// An in-band error (`error` field, `object: "error"`, `event: error`, finish reason `error`).
    Error,
    /// Deliverable output: a non-empty content / tool call / reasoning / refusal delta, or a
    /// finish reason.
    Content,
    /// Nothing deliverable: role-only or empty delta, non-JSON noise, unknown shapes.
    Empty,
    /// `data: [DONE]`.
    Done,
    /// A usage-only chunk (`choices` empty or absent, `usage` present).
    Usage,
}

/// Classifies a chat-completions stream event. Unparseable data is [`EventKind::Empty`]: it
/// must not commit the response, and a stream made only of such events ends without content,
/// which the relay already treats as a failure.
pub fn classify(ev: &SseEvent) -> EventKind {
    if ev.event.as_deref() == Some("error") {
        return EventKind::Error;
    }
    let data = ev.data.trim();
    if data == "[DONE]" {
        return EventKind::Done;
    }
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(data) else {
        return EventKind::Empty;
    };
    if obj.get("error").is_some_and(|e| !e.is_null())
        || obj.get("object").and_then(Value::as_str) == Some("error")
    {
        return EventKind::Error;
    }
    let choices = obj.get("choices").and_then(Value::as_array);
    for choice in choices.into_iter().flatten() {
        match choice.get("finish_reason") {
            Some(Value::String(r)) if r == "error" => return EventKind::Error,
            Some(Value::String(r)) if !r.is_empty() => return EventKind::Content,
            _ => {}
        }
        // `message` covers relays that stream whole messages, `text` the legacy completions
        // shape; both are real output if non-empty.
        let has_output = ["delta", "message"]
            .iter()
            .filter_map(|k| choice.get(*k))
            .any(delta_has_output)
            || choice.get("text").is_some_and(non_empty);
        if has_output {
            return EventKind::Content;
        }
    }
    let no_choices = choices.is_none_or(|c| c.is_empty());
    if no_choices && obj.get("usage").is_some_and(|u| !u.is_null()) {
        return EventKind::Usage;
    }
    EventKind::Empty
}

/// Does this event complete the answer: `[DONE]`, or a chunk with a finish reason (any
/// non-empty one, `error` included: the client has been told how the answer ended).
pub fn ends_answer(ev: &SseEvent) -> bool {
    let data = ev.data.trim();
    if data == "[DONE]" {
        return true;
    }
    if !may_end_answer(data.as_bytes()) {
        return false;
    }
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(data) else {
        return false;
    };
    obj.get("choices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| matches!(c.get("finish_reason"), Some(Value::String(r)) if !r.is_empty()))
}

/// A byte scan that is false for anything [`ends_answer`] would reject cheaply: no `[DONE]`
/// and no `"finish_reason"` key followed by a string. Almost every chunk carries
/// `"finish_reason":null`, so the relay runs this on every run of events and decodes only on
/// a hit. (Inside a JSON string the key's quotes would be escaped, so content cannot match.)
pub fn may_end_answer(bytes: &[u8]) -> bool {
    const KEY: &[u8] = b"\"finish_reason\"";
    if memchr::memmem::find(bytes, b"[DONE]").is_some() {
        return true;
    }
    memchr::memmem::find_iter(bytes, KEY).any(|pos| {
        let after = bytes.get(pos + KEY.len()..).unwrap_or_default();
        after
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b':'))
            == Some(&b'"')
    })
}

fn delta_has_output(delta: &Value) -> bool {
    [
        "content",
        "reasoning_content",
        "reasoning",
        "refusal",
        "tool_calls",
        "function_call",
    ]
    .iter()
    .filter_map(|k| delta.get(*k))
    .any(non_empty)
}

/// Non-null and not an empty string / array / object.
fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(pieces: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for p in pieces {
            out.extend(d.push(p));
        }
        out.extend(d.finish());
        out
    }

    fn data(s: &str) -> SseEvent {
        SseEvent {
            data: s.to_owned(),
            ..Default::default()
        }
    }

    #[test]
    fn basic_events_and_done() {
        let evs = decode_all(&[b"data: {\"a\":1}\n\ndata: [DONE]\n\n"]);
        assert_eq!(evs, vec![data("{\"a\":1}"), data("[DONE]")]);
        assert!(evs[1].is_done());
        assert!(!evs[0].is_done());
    }

    #[test]
    fn line_endings_crlf_lf_cr() {
        let evs = decode_all(&[b"data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\n"]);
        assert_eq!(evs, vec![data("a"), data("b"), data("c"), data("d")]);
    }

    #[test]
    fn cr_at_chunk_end_then_lf_is_one_terminator() {
        let evs = decode_all(&[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(evs, vec![data("a\nb")]);
        // CR then a non-LF byte in the next chunk: the CR alone ended the line.
        let evs = decode_all(&[b"data: a\r", b"\r"]);
        assert_eq!(evs, vec![data("a")]);
    }

    #[test]
    fn comments_fields_and_space_stripping() {
        let evs = decode_all(&[
            b": OPENROUTER PROCESSING\n\nevent: error\ndata:  two spaces\ndata:x\nid: 7\nretry: 10\nfoo: bar\n\n",
        ]);
        assert_eq!(
            evs,
            vec![SseEvent {
                event: Some("error".into()),
                data: " two spaces\nx".into(),
                id: Some("7".into()),
            }]
        );
    }

    #[test]
    fn empty_events_are_not_dispatched() {
        assert!(decode_all(&[b"\n\n\r\n: ping\n\nid: 3\n\n"]).is_empty());
        assert!(decode_all(&[b"data\n\n"]).is_empty());
        // A named event with no data is still an event (e.g. `event: ping`).
        let evs = decode_all(&[b"event: ping\n\n"]);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].event.as_deref(), Some("ping"));
        // Two empty data lines join into "\n", which is data.
        assert_eq!(decode_all(&[b"data:\ndata:\n\n"]), vec![data("\n")]);
    }

    #[test]
    fn id_persists_across_events() {
        let evs = decode_all(&[b"id: 1\ndata: a\n\ndata: b\n\n"]);
        assert_eq!(evs[1].id.as_deref(), Some("1"));
    }

    #[test]
    fn unterminated_event_at_eof_is_discarded() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: a\n\ndata: partial\n").len() == 1);
        assert!(d.finish().is_empty());
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: no newline").is_empty());
        assert_eq!(d.pending(), 16);
        assert!(d.finish().is_empty());
        assert_eq!(d.pending(), 0);
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let bytes = "data: 日本語🙂\n\n".as_bytes();
        for i in 0..bytes.len() {
            let evs = decode_all(&[&bytes[..i], &bytes[i..]]);
            assert_eq!(evs, vec![data("日本語🙂")], "split at {i}");
        }
    }

    #[test]
    fn invalid_utf8_is_lossy_for_that_line_only() {
        let evs = decode_all(&[b"data: a\xFFb\ndata: \xE6\x97\xA5\n\n"]);
        assert_eq!(evs, vec![data("a\u{FFFD}b\n日")]);
    }

    #[test]
    fn bom_at_start_is_ignored_even_split() {
        let s = b"\xEF\xBB\xBFdata: a\n\n";
        for i in 0..s.len() {
            assert_eq!(
                decode_all(&[&s[..i], &s[i..]]),
                vec![data("a")],
                "split at {i}"
            );
        }
        // Only at the very start; a partial BOM prefix is ordinary content.
        assert_eq!(
            decode_all(&[b"\xEF\xBB", b"x: 1\ndata: b\n\n"]),
            vec![data("b")]
        );
        assert_eq!(
            decode_all(&[b"data: \xEF\xBB\xBFa\n\n"]),
            vec![data("\u{FEFF}a")]
        );
    }

    #[test]
    fn pending_counts_partial_line() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: abc").is_empty());
        assert_eq!(d.pending(), 9);
        assert_eq!(d.push(b"\n\n"), vec![data("abc")]);
        assert_eq!(d.pending(), 0);
    }

    /// Every boundary the decoder reports while `pieces` are pushed, and the framer's final one.
    fn boundaries_of(pieces: &[&[u8]]) -> (Vec<u64>, u64) {
        let mut d = SseDecoder::new();
        let mut f = SseFramer::new();
        let mut got = Vec::new();
        for p in pieces {
            d.push_with(p, |end, _| got.push(end));
            f.push(p);
            assert_eq!(f.boundary(), d.boundary(), "the framer alone agrees");
        }
        (got, f.boundary())
    }

    #[test]
    fn boundaries_for_every_line_ending() {
        let cases: &[(&[u8], &[u64])] = &[
            (b"data: a\n\n", &[9]),
            (b"data: a\r\n\r\n", &[11]),
            (b"data: a\r\r", &[9]),
            // `\n\r\n`: a LF line end, then a blank line ended by CRLF.
            (b"data: a\n\r\ndata: b\n\r\n", &[10, 20]),
            (b"data: a\r\n\n: c\r\rdata: b\n\r", &[10, 15, 24]),
            // Blank lines alone are boundaries too (nothing is dispatched for them).
            (b"\n\r\n: ping\n\n", &[1, 3, 11]),
            // No blank line yet: no boundary.
            (b"data: a\n", &[]),
            (b"data: a\r\ndata: b", &[]),
            (b"", &[]),
        ];
        for (bytes, want) in cases {
            let (got, last) = boundaries_of(&[bytes]);
            assert_eq!(&got, want, "{:?}", String::from_utf8_lossy(bytes));
            assert_eq!(last, want.last().copied().unwrap_or(0));
            // Byte by byte: a blank line's CR counts at once, and its LF moves the boundary.
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            let (_, last) = boundaries_of(&singles);
            assert_eq!(last, want.last().copied().unwrap_or(0), "byte by byte");
        }
    }

    #[test]
    fn a_crlf_split_after_a_blank_line_moves_the_boundary() {
        let mut f = SseFramer::new();
        assert_eq!(f.push(b"data: a\r\n\r"), 10);
        assert_eq!(f.push(b"\n"), 11);
        assert_eq!(f.push(b"data: b\r"), 11);
        // A LF after a CR that ended a data line is not a blank line.
        assert_eq!(f.push(b"\n"), 11);
        assert_eq!(f.push(b"\r"), 21);
        assert_eq!(f.seen(), 21);
        // A BOM counts in the offsets.
        let mut f = SseFramer::new();
        assert_eq!(f.push(b"\xEF\xBB"), 0);
        assert_eq!(f.push(b"\xBFdata: a\n\n"), 12);
    }

    fn ev(d: &str) -> SseEvent {
        data(d)
    }

    #[test]
    fn classify_kinds() {
        use EventKind::*;
        let cases: &[(&str, EventKind)] = &[
            ("[DONE]", Done),
            (r#"{"error":{"message":"overloaded"}}"#, Error),
            (r#"{"object":"error","message":"x"}"#, Error),
            (
                r#"{"choices":[{"delta":{},"finish_reason":"error"}]}"#,
                Error,
            ),
            (r#"{"choices":[{"delta":{"role":"assistant"}}]}"#, Empty),
            (
                r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
                Empty,
            ),
            (
                r#"{"choices":[{"delta":{"content":null},"finish_reason":null}]}"#,
                Empty,
            ),
            (r#"{"choices":[{"delta":{"content":"hi"}}]}"#, Content),
            (
                r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
                Content,
            ),
            (r#"{"choices":[{"delta":{"refusal":"no"}}]}"#, Content),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}"#,
                Content,
            ),
            (
                r#"{"choices":[{"delta":{"function_call":{"name":"f"}}}]}"#,
                Content,
            ),
            (
                r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
                Content,
            ),
            (r#"{"choices":[],"usage":{"prompt_tokens":1}}"#, Usage),
            (r#"{"usage":{"prompt_tokens":1}}"#, Usage),
            (r#"{"choices":[],"usage":null}"#, Empty),
            ("not json", Empty),
            (
                r#"{"error":null,"choices":[{"delta":{"content":"x"}}]}"#,
                Content,
            ),
        ];
        for (d, want) in cases {
            assert_eq!(classify(&ev(d)), *want, "{d}");
        }
        let named = SseEvent {
            event: Some("error".into()),
            data: "{}".into(),
            id: None,
        };
        assert_eq!(classify(&named), Error);
    }

    /// A generated event: optional name, optional id, data lines, comments before it.
    #[derive(Debug, Clone)]
    struct GenEvent {
        name: Option<String>,
        id: Option<String>,
        comment: Option<String>,
        data: Vec<String>,
    }

    fn value() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "Z", " ", ":", "{", "\"", "日", "本", "語", "🙂", "é", "\u{FEFF}",
            ]),
            0..8,
        )
        .prop_map(|v| v.concat())
    }

    fn gen_event() -> impl Strategy<Value = GenEvent> {
        (
            prop::option::of("[a-z]{1,6}"),
            prop::option::of("[0-9]{1,3}"),
            prop::option::of(value()),
            prop::collection::vec(value(), 1..4),
        )
            .prop_map(|(name, id, comment, data)| GenEvent {
                name,
                id,
                comment,
                data,
            })
    }

    /// Serialises events with a terminator picked per line; returns bytes and expected events.
    fn render(events: &[GenEvent], ends: &[u8], bom: bool) -> (Vec<u8>, Vec<SseEvent>) {
        let (bytes, expected, _) = render_with_boundaries(events, ends, bom);
        (bytes, expected)
    }

    /// [`render`], and the end offset of every event (just past its blank line).
    fn render_with_boundaries(
        events: &[GenEvent],
        ends: &[u8],
        bom: bool,
    ) -> (Vec<u8>, Vec<SseEvent>, Vec<u64>) {
        let mut boundaries = Vec::new();
        let mut bytes = Vec::new();
        if bom {
            bytes.extend_from_slice(BOM);
        }
        let mut expected = Vec::new();
        let mut last_id = None;
        let mut k = 0usize;
        let mut prev_cr = false;
        let mut end_line = |bytes: &mut Vec<u8>, line: &[u8]| {
            bytes.extend_from_slice(line);
            let term: &[u8] = match ends[k % ends.len()] % 3 {
                0 => b"\r\n",
                1 => b"\n",
                _ => b"\r",
            };
            k += 1;
            // "\r" followed by an empty "\n" line would read as one CRLF: avoid that ambiguity
            // in the generator (the decoder's reading is the correct one).
            let term: &[u8] = if prev_cr && line.is_empty() && term == b"\n" {
                b"\r\n"
            } else {
                term
            };
            prev_cr = term == b"\r";
            bytes.extend_from_slice(term);
        };
        for e in events {
            if let Some(c) = &e.comment {
                end_line(&mut bytes, format!(":{c}").as_bytes());
            }
            if let Some(n) = &e.name {
                end_line(&mut bytes, format!("event: {n}").as_bytes());
            }
            if let Some(i) = &e.id {
                end_line(&mut bytes, format!("id:{i}").as_bytes());
                last_id = Some(i.clone());
            }
            for d in &e.data {
                end_line(&mut bytes, format!("data: {d}").as_bytes());
            }
            end_line(&mut bytes, b"");
            boundaries.push(bytes.len() as u64);
            let data = e.data.join("\n");
            if !(data.is_empty() && e.name.is_none()) {
                expected.push(SseEvent {
                    event: e.name.clone(),
                    data,
                    id: last_id.clone(),
                });
            }
        }
        (bytes, expected, boundaries)
    }

    proptest! {
        #[test]
        fn any_split_decodes_the_same(
            events in prop::collection::vec(gen_event(), 0..8),
            ends in prop::collection::vec(any::<u8>(), 1..16),
            bom in any::<bool>(),
            splits in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let (bytes, expected) = render(&events, &ends, bom);
            let whole = decode_all(&[&bytes]);
            prop_assert_eq!(&whole, &expected);

            let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut pieces: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&bytes[at..c]);
                at = c;
            }
            pieces.push(&bytes[at..]);
            prop_assert_eq!(decode_all(&pieces), whole.clone());

            // Byte by byte is the most adversarial split of all.
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            prop_assert_eq!(decode_all(&singles), whole);
        }

        #[test]
        fn boundaries_do_not_depend_on_splits(
            events in prop::collection::vec(gen_event(), 0..8),
            ends in prop::collection::vec(any::<u8>(), 1..16),
            bom in any::<bool>(),
            splits in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let (bytes, _, expected) = render_with_boundaries(&events, &ends, bom);
            let whole = boundaries_of(&[&bytes]).0;
            prop_assert_eq!(&whole, &expected);

            let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(bytes.len() + 1)).collect();
            cuts.sort_unstable();
            cuts.push(bytes.len());
            let mut f = SseFramer::new();
            let mut d = SseDecoder::new();
            let mut reported = Vec::new();
            let mut at = 0;
            for c in cuts {
                let piece = &bytes[at..c];
                at = c;
                let b = f.push(piece);
                d.push_with(piece, |end, _| reported.push(end));
                // The last boundary so far, or the CR of a CRLF that ends a blank line when
                // the LF has not arrived yet.
                let seen = at as u64;
                let last = expected.iter().copied().filter(|&e| e <= seen).max().unwrap_or(0);
                let cr_pending = expected.contains(&(seen + 1)) && bytes.get(at) == Some(&b'\n');
                prop_assert!(b == last || (cr_pending && b == seen), "{} at {}", b, seen);
            }
            prop_assert_eq!(f.boundary(), expected.last().copied().unwrap_or(0));
            // Each event's end is reported once, at its CR when a split put the LF later.
            let fixed: Vec<u64> = reported
                .iter()
                .map(|&e| if expected.contains(&e) { e } else { e + 1 })
                .collect();
            prop_assert_eq!(fixed, expected);
        }
    }
}
