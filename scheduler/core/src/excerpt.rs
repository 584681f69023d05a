//! How a value that a container controls is echoed in an error: whole when short, else its
//! first [`MAX_CHARS`] characters and its length, so a 1 MiB annotation makes a one-line error
//! of about a hundred bytes, not a 1 MiB create error and runtime log line.

/// The most characters of a value an error shows.
pub const MAX_CHARS: usize = 64;

/// `s` as Rust debug-quotes it (control characters escaped: always one line), cut to
/// [`MAX_CHARS`] characters with `… (N bytes)` after the closing quote when longer.
pub fn quoted(s: &str) -> String {
    match cut_at(s) {
        None => format!("{s:?}"),
        Some(head) => format!("{head:?}… ({} bytes)", s.len()),
    }
}

/// `s` unquoted, cut like [`quoted`]; for text shown between backticks. Control characters are
/// escaped here too.
pub fn plain(s: &str) -> String {
    let escaped = |t: &str| t.escape_debug().to_string();
    match cut_at(s) {
        None => escaped(s),
        Some(head) => format!("{}… ({} bytes)", escaped(head), s.len()),
    }
}

/// The first [`MAX_CHARS`] characters of `s` when it is longer than that.
fn cut_at(s: &str) -> Option<&str> {
    s.char_indices().nth(MAX_CHARS).map(|(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_shown_whole_long_ones_cut_with_their_length() {
        assert_eq!(quoted("10XB"), "\"10XB\"");
        let exact = "a".repeat(MAX_CHARS);
        assert_eq!(quoted(&exact), format!("{exact:?}"));
        let big = format!("1{}", "X".repeat(1 << 20));
        let q = quoted(&big);
        assert_eq!(q, format!("\"1{}\"… ({} bytes)", "X".repeat(63), big.len()));
        assert!(q.len() < 100, "{q}");
        // multi-byte characters are never split
        let wide = "é".repeat(100);
        assert_eq!(
            quoted(&wide),
            format!("\"{}\"… (200 bytes)", "é".repeat(64))
        );
        assert_eq!(plain("a\nb"), "a\\nb");
        assert_eq!(
            plain(&big),
            format!("1{}… ({} bytes)", "X".repeat(63), big.len())
        );
    }
}
