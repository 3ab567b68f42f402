//! The cooldown table: each model's consecutive failures and cooldown, across requests.
//!
//! A model that fails `threshold` times in a row (retryable failures only: 429, 5xx,
//! timeouts) is skipped for `cooldown` so later requests do not pay for the same failure.
//! One success resets it. The lock is held only for map updates, never across an await.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Default, Clone)]
struct Entry {
    consecutive: u32,
    until: Option<Instant>,
    failures: u64,
    successes: u64,
}

/// The shared cooldown table.
#[derive(Debug, Default)]
pub struct Cooldowns {
    map: Mutex<HashMap<String, Entry>>,
}

/// A model's cooldown state as shown by `status` and the admin page.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CooldownView {
    pub model: String,
    pub consecutive_failures: u32,
    pub cooldown_remaining_secs: Option<u64>,
    pub failures: u64,
    pub successes: u64,
}

impl Cooldowns {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> R) -> R {
        let mut g = self.map.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Is the model cooling down right now?
    pub fn is_cooling(&self, model: &str, now: Instant) -> bool {
        self.with(|m| m.get(model).and_then(|e| e.until).is_some_and(|u| u > now))
    }

    pub fn success(&self, model: &str) {
        self.with(|m| {
            let e = m.entry(model.to_string()).or_default();
            e.consecutive = 0;
            e.until = None;
            e.successes += 1;
        });
    }

    /// Record a retryable failure; returns true when this failure started a cooldown.
    pub fn failure(&self, model: &str, threshold: u32, cooldown: Duration, now: Instant) -> bool {
        self.with(|m| {
            let e = m.entry(model.to_string()).or_default();
            e.consecutive += 1;
            e.failures += 1;
            if threshold > 0 && e.consecutive >= threshold {
                e.consecutive = 0;
                e.until = Some(now + cooldown);
                true
            } else {
                false
            }
        })
    }

    pub fn snapshot(&self, now: Instant) -> Vec<CooldownView> {
        let mut v: Vec<CooldownView> = self.with(|m| {
            m.iter()
                .map(|(k, e)| CooldownView {
                    model: k.clone(),
                    consecutive_failures: e.consecutive,
                    cooldown_remaining_secs: e
                        .until
                        .filter(|u| *u > now)
                        .map(|u| (u - now).as_secs().max(1)),
                    failures: e.failures,
                    successes: e.successes,
                })
                .collect()
        });
        v.sort_by(|a, b| a.model.cmp(&b.model));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cools_down_after_threshold_and_recovers() {
        let h = Cooldowns::new();
        let t0 = Instant::now();
        let cd = Duration::from_secs(60);
        assert!(!h.failure("m", 2, cd, t0));
        assert!(h.failure("m", 2, cd, t0));
        assert!(h.is_cooling("m", t0 + Duration::from_secs(1)));
        assert!(!h.is_cooling("m", t0 + Duration::from_secs(61)));
        h.success("m");
        assert!(!h.is_cooling("m", t0));
        assert_eq!(h.snapshot(t0)[0].successes, 1);
    }
}
