//! The panic net: a bug that panics inside a request handler, or while a streaming response
//! body is polled, becomes an answer instead of a dropped connection.
//!
//! - [`catch`] runs the handler future under `catch_unwind`: a panic becomes a 500 in the
//!   OpenAI shape (built by the caller, `server::handle`), logged once with the request id.
//! - [`PanicSafe`] wraps a streaming body: a panic in `poll_frame` ends the stream with one
//!   SSE error event, and the connection task lives on.
//! - Counting: the chat handler's accounting guard (`accounting::Accounted`) is dropped during
//!   the unwind or right after it (see [`drop_after_panic`]); it asks [`after_panic`] and
//!   then records the request as a 500, and says so with [`note_recorded`] so the caller
//!   does not count it twice. Routes without such a record are counted by the caller.
//!
//! - The request id: [`catch_request`] and [`PanicSafe`] note which request is being polled
//!   on this thread ([`current_request_id`]), so the panic hook (`logging`) can name it in its
//!   line; the hook runs before the unwind, when only the panicking thread knows.
//!
//! The flags are thread-local: a panic, its unwind, the catch and the drop that follows all
//! happen within one poll on one thread.

use std::any::Any;
use std::cell::Cell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::FutureExt;
use hyper::body::{Body as HttpBody, Frame, SizeHint};

use super::Body;
use crate::error::ApiError;

thread_local! {
    static AFTER_PANIC: Cell<bool> = const { Cell::new(false) };
    static RECORDED: Cell<bool> = const { Cell::new(false) };
    static REQUEST: Cell<Option<Arc<str>>> = const { Cell::new(None) };
}

/// The request whose handler or response body this thread is polling, if any.
pub fn current_request_id() -> Option<Arc<str>> {
    REQUEST
        .try_with(|r| {
            let id = r.take();
            r.set(id.clone());
            id
        })
        .ok()
        .flatten()
}

/// Run `f` with `id` as [`current_request_id`]; the previous one is back afterwards, also
/// when `f` unwinds.
fn in_request<R>(id: &Arc<str>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<str>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            let _ = REQUEST.try_with(|r| r.set(previous));
        }
    }
    let _restore = Restore(
        REQUEST
            .try_with(|r| r.replace(Some(id.clone())))
            .ok()
            .flatten(),
    );
    f()
}

/// True while unwinding, or while [`drop_after_panic`] drops what a panic left behind.
pub fn after_panic() -> bool {
    std::thread::panicking() || AFTER_PANIC.with(Cell::get)
}

/// A per-request record counted the panicked request (as a 500).
pub fn note_recorded() {
    RECORDED.with(|r| r.set(true));
}

/// Drop `value` (the remains of a panicked handler or body) with [`after_panic`] true.
/// Returns whether a record counted the request while it was dropped (or during the unwind
/// before it).
pub fn drop_after_panic<T>(value: T) -> bool {
    AFTER_PANIC.with(|a| a.set(true));
    drop(value);
    AFTER_PANIC.with(|a| a.set(false));
    RECORDED.with(|r| r.replace(false))
}

/// The text of a panic payload (`panic!("...")` carries a `&str` or a `String`).
pub fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// What a panicked handler left: its message and whether it was already counted.
#[derive(Debug)]
pub struct Panicked {
    pub message: String,
    pub recorded: bool,
}

/// Run a handler future; a panic becomes `Err`. The future is boxed so its remains can be
/// dropped under [`drop_after_panic`] before this returns.
pub async fn catch<F, T>(fut: F) -> Result<T, Panicked>
where
    F: Future<Output = T>,
{
    // Clear what an unrelated unwind on this thread may have left.
    RECORDED.with(|r| r.set(false));
    let mut fut = Box::pin(AssertUnwindSafe(fut).catch_unwind());
    match fut.as_mut().await {
        Ok(v) => Ok(v),
        Err(payload) => {
            let message = message(payload.as_ref()).to_string();
            drop(payload);
            let recorded = drop_after_panic(fut);
            Err(Panicked { message, recorded })
        }
    }
}

/// [`catch`] for one request: while the handler is polled, [`current_request_id`] is
/// `request_id`.
pub async fn catch_request<F, T>(request_id: &str, fut: F) -> Result<T, Panicked>
where
    F: Future<Output = T>,
{
    let id: Arc<str> = Arc::from(request_id);
    // Boxed and moved into the poll function, so `catch` owns the handler and drops its
    // remains under `drop_after_panic`.
    let mut fut = Box::pin(fut);
    catch(std::future::poll_fn(move |cx| {
        in_request(&id, || fut.as_mut().poll(cx))
    }))
    .await
}

