//! Time helpers for usage queries: the clock, UTC day boundaries, `--since` parsing and
//! timestamps as text, on `jiff`.
//!
//! All days are UTC days (the same ones SQLite's `strftime(..., 'unixepoch')` groups by), so
//! "today" in `status`, the admin page and `usage --by day` agree whatever the local zone.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::tz::TimeZone;
use jiff::{Span, SpanRelativeTo, Timestamp, Unit};

use super::UsageError;

const MS_PER_DAY: i64 = 86_400_000;

/// Milliseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Start of the UTC day containing `unix_ms` ("today" for totals).
pub fn utc_day_start(unix_ms: i64) -> i64 {
    unix_ms.div_euclid(MS_PER_DAY) * MS_PER_DAY
}

/// `2026-11-01T09:30:00Z` for a unix-ms timestamp (second precision); out-of-range values
/// (beyond jiff's years -9999..=9999) are clamped to its bounds.
pub fn format_utc_ms(unix_ms: i64) -> String {
    let ts = Timestamp::from_millisecond(unix_ms).unwrap_or(if unix_ms < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parse a `--since` value into a unix-ms lower bound, relative to `now_ms`:
/// `30m`, `24h`, `7d`, `4w` (a duration back from now; jiff's friendly durations such as
/// `1h30m` work too, days are 24 hours), `2026-11-01` (UTC midnight of that date), or `all`
/// (everything).
pub fn parse_since(value: &str, now_ms: i64) -> Result<i64, UsageError> {
    let bad = || UsageError::BadSince {
        value: value.to_string(),
    };
    let v = value.trim();
    if v.eq_ignore_ascii_case("all") {
        return Ok(0);
    }
    if let Some(ms) = parse_date(v) {
        return Ok(ms);
    }
    // A duration back from now: no sign (the direction is implied), no bare number, no
    // fractions of days (jiff would take `+7d` and `7.5h`).
    let starts_with_digit = v.bytes().next().is_some_and(|b| b.is_ascii_digit());
    if !starts_with_digit || v.contains(['.', ',']) {
        return Err(bad());
    }
    let span: Span = v.parse().map_err(|_| bad())?;
    let back = span
        .total((Unit::Millisecond, SpanRelativeTo::days_are_24_hours()))
        .map_err(|_| bad())?;
    if !back.is_finite() || back < 0.0 || back > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(now_ms.saturating_sub(back as i64).max(0))
}

/// `YYYY-MM-DD` → UTC midnight in unix ms; `None` if not a valid calendar date.
fn parse_date(v: &str) -> Option<i64> {
    // Exactly ten characters: jiff's `%m` would also take `2026-1-01`.
    if v.len() != 10 {
        return None;
    }
    let date = jiff::civil::Date::strptime("%Y-%m-%d", v).ok()?;
    let ts = date.to_zoned_datetime(TimeZone::UTC).ok()?.timestamp();
    Some(ts.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_793_000_000_000; // 2026-10-26T…Z

    #[test]
    fn durations() {
        assert_eq!(parse_since("30m", NOW).unwrap(), NOW - 30 * 60_000);
        assert_eq!(parse_since("24h", NOW).unwrap(), NOW - MS_PER_DAY);
        assert_eq!(parse_since("7d", NOW).unwrap(), NOW - 7 * MS_PER_DAY);
        assert_eq!(parse_since("2w", NOW).unwrap(), NOW - 14 * MS_PER_DAY);
        assert_eq!(parse_since("0d", NOW).unwrap(), NOW);
        assert_eq!(parse_since("all", NOW).unwrap(), 0);
        assert_eq!(
            parse_since("100000w", NOW).unwrap(),
            0,
            "clamped at the epoch"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_since("1970-01-01", NOW).unwrap(), 0);
        assert_eq!(parse_since("2026-11-01", NOW).unwrap(), 1_793_491_200_000);
        assert_eq!(parse_since("2024-02-29", NOW).unwrap(), 1_709_164_800_000);
        assert_eq!(format_utc_ms(1_793_491_200_000), "2026-11-01T00:00:00Z");
        assert_eq!(
            format_utc_ms(1_709_164_800_000 + 3_723_000),
            "2024-02-29T01:02:03Z"
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "d",
            "7",
            "7x",
            "-7d",
            "+7d",
            "7.5d",
            "bogus",
            "2026-13-01",
            "2025-02-29",
            "2026-1-01",
            "26-11-01",
            "99999999999999999999d",
            // A multi-byte last character (the unit) or date: rejected, never a panic.
            "7é",
            "7日",
            "🙂",
            "2026-11-0日",
            "2026—11-01",
        ] {
            let e = parse_since(bad, NOW).unwrap_err().to_string();
            assert!(e.contains("--since") && e.contains("7d"), "{bad}: {e}");
        }
    }

    #[test]
    fn day_start() {
        assert_eq!(utc_day_start(1_793_491_200_000 + 5), 1_793_491_200_000);
        assert_eq!(utc_day_start(-1), -MS_PER_DAY);
        assert_eq!(format_utc_ms(-MS_PER_DAY), "1969-12-31T00:00:00Z");
        assert!(format_utc_ms(i64::MAX).starts_with("9999-12-"));
        assert!(format_utc_ms(i64::MIN).contains("9999-01-"));
    }

    #[test]
    fn friendly_durations() {
        assert_eq!(parse_since("1h30m", NOW).unwrap(), NOW - 90 * 60_000);
    }
}
