//! Boundary-safe cutting of text: the one place the crate shortens, clips or prefix-tests a
//! `str` by a length.
//!
//! Indexing a `str` with a byte range panics when an end falls inside a multi-byte
//! character (`Привет`, `こんにちは`, `’`, emoji). Client text reaches many helpers, so
//! every cut by a count goes through these functions instead of `&s[..n]`: they never panic,
//! whatever the text and whatever the count.

/// The largest index `<= i` that is a character boundary of `s` (`s.len()` when `i` is past
/// the end). Stable `str::floor_char_boundary` is not available on our MSRV.
pub fn floor_boundary(s: &str, i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    // A UTF-8 character is at most 4 bytes, so a boundary is at most 3 steps back; 0 always is.
    (i.saturating_sub(3)..=i)
        .rev()
        .find(|&j| s.is_char_boundary(j))
        .unwrap_or(0)
}

/// At most the first `max` bytes of `s`, shortened to end on a character boundary.
pub fn prefix_bytes(s: &str, max: usize) -> &str {
    // `floor_boundary` returns a boundary, so `get` always succeeds; `""` is the safe default.
    s.get(..floor_boundary(s, max)).unwrap_or("")
}

/// At most the first `max` characters of `s`.
pub fn prefix_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

/// The last `n` characters of `s` (all of it when it is shorter).
pub fn suffix_chars(s: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    match s.char_indices().rev().nth(n - 1) {
        Some((i, _)) => s.get(i..).unwrap_or(s),
        None => s,
    }
}

/// `s` without `prefix`, compared ASCII-case-insensitively (`Bearer `, `data:`).
pub fn strip_prefix_ignore_ascii_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    // `get` is `None` when `prefix.len()` is not a boundary of `s`: then `s` cannot start
    // with `prefix`, whose own end is a boundary.
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}

/// At most `max` characters of `s`, with `…` appended when something was cut.
pub fn clip_chars(s: &str, max: usize) -> String {
    let p = prefix_chars(s, max);
    if p.len() == s.len() {
        s.to_string()
    } else {
        format!("{p}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cuts_on_boundaries() {
        let s = "aé日🙂"; // 1 + 2 + 3 + 4 bytes
        let ends: Vec<usize> = (0..=11).map(|i| floor_boundary(s, i)).collect();
        assert_eq!(ends, [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 10]);
        assert_eq!(prefix_bytes(s, 5), "aé");
        assert_eq!(prefix_chars(s, 3), "aé日");
        assert_eq!(suffix_chars(s, 2), "日🙂");
        assert_eq!(suffix_chars(s, 9), s);
        assert_eq!(suffix_chars(s, 0), "");
        assert_eq!(clip_chars(s, 2), "aé…");
        assert_eq!(clip_chars(s, 4), s);
        assert_eq!(
            strip_prefix_ignore_ascii_case("Bearer x", "bearer "),
            Some("x")
        );
        assert_eq!(strip_prefix_ignore_ascii_case("Привет", "data:"), None);
        assert_eq!(strip_prefix_ignore_ascii_case("dat", "data:"), None);
    }

    proptest! {
        #[test]
        fn never_panics_and_stays_a_prefix(s in "\\PC{0,40}", n in 0usize..200) {
            let p = prefix_bytes(&s, n);
            prop_assert!(s.starts_with(p) && p.len() <= n);
            // The longest such prefix: the next character would cross `n`.
            let next = s[p.len()..].chars().next().map_or(0, char::len_utf8);
            prop_assert!(p.len() == s.len() || p.len() + next > n);
            let c = prefix_chars(&s, n);
            prop_assert_eq!(c.chars().count(), s.chars().count().min(n));
            let t = suffix_chars(&s, n);
            prop_assert!(s.ends_with(t));
            prop_assert_eq!(t.chars().count(), s.chars().count().min(n));
            let _ = strip_prefix_ignore_ascii_case(&s, "data:");
            let _ = clip_chars(&s, n);
        }
    }
}