/// The error a client gets for a panicked request, as JSON (500) or as an SSE event.
pub fn api_error() -> ApiError {
    ApiError::internal(
        "the gateway failed on this request (a bug); please report it with the x-request-id",
    )
}

/// A streaming body that turns a panic while it is polled into one SSE error event and the
/// end of the stream.
pub struct PanicSafe {
    inner: Option<Body>,
    request_id: Arc<str>,
}

impl PanicSafe {
    pub fn new(inner: Body, request_id: String) -> Self {
        Self {
            inner: Some(inner),
            request_id: Arc::from(request_id),
        }
    }
}

impl HttpBody for PanicSafe {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = in_request(&this.request_id, || {
            std::panic::catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll_frame(cx)))
        });
        match polled {
            Ok(p) => p,
            Err(payload) => {
                tracing::error!(
                    request_id = %this.request_id,
                    panic = message(payload.as_ref()),
                    "response stream panicked; ending it with an error event"
                );
                drop(payload);
                drop_after_panic(this.inner.take());
                Poll::Ready(Some(Ok(Frame::data(api_error().to_sse_event()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        // Never exact: a panic changes what is sent.
        let mut h = SizeHint::new();
        if let Some(i) = &self.inner {
            h.set_lower(i.size_hint().lower());
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_panicking_future_becomes_err_with_its_message() {
        let r = catch(async {
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("boom at byte 5");
            }
            1
        })
        .await;
        let p = r.expect_err("the panic is caught");
        assert_eq!(p.message, "boom at byte 5");
        assert!(!p.recorded);
        assert_eq!(catch(async { 7 }).await.expect("no panic"), 7);
    }

    /// Notes itself as recorded when dropped after a panic, like `accounting::Accounted`.
    struct Record;

    impl Drop for Record {
        fn drop(&mut self) {
            if after_panic() {
                note_recorded();
            }
        }
    }

    #[tokio::test]
    async fn a_record_dropped_by_the_panic_is_reported() {
        let r = catch(async {
            let _rec = Record;
            tokio::task::yield_now().await;
            if std::hint::black_box(true) {
                panic!("after an await");
            }
        })
        .await;
        assert!(r.expect_err("caught").recorded);
        // A record dropped normally says nothing.
        drop(Record);
        assert!(catch(async { drop(Record) }).await.is_ok());
        assert!(!RECORDED.with(Cell::get));
    }

    /// Two events, then a panic on the third poll.
    struct Bomb(u8);

    impl HttpBody for Bomb {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0 += 1;
            if self.0 > 2 {
                panic!("stream bug");
            }
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"data: {}\n\n")))))
        }
    }

    #[tokio::test]
    async fn a_panicking_stream_ends_with_one_error_event() {
        let body = PanicSafe::new(Bomb(0).boxed_unsync(), "req_test".into());
        let out = body.collect().await.expect("infallible").to_bytes();
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("data: {}\n\n").count(), 2, "{text}");
        assert!(
            text.ends_with("data: {\"error\":{\"code\":\"internal_error\",\"message\":\"the gateway failed on this request (a bug); please report it with the x-request-id\",\"param\":null,\"type\":\"server_error\"}}\n\n"),
            "{text}"
        );
        assert_eq!(text.matches("\"error\"").count(), 1, "{text}");
    }

    /// Answers one frame naming the request the panic net says is being polled.
    struct WhoAmI;

    impl HttpBody for WhoAmI {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            let id = current_request_id()
                .map(|i| i.to_string())
                .unwrap_or_default();
            Poll::Ready(Some(Ok(Frame::data(Bytes::from(id)))))
        }
        fn is_end_stream(&self) -> bool {
            false
        }
    }

    #[tokio::test]
    async fn the_request_being_polled_is_known_only_while_it_is_polled() {
        assert!(current_request_id().is_none());
        let seen = catch_request("req_a", async {
            let first = current_request_id();
            tokio::task::yield_now().await;
            (first, current_request_id())
        })
        .await
        .expect("no panic");
        assert_eq!(seen.0.as_deref(), Some("req_a"));
        assert_eq!(seen.1.as_deref(), Some("req_a"));
        assert!(current_request_id().is_none());
        // Also after a panic unwound through it.
        let r = catch_request("req_b", async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
        })
        .await;
        assert!(r.is_err());
        assert!(current_request_id().is_none());

        let mut body = PanicSafe::new(WhoAmI.boxed_unsync(), "req_s".into());
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect("infallible");
        assert_eq!(
            frame.into_data().expect("data"),
            Bytes::from_static(b"req_s")
        );
        assert!(current_request_id().is_none());
    }
}
