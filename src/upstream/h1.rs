//! A minimal HTTP/1.1 client connection for chat calls: write one request, parse the
//! response head with `httparse`, and read the body (content-length, chunked, or until close)
//! in the caller's own task.
//!
//! Why not hyper's client here: hyper runs every client connection as its own task and hands
//! each decoded HTTP chunk to the request over a channel, one chunk per task switch. A stream
//! of 20 small events then cost 20 writes to the client (nothing else had arrived yet when
//! the gateway looked), and every connection carried the task, the channel's blocks
//! (~14 KiB) and 16 KiB of buffers (docs/performance.md). Read in the caller's task, all
//! chunks that have arrived are decoded at once and leave as one write.
//!
//! Invariants: a connection is reused only after a response that was read to its end and
//! allows keep-alive (HTTP/1.1 without `connection: close`, with a length or chunked body);
//! a response body dropped early drops its connection; response heads are capped at
//! [`MAX_HEAD`]; an idle connection keeps no read buffer.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

/// The socket: plain TCP, or TLS over it.
pub type Io = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// Largest response head accepted (status line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers in a response head.
const MAX_HEADERS: usize = 128;
/// Bytes asked of a TLS socket per read (plain TCP reads go through [`with_scratch`]).
const READ_SIZE: usize = 8 * 1024;
/// The per-thread buffer plain sockets are read into, on both sides of the gateway.
const SCRATCH_SIZE: usize = 16 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `try_read`, and when the read did not fill `buf`, the socket is marked not ready, as
/// tokio's own `poll_read` does: the kernel buffer is empty, so the next read would only
/// return EAGAIN. Plain `try_read` keeps the readiness until it sees that EAGAIN, which cost
/// two wasted syscalls per request. (Readiness is cleared only if no new event arrived in
/// between, so nothing is missed.)
pub(crate) fn try_read_drained(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let len = buf.len();
    let mut got = 0;
    let r = stream.try_io(tokio::io::Interest::READABLE, || {
        let n = stream.try_read(buf)?;
        got = n;
        if n > 0 && n < len {
            Err(io::ErrorKind::WouldBlock.into())
        } else {
            Ok(n)
        }
    });
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        r => r,
    }
}

/// Run `f` on this thread's scratch read buffer. Reading into it and copying out only the
/// bytes that arrived keeps a waiting connection free of buffers: 256 connections with an
/// 8 KiB buffer each were 2 MiB (docs/performance.md). `f` must not call back in here.
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with_borrow_mut(|s| {
        if s.len() < SCRATCH_SIZE {
            s.resize(SCRATCH_SIZE, 0);
        }
        f(&mut s[..])
    })
}
/// Bodies up to this size are written together with the head (one syscall).
const INLINE_BODY: usize = 16 * 1024;

/// An open connection, idle between requests.
pub struct Conn {
    io: Io,
    /// Bytes read but not consumed. Empty (and unallocated) while idle.
    buf: BytesMut,
}

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked(Chunk),
    /// Until the relay closes (no reuse).
    Close,
}

/// Where the chunked decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading a size line.
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// After chunk data: its CRLF.
    DataEnd,
    /// After the last (zero) chunk: trailer lines until an empty one.
    Trailers,
    Done,
}

/// A response head.
#[derive(Debug)]
pub struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
}

