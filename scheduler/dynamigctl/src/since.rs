//! `dynamigctl events --since`: a number of seconds (`600`), a duration (`10m`, `1h30m`, `2d`,
//! `500ms`), or an RFC 3339 time (`2026-11-24T21:00:00Z`, `2026-11-24T23:00:00.5+02:00`).

use thiserror::Error;

pub const ACCEPTED: &str =
    "seconds (600), a duration (90s, 10m, 1h30m, 2d) or an RFC 3339 time (2026-11-24T21:00:00Z)";

#[derive(Debug, Error, PartialEq, Eq)]
#[error("--since {0:?}: use {ACCEPTED}")]
pub struct SinceError(pub String);

/// The Unix time in milliseconds that `--since VALUE` means at `now_ms`.
pub fn parse_since(s: &str, now_ms: u64) -> Result<u64, SinceError> {
    let err = || SinceError(s.to_string());
    let t = s.trim();
    if t.is_empty() {
        return Err(err());
    }
    if t.contains('-') && t.len() >= 19 {
        return dynamig_core::rfc3339::parse_ms(t).ok_or_else(err);
    }
    let ago = duration_ms(t).ok_or_else(err)?;
    Ok(now_ms.saturating_sub(ago))
}

/// `600` (seconds) or a sequence of number-unit pairs: `ms`, `s`, `m`, `h`, `d`.
fn duration_ms(s: &str) -> Option<u64> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok()?.checked_mul(1000);
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 || digits > 12 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let per = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(per)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_000_000_000;

    #[test]
    fn seconds_and_durations_count_back_from_now() {
        assert_eq!(parse_since("600", NOW), Ok(NOW - 600_000));
        assert_eq!(parse_since("10m", NOW), Ok(NOW - 600_000));
        assert_eq!(parse_since("1h30m", NOW), Ok(NOW - 5_400_000));
        assert_eq!(parse_since("2d", NOW), Ok(NOW - 172_800_000));
        assert_eq!(parse_since("500ms", NOW), Ok(NOW - 500));
        assert_eq!(parse_since("0", NOW), Ok(NOW));
        for bad in ["", "10x", "m", "-5", "1.5h", "10 m", "99999999999999999999"] {
            assert!(parse_since(bad, NOW).is_err(), "{bad}");
        }
        let e = parse_since("soon", NOW).unwrap_err().to_string();
        assert!(
            e.contains("soon") && e.contains("10m") && e.contains("RFC 3339"),
            "{e}"
        );
    }

    #[test]
    fn rfc3339_times_are_absolute() {
        assert_eq!(parse_since("1970-01-01T00:00:00Z", NOW), Ok(0));
        assert_eq!(
            parse_since("2000-02-29T00:00:00Z", NOW),
            Ok(951_782_400_000)
        );
        assert_eq!(
            parse_since("2024-05-01T12:34:56.789Z", NOW),
            Ok(1_714_566_896_789)
        );
        assert_eq!(
            parse_since("2024-05-01T14:34:56+02:00", NOW),
            Ok(1_714_566_896_000)
        );
        assert_eq!(
            parse_since("2024-05-01 07:34:56.5-05:00", NOW),
            Ok(1_714_566_896_500)
        );
        for bad in [
            "2024-13-01T00:00:00Z",
            "2024-05-01T00:00:00",
            "2024-05-01T25:00:00Z",
            "2024-05-01T00:00:00+0200",
            "2024-05-01T00:00:00.Z",
        ] {
            assert!(parse_since(bad, NOW).is_err(), "{bad}");
        }
    }
}
