//! Memory quantities as users write them: `10GB`, `10G` (10^9), `10GiB`, `10Gi` (2^30), `512MiB`,
//! `500MB`. Whole numbers only, no sign, no inner or surrounding white space, ASCII digits only.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum QuantityError {
    #[error("is empty")]
    Empty,
    #[error("has white space; write it like `10GB`")]
    Whitespace,
    #[error("has no number; write it like `10GB`")]
    NoNumber,
    #[error("must be a whole, positive number of a unit (no sign, no fraction)")]
    NotWhole,
    #[error("has unknown unit `{}`; use B, K, KB, KiB, Ki, M, MB, MiB, Mi, G, GB, GiB, Gi, T, TB, TiB or Ti", crate::excerpt::plain(.0))]
    UnknownUnit(String),
    #[error("has no unit; write it like `10GB` or `10GiB`")]
    NoUnit,
    #[error("is zero")]
    Zero,
    #[error("is too large")]
    Overflow,
}

/// The accepted forms, for messages.
pub const ACCEPTED: &str = "a whole number with a unit, e.g. 10GB, 10G, 10GiB, 10Gi, 512MiB, 500MB";

/// Parses a memory quantity into bytes.
pub fn parse_bytes(s: &str) -> Result<u64, QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::Empty);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(QuantityError::Whitespace);
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    if num.is_empty() {
        return Err(if s.starts_with(['-', '+', '.']) {
            QuantityError::NotWhole
        } else {
            QuantityError::NoNumber
        });
    }
    if unit.starts_with(['.', ',', 'e', 'E'])
        && unit.len() > 1
        && unit.as_bytes()[1].is_ascii_digit()
    {
        return Err(QuantityError::NotWhole);
    }
    // `0` is zero whatever its unit (or lack of one): say that first.
    if num.bytes().all(|b| b == b'0') {
        return Err(QuantityError::Zero);
    }
    let multiplier = unit_multiplier(unit)?;
    let n: u64 = num.parse().map_err(|_| QuantityError::Overflow)?;
    n.checked_mul(multiplier).ok_or(QuantityError::Overflow)
}

pub(crate) fn unit_multiplier(unit: &str) -> Result<u64, QuantityError> {
    const K: u64 = 1000;
    const KI: u64 = 1024;
    Ok(match unit {
        "" => return Err(QuantityError::NoUnit),
        "B" => 1,
        "K" | "KB" | "kB" => K,
        "Ki" | "KiB" => KI,
        "M" | "MB" => K.pow(2),
        "Mi" | "MiB" => KI.pow(2),
        "G" | "GB" => K.pow(3),
        "Gi" | "GiB" => KI.pow(3),
        "T" | "TB" => K.pow(4),
        "Ti" | "TiB" => KI.pow(4),
        other => {
            if other.starts_with(['.', ',']) {
                return Err(QuantityError::NotWhole);
            }
            return Err(QuantityError::UnknownUnit(other.to_string()));
        }
    })
}

/// Formats bytes for people: `10GB` when a whole number of GB, else MiB.
pub fn format_bytes(b: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if b.is_multiple_of(1_000_000_000) {
        format!("{}GB", b / 1_000_000_000)
    } else if b.is_multiple_of(1024 * MIB) {
        format!("{}GiB", b / (1024 * MIB))
    } else if b.is_multiple_of(MIB) {
        format!("{}MiB", b / MIB)
    } else {
        format!("{b}B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_forms() {
        assert_eq!(parse_bytes("10GB"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("10G"), Ok(10_000_000_000));
        assert_eq!(parse_bytes("10GiB"), Ok(10 << 30));
        assert_eq!(parse_bytes("10Gi"), Ok(10 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("500MB"), Ok(500_000_000));
        assert_eq!(parse_bytes("1TiB"), Ok(1 << 40));
        assert_eq!(parse_bytes("4096B"), Ok(4096));
    }

    #[test]
    fn rejects_what_is_not_a_whole_positive_quantity() {
        assert_eq!(parse_bytes(""), Err(QuantityError::Empty));
        assert_eq!(parse_bytes("0GB"), Err(QuantityError::Zero));
        // Zero is zero, with or without a unit (issue #18: `0` said "has no unit").
        assert_eq!(parse_bytes("0"), Err(QuantityError::Zero));
        assert_eq!(parse_bytes("000MiB"), Err(QuantityError::Zero));
        assert_eq!(parse_bytes("-10GB"), Err(QuantityError::NotWhole));
        assert_eq!(parse_bytes("+10GB"), Err(QuantityError::NotWhole));
        assert_eq!(parse_bytes("1.5GB"), Err(QuantityError::NotWhole));
        assert_eq!(parse_bytes(".5GB"), Err(QuantityError::NotWhole));
        assert_eq!(parse_bytes("10"), Err(QuantityError::NoUnit));
        assert_eq!(parse_bytes("GB"), Err(QuantityError::NoNumber));
        assert_eq!(
            parse_bytes("10XB"),
            Err(QuantityError::UnknownUnit("XB".into()))
        );
        assert_eq!(
            parse_bytes("10gb"),
            Err(QuantityError::UnknownUnit("gb".into()))
        );
        assert_eq!(parse_bytes(" 10GB"), Err(QuantityError::Whitespace));
        assert_eq!(parse_bytes("10 GB"), Err(QuantityError::Whitespace));
        assert_eq!(parse_bytes("10GB\n"), Err(QuantityError::Whitespace));
        assert_eq!(parse_bytes("10\u{00a0}GB"), Err(QuantityError::Whitespace));
        assert_eq!(
            parse_bytes("99999999999999999999GB"),
            Err(QuantityError::Overflow)
        );
        assert_eq!(
            parse_bytes("18446744073709551615GB"),
            Err(QuantityError::Overflow)
        );
        // Unicode digits (Arabic-Indic ١٠) are not ASCII digits.
        assert_eq!(
            parse_bytes("\u{0661}\u{0660}GB"),
            Err(QuantityError::NoNumber)
        );
        assert_eq!(parse_bytes("1e3GB"), Err(QuantityError::NotWhole));
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_bytes(10_000_000_000), "10GB");
        assert_eq!(format_bytes(10 << 30), "10GiB");
        assert_eq!(format_bytes(512 << 20), "512MiB");
    }
}