impl Conn {
    pub fn new(io: Io) -> Conn {
        Conn {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Whether an idle connection is still usable: nothing to read and not closed. A relay
    /// that closed a keep-alive connection (its idle timer fired) shows up here as EOF, so
    /// the request goes to a fresh connection instead of failing half way.
    pub fn is_alive(&mut self) -> bool {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut byte = [0u8; 1];
        let mut rb = ReadBuf::new(&mut byte);
        // Ready means EOF, an error, or bytes nobody asked for: not reusable.
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut rb)
            .is_pending()
    }

    /// Write a request: `head` is the request line and headers up to and including the
    /// blank line (see [`request_head`]).
    pub async fn write_request(&mut self, head: &[u8], body: &Bytes) -> io::Result<()> {
        if body.len() <= INLINE_BODY {
            let mut all = Vec::with_capacity(head.len() + body.len());
            all.extend_from_slice(head);
            all.extend_from_slice(body);
            self.io.write_all(&all).await?;
        } else {
            self.io.write_all(head).await?;
            self.io.write_all(body).await?;
        }
        self.io.flush().await
    }

    /// Read the response head (1xx heads are skipped). Returns the head and the body.
    pub async fn read_response(mut self) -> Result<(Head, Body), String> {
        loop {
            let parsed = loop {
                if let Some(p) = parse_head(&self.buf)? {
                    break p;
                }
                if self.buf.len() >= MAX_HEAD {
                    return Err(format!("response head larger than {MAX_HEAD} bytes"));
                }
                let n = std::future::poll_fn(|cx| self.poll_fill(cx))
                    .await
                    .map_err(|e| format!("reading the response failed: {e}"))?;
                if n == 0 {
                    return Err(if self.buf.is_empty() {
                        "the relay closed the connection before answering".to_string()
                    } else {
                        "the relay closed the connection in the middle of the response head"
                            .to_string()
                    });
                }
            };
            let (len, head, framing, keep_alive) = parsed;
            self.buf.advance(len);
            if head.status.is_informational() {
                continue;
            }
            let body = Body {
                conn: Some(self),
                framing,
                keep_alive,
                done: framing == Framing::Length(0),
            };
            return Ok((head, body));
        }
    }

    /// One read into the buffer; `Ok(0)` at EOF.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if let Either::Left(tcp) = &self.io {
            // Plain TCP: read into the thread's scratch buffer and keep only what arrived,
            // in an allocation of that size.
            loop {
                ready!(tcp.poll_read_ready(cx))?;
                let r = with_scratch(|scratch| {
                    let n = try_read_drained(tcp, scratch)?;
                    self.buf.extend_from_slice(&scratch[..n]);
                    Ok::<_, io::Error>(n)
                });
                match r {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return Poll::Ready(r),
                }
            }
        }
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_SIZE);
        }
        let dst = self.buf.spare_capacity_mut();
        let mut rb = ReadBuf::uninit(dst);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut rb))?;
        let n = rb.filled().len();
        // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        Poll::Ready(Ok(n))
    }
}

/// Append one `name: value` header line; the writer of both the relay's request heads and
/// the server's response heads.
pub(crate) fn push_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Append a `content-length` header line (no allocation for the number).
pub(crate) fn push_content_length(out: &mut Vec<u8>, n: u64) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "content-length: {n}\r\n");
}

/// The request line and headers for a request with a body of `body_len` bytes.
pub fn request_head(method: &str, path: &str, headers: &HeaderMap, body_len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + headers.len() * 48);
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        push_header(&mut out, name.as_str().as_bytes(), value.as_bytes());
    }
    push_content_length(&mut out, body_len as u64);
    out.extend_from_slice(b"\r\n");
    out
}

type Parsed = (usize, Head, Framing, bool);

/// Parse a complete head at the start of `buf`; `None` when more bytes are needed.
fn parse_head(buf: &[u8]) -> Result<Option<Parsed>, String> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut slots);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("invalid response head from the relay: {e}")),
    };
    let code = resp.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| format!("invalid status {code} from the relay"))?;
    let http11 = resp.version == Some(1);
    let mut headers = HeaderMap::with_capacity(resp.headers.len());
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = !http11;
    for h in resp.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            continue;
        };
        if name == http::header::CONTENT_LENGTH {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| "invalid content-length from the relay".to_string())?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting content-length headers from the relay".into());
            }
            length = Some(n);
        } else if name == http::header::TRANSFER_ENCODING {
            // Only `chunked` is meaningful last; anything else is read until close.
            let last = value
                .to_str()
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .map(|v| v.trim().eq_ignore_ascii_case("chunked"));
            chunked = last == Some(true);
            if last != Some(true) {
                close = true;
            }
        } else if name == http::header::CONNECTION {
            let v = value.to_str().unwrap_or("");
            if v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")) {
                close = true;
            }
        }
        headers.append(name, value);
    }
    let no_body = status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        Framing::Length(0)
    } else if chunked {
        // Transfer-encoding wins over content-length (RFC 9112 §6.3).
        Framing::Chunked(Chunk::Size)
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    let keep_alive = !close && framing != Framing::Close;
    Ok(Some((len, Head { status, headers }, framing, keep_alive)))
}

