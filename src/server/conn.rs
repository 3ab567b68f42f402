//! One client connection on hyper's HTTP/1.1 server: the listener limits, the request body
//! deadline, the checks hyper leaves to us, and the connection's part in graceful drain.
//!
//! hyper owns the wire: head parsing (`httparse`, [`MAX_HEADERS`] headers), keep-alive and
//! HTTP/1.0, pipelining, chunked bodies (strict chunk sizes: `+4a` and ` 4a` are refused),
//! `Expect: 100-continue` (sent only when the body is first polled, so a request refused
//! on its head never uploads its body), refusing conflicting Content-Lengths and a last
//! coding that is not `chunked` (its own bare 400 that closes), `date`, HEAD, and dropping
//! the handler's future when the client goes away.
//!
//! What hyper is lenient about is refused here, on the head, before the body is read and
//! with `connection: close` (see [`refuse_head`]): two `Host` headers, a coding besides
//! `chunked`, an `Expect` other than `100-continue`, a head over [`MAX_HEAD`] (431 in the
//! OpenAI shape; hyper's own bare 431 only beyond twice that). A request with both
//! Content-Length and Transfer-Encoding is read as chunked by hyper, which drops the
//! Content-Length (so we never see it) and closes the connection after the answer
//! (RFC 9112 §6.1), so nothing can be smuggled behind it. A response to a request whose
//! body was left unread says `connection: close` (hyper closes such connections).
//!
//! Deadlines (all injectable through [`ServerLimits`] so tests use short ones):
//! - the head: [`HEAD_TIMEOUT`] from its first byte, not extended by bytes that trickle
//!   in; the idle keep-alive limit: [`IDLE_TIMEOUT`]. Both are tracked by
//!   [`super::clock`], because hyper's `header_read_timeout` (a true deadline too) starts
//!   when a connection begins to wait, idle time included, so it cannot be both;
//! - the body: [`TimedBody`], from the first poll of the body (`server.body_timeout_secs`);
//!   a stalled or trickled upload ends with 408.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONNECTION, EXPECT, HOST, TRANSFER_ENCODING};
use http::{HeaderValue, Request, Response};
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::clock::{ConnClock, Tracked, Watched};
use super::{AppState, Body};
use crate::error::ApiError;

/// Largest request head accepted (request line and headers); 431 beyond.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers in a request head (hyper's default too); 431 beyond.
pub const MAX_HEADERS: usize = 100;
/// How long a request head may take from its first byte (slow-loris guard).
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a keep-alive connection may sit idle between requests.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Timing limits of the listener. Production uses [`ServerLimits::default`]; tests inject
/// short ones through [`super::serve_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Deadline for a request head, from its first byte.
    pub head_timeout: Duration,
    /// Idle keep-alive limit.
    pub idle_timeout: Duration,
    /// Deadline for a request body; `None` takes `server.body_timeout_secs` of the config
    /// the request runs under, so a reload changes it.
    pub body_timeout: Option<Duration>,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            head_timeout: HEAD_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            body_timeout: None,
        }
    }
}

/// The request body handlers read: hyper's, under the body deadline.
pub type ReqBody = TimedBody<Incoming>;

/// The body deadline passed: the error [`TimedBody`] yields.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} seconds", .0.as_secs())]
pub struct BodyTimeout(pub Duration);

impl BodyTimeout {
    pub fn api_error(&self) -> ApiError {
        ApiError::new(
            408,
            "invalid_request_error",
            "request_timeout",
            format!("{self}; send it faster or raise `server.body_timeout_secs`",),
        )
    }
}

/// A body that fails with [`BodyTimeout`] once its deadline passes. The clock starts at the
/// first poll: a handler that refuses on the head never starts it (nor sends `100 Continue`).
pub struct TimedBody<B> {
    inner: B,
    limit: Duration,
    // Boxed: only bodies that are read pay for a timer entry.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    expired: bool,
    /// Set once the body was read to its end; `None` for a body that was empty from the
    /// start (no allocation for GETs).
    done: Option<Arc<AtomicBool>>,
}

