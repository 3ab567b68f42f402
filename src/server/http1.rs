//! The client-facing HTTP/1.1 server: one task per connection reads request heads with
//! `httparse`, hands the router a `Request` whose body is read from the socket on demand,
//! and writes the response with a content-length, chunked, or until the connection closes.
//!
//! Why not hyper's server: hyper keeps an 8 KiB read buffer and an 8 KiB write buffer for
//! every connection's whole life, which was most of the gateway's memory at 256 connections
//! (docs/performance.md). Here a connection holds no buffer while it waits: heads are read
//! into a per-thread scratch buffer, and only bytes past the head (a body, a pipelined
//! request) are kept, in an allocation of their own size. The relay side does the same in
//! `upstream::h1`.
//!
//! Invariants:
//! - request smuggling: a head with both Content-Length and Transfer-Encoding, with
//!   conflicting lengths, or whose last transfer coding is not `chunked` gets a 400 and the
//!   connection closes; other codings get a 501;
//! - heads are capped at [`MAX_HEAD`] bytes and [`MAX_HEADERS`] headers (431);
//! - a connection is reused only when the request body was read to its end (or was wholly
//!   in the buffer and is skipped) and neither side asked to close;
//! - the handler's future is dropped as soon as the client closes while it waits, which
//!   cancels the upstream call; a stream being written stops the same way;
//! - an idle keep-alive connection closes after [`IDLE_TIMEOUT`]; a head that has started
//!   must be complete within [`HEAD_TIMEOUT`] (408);
//! - `100 Continue` is sent only when the handler starts reading the body, so a request
//!   refused on its head (401, 413 by length) never uploads its body.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, EXPECT, TRANSFER_ENCODING};
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version,
};
use http_body_util::BodyExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::{AppState, Body};
use crate::error::ApiError;
use crate::upstream::h1::{
    Chunk, decode_chunk, push_content_length, push_header, try_read_drained, with_scratch,
};

/// Largest request head accepted (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers in a request head (hyper's default too).
pub const MAX_HEADERS: usize = 100;
/// How long a keep-alive connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a request head may take once its first bytes arrived (slow-loris guard).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// Bodies up to this size leave in the same write as the response head.
const INLINE_BODY: usize = 16 * 1024;
/// After refusing a request whose body was not read: how long unread input is drained so
/// the close does not reset the connection before the client read the answer.
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many bytes not yet handed to the handler.
    Length(u64),
    Chunked(Chunk),
}

/// Where `Expect: 100-continue` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continue {
    No,
    /// Owed; this many bytes of it written.
    Due(usize),
    Sent,
}

/// Connection state shared by the connection loop and the request body it lends out.
#[derive(Debug)]
struct Shared {
    /// Bytes read past the current position: the body, or a pipelined request. Empty and
    /// unallocated most of the time.
    buf: BytesMut,
    framing: Framing,
    body_done: bool,
    body_failed: bool,
    continue_: Continue,
}

impl Shared {
    fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 0 {
            self.buf = BytesMut::new();
        }
    }

    /// After the handler: whether the body is behind us. A body the handler left unread is
    /// skipped when it is wholly in the buffer; otherwise the connection cannot be reused.
    fn finish_body(&mut self) -> bool {
        if self.body_done {
            return true;
        }
        if self.body_failed || matches!(self.continue_, Continue::Due(_)) {
            return false;
        }
        match self.framing {
            Framing::Length(left) if (self.buf.len() as u64) >= left => {
                self.buf.advance(left as usize);
                self.release_if_empty();
                self.body_done = true;
                true
            }
            _ => false,
        }
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Nothing panics while holding it; a poisoned lock still holds consistent bytes.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A request body, read from the client's connection as the handler polls it.
pub struct ReqBody<'a> {
    stream: &'a TcpStream,
    shared: &'a Mutex<Shared>,
}

impl std::fmt::Debug for ReqBody<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqBody").finish_non_exhaustive()
    }
}

impl HttpBody for ReqBody<'_> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let mut s = lock(this.shared);
        poll_body(&mut s, this.stream, cx).map(|o| o.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        lock(self.shared).body_done
    }

    fn size_hint(&self) -> SizeHint {
        let s = lock(self.shared);
        match s.framing {
            _ if s.body_done => SizeHint::with_exact(0),
            Framing::Length(left) => SizeHint::with_exact(left),
            Framing::Chunked(_) => SizeHint::default(),
        }
    }
}

