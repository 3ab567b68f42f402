//! In-memory counters and the recent-decisions ring, for `status` and the control endpoint.
//!
//! Bounded by construction: the ring keeps the last [`RECENT`] decisions and the per-target
//! map has one entry per model the upstream lists. Updates are a few atomic adds and one short
//! lock, off the byte path of streams.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// How many recent decisions are kept.
pub const RECENT: usize = 50;

/// One routed request, as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RecentDecision {
    pub at_unix: u64,
    pub request_id: String,
    pub model: String,
    pub target: String,
    pub decision: String,
    pub effort: Option<String>,
    pub reason: String,
    pub router_model: Option<String>,
    pub router_ms: u64,
    pub attempts: u32,
    pub status: u16,
}

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub fallbacks: AtomicU64,
    pub in_flight: AtomicU64,
    per_target: Mutex<BTreeMap<String, u64>>,
    recent: Mutex<VecDeque<RecentDecision>>,
}

/// A copy for serialisation.
#[derive(Debug, Clone, Serialize)]
pub struct StatsView {
    pub requests: u64,
    pub errors: u64,
    pub fallbacks: u64,
    pub in_flight: u64,
    pub per_target: BTreeMap<String, u64>,
    pub recent: Vec<RecentDecision>,
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Stats {
    pub fn record(&self, status: u16, target: Option<&str>, recent: Option<RecentDecision>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status >= 400 {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(t) = target.filter(|t| !t.is_empty()) {
            let mut m = self.per_target.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = m.get_mut(t) {
                *c += 1;
            } else {
                m.insert(t.to_string(), 1);
            }
        }
        if let Some(r) = recent {
            if r.decision == "fallback-policy" {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
            }
            let mut q = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if q.len() == RECENT {
                q.pop_front();
            }
            q.push_back(r);
        }
    }

    pub fn view(&self) -> StatsView {
        StatsView {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            fallbacks: self.fallbacks.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            per_target: self
                .per_target
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            recent: self
                .recent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .rev()
                .cloned()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_bounded() {
        let s = Stats::default();
        for i in 0..(RECENT + 10) {
            s.record(
                200,
                Some("m"),
                Some(RecentDecision {
                    at_unix: 0,
                    request_id: i.to_string(),
                    model: "auto".into(),
                    target: "m".into(),
                    decision: "router".into(),
                    effort: None,
                    reason: String::new(),
                    router_model: None,
                    router_ms: 0,
                    attempts: 1,
                    status: 200,
                }),
            );
        }
        let v = s.view();
        assert_eq!(v.recent.len(), RECENT);
        assert_eq!(v.recent[0].request_id, (RECENT + 9).to_string());
        assert_eq!(v.per_target["m"], (RECENT + 10) as u64);
    }
}
