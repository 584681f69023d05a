//! A claim's error as the kubelet gets it (the `error` string of a per-claim response), with
//! its [`ClaimError`] kind as a prefix, so the kubelet's log says whether a retry can help:
//!
//! | kind | string |
//! |---|---|
//! | `Retryable` | `retryable: <message>` |
//! | `Invalid` | `invalid: <message>` |
//! | `Internal` | `internal: <message>` |
//!
//! (The kubelet retries a failed prepare whatever the string says; the prefix is for whoever
//! reads the pod's events and the kubelet's log.)

use dynamig_dra_api::claim::ClaimError;

const RETRYABLE: &str = "retryable: ";
const INVALID: &str = "invalid: ";
const INTERNAL: &str = "internal: ";

/// The per-claim `error` string of `e`.
pub fn claim_error_text(e: &ClaimError) -> String {
    match e {
        ClaimError::Retryable(m) => format!("{RETRYABLE}{m}"),
        ClaimError::Invalid(m) => format!("{INVALID}{m}"),
        ClaimError::Internal(m) => format!("{INTERNAL}{m}"),
    }
}

/// Back from the string (the test kubelet's reading); a string without one of the prefixes is
/// `Internal` with the whole string.
pub fn parse_claim_error(text: &str) -> ClaimError {
    if let Some(m) = text.strip_prefix(RETRYABLE) {
        ClaimError::Retryable(m.to_string())
    } else if let Some(m) = text.strip_prefix(INVALID) {
        ClaimError::Invalid(m.to_string())
    } else {
        ClaimError::Internal(text.strip_prefix(INTERNAL).unwrap_or(text).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_survives_the_string() {
        for e in [
            ClaimError::Retryable("node lock busy".into()),
            ClaimError::Invalid("gpu-9 is not this node's".into()),
            ClaimError::Internal("NVML: unknown error".into()),
        ] {
            let text = claim_error_text(&e);
            assert_eq!(parse_claim_error(&text), e, "{text}");
        }
        assert_eq!(
            claim_error_text(&ClaimError::Retryable("x".into())),
            "retryable: x"
        );
        assert_eq!(
            parse_claim_error("no prefix"),
            ClaimError::Internal("no prefix".into())
        );
    }
}