impl<B: HttpBody> TimedBody<B> {
    pub fn new(inner: B, limit: Duration) -> Self {
        let done = (!inner.is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
        Self {
            inner,
            limit,
            sleep: None,
            expired: false,
            done,
        }
    }

    /// A handle that tells, after the handler, whether the body was left unread.
    pub fn unread(&self) -> Unread {
        Unread(self.done.clone())
    }
}

/// Whether a request body was left (partly) unread: then the connection must close, since
/// the next request's start is unknown (hyper closes it; the answer says so).
#[derive(Debug, Clone)]
pub struct Unread(Option<Arc<AtomicBool>>);

impl Unread {
    pub fn is_unread(&self) -> bool {
        self.0.as_ref().is_some_and(|d| !d.load(Ordering::Relaxed))
    }
}

impl<B> std::fmt::Debug for TimedBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimedBody")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<B> HttpBody for TimedBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(Some(Err(Box::new(BodyTimeout(this.limit)))));
        }
        if let Poll::Ready(r) = Pin::new(&mut this.inner).poll_frame(cx) {
            if (r.is_none() || this.inner.is_end_stream())
                && let Some(d) = &this.done
            {
                d.store(true, Ordering::Relaxed);
            }
            return Poll::Ready(r.map(|f| f.map_err(Into::into)));
        }
        let limit = this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired = true;
                Poll::Ready(Some(Err(Box::new(BodyTimeout(limit)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether a request head must be refused before its body is read, and the answer. The
/// answer closes the connection: the body was not read, so the next request's start is
/// unknown.
pub fn refuse_head<B>(req: &Request<B>) -> Option<ApiError> {
    let headers = req.headers();
    // hyper's own limit is twice ours (its bare 431 has no body); up to that, the client
    // gets the OpenAI envelope. Counted as on the wire: `name: value\r\n` per header.
    let head = req.method().as_str().len()
        + req.uri().path_and_query().map_or(0, |p| p.as_str().len())
        + headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head > MAX_HEAD {
        return Some(ApiError::new(
            431,
            "invalid_request_error",
            "request_header_fields_too_large",
            format!(
                "the request head is larger than {MAX_HEAD} bytes or has more than {MAX_HEADERS} headers"
            ),
        ));
    }
    if headers.get_all(HOST).iter().nth(1).is_some() {
        return Some(ApiError::bad_request(
            "a request may carry only one Host header",
        ));
    }
    let codings = headers
        .get_all(TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("\u{0}").split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let mut chunked = 0;
    for t in codings {
        if !t.eq_ignore_ascii_case("chunked") {
            // hyper already refused a last coding other than chunked; one before it is a
            // coding we do not decode.
            return Some(ApiError::new(
                501,
                "invalid_request_error",
                "not_implemented",
                format!(
                    "transfer coding `{t}` is not supported; send the body with Content-Length or chunked only"
                ),
            ));
        }
        chunked += 1;
    }
    if chunked > 1 {
        return Some(ApiError::bad_request(
            "a request body may be chunked only once",
        ));
    }
    if let Some(v) = headers.get(EXPECT)
        && (headers.get_all(EXPECT).iter().nth(1).is_some()
            || !v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
    {
        return Some(ApiError::new(
            417,
            "invalid_request_error",
            "expectation_failed",
            "only `Expect: 100-continue` is supported",
        ));
    }
    None
}

/// Mark a response so hyper closes the connection after it.
pub fn close_after(resp: &mut Response<Body>) {
    resp.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}

/// The connection builder with our limits.
fn builder(limits: &ServerLimits) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    // hyper's head timer runs from the moment a connection waits for a head, idle time
    // included, so it is set to the idle limit as a backstop; the head deadline proper is
    // the clock's (`server::clock`).
    b.timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout.max(limits.head_timeout))
        .max_headers(MAX_HEADERS)
        .max_header_size(2 * MAX_HEAD)
        .keep_alive(true);
    b
}

/// Serve one client connection until it closes, times out, or the drain closes it.
pub async fn serve_conn(stream: TcpStream, state: Arc<AppState>, limits: ServerLimits) {
    let clock = Arc::new(ConnClock::default());
    let svc_state = state.clone();
    let svc_clock = clock.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let state = svc_state.clone();
        let clock = svc_clock.clone();
        async move {
            clock.busy();
            let body_limit = limits.body_timeout.unwrap_or_else(|| {
                Duration::from_secs(state.runtime.load().config.server.body_timeout_secs)
            });
            let req = req.map(|b| TimedBody::new(b, body_limit));
            let unread = req.body().unread();
            let mut resp = super::handle(state, req).await;
            if unread.is_unread() {
                close_after(&mut resp);
            }
            Ok::<_, std::convert::Infallible>(resp.map(|b| Tracked::new(b, clock)))
        }
    });
    let io = TokioIo::new(Watched::new(stream, clock.clone()));
    let conn = builder(&limits).serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        why = clock.expired(&limits) => {
            // Dropping the connection closes the socket: an idle client reconnects, a
            // trickled head is cut off.
            tracing::debug!(?why, "closing a client connection at its limit");
            return;
        }
        _ = state.shutdown.cancelled() => {
            // Idle: closes now. Busy: finishes the current response, then closes.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // Client errors (bad heads, timeouts, resets) are the client's business.
        tracing::debug!(error = %e, "client connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn h(pairs: &[(&'static str, &'static str)]) -> Request<()> {
        let mut r = Request::new(());
        for (k, v) in pairs {
            r.headers_mut().append(*k, HeaderValue::from_static(v));
        }
        r
    }

    #[test]
    fn heads_hyper_lets_through_are_refused_here() {
        assert!(refuse_head(&h(&[("host", "a")])).is_none());
        assert!(refuse_head(&h(&[("host", "a"), ("transfer-encoding", "chunked")])).is_none());
        assert!(refuse_head(&h(&[("expect", "100-Continue")])).is_none());
        let status = |p: &[(&'static str, &'static str)]| refuse_head(&h(p)).map(|e| e.status);
        assert_eq!(status(&[("host", "a"), ("host", "a")]), Some(400));
        assert_eq!(status(&[("transfer-encoding", "gzip, chunked")]), Some(501));
        assert_eq!(
            status(&[
                ("transfer-encoding", "gzip"),
                ("transfer-encoding", "chunked")
            ]),
            Some(501)
        );
        assert_eq!(
            status(&[("transfer-encoding", "chunked, chunked")]),
            Some(400)
        );
        assert_eq!(status(&[("expect", "tea")]), Some(417));
        let big = "a".repeat(MAX_HEAD);
        let mut r = h(&[]);
        r.headers_mut()
            .insert("x-big", HeaderValue::from_str(&big).expect("value"));
        assert_eq!(refuse_head(&r).map(|e| e.status), Some(431));
    }

    /// A body that never yields.
    struct Stalled;

    impl HttpBody for Stalled {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_fails_with_the_deadline() {
        let limit = Duration::from_secs(60);
        let start = tokio::time::Instant::now();
        let err = TimedBody::new(Stalled, limit)
            .collect()
            .await
            .expect_err("must time out");
        let t = err.downcast_ref::<BodyTimeout>().expect("a BodyTimeout");
        assert_eq!(t.api_error().status, 408);
        // Paused time: the clock moved exactly to the deadline, not past it.
        assert_eq!(start.elapsed(), limit);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_arrives_is_passed_through() {
        let body = http_body_util::Full::new(Bytes::from_static(b"hello"));
        let got = TimedBody::new(body, Duration::from_secs(1))
            .collect()
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&got[..], b"hello");
    }
}
