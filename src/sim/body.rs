//! The simulated relay's response body: a whole buffer or scripted chunks with gaps, plus the
//! guard that records whether the client went away before the response was complete.
//!
//! Cancellation is observed through drops: hyper drops the service future when the client
//! disconnects while a response is being prepared, and drops the body when it disconnects
//! mid-body. The [`CancelGuard`] travels from the future into the body, so whichever of the two
//! is dropped early marks the request cancelled; only yielding the final frame disarms it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::SseEnd;

/// Errors the simulated relay puts into a response body on purpose.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// [`SseEnd::Reset`]: the body fails, so hyper aborts the connection without the final
    /// chunk and the client sees a truncated stream.
    #[error("simulated connection reset")]
    Reset,
}

/// Marks the request cancelled when dropped before [`CancelGuard::complete`] was called.
#[derive(Debug)]
pub(crate) struct CancelGuard {
    flag: Arc<AtomicBool>,
    completed: bool,
}

impl CancelGuard {
    pub(crate) fn new(flag: Arc<AtomicBool>) -> Self {
        Self {
            flag,
            completed: false,
        }
    }

    /// The response went out in full (or the relay ended it on purpose): not a cancellation.
    pub(crate) fn complete(&mut self) {
        self.completed = true;
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.completed {
            self.flag.store(true, Ordering::SeqCst);
            tracing::debug!("sim relay: client went away before the response was complete");
        }
    }
}

/// Response body of the simulated relay.
#[derive(Debug)]
pub struct SimBody {
    state: State,
    guard: CancelGuard,
}

#[derive(Debug)]
enum State {
    Full(Option<Bytes>),
    Chunks {
        chunks: std::vec::IntoIter<Bytes>,
        /// Allocated only when there is a gap to wait for; re-armed with `reset` per chunk.
        sleep: Option<Pin<Box<Sleep>>>,
        gap: Duration,
        waiting: bool,
        started: bool,
        /// For `SseEnd::Reset`: the pre-error yield has happened.
        flushed: bool,
        end: SseEnd,
    },
    Done,
}

impl SimBody {
    pub(crate) fn full(bytes: Bytes, guard: CancelGuard) -> Self {
        Self {
            state: State::Full(Some(bytes)),
            guard,
        }
    }

    pub(crate) fn chunks(
        chunks: Vec<Bytes>,
        gap: Duration,
        end: SseEnd,
        guard: CancelGuard,
    ) -> Self {
        // Empty frames would only cost a wake-up each; they carry nothing on the wire.
        let chunks: Vec<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        Self {
            state: State::Chunks {
                chunks: chunks.into_iter(),
                sleep: (!gap.is_zero()).then(|| Box::pin(tokio::time::sleep(gap))),
                gap,
                waiting: false,
                started: false,
                flushed: false,
                end,
            },
            guard,
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = SimError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, SimError>>> {
        let this = self.get_mut();
        match &mut this.state {
            State::Done => {
                this.guard.complete();
                Poll::Ready(None)
            }
            State::Full(bytes) => {
                let frame = bytes.take();
                this.state = State::Done;
                this.guard.complete();
                Poll::Ready(frame.map(|b| Ok(Frame::data(b))))
            }
            State::Chunks {
                chunks,
                sleep,
                gap,
                waiting,
                started,
                flushed,
                end,
            } => {
                if chunks.as_slice().is_empty() {
                    return match end {
                        SseEnd::Close => {
                            this.state = State::Done;
                            this.guard.complete();
                            Poll::Ready(None)
                        }
                        // Nothing registers a waker: the body stays open until the client
                        // disconnects or the relay shuts the connection down.
                        SseEnd::Hang => Poll::Pending,
                        // Yield once first so hyper flushes the bytes already written:
                        // erroring right away would abort before they leave its buffer.
                        SseEnd::Reset if !*flushed => {
                            *flushed = true;
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        }
                        SseEnd::Reset => {
                            this.state = State::Done;
                            this.guard.complete();
                            Poll::Ready(Some(Err(SimError::Reset)))
                        }
                    };
                }
                if *started && let Some(sleep) = sleep.as_mut() {
                    if !*waiting {
                        sleep.as_mut().reset(Instant::now() + *gap);
                        *waiting = true;
                    }
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *waiting = false;
                }
                *started = true;
                Poll::Ready(chunks.next().map(|c| Ok(Frame::data(c))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done | State::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            State::Full(None) | State::Done => SizeHint::with_exact(0),
            State::Chunks { .. } => SizeHint::default(),
        }
    }
}
