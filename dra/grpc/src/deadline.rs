//! A call's deadline: the kubelet sets one on every DRA call (45 s, `grpc-timeout` on the
//! wire). The service answers before it: a claim still running when the deadline is
//! [`margin`] away gets a retryable error, so the RPC itself never runs into the kubelet's
//! deadline and every other claim of the call still gets its answer.

use std::time::Duration;
use tonic::metadata::MetadataMap;

/// What is kept back from the caller's timeout to send the answer: a tenth of it, at most 2 s
/// (4.5 s of the kubelet's 45 would be more than a reply over a unix socket needs).
pub fn margin(timeout: Duration) -> Duration {
    (timeout / 10).min(Duration::from_secs(2))
}

/// The time the claims of a call may take: the timeout less its [`margin`].
pub fn budget(timeout: Duration) -> Duration {
    timeout.saturating_sub(margin(timeout))
}

/// The call's `grpc-timeout` (gRPC over HTTP/2: 1 to 8 digits and a unit of H, M, S, m, u, n);
/// `None` when absent or malformed.
pub fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    parse_grpc_timeout(metadata.get("grpc-timeout")?.to_str().ok()?)
}

fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let unit = value.chars().last()?;
    let digits = &value[..value.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(n * 3600),
        'M' => Duration::from_secs(n * 60),
        'S' => Duration::from_secs(n),
        'm' => Duration::from_millis(n),
        'u' => Duration::from_micros(n),
        'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_spec_writes_them() {
        assert_eq!(parse_grpc_timeout("45S"), Some(Duration::from_secs(45)));
        assert_eq!(
            parse_grpc_timeout("44999m"),
            Some(Duration::from_millis(44999))
        );
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_grpc_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for bad in ["", "S", "123456789S", "10", "10s", "1.5S", "-1S", "10é"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_budget_keeps_a_tenth_back_at_most_two_seconds() {
        assert_eq!(budget(Duration::from_secs(45)), Duration::from_secs(43));
        assert_eq!(budget(Duration::from_secs(10)), Duration::from_secs(9));
        assert_eq!(
            budget(Duration::from_millis(500)),
            Duration::from_millis(450)
        );
        assert_eq!(budget(Duration::ZERO), Duration::ZERO);
    }
}
