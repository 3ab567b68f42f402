//! The `.env` parser (the file in the current directory, read by `config::load`).
//!
//! Rules are the original project's, so existing files keep their meaning: lines split on
//! LF/CRLF and trimmed; blank lines and `#` lines skipped; `KEY=VALUE` split at the first `=`
//! (lines without `=` skipped); key and value trimmed; one pair of matching surrounding `'…'`
//! or `"…"` quotes removed; no escapes and no variable expansion. Two additions, both common
//! in hand-written files: an `export ` prefix is accepted, and a `# comment` may follow a
//! quoted value. An unquoted value is taken verbatim, `#` included, because keys may contain
//! `#`. Applying the pairs (never over the real environment) is the loader's job.

/// Parse `.env` text into (key, value) pairs in file order, duplicates included
/// (use [`lookup`] to read one key).
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines().filter_map(parse_line).collect()
}

/// The value of `key` in parsed pairs; the last assignment wins, as when a shell sources it.
pub fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn parse_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let line = match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    };
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() {
        return None;
    }
    Some((key.to_string(), unquote(value.trim()).to_string()))
}

/// Remove one pair of surrounding quotes; after the closing quote only whitespace or a
/// `#` comment may follow. Anything else means the value was not quoted as a whole
/// (`"a"b`), so it is kept verbatim.
fn unquote(value: &str) -> &str {
    let Some(q) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return value;
    };
    let inner = &value[1..];
    for (i, c) in inner.char_indices() {
        if c != q {
            continue;
        }
        let rest = inner[i + 1..].trim_start();
        if rest.is_empty() || rest.starts_with('#') {
            return &inner[..i];
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, String)> {
        parse(text)
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn original_rules() {
        let text = "# comment\r\n\r\nA=1\nB = two words \n  C='single'\nD=\"double\"\nnoequals\nE=a=b\nF=\nG=\"unbalanced\n=novalue\n";
        assert_eq!(
            p(text),
            vec![
                kv("A", "1"),
                kv("B", "two words"),
                kv("C", "single"),
                kv("D", "double"),
                kv("E", "a=b"),
                kv("F", ""),
                kv("G", "\"unbalanced"),
            ]
        );
    }

    #[test]
    fn export_prefix_and_comment_after_quotes() {
        let text = "export A=1\nexport\tB=\"x # y\" # trailing\nexportC=3\nD='v'   #c\nE=unquoted # kept\n";
        assert_eq!(
            p(text),
            vec![
                kv("A", "1"),
                kv("B", "x # y"),
                kv("exportC", "3"),
                kv("D", "v"),
                kv("E", "unquoted # kept"),
            ]
        );
    }

    #[test]
    fn no_escapes_or_expansion() {
        assert_eq!(
            p("A=\"a\\nb\"\nB=$HOME\nC=\"a\"b\"\n"),
            vec![kv("A", "a\\nb"), kv("B", "$HOME"), kv("C", "a\"b")]
        );
    }

    #[test]
    fn last_assignment_wins_in_lookup() {
        let pairs = p("A=1\nA=2\n");
        assert_eq!(lookup(&pairs, "A"), Some("2"));
        assert_eq!(lookup(&pairs, "B"), None);
    }
}