fn body_error(kind: io::ErrorKind, msg: impl Into<String>) -> io::Error {
    io::Error::new(kind, msg.into())
}

/// The next piece of the request body: what is buffered first, then the socket.
fn poll_body(
    s: &mut Shared,
    stream: &TcpStream,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<Bytes>>> {
    loop {
        if s.body_done {
            return Poll::Ready(None);
        }
        if s.body_failed {
            return Poll::Ready(Some(Err(body_error(
                io::ErrorKind::InvalidData,
                "the request body could not be read",
            ))));
        }
        let Shared { buf, framing, .. } = &mut *s;
        let want = match framing {
            Framing::Length(left) => {
                if !buf.is_empty() {
                    let n = (*left).min(buf.len() as u64) as usize;
                    let data = buf.split_to(n).freeze();
                    *left -= n as u64;
                    s.body_done = *left == 0;
                    s.release_if_empty();
                    return Poll::Ready(Some(Ok(data)));
                }
                usize::try_from(*left).unwrap_or(usize::MAX)
            }
            Framing::Chunked(state) => match decode_chunk(state, buf) {
                Ok(Some(piece)) => return Poll::Ready(Some(Ok(piece))),
                Ok(None) if *state == Chunk::Done => {
                    s.body_done = true;
                    s.release_if_empty();
                    return Poll::Ready(None);
                }
                Ok(None) => usize::MAX,
                Err(e) => {
                    s.body_failed = true;
                    return Poll::Ready(Some(Err(body_error(
                        io::ErrorKind::InvalidData,
                        format!("invalid chunked request body: {e}"),
                    ))));
                }
            },
        };
        if let Err(e) = ready!(poll_continue(s, stream, cx)) {
            s.body_failed = true;
            return Poll::Ready(Some(Err(e)));
        }
        if let Err(e) = ready!(stream.poll_read_ready(cx)) {
            s.body_failed = true;
            return Poll::Ready(Some(Err(e)));
        }
        // At most what the body still needs (never the next request's bytes), at most the
        // scratch buffer's size.
        let read = with_scratch(|scratch| {
            let n = want.min(scratch.len());
            let n = try_read_drained(stream, &mut scratch[..n])?;
            s.buf.extend_from_slice(&scratch[..n]);
            Ok::<_, io::Error>(n)
        });
        match read {
            Ok(0) => {
                s.body_failed = true;
                return Poll::Ready(Some(Err(body_error(
                    io::ErrorKind::UnexpectedEof,
                    "the client closed the connection before sending the whole body",
                ))));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                s.body_failed = true;
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

/// Write the `100 Continue` a client waits for before it sends its body, if owed.
fn poll_continue(s: &mut Shared, stream: &TcpStream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    const MSG: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    loop {
        let Continue::Due(sent) = s.continue_ else {
            return Poll::Ready(Ok(()));
        };
        ready!(stream.poll_write_ready(cx))?;
        match stream.try_write(&MSG[sent..]) {
            Ok(n) => {
                s.continue_ = if sent + n == MSG.len() {
                    Continue::Sent
                } else {
                    Continue::Due(sent + n)
                };
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// A parsed request head.
#[derive(Debug)]
struct Head {
    req: Request<()>,
    framing: Framing,
    keep_alive: bool,
    expect_continue: bool,
}

/// Why a request head was refused; the answer closes the connection.
#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    Bad(String),
    TooLarge,
    Timeout,
    Expectation,
    Unsupported(String),
}

impl HeadError {
    fn api_error(&self) -> ApiError {
        match self {
            HeadError::Bad(m) => ApiError::bad_request(m.clone()),
            HeadError::TooLarge => ApiError::new(
                431,
                "invalid_request_error",
                "request_header_fields_too_large",
                format!(
                    "the request head is larger than {MAX_HEAD} bytes or has more than {MAX_HEADERS} headers"
                ),
            ),
            HeadError::Timeout => ApiError::new(
                408,
                "invalid_request_error",
                "request_timeout",
                format!(
                    "the request head did not arrive within {} seconds",
                    HEAD_TIMEOUT.as_secs()
                ),
            ),
            HeadError::Expectation => ApiError::new(
                417,
                "invalid_request_error",
                "expectation_failed",
                "only `Expect: 100-continue` is supported",
            ),
            HeadError::Unsupported(m) => {
                ApiError::new(501, "invalid_request_error", "not_implemented", m.clone())
            }
        }
    }
}

/// Comma-separated tokens of every `name` header, trimmed.
fn tokens<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h str> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// Parse a complete head at the start of `buf`; `None` when more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<(usize, Head)>, HeadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Bad(format!("invalid request head: {e}"))),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let method = Method::from_bytes(parsed.method.unwrap_or("").as_bytes())
        .map_err(|_| HeadError::Bad("invalid request method".into()))?;
    let uri: Uri = parsed
        .path
        .unwrap_or("")
        .parse()
        .map_err(|_| HeadError::Bad("invalid request target".into()))?;
    let version = if parsed.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // One copy of the head backs every header value.
    let head = Bytes::copy_from_slice(&buf[..len]);
    let base = buf.as_ptr() as usize;
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HeadError::Bad(format!("invalid header name `{}`", h.name)))?;
        let start = (h.value.as_ptr() as usize).wrapping_sub(base);
        let value = if !h.value.is_empty() && start + h.value.len() <= len {
            HeaderValue::from_maybe_shared(head.slice(start..start + h.value.len()))
        } else {
            HeaderValue::from_bytes(h.value)
        }
        .map_err(|_| HeadError::Bad(format!("invalid value for header `{name}`")))?;
        headers.append(name, value);
    }
    let framing = body_framing(&headers, version)?;
    let close = tokens(&headers, &CONNECTION).any(|t| t.eq_ignore_ascii_case("close"));
    let keep_alive = match version {
        Version::HTTP_10 => {
            !close && tokens(&headers, &CONNECTION).any(|t| t.eq_ignore_ascii_case("keep-alive"))
        }
        _ => !close,
    };
    let expect_continue = match headers.get(EXPECT) {
        None => false,
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"100-continue") => {
            version != Version::HTTP_10
        }
        Some(_) => return Err(HeadError::Expectation),
    };
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Ok(Some((
        len,
        Head {
            req,
            framing,
            keep_alive,
            expect_continue,
        },
    )))
}

/// The body's framing from Content-Length and Transfer-Encoding (RFC 9112 §6).
fn body_framing(headers: &HeaderMap, version: Version) -> Result<Framing, HeadError> {
    let codings: Vec<&str> = tokens(headers, &TRANSFER_ENCODING).collect();
    let has_te = headers.contains_key(TRANSFER_ENCODING);
    let has_cl = headers.contains_key(CONTENT_LENGTH);
    if has_te {
        if has_cl {
            return Err(HeadError::Bad(
                "a request may not carry both Content-Length and Transfer-Encoding".into(),
            ));
        }
        if version == Version::HTTP_10 {
            return Err(HeadError::Bad(
                "Transfer-Encoding is not allowed in an HTTP/1.0 request".into(),
            ));
        }
        match codings.last() {
            Some(last) if last.eq_ignore_ascii_case("chunked") => {}
            _ => {
                return Err(HeadError::Bad(
                    "the last transfer coding of a request must be chunked".into(),
                ));
            }
        }
        if codings.len() > 1 {
            return Err(HeadError::Unsupported(format!(
                "transfer coding `{}` is not supported; send the body with Content-Length or chunked only",
                codings[0]
            )));
        }
        return Ok(Framing::Chunked(Chunk::Size));
    }
    let mut length: Option<u64> = None;
    for v in headers.get_all(CONTENT_LENGTH) {
        for t in v.to_str().unwrap_or("x").split(',') {
            let t = t.trim();
            let n = (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .then(|| t.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| HeadError::Bad(format!("invalid Content-Length `{t}`")))?;
            if length.is_some_and(|l| l != n) {
                return Err(HeadError::Bad("conflicting Content-Length values".into()));
            }
            length = Some(n);
        }
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

// Moved once per request and never stored: boxing the head would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Read {
    Head(Head),
    More,
    Closed,
}

/// One read into the thread's scratch buffer. A head that arrives whole is parsed straight
/// from it; only what follows the head, or a partial head, is copied out.
fn read_some(stream: &TcpStream, shared: &Mutex<Shared>) -> Result<Read, HeadError> {
    with_scratch(|scratch| {
        let n = match try_read_drained(stream, scratch) {
            Ok(0) => return Ok(Read::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Read::More),
            Err(_) => return Ok(Read::Closed),
        };
        let mut s = lock(shared);
        if s.buf.is_empty()
            && let Some((len, head)) = parse_head(&scratch[..n])?
        {
            if n > len {
                s.buf.extend_from_slice(&scratch[len..n]);
            }
            return Ok(Read::Head(head));
        }
        s.buf.extend_from_slice(&scratch[..n]);
        Ok(Read::More)
    })
}

/// Wait for the next request head. `Ok(None)`: the client closed, went idle too long, or
/// the gateway is shutting down while the connection was idle.
async fn read_head(
    stream: &TcpStream,
    shared: &Mutex<Shared>,
    state: &AppState,
) -> Result<Option<Head>, HeadError> {
    loop {
        let partial = {
            let mut s = lock(shared);
            if s.buf.is_empty() {
                false
            } else {
                if let Some((len, head)) = parse_head(&s.buf)? {
                    s.buf.advance(len);
                    s.release_if_empty();
                    return Ok(Some(head));
                }
                if s.buf.len() >= MAX_HEAD {
                    return Err(HeadError::TooLarge);
                }
                true
            }
        };
        let wait = if partial { HEAD_TIMEOUT } else { IDLE_TIMEOUT };
        tokio::select! {
            biased;
            _ = state.shutdown.cancelled(), if !partial => return Ok(None),
            r = tokio::time::timeout(wait, stream.readable()) => match r {
                Err(_) if partial => return Err(HeadError::Timeout),
                Err(_) | Ok(Err(_)) => return Ok(None),
                Ok(Ok(())) => {}
            },
        }
        match read_some(stream, shared)? {
            Read::Head(h) => return Ok(Some(h)),
            Read::More => {}
            Read::Closed => return Ok(None),
        }
    }
}

/// Whether the client has gone: true when it closed (or reset) the connection. Bytes from
/// it (a pipelined request) end the watch (`watching` becomes false); until then the
/// socket's readiness wakes the task.
fn client_gone(watching: &mut bool, stream: &TcpStream, cx: &mut Context<'_>) -> bool {
    if !*watching {
        return false;
    }
    let mut byte = [0u8; 1];
    let mut rb = ReadBuf::new(&mut byte);
    match stream.poll_peek(cx, &mut rb) {
        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => true,
        Poll::Ready(Ok(_)) => {
            *watching = false;
            false
        }
        Poll::Pending => false,
    }
}

/// Run the handler; `None` when the client went away first (the handler is dropped, which
/// cancels its upstream call). The socket is watched once the body has been read.
async fn run_handler<F>(
    stream: &TcpStream,
    shared: &Mutex<Shared>,
    mut fut: Pin<&mut F>,
) -> Option<Response<Body>>
where
    F: Future<Output = Response<Body>>,
{
    // The future comes pinned by reference: taken by value, it would be stored again in
    // this state machine.
    let mut watching = true;
    poll_fn(|cx| {
        if let Poll::Ready(r) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        if lock(shared).body_done && client_gone(&mut watching, stream, cx) {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// The next data frame of a response body, or an error when the client went away while
/// the body had nothing to give.
async fn next_frame(
    body: &mut Body,
    stream: &TcpStream,
    watching: &mut bool,
) -> io::Result<Option<Bytes>> {
    poll_fn(|cx| {
        loop {
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(None) => return Poll::Ready(Ok(None)),
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(d) if !d.is_empty() => return Poll::Ready(Ok(Some(d))),
                    // Empty data and trailers carry nothing for HTTP/1.1 here.
                    _ => continue,
                },
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Pending => {}
            }
            if client_gone(watching, stream, cx) {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the client went away",
                )));
            }
            return Poll::Pending;
        }
    })
    .await
}

/// A frame that is ready without waiting: `Some(Some(data))`, `Some(None)` at the end, or
/// `None` when nothing is ready.
fn ready_frame(body: &mut Body) -> Option<Option<Bytes>> {
    loop {
        match body.frame().now_or_never()? {
            None => return Some(None),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(d) if !d.is_empty() => return Some(Some(d)),
                _ => continue,
            },
            Some(Err(never)) => match never {},
        }
    }
}

/// Write `a` then `b` in as few syscalls as the socket allows.
async fn write_all(stream: &TcpStream, mut a: &[u8], mut b: &[u8]) -> io::Result<()> {
    while !a.is_empty() || !b.is_empty() {
        let r = if b.is_empty() {
            stream.try_write(a)
        } else if a.is_empty() {
            stream.try_write(b)
        } else {
            stream.try_write_vectored(&[IoSlice::new(a), IoSlice::new(b)])
        };
        match r {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                let k = n.min(a.len());
                a = &a[k..];
                b = &b[n - k..];
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The `date` header value, formatted once a second per thread.
fn date_value() -> HeaderValue {
    thread_local! {
        static CACHE: RefCell<(u64, Option<HeaderValue>)> = const { RefCell::new((0, None)) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHE.with_borrow_mut(|(at, value)| {
        if *at != secs || value.is_none() {
            *at = secs;
            *value = HeaderValue::from_str(&httpdate::fmt_http_date(now)).ok();
        }
        value.clone().unwrap_or(HeaderValue::from_static(""))
    })
}

/// How the response body goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    None,
    Length(u64),
    Chunked,
    /// HTTP/1.0 client and no known length: the body ends when the connection closes.
    Close,
}

fn push_chunk(out: &mut Vec<u8>, data: &[u8]) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Write a response. Returns whether the connection may carry another request.
async fn write_response(
    stream: &TcpStream,
    resp: Response<Body>,
    mut keep: bool,
    head_only: bool,
    version: Version,
    mut watching: bool,
) -> io::Result<bool> {
    let (parts, mut body) = resp.into_parts();
    let status = parts.status;
    let bodyless = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let out_framing = if bodyless {
        Out::None
    } else if let Some(n) = body.size_hint().exact() {
        Out::Length(n)
    } else if version == Version::HTTP_11 {
        Out::Chunked
    } else {
        keep = false;
        Out::Close
    };
    let mut out = Vec::with_capacity(256 + parts.headers.len() * 64);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        // Framing and connection headers are ours to set.
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        push_header(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    if !parts.headers.contains_key(DATE) {
        push_header(&mut out, b"date", date_value().as_bytes());
    }
    match out_framing {
        Out::Length(n) => push_content_length(&mut out, n),
        Out::Chunked if !head_only => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        _ => {}
    }
    if !keep {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if head_only || out_framing == Out::None {
        write_all(stream, &out, &[]).await?;
        return Ok(keep);
    }
    if let Out::Length(n) = out_framing {
        // Small bodies ride with the head; a large one follows it in a vectored write. A
        // body that does not match its announced length (a relay that lied) is cut to it
        // and the connection closed, so the client never reads one answer into the next.
        let mut left = n;
        while let Some(mut d) = next_frame(&mut body, stream, &mut watching).await? {
            if d.len() as u64 > left {
                d.truncate(left as usize);
                keep = false;
            }
            left -= d.len() as u64;
            if out.len() + d.len() <= INLINE_BODY {
                out.extend_from_slice(&d);
            } else {
                write_all(stream, &out, &d).await?;
                out.clear();
            }
            if left == 0 && !keep {
                break;
            }
        }
        if !out.is_empty() {
            write_all(stream, &out, &[]).await?;
        }
        return Ok(keep && left == 0);
    }
    // A stream: the head leaves at once (first byte), with whatever is ready already; then
    // each batch of events that has arrived leaves in one write, never held back.
    let chunked = out_framing == Out::Chunked;
    let mut ended = false;
    let mut pending: Option<Bytes> = None;
    loop {
        while !ended {
            match pending.take().map(Some).or_else(|| ready_frame(&mut body)) {
                Some(Some(d)) if chunked => push_chunk(&mut out, &d),
                Some(Some(d)) => out.extend_from_slice(&d),
                Some(None) => {
                    ended = true;
                    if chunked {
                        out.extend_from_slice(b"0\r\n\r\n");
                    }
                }
                None => break,
            }
        }
        if !out.is_empty() {
            write_all(stream, &out, &[]).await?;
            out.clear();
        }
        if ended {
            break;
        }
        match next_frame(&mut body, stream, &mut watching).await? {
            Some(d) => pending = Some(d),
            None => {
                ended = true;
                if chunked {
                    out.extend_from_slice(b"0\r\n\r\n");
                }
            }
        }
    }
    Ok(keep)
}

/// Close politely after refusing a request whose body was not read: half-close, then
/// drain what the client still sends for a moment, so the kernel does not answer that
/// input with a reset that could destroy the response before the client read it.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(LINGER, async {
        // On the heap: an array here would sit in every connection's state machine.
        let mut sink = vec![0u8; 4096];
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    })
    .await;
}

/// Serve one client connection until it closes, idles out, or the gateway shuts down.
pub async fn serve_conn(stream: TcpStream, state: Arc<AppState>) {
    let shared = Mutex::new(Shared {
        buf: BytesMut::new(),
        framing: Framing::Length(0),
        body_done: true,
        body_failed: false,
        continue_: Continue::No,
    });
    let refused_unread = loop {
        let head = match read_head(&stream, &shared, &state).await {
            Ok(Some(h)) => h,
            Ok(None) => return,
            Err(e) => {
                let resp = super::error_response(&e.api_error(), &[]);
                let _ = write_response(&stream, resp, false, false, Version::HTTP_11, false).await;
                break true;
            }
        };
        {
            let mut s = lock(&shared);
            s.framing = head.framing;
            s.body_done = head.framing == Framing::Length(0);
            s.body_failed = false;
            s.continue_ = if head.expect_continue && !s.body_done && s.buf.is_empty() {
                Continue::Due(0)
            } else {
                Continue::No
            };
        }
        let head_only = head.req.method() == Method::HEAD;
        let version = head.req.version();
        let req = head.req.map(|()| ReqBody {
            stream: &stream,
            shared: &shared,
        });
        // Boxed for the request's life: inline, the router's ~4 KiB future would sit in
        // every connection's task even while it waits idle for the next request.
        let mut handler = Box::pin(super::handle(state.clone(), req));
        let Some(resp) = run_handler(&stream, &shared, handler.as_mut()).await else {
            return;
        };
        // Finished: its box is not needed while a long stream is written.
        drop(handler);
        let body_behind = lock(&shared).finish_body();
        let keep = head.keep_alive && body_behind && !state.shutdown.is_cancelled();
        match write_response(&stream, resp, keep, head_only, version, body_behind).await {
            Ok(true) => {}
            Ok(false) => break !body_behind,
            Err(_) => return,
        }
    };
    if refused_unread {
        linger(stream).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(s: &str) -> Result<Option<(usize, Head)>, HeadError> {
        parse_head(s.as_bytes())
    }

    fn framing(s: &str) -> Framing {
        head(s).unwrap().unwrap().1.framing
    }

    #[test]
    fn heads_parse_with_their_framing() {
        let (len, h) =
            head("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
                .unwrap()
                .unwrap();
        assert_eq!(
            len,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n".len()
        );
        assert_eq!(h.req.method(), Method::POST);
        assert_eq!(h.req.uri().path(), "/v1/chat/completions");
        assert_eq!(h.req.headers()["host"], "x");
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        assert_eq!(framing("GET / HTTP/1.1\r\n\r\n"), Framing::Length(0));
        assert_eq!(
            framing("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Framing::Chunked(Chunk::Size)
        );
        assert_eq!(
            framing("POST / HTTP/1.1\r\nContent-Length: 7, 7\r\n\r\n"),
            Framing::Length(7)
        );
        assert!(head("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn keep_alive_follows_version_and_connection() {
        let ka = |s: &str| head(s).unwrap().unwrap().1.keep_alive;
        assert!(ka("GET / HTTP/1.1\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn smuggling_shapes_are_refused() {
        let bad = |s: &str| matches!(head(s), Err(HeadError::Bad(_)));
        assert!(bad(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(bad(
            "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
        ));
        assert!(bad("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"));
        assert!(bad("POST / HTTP/1.1\r\nContent-Length: 5 5\r\n\r\n"));
        assert!(bad(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"
        ));
        assert!(bad("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Err(HeadError::Unsupported(_))
        ));
        assert!(matches!(
            head("GET / HTTP/1.1\r\nExpect: tea\r\n\r\n"),
            Err(HeadError::Expectation)
        ));
        assert!(bad("G@T / HTTP/1.1\r\n\r\n"));
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut s = String::from("GET / HTTP/1.1\r\n");
        for i in 0..=MAX_HEADERS {
            s.push_str(&format!("x-h{i}: v\r\n"));
        }
        s.push_str("\r\n");
        assert_eq!(head(&s).unwrap_err(), HeadError::TooLarge);
    }

    #[test]
    fn header_values_share_one_copy_of_the_head() {
        let (_, h) = head("GET / HTTP/1.1\r\nX-A: one\r\nX-Empty:\r\nX-B: two\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.req.headers()["x-a"], "one");
        assert_eq!(h.req.headers()["x-empty"], "");
        assert_eq!(h.req.headers()["x-b"], "two");
    }

    #[test]
    fn an_unread_body_wholly_buffered_is_skipped() {
        let mut s = Shared {
            buf: BytesMut::from(&b"helloGET / HTTP/1.1\r\n\r\n"[..]),
            framing: Framing::Length(5),
            body_done: false,
            body_failed: false,
            continue_: Continue::No,
        };
        assert!(s.finish_body());
        assert_eq!(&s.buf[..], b"GET / HTTP/1.1\r\n\r\n");
        s.body_done = false;
        s.framing = Framing::Length(100);
        assert!(!s.finish_body());
        s.continue_ = Continue::Due(0);
        s.framing = Framing::Length(0);
        assert!(!s.finish_body());
    }

    fn test_state() -> Arc<AppState> {
        let mut cfg = crate::config::Config::default();
        cfg.upstream.base_url = "http://127.0.0.1:9".into();
        let health = Arc::new(crate::engine::Health::new());
        let rt = super::super::Runtime::build(cfg, 80, health.clone(), None).expect("runtime");
        AppState::new(rt, "127.0.0.1:80".parse().expect("addr"), health, false)
    }

    async fn connected(state: Arc<AppState>) -> (TcpStream, tokio::task::JoinHandle<()>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, tokio::spawn(serve_conn(server, state)))
    }

    // Paused time jumps to the next timer whenever every task waits, so these take no time.
    #[tokio::test(start_paused = true)]
    async fn a_head_that_stalls_gets_408() {
        let (mut client, task) = connected(test_state()).await;
        client
            .write_all(b"GET /health HTTP/1.1\r\nHo")
            .await
            .unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        assert!(out.contains("request_timeout"), "{out}");
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_closes_quietly() {
        let start = tokio::time::Instant::now();
        let (mut client, task) = connected(test_state()).await;
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert!(out.is_empty());
        assert!(start.elapsed() >= IDLE_TIMEOUT);
        task.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_closes_idle_connections() {
        let state = test_state();
        let (mut client, task) = connected(state.clone()).await;
        state.shutdown.cancel();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        assert!(out.is_empty());
        task.await.unwrap();
    }

    /// A body that announces one length and yields another.
    struct Lying {
        data: Option<Bytes>,
        claimed: u64,
    }

    impl HttpBody for Lying {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.data.take().map(|d| Ok(Frame::data(d))))
        }
        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.claimed)
        }
    }

    #[tokio::test]
    async fn a_body_that_breaks_its_length_closes_the_connection() {
        for (data, claimed, wire_body) in [
            (&b"short"[..], 10, &b"short"[..]),
            (&b"far too long"[..], 3, &b"far"[..]),
            (&b"exact"[..], 5, &b"exact"[..]),
        ] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let body = Lying {
                data: Some(Bytes::from_static(data)),
                claimed,
            };
            let resp = Response::new(body.boxed_unsync());
            let keep = write_response(&server, resp, true, false, Version::HTTP_11, false)
                .await
                .unwrap();
            assert_eq!(keep, data.len() as u64 == claimed, "{claimed}");
            drop(server);
            let mut out = Vec::new();
            client.read_to_end(&mut out).await.unwrap();
            assert!(
                out.ends_with(wire_body),
                "{}",
                String::from_utf8_lossy(&out)
            );
            let cl = format!("content-length: {claimed}\r\n");
            assert!(String::from_utf8_lossy(&out).contains(&cl));
        }
    }
}
