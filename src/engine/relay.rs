//! The engine's one door to the relay ([`Relay`]), and the rules for what a relay error
//! means: whether another attempt may help and whom the failure is charged to ([`verdict`]),
//! and which rejections are the gateway's own additions to undo ([`repair`]).
//!
//! The real door is `server::upstream_relay::UpstreamRelay` (the reqwest client plus the
//! streaming look-ahead); the unit tests pass scripted fakes, so every routing rule runs
//! without sockets.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::decision::RouterReply;
use super::{RouterCallError, RouterCaller};
use crate::upstream::{Stage, UpstreamError};

/// Everything the engine sends to the relay.
pub trait Relay: Sync {
    /// A successful answer, not yet sent to the client: a whole JSON body, or a stream that
    /// passed its commit point (so a failure before the first real event is an `Err` here,
    /// and the engine moves on to the next candidate).
    type Answer: Send;

    /// The router model's call: the chat body, and the whole answer's bytes within `timeout`.
    fn router(
        &self,
        body: Bytes,
        timeout: Duration,
    ) -> impl Future<Output = Result<Bytes, UpstreamError>> + Send;

    /// One answer attempt with this (already rewritten) chat body.
    fn send(
        &self,
        body: Bytes,
        stream: bool,
    ) -> impl Future<Output = Result<Self::Answer, UpstreamError>> + Send;
}

/// What a failed attempt means for fallback and for the cooldown table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Another model may do better, and this one is charged (429, 5xx, 408/409, a timeout
    /// after the relay was reached, a stream that failed before its first event).
    ChargeModel,
    /// The relay itself could not be reached (connect refused or reset, or the connect timed
    /// out): try again, but charge no model. There is one relay for every model, so charging
    /// the model would cool every model down during an outage, and the first request after the
    /// relay came back would find nothing healthy to try.
    RelayFault,
    /// Final: the answer is about the request (a 4xx) or the relay sent something no other
    /// model would fix; passed on to the client as it is.
    Final,
}

impl Verdict {
    /// Whether another attempt may help.
    pub fn retries(self) -> bool {
        !matches!(self, Verdict::Final)
    }
}

/// The one rule for relay errors (exhaustive on purpose: a new error kind must be decided).
pub fn verdict(e: &UpstreamError) -> Verdict {
    match e {
        UpstreamError::Connect(_) | UpstreamError::Timeout(Stage::Connect) => Verdict::RelayFault,
        UpstreamError::Timeout(
            Stage::FirstByte
            | Stage::Response
            | Stage::FirstEvent
            | Stage::CompleteAnswer
            | Stage::RouterAnswer
            | Stage::ModelList,
        ) => Verdict::ChargeModel,
        UpstreamError::Status { status, .. } => match *status {
            408 | 409 | 429 | 500.. => Verdict::ChargeModel,
            _ => Verdict::Final,
        },
        UpstreamError::Stream(_) => Verdict::ChargeModel,
        UpstreamError::Invalid(_) => Verdict::Final,
    }
}

/// A change the gateway made to the client's body that the relay rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Send again without the `reasoning_effort` we added.
    DropEffort,
    /// Send again without the `stream_options` we added.
    DropUsage,
}

/// Whether `e` is a 400 about something we added (and not the client): then the same model
/// is asked again without it, and that does not count as an attempt. Relays say so only in
/// the message text, so the text is all there is to go on.
pub fn repair(e: &UpstreamError, added_effort: bool, added_usage: bool) -> Option<Repair> {
    let UpstreamError::Status {
        status: 400,
        message,
        ..
    } = e
    else {
        return None;
    };
    let msg = message.to_ascii_lowercase();
    if added_effort && msg.contains("reasoning") {
        return Some(Repair::DropEffort);
    }
    if added_usage && (msg.contains("stream_options") || msg.contains("include_usage")) {
        return Some(Repair::DropUsage);
    }
    None
}

/// The decision stage's router door over a [`Relay`]: an unreachable relay is told apart, so
/// it does not count against the router model.
pub struct RouterVia<'a, R>(pub &'a R);

impl<R: Relay> RouterVia<'_, R> {
    /// The router body serialised straight into bytes, the answer's bytes back.
    async fn answer(&self, body: &Value, timeout: Duration) -> Result<Bytes, RouterCallError> {
        let body = serde_json::to_vec(body)
            .map_err(|e| RouterCallError::Failed(format!("router request: {e}")))?;
        self.0
            .router(Bytes::from(body), timeout)
            .await
            .map_err(|e| match verdict(&e) {
                Verdict::RelayFault => RouterCallError::RelayUnreachable(e.to_string()),
                Verdict::ChargeModel | Verdict::Final => RouterCallError::Failed(e.to_string()),
            })
    }
}

fn not_json(e: serde_json::Error) -> RouterCallError {
    RouterCallError::Failed(format!("router answer is not JSON: {e}"))
}

impl<R: Relay> RouterCaller for RouterVia<'_, R> {
    async fn call(&self, body: Value, timeout: Duration) -> Result<Value, RouterCallError> {
        let bytes = self.answer(&body, timeout).await?;
        serde_json::from_slice(&bytes).map_err(not_json)
    }

    /// Bytes → text and usage, directly: the path every routed request takes.
    async fn reply(&self, body: Value, timeout: Duration) -> Result<RouterReply, RouterCallError> {
        let bytes = self.answer(&body, timeout).await?;
        RouterReply::from_slice(&bytes).map_err(not_json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, message: &str) -> UpstreamError {
        UpstreamError::Status {
            status,
            message: message.into(),
            kind: None,
            code: None,
            retry_after: None,
            headers: Vec::new(),
        }
    }

    #[test]
    fn only_an_unreachable_relay_is_a_relay_fault() {
        let conn = UpstreamError::Connect("connection refused".into());
        assert_eq!(verdict(&conn), Verdict::RelayFault);
        assert_eq!(
            verdict(&UpstreamError::Timeout(Stage::Connect)),
            Verdict::RelayFault
        );
        // Reached the relay: the model (or the relay's route to it) is at fault.
        for e in [
            UpstreamError::Timeout(Stage::FirstByte),
            UpstreamError::Timeout(Stage::FirstEvent),
            UpstreamError::Stream("closed".into()),
            status(503, "overloaded"),
            status(429, "slow down"),
        ] {
            assert_eq!(verdict(&e), Verdict::ChargeModel, "{e}");
        }
        for e in [
            status(400, "bad"),
            status(401, "key"),
            status(404, "no such model"),
            UpstreamError::Invalid("br".into()),
        ] {
            assert_eq!(verdict(&e), Verdict::Final, "{e}");
        }
    }

    #[test]
    fn repairs_only_what_we_added() {
        let effort = status(400, "Unsupported parameter: 'reasoning_effort'");
        assert_eq!(repair(&effort, true, true), Some(Repair::DropEffort));
        assert_eq!(repair(&effort, false, false), None);
        let usage = status(400, "stream_options is not supported");
        assert_eq!(repair(&usage, true, true), Some(Repair::DropUsage));
        assert_eq!(repair(&usage, true, false), None);
        assert_eq!(repair(&status(422, "reasoning"), true, true), None);
    }
}
