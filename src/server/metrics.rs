//! Prometheus metrics: counters and histograms updated once per finished request, rendered
//! in the text exposition format at `GET /metrics`.
//!
//! Hand-rolled rather than a metrics crate: a dozen series, one short lock per request, and
//! full control over names and label escaping. Label sets are bounded by the models the
//! relay lists: `model` and `target` come from the client, so a name that is neither a
//! virtual model nor listed by the relay is counted under [`OTHER`] (see [`label`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::models::ModelState;
use crate::engine::VIRTUAL_MODELS;

/// The label every model name outside the virtual models and the relay's list shares.
pub const OTHER: &str = "other";

/// The metrics label for a model name a client sent (or a target derived from one): kept
/// when it is a virtual model or listed by the relay, else [`OTHER`], so 300 made-up names
/// add one series, not 300. The empty name (a request rejected before any model) is kept.
pub fn label<'a>(name: &'a str, listed: &ModelState) -> &'a str {
    if name.is_empty() || VIRTUAL_MODELS.contains(&name) || listed.index.contains_key(name) {
        name
    } else {
        OTHER
    }
}

/// Upper bounds in seconds, from "instant" to "reasoning model thinking".
const BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// A fixed-bucket histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe_ms(&self, ms: u64) {
        let secs = ms as f64 / 1000.0;
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(ms * 1000, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                self.counts[i].load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// What one finished request contributes.
#[derive(Debug, Clone, Default)]
pub struct Observation<'a> {
    pub model: &'a str,
    pub target: &'a str,
    pub status: u16,
    pub routed: bool,
    pub router_ms: u64,
    pub answer_ms: u64,
    pub total_ms: u64,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
    pub router_cost_usd: Option<f64>,
    pub fallback_policy: bool,
    pub extra_attempts: u64,
}

/// Nested maps so the common case (series already exists) looks up by `&str` without
/// allocating a key.
#[derive(Debug, Default)]
struct Series {
    /// model → target → status → count
    requests: BTreeMap<String, BTreeMap<String, BTreeMap<u16, u64>>>,
    /// target → [prompt, completion] tokens
    tokens: BTreeMap<String, [u64; 2]>,
    /// target → USD
    cost: BTreeMap<String, f64>,
    router_cost: f64,
}

/// `map[key]`, inserting a default only when the key is new.
fn slot<'m, V: Default>(map: &'m mut BTreeMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    // Present now: either it was, or it was just inserted.
    map.entry(key.to_string()).or_default()
}

#[derive(Debug, Default)]
pub struct Metrics {
    series: Mutex<Series>,
    pub router_stage: Histogram,
    pub first_byte: Histogram,
    pub total: Histogram,
    fallbacks: AtomicU64,
    retries: AtomicU64,
    cooldowns: AtomicU64,
}

/// Gauges read at render time.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub in_flight: u64,
    pub cooling_models: u64,
    pub upstream_up: bool,
    pub models: u64,
    /// Usage records not stored (queue full, writer stopped, failed batches).
    pub usage_dropped: u64,
    /// Usage records waiting for the writer.
    pub usage_queued: u64,
}