/// A response body, read from the connection in the reader's task. Yields everything that
/// has arrived at once (several chunks become one `Bytes`).
pub struct Body {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    done: bool,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("framing", &self.framing)
            .field("done", &self.done)
            .finish()
    }
}

impl Body {
    /// The connection, once the body was read to its end and the connection may be reused.
    /// Its read buffer is released: an idle connection keeps none.
    pub fn take_reusable(&mut self) -> Option<Conn> {
        if !(self.done && self.keep_alive) {
            return None;
        }
        let mut conn = self.conn.take()?;
        if !conn.buf.is_empty() {
            // Bytes after the end of the response: the stream is out of step.
            return None;
        }
        conn.buf = BytesMut::new();
        Some(conn)
    }

    /// Decode what the buffer holds; `Ok(None)` when more bytes are needed.
    fn decode(&mut self) -> Result<Option<Bytes>, String> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let buf = &mut conn.buf;
        match &mut self.framing {
            Framing::Length(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = (*left).min(buf.len() as u64) as usize;
                *left -= n as u64;
                if *left == 0 {
                    self.done = true;
                }
                Ok(Some(buf.split_to(n).freeze()))
            }
            Framing::Close => {
                if buf.is_empty() {
                    return Ok(None);
                }
                Ok(Some(buf.split().freeze()))
            }
            Framing::Chunked(state) => {
                let mut out: Option<BytesMut> = None;
                let mut first: Option<Bytes> = None;
                while let Some(piece) = decode_chunk(state, buf)? {
                    match (&mut first, &mut out) {
                        (None, None) => first = Some(piece),
                        (Some(f), None) => {
                            let mut o = BytesMut::with_capacity(f.len() + piece.len());
                            o.extend_from_slice(f);
                            o.extend_from_slice(&piece);
                            first = None;
                            out = Some(o);
                        }
                        (_, Some(o)) => o.extend_from_slice(&piece),
                    }
                }
                if *state == Chunk::Done {
                    self.done = true;
                }
                Ok(out.map(BytesMut::freeze).or(first))
            }
        }
    }

    /// The next piece of the body: `Ready(None)` at its end.
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, String>>> {
        loop {
            if let Some(b) = self.decode().transpose() {
                return Poll::Ready(Some(b));
            }
            if self.done {
                return Poll::Ready(None);
            }
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let n = match ready!(conn.poll_fill(cx)) {
                Ok(n) => n,
                Err(e) => {
                    self.done = true;
                    self.conn = None;
                    return Poll::Ready(Some(Err(format!("reading the answer failed: {e}"))));
                }
            };
            if n == 0 {
                self.done = true;
                self.conn = None;
                return Poll::Ready(match self.framing {
                    Framing::Close => None,
                    _ => Some(Err(
                        "the relay closed the connection before the answer was complete".into(),
                    )),
                });
            }
        }
    }
}

