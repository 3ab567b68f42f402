//! The engine's [`Relay`] over the real relay client: [`Upstream`] for the calls, and the
//! streaming look-ahead ([`relay::lookahead`]) so a stream reaches the engine only once it
//! passed its commit point. A failure before that is an error like any other, and the
//! engine decides what comes next.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;

use super::relay::{self, Committed};
use crate::engine::Relay;
use crate::upstream::{TokenUsage, Upstream, UpstreamError};

/// A successful answer, not yet sent.
pub enum Answer {
    Json {
        headers: HeaderMap,
        body: Bytes,
        usage: TokenUsage,
    },
    Stream {
        headers: HeaderMap,
        committed: Committed,
    },
}

/// One request's door to the relay: its id and the client headers worth forwarding.
pub struct UpstreamRelay<'a> {
    pub upstream: &'a Upstream,
    pub request_id: &'a str,
    pub forwarded: &'a HeaderMap,
}

impl Relay for UpstreamRelay<'_> {
    type Answer = Answer;

    async fn router(&self, body: Bytes, timeout: Duration) -> Result<Bytes, UpstreamError> {
        self.upstream
            .router_call(body, self.request_id, timeout)
            .await
    }

    async fn send(&self, body: Bytes, stream: bool) -> Result<Answer, UpstreamError> {
        let up = self.upstream;
        if stream {
            let sent = Instant::now();
            let resp = up.send_chat(body, self.request_id, self.forwarded).await?;
            let (headers, bytes) = resp.into_parts();
            let committed = relay::lookahead(bytes, sent + up.first_byte_timeout, sent).await?;
            Ok(Answer::Stream { headers, committed })
        } else {
            let (headers, body, usage) =
                up.chat_json(body, self.request_id, self.forwarded).await?;
            Ok(Answer::Json {
                headers,
                body,
                usage,
            })
        }
    }
}
