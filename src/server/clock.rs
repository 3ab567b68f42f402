//! What one client connection is doing and since when (idle, reading a head, busy with a
//! request), and the watchdog that ends it when it idles or dawdles over a head too long.
//!
//! Why our own: hyper's `header_read_timeout` starts as soon as a keep-alive connection
//! waits for its next head, so it cannot tell a connection that sits idle (fine for
//! minutes; clients reuse it) from one that trickles a head (a slow-loris client). So hyper
//! keeps its timer only as a backstop at the idle limit, and the phases are tracked here:
//! - bytes read while idle start a head: deadline [`ServerLimits::head_timeout`] from the
//!   first byte, never extended by later bytes;
//! - hyper handing us the request makes the connection busy: no limit (the body has its
//!   own deadline, the response may be a long stream);
//! - the response body done (dropped by hyper once written) makes it idle again: limit
//!   [`ServerLimits::idle_timeout`].
//!
//! One slack, on purpose: a pipelined head whose first bytes arrived while the previous
//! request was answered is held to the idle limit, not the head limit (hyper already has
//! those bytes, so no read marks them); hyper's timer still bounds it.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::conn::ServerLimits;

const IDLE: u64 = 0;
const HEAD: u64 = 1;
const BUSY: u64 = 2;
/// The phase sits in the top two bits of [`ConnClock::state`], its start below.
const PHASE_SHIFT: u32 = 62;
const SINCE_MASK: u64 = (1 << PHASE_SHIFT) - 1;

/// Which limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    Idle,
    Head,
}

/// The phase of one connection, shared by its socket, its service and its watchdog.
///
/// The request path only stores (three atomic stores and clock reads per request); it never
/// wakes the watchdog. The watchdog looks when its own timer fires instead (see
/// [`ConnClock::expired`]): waking it on every phase change woke the whole connection task
/// three times per request.
#[derive(Debug)]
pub struct ConnClock {
    /// The phase and when it began (nanoseconds since `base`), in one word, so a reader
    /// never pairs one phase with another's start.
    state: AtomicU64,
    base: Instant,
}

impl Default for ConnClock {
    fn default() -> Self {
        Self {
            state: AtomicU64::new(IDLE << PHASE_SHIFT),
            base: Instant::now(),
        }
    }
}

impl ConnClock {
    fn set(&self, phase: u64) {
        let since = u64::try_from(self.base.elapsed().as_nanos())
            .unwrap_or(SINCE_MASK)
            .min(SINCE_MASK);
        self.state
            .store(phase << PHASE_SHIFT | since, Ordering::Relaxed);
    }

    fn get(&self) -> (u64, Instant) {
        let v = self.state.load(Ordering::Relaxed);
        (
            v >> PHASE_SHIFT,
            self.base + Duration::from_nanos(v & SINCE_MASK),
        )
    }

    /// Bytes arrived: when idle, a head has started.
    fn read_some(&self) {
        if self.state.load(Ordering::Relaxed) >> PHASE_SHIFT == IDLE {
            self.set(HEAD);
        }
    }

    /// hyper handed us a request.
    pub fn busy(&self) {
        self.set(BUSY);
    }

    /// The response is done.
    pub fn idle(&self) {
        self.set(IDLE);
    }

    /// Resolves when the connection has been idle, or in a head, for longer than allowed.
    ///
    /// Nothing wakes this but its own timer. It sleeps to the deadline of the phase it sees,
    /// and, while the connection is idle or busy, never longer than the head limit: a head
    /// that starts meanwhile started after this last looked, so the next look comes before
    /// that head's deadline, and the deadline is kept exactly.
    pub async fn expired(&self, limits: &ServerLimits) -> Expired {
        let look = limits.head_timeout;
        let sleep = tokio::time::sleep(look);
        let mut sleep = std::pin::pin!(sleep);
        loop {
            let (phase, since) = self.get();
            let now = Instant::now();
            let wake = match phase {
                IDLE | HEAD => {
                    let (limit, why) = if phase == IDLE {
                        (limits.idle_timeout, Expired::Idle)
                    } else {
                        (limits.head_timeout, Expired::Head)
                    };
                    let deadline = since + limit;
                    if deadline <= now {
                        return why;
                    }
                    deadline.min(now + look)
                }
                _ => now + look,
            };
            sleep.as_mut().reset(wake);
            sleep.as_mut().await;
        }
    }
}

/// The client socket, telling the clock when bytes arrive.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    clock: std::sync::Arc<ConnClock>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, clock: std::sync::Arc<ConnClock>) -> Self {
        Self { inner, clock }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.clock.read_some();
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A response body that marks the connection idle when hyper is done with it.
pub struct Tracked<B> {
    inner: B,
    clock: std::sync::Arc<ConnClock>,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, clock: std::sync::Arc<ConnClock>) -> Self {
        Self { inner, clock }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.clock.idle();
    }
}

impl<B: HttpBody<Data = Bytes> + Unpin> HttpBody for Tracked<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits() -> ServerLimits {
        ServerLimits {
            head_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(300),
            body_timeout: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_head_have_their_own_limits() {
        let clock = ConnClock::default();
        let start = Instant::now();
        assert_eq!(clock.expired(&limits()).await, Expired::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(300));
        clock.read_some();
        let start = Instant::now();
        // More bytes of the same head do not move the deadline.
        let more = async {
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                clock.read_some();
            }
        };
        let l = limits();
        tokio::select! {
            e = clock.expired(&l) => assert_eq!(e, Expired::Head),
            _ = more => panic!("the head deadline was extended"),
        }
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_never_expires_and_idles_after() {
        let clock = std::sync::Arc::new(ConnClock::default());
        clock.read_some();
        clock.busy();
        let c = clock.clone();
        let done = tokio::spawn(async move { c.expired(&limits()).await });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!done.is_finished());
        let start = Instant::now();
        drop(Tracked::new((), clock.clone()));
        assert_eq!(done.await.expect("join"), Expired::Idle);
        assert_eq!(start.elapsed(), Duration::from_secs(300));
    }
}