impl Metrics {
    pub fn cooldown(&self) {
        self.cooldowns.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe(&self, o: &Observation) {
        if o.routed {
            self.router_stage.observe_ms(o.router_ms);
        }
        if o.status < 400 {
            self.first_byte.observe_ms(o.answer_ms);
        }
        self.total.observe_ms(o.total_ms);
        if o.fallback_policy {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
        }
        self.retries.fetch_add(o.extra_attempts, Ordering::Relaxed);
        let mut s = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let by_target = match s.requests.get_mut(o.model) {
            Some(m) => m,
            None => slot(&mut s.requests, o.model),
        };
        let by_status = match by_target.get_mut(o.target) {
            Some(m) => m,
            None => slot(by_target, o.target),
        };
        *by_status.entry(o.status).or_default() += 1;
        if o.prompt_tokens.is_some() || o.completion_tokens.is_some() {
            let t = match s.tokens.get_mut(o.target) {
                Some(t) => t,
                None => slot(&mut s.tokens, o.target),
            };
            t[0] += o.prompt_tokens.unwrap_or(0);
            t[1] += o.completion_tokens.unwrap_or(0);
        }
        if let Some(c) = o.cost_usd {
            match s.cost.get_mut(o.target) {
                Some(v) => *v += c,
                None => *slot(&mut s.cost, o.target) += c,
            }
        }
        if let Some(c) = o.router_cost_usd {
            s.router_cost += c;
        }
    }

    /// The text exposition format.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP llm_router_info Build information.\n# TYPE llm_router_info gauge\nllm_router_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        {
            let s = self.series.lock().unwrap_or_else(|e| e.into_inner());
            out.push_str("# HELP llm_router_requests_total Chat requests by requested model, target model and status.\n# TYPE llm_router_requests_total counter\n");
            for (model, by_target) in &s.requests {
                for (target, by_status) in by_target {
                    for (status, n) in by_status {
                        let _ = writeln!(
                            out,
                            "llm_router_requests_total{{model=\"{}\",target=\"{}\",status=\"{status}\"}} {n}",
                            esc(model),
                            esc(target)
                        );
                    }
                }
            }
            out.push_str("# HELP llm_router_tokens_total Tokens reported by the relay, by target model and kind.\n# TYPE llm_router_tokens_total counter\n");
            for (target, [p, c]) in &s.tokens {
                for (kind, n) in [("prompt", p), ("completion", c)] {
                    let _ = writeln!(
                        out,
                        "llm_router_tokens_total{{target=\"{}\",kind=\"{kind}\"}} {n}",
                        esc(target)
                    );
                }
            }
            out.push_str("# HELP llm_router_cost_usd_total Estimated answer cost from catalog prices, by target model.\n# TYPE llm_router_cost_usd_total counter\n");
            for (target, c) in &s.cost {
                let _ = writeln!(
                    out,
                    "llm_router_cost_usd_total{{target=\"{}\"}} {c}",
                    esc(target)
                );
            }
            let _ = writeln!(
                out,
                "# HELP llm_router_router_cost_usd_total Estimated cost of the router model's calls.\n# TYPE llm_router_router_cost_usd_total counter\nllm_router_router_cost_usd_total {}",
                s.router_cost
            );
        }
        self.router_stage.render(
            "llm_router_router_stage_seconds",
            "Time spent deciding (router call or policy) for virtual-model requests.",
            &mut out,
        );
        self.first_byte.render(
            "llm_router_first_byte_seconds",
            "Time from sending the answer request to its first byte (streams: first event).",
            &mut out,
        );
        self.total.render(
            "llm_router_request_duration_seconds",
            "Whole request duration (streams: until the stream ended).",
            &mut out,
        );
        let counters = [
            (
                "llm_router_fallback_policy_total",
                "Decisions made by the fallback policy because the router failed.",
                self.fallbacks.load(Ordering::Relaxed),
            ),
            (
                "llm_router_retries_total",
                "Answer attempts beyond the first (fallback to another model).",
                self.retries.load(Ordering::Relaxed),
            ),
            (
                "llm_router_cooldowns_total",
                "Times a model entered cooldown after repeated failures.",
                self.cooldowns.load(Ordering::Relaxed),
            ),
            (
                "llm_router_usage_dropped_total",
                "Usage records not stored: queue full, writer stopped, or a failed batch.",
                g.usage_dropped,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        let gauges = [
            (
                "llm_router_in_flight_requests",
                "Requests being served now.",
                g.in_flight,
            ),
            (
                "llm_router_models_cooling",
                "Models currently in cooldown.",
                g.cooling_models,
            ),
            (
                "llm_router_upstream_up",
                "1 when the relay's model list was fetched successfully.",
                u64::from(g.upstream_up),
            ),
            (
                "llm_router_upstream_models",
                "Models the relay lists.",
                g.models,
            ),
            (
                "llm_router_usage_queued",
                "Usage records waiting for the writer; a steady climb means the disk cannot keep up.",
                g.usage_queued,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}

/// Escape a label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histograms() {
        let m = Metrics::default();
        m.observe(&Observation {
            model: "auto",
            target: "gpt-5.5",
            status: 200,
            routed: true,
            router_ms: 12,
            answer_ms: 30,
            total_ms: 80,
            prompt_tokens: Some(10),
            completion_tokens: Some(5),
            cost_usd: Some(0.001),
            router_cost_usd: Some(0.0001),
            ..Default::default()
        });
        m.cooldown();
        let text = m.render(&Gauges {
            in_flight: 1,
            usage_dropped: 3,
            usage_queued: 7,
            ..Default::default()
        });
        assert!(text.contains(
            "llm_router_requests_total{model=\"auto\",target=\"gpt-5.5\",status=\"200\"} 1"
        ));
        assert!(text.contains("llm_router_tokens_total{target=\"gpt-5.5\",kind=\"prompt\"} 10"));
        assert!(text.contains("llm_router_router_stage_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("llm_router_router_stage_seconds_count 1"));
        assert!(text.contains("llm_router_cooldowns_total 1"));
        assert!(text.contains("llm_router_in_flight_requests 1"));
        assert!(text.contains("llm_router_usage_dropped_total 3"));
        assert!(text.contains("llm_router_usage_queued 7"));
        assert_eq!(esc("a\"b\\c"), "a\\\"b\\\\c");
    }

    #[test]
    fn labels_are_bounded_by_the_listed_models() {
        let raw = vec![serde_json::json!({"id": "gpt-5.5"})];
        let facts = crate::catalog::join(
            &raw,
            crate::catalog::Catalog::embedded(),
            &Default::default(),
        );
        let listed = ModelState::new(raw, facts, Some(0));
        assert_eq!(label("gpt-5.5", &listed), "gpt-5.5");
        assert_eq!(label("auto-coding", &listed), "auto-coding");
        assert_eq!(label("", &listed), "");
        assert_eq!(label("made-up-7", &listed), OTHER);
        let m = Metrics::default();
        for i in 0..300 {
            let name = format!("made-up-{i}");
            m.observe(&Observation {
                model: label(&name, &listed),
                target: label(&name, &listed),
                status: 404,
                ..Default::default()
            });
        }
        let text = m.render(&Gauges::default());
        let series = text
            .lines()
            .filter(|l| l.starts_with("llm_router_requests_total{"))
            .collect::<Vec<_>>();
        assert_eq!(
            series,
            ["llm_router_requests_total{model=\"other\",target=\"other\",status=\"404\"} 300"]
        );
    }
}
