//! Durations in annotations: a whole number and a unit, `500ms`, `10s`, `2m`, `1h`.

use std::time::Duration;
use thiserror::Error;

pub const ACCEPTED: &str = "a whole number with ms, s, m or h, e.g. 10s, 500ms, 2m; at most 1h";
pub const MAX: Duration = Duration::from_secs(3600);

/// Why a duration was refused (the text follows the key and value in a request's refusal).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("is not a duration")]
    Malformed,
    /// A well-formed duration above [`MAX`].
    #[error("exceeds the maximum of 1h")]
    TooLong,
}

/// Whole milliseconds, saturating (a `Duration` holds more than a `u64` of them).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whole microseconds, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() {
        return Err(DurationError::Malformed);
    }
    if !matches!(unit, "ms" | "s" | "m" | "h") {
        return Err(DurationError::Malformed);
    }
    if num.len() > 9 {
        return Err(DurationError::TooLong);
    }
    let n: u64 = num.parse().map_err(|_| DurationError::Malformed)?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(DurationError::Malformed),
    };
    if d > MAX {
        return Err(DurationError::TooLong);
    }
    Ok(d)
}

pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["", "10", "-1s", "1.5s", " 1s", "1S", "s", "99999999999x"] {
            assert_eq!(
                parse_duration(bad),
                Err(DurationError::Malformed),
                "{bad:?}"
            );
        }
        // Well formed but too long: said as such (issue #18).
        for long in ["2h", "61m", "3601s", "3600001ms", "99999999999s"] {
            assert_eq!(
                parse_duration(long),
                Err(DurationError::TooLong),
                "{long:?}"
            );
        }
        assert_eq!(
            DurationError::TooLong.to_string(),
            "exceeds the maximum of 1h"
        );
    }
}
