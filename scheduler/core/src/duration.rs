//! Durations in annotations: a whole number and a unit, `500ms`, `10s`, `2m`, `1h`.

use std::time::Duration;
use thiserror::Error;

pub const ACCEPTED: &str = "a whole number with ms, s, m or h, e.g. 10s, 500ms, 2m; at most 1h";
pub const MAX: Duration = Duration::from_secs(3600);

/// What a checkpoint interval accepts: the same grammar, above zero, up to [`INTERVAL_MAX`].
pub const INTERVAL_ACCEPTED: &str =
    "a whole number with ms, s, m or h above zero, e.g. 30m, 1800s, 2h; at most 24h";
pub const INTERVAL_MAX: Duration = Duration::from_secs(24 * 3600);

/// Why a duration was refused (the text follows the key and value in a request's refusal).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DurationError {
    #[error("is not a duration")]
    Malformed,
    /// A well-formed duration above [`MAX`].
    #[error("exceeds the maximum of 1h")]
    TooLong,
    /// A well-formed interval above [`INTERVAL_MAX`].
    #[error("exceeds the maximum of 24h")]
    IntervalTooLong,
    /// A zero interval: a job cannot checkpoint every instant.
    #[error("is zero; an interval is at least 1ms")]
    Zero,
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
    match parse_up_to(s, MAX) {
        Err(Bound::Malformed) => Err(DurationError::Malformed),
        Err(Bound::Over) => Err(DurationError::TooLong),
        Ok(d) => Ok(d),
    }
}

/// A checkpoint interval (`dynamig.io/checkpoint-interval`): a duration above zero, at most
/// [`INTERVAL_MAX`].
pub fn parse_interval(s: &str) -> Result<Duration, DurationError> {
    match parse_up_to(s, INTERVAL_MAX) {
        Err(Bound::Malformed) => Err(DurationError::Malformed),
        Err(Bound::Over) => Err(DurationError::IntervalTooLong),
        Ok(Duration::ZERO) => Err(DurationError::Zero),
        Ok(d) => Ok(d),
    }
}

/// Why [`parse_up_to`] refused.
enum Bound {
    Malformed,
    Over,
}

fn parse_up_to(s: &str, max: Duration) -> Result<Duration, Bound> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    if num.is_empty() {
        return Err(Bound::Malformed);
    }
    if !matches!(unit, "ms" | "s" | "m" | "h") {
        return Err(Bound::Malformed);
    }
    if num.len() > 9 {
        return Err(Bound::Over);
    }
    let n: u64 = num.parse().map_err(|_| Bound::Malformed)?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => return Err(Bound::Malformed),
    };
    if d > max {
        return Err(Bound::Over);
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

    #[test]
    fn intervals_are_above_zero_and_up_to_a_day() {
        assert_eq!(parse_interval("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_interval("1800s"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_interval("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_interval("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_interval("1ms"), Ok(Duration::from_millis(1)));
        for bad in ["", "30", "1.5h", "30 m", "-1m", "1d"] {
            assert_eq!(
                parse_interval(bad),
                Err(DurationError::Malformed),
                "{bad:?}"
            );
        }
        for zero in ["0s", "0m", "0ms"] {
            assert_eq!(parse_interval(zero), Err(DurationError::Zero), "{zero:?}");
        }
        for long in ["25h", "1441m", "86401s", "9999999999h"] {
            assert_eq!(
                parse_interval(long),
                Err(DurationError::IntervalTooLong),
                "{long:?}"
            );
        }
        // The other durations keep their maximum of 1h.
        assert_eq!(parse_duration("2h"), Err(DurationError::TooLong));
    }
}