/// One step of the chunked decoder over `buf`: chunk data (zero-copy), or `None` when the
/// buffer holds nothing more to decode.
pub(crate) fn decode_chunk(state: &mut Chunk, buf: &mut BytesMut) -> Result<Option<Bytes>, String> {
    loop {
        match *state {
            Chunk::Size => {
                let Some(eol) = memchr::memchr(b'\n', buf) else {
                    if buf.len() > 1024 {
                        return Err("chunk size line too long".into());
                    }
                    return Ok(None);
                };
                let line = &buf[..eol];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                // Chunk extensions (`;name=value`) carry nothing we use.
                let hex = line.split(|&b| b == b';').next().unwrap_or(&[]);
                let hex = std::str::from_utf8(hex).map_err(|_| "invalid chunk size")?;
                let size = u64::from_str_radix(hex.trim(), 16)
                    .map_err(|_| format!("invalid chunk size `{}`", hex.trim()))?;
                buf.advance(eol + 1);
                *state = if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = left.min(buf.len() as u64) as usize;
                let piece = buf.split_to(n).freeze();
                *state = if left == n as u64 {
                    Chunk::DataEnd
                } else {
                    Chunk::Data(left - n as u64)
                };
                return Ok(Some(piece));
            }
            Chunk::DataEnd => {
                if buf.starts_with(b"\r\n") {
                    buf.advance(2);
                } else if buf.starts_with(b"\n") {
                    buf.advance(1);
                } else if buf.is_empty() || buf[..] == b"\r"[..] {
                    return Ok(None);
                } else {
                    return Err("missing CRLF after chunk data".into());
                }
                *state = Chunk::Size;
            }
            Chunk::Trailers => {
                let Some(eol) = memchr::memchr(b'\n', buf) else {
                    if buf.len() > MAX_HEAD {
                        return Err("chunked trailers too long".into());
                    }
                    return Ok(None);
                };
                let empty = eol == 0 || (eol == 1 && buf[0] == b'\r');
                buf.advance(eol + 1);
                if empty {
                    *state = Chunk::Done;
                }
            }
            Chunk::Done => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(parts: &[&[u8]]) -> Result<(Vec<u8>, bool), String> {
        let mut state = Chunk::Size;
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for p in parts {
            buf.extend_from_slice(p);
            while let Some(piece) = decode_chunk(&mut state, &mut buf)? {
                out.extend_from_slice(&piece);
            }
        }
        Ok((out, state == Chunk::Done))
    }

    #[test]
    fn chunked_bodies() {
        let wire = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n";
        assert_eq!(
            decode_all(&[wire]).unwrap(),
            (b"hello world".to_vec(), true)
        );
        // Bare LF line ends are accepted.
        assert_eq!(
            decode_all(&[b"3\nabc\n0\n\n"]).unwrap(),
            (b"abc".to_vec(), true)
        );
        assert!(decode_all(&[b"zz\r\n"]).is_err());
        assert!(decode_all(&[b"3\r\nabcX"]).is_err());
        // Incomplete: not done, nothing invented.
        assert_eq!(
            decode_all(&[b"5\r\nhel"]).unwrap(),
            (b"hel".to_vec(), false)
        );
    }

    proptest! {
        /// Any split of the wire bytes decodes to the same body.
        #[test]
        fn chunked_splits(body in proptest::collection::vec(any::<u8>(), 0..600),
                          sizes in proptest::collection::vec(1usize..70, 1..20),
                          cuts in proptest::collection::vec(0usize..700, 0..12)) {
            let mut wire = Vec::new();
            let mut rest = &body[..];
            let mut i = 0;
            while !rest.is_empty() {
                let n = sizes[i % sizes.len()].min(rest.len());
                wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                wire.extend_from_slice(&rest[..n]);
                wire.extend_from_slice(b"\r\n");
                rest = &rest[n..];
                i += 1;
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(wire.len())).collect();
            cuts.sort_unstable();
            let mut parts: Vec<&[u8]> = Vec::new();
            let mut last = 0;
            for c in cuts {
                parts.push(&wire[last..c]);
                last = c;
            }
            parts.push(&wire[last..]);
            prop_assert_eq!(decode_all(&parts).unwrap(), (body, true));
        }
    }

    #[test]
    fn heads() {
        let (len, head, framing, keep) =
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-a: b\r\n\r\nhello")
                .unwrap()
                .unwrap();
        assert_eq!(len, 46);
        assert_eq!(head.status, 200);
        assert_eq!(head.headers["x-a"], "b");
        assert_eq!(framing, Framing::Length(5));
        assert!(keep);
        let (_, _, framing, keep) = parse_head(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 9\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(framing, Framing::Chunked(Chunk::Size));
        assert!(keep);
        let (_, _, framing, keep) =
            parse_head(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(framing, Framing::Length(1));
        assert!(!keep);
        let (_, _, framing, keep) = parse_head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap();
        assert_eq!(framing, Framing::Close);
        assert!(!keep);
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-le")
                .unwrap()
                .is_none()
        );
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n")
                .is_err()
        );
    }

    #[test]
    fn request_heads() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("relay:8080"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let head = request_head("POST", "/v1/chat/completions", &h, 2);
        assert_eq!(
            String::from_utf8(head).unwrap(),
            "POST /v1/chat/completions HTTP/1.1\r\nhost: relay:8080\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"
        );
    }
}
