//! The deterministic routing policy, used whenever the router model cannot decide.
//!
//! It must always produce an answer from a non-empty candidate list, instantly and without
//! I/O: a router timeout, error, junk answer or unknown model never fails a request. The
//! rules mirror the router prompt's principles with keyword signals, so the fallback is a
//! reasonable choice rather than an arbitrary one.

use super::Mode;
use super::decision::Effort;
use super::features::Features;
use crate::catalog::{ModelFacts, Tier};

/// Words that signal a hard task.
const HARD: &[&str] = &[
    "architecture",
    "architect",
    "migration",
    "migrate",
    "race condition",
    "deadlock",
    "concurrency",
    "security",
    "vulnerab",
    "prove",
    "proof",
    "theorem",
    "design a",
    "design the",
    "production",
    "incident",
    "root cause",
    "repo-wide",
    "refactor",
    "distributed",
    "optimi",
    "trade-off",
    "tradeoff",
    "step by step",
    "analyze",
    "analyse",
    "contradiction",
];

/// Words that signal code.
const CODE: &[&str] = &[
    "```",
    "function",
    "code",
    "bug",
    "compile",
    "error:",
    "stack trace",
    "typescript",
    "javascript",
    "python",
    "rust",
    "golang",
    "java",
    "sql",
    "regex",
    "script",
    "api",
    "class ",
    "def ",
    "fn ",
    "import ",
];

/// The policy's choice.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyChoice {
    pub target: String,
    pub effort: Option<Effort>,
    pub difficulty: &'static str,
    pub task_type: &'static str,
    pub reason: String,
}

/// Choose among `candidates` (non-empty) for a request whose last user text is `text`.
pub fn choose(
    mode: Mode,
    features: &Features,
    text: &str,
    candidates: &[&ModelFacts],
    default_model: &str,
) -> Option<PolicyChoice> {
    if candidates.is_empty() {
        return None;
    }
    let lower = text.to_lowercase();
    let hard = HARD.iter().any(|w| lower.contains(w))
        || features.prompt_tokens > 30_000 && mode == Mode::LongText && lower.contains("analy");
    let code = mode == Mode::Coding || features.tools || CODE.iter().any(|w| lower.contains(w));

    if !default_model.is_empty()
        && !hard
        && let Some(m) = candidates.iter().find(|m| m.id == default_model)
    {
        return Some(PolicyChoice {
            target: m.id.clone(),
            effort: None,
            difficulty: "standard",
            task_type: "unknown",
            reason: "configured default model".into(),
        });
    }

    let (target, effort, difficulty, task_type, why) = if hard {
        let m = strongest(candidates);
        (
            m,
            Some(Effort::High),
            "hard",
            if code {
                "hard_coding"
            } else {
                "complex_reasoning"
            },
            "hard-task keywords",
        )
    } else if code {
        let m = cheapest_of_tier(candidates, Tier::Coding)
            .unwrap_or_else(|| cheapest_at_least(candidates, Tier::Standard));
        (
            m,
            Some(Effort::Low),
            "standard",
            "simple_coding",
            "coding request",
        )
    } else if mode == Mode::LongText {
        // The filter already removed models whose context is too small.
        (
            cheapest(candidates),
            None,
            "simple",
            "longtext_simple",
            "long text, simple task",
        )
    } else {
        (
            cheapest(candidates),
            None,
            "simple",
            "simple_chat",
            "simple request",
        )
    };
    Some(PolicyChoice {
        target: target.id.clone(),
        effort,
        difficulty,
        task_type,
        reason: format!("policy: {why} → {} tier", target.tier.as_str()),
    })
}

/// Price rank: known prices ascending, unknown prices last, stable in upstream order.
fn price_key(m: &ModelFacts) -> f64 {
    m.blended_price().unwrap_or(f64::MAX)
}

pub fn cheapest<'a>(c: &[&'a ModelFacts]) -> &'a ModelFacts {
    let mut best = c[0];
    for m in c.iter().skip(1) {
        if price_key(m) < price_key(best) {
            best = m;
        }
    }
    best
}

/// Highest tier, then the highest price within it (price is a proxy for strength).
pub fn strongest<'a>(c: &[&'a ModelFacts]) -> &'a ModelFacts {
    let mut best = c[0];
    for m in c.iter().skip(1) {
        let better = m.tier > best.tier
            || (m.tier == best.tier
                && m.blended_price().unwrap_or(0.0) > best.blended_price().unwrap_or(0.0));
        if better {
            best = m;
        }
    }
    best
}

fn cheapest_of_tier<'a>(c: &[&'a ModelFacts], tier: Tier) -> Option<&'a ModelFacts> {
    let of: Vec<&ModelFacts> = c.iter().copied().filter(|m| m.tier == tier).collect();
    (!of.is_empty()).then(|| cheapest(&of))
}

fn cheapest_at_least<'a>(c: &[&'a ModelFacts], tier: Tier) -> &'a ModelFacts {
    let of: Vec<&ModelFacts> = c.iter().copied().filter(|m| m.tier >= tier).collect();
    if of.is_empty() {
        strongest(c)
    } else {
        cheapest(&of)
    }
}
