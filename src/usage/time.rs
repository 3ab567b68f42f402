//! Time helpers for usage queries: the clock, UTC day boundaries, `--since` parsing and
//! timestamps as text.
//!
//! All days are UTC days (the same ones SQLite's `strftime(..., 'unixepoch')` groups by), so
//! "today" in `status`, the admin page and `usage --by day` agree whatever the local zone.
//! Pure integer arithmetic (Howard Hinnant's civil-date algorithms); no date crate needed.

use std::time::{SystemTime, UNIX_EPOCH};

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

/// `2026-11-01T09:30:00Z` for a unix-ms timestamp (second precision).
pub fn format_utc_ms(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(MS_PER_DAY);
    let secs = unix_ms.rem_euclid(MS_PER_DAY) / 1000;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Parse a `--since` value into a unix-ms lower bound, relative to `now_ms`:
/// `30m`, `24h`, `7d`, `4w` (a duration back from now), `2026-11-01` (UTC midnight of that
/// date), or `all` (everything).
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
    // The unit is the last character, which may be any character a user typed.
    let unit_at = v.char_indices().next_back().ok_or_else(bad)?.0;
    let (num, unit) = v.split_at(unit_at);
    let unit_ms: i64 = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => MS_PER_DAY,
        "w" => 7 * MS_PER_DAY,
        _ => return Err(bad()),
    };
    // Digits only: `u32::from_str` would also take a leading `+`.
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: i64 = num.parse().map_err(|_| bad())?;
    let back = n.checked_mul(unit_ms).ok_or_else(bad)?;
    Ok(now_ms.saturating_sub(back).max(0))
}

/// `YYYY-MM-DD` → UTC midnight in unix ms; `None` if not a valid calendar date.
fn parse_date(v: &str) -> Option<i64> {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let y = digits(v.get(0..4)?)?;
    let m = digits(v.get(5..7)?)?;
    let d = digits(v.get(8..10)?)?;
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d) * MS_PER_DAY)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
    fn day_start_and_roundtrip() {
        assert_eq!(utc_day_start(1_793_491_200_000 + 5), 1_793_491_200_000);
        assert_eq!(utc_day_start(-1), -MS_PER_DAY);
        for days in [-1000, 0, 1, 59, 365, 10_956, 20_000, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
