//! Kubernetes quantities compared by value. The API server returns a quantity in its canonical
//! form (`10240Mi` comes back as `10Gi`), so a published slice is compared with the desired one
//! by what its quantities are worth, not how they are spelt.

/// A quantity's value in billionths (Kubernetes keeps nine decimal places), rounded up as the
/// API server rounds; `None` when `q` is not a quantity.
pub fn nanos(q: &str) -> Option<i128> {
    let q = q.trim();
    let (sign, body) = match q.as_bytes().first()? {
        b'-' => (-1, &q[1..]),
        b'+' => (1, &q[1..]),
        _ => (1, q),
    };
    let number_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_end);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let digits = format!("{int_part}{frac_part}");
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let frac_len = u32::try_from(frac_part.len()).ok()?;
    // value = mantissa / 10^frac_len * (2^bin or 10^dec); in nanos: * 10^9.
    let (bin, dec): (u32, i32) = match suffix {
        "" => (0, 0),
        "Ki" => (10, 0),
        "Mi" => (20, 0),
        "Gi" => (30, 0),
        "Ti" => (40, 0),
        "Pi" => (50, 0),
        "Ei" => (60, 0),
        "n" => (0, -9),
        "u" => (0, -6),
        "m" => (0, -3),
        "k" => (0, 3),
        "M" => (0, 6),
        "G" => (0, 9),
        "T" => (0, 12),
        "P" => (0, 15),
        "E" => (0, 18),
        e if e.starts_with(['e', 'E']) => (0, e[1..].parse().ok()?),
        _ => return None,
    };
    let exp10 = dec
        .checked_add(9)?
        .checked_sub(i32::try_from(frac_len).ok()?)?;
    let scaled = mantissa.checked_mul(1i128.checked_shl(bin)?)?;
    let value = if exp10 >= 0 {
        scaled.checked_mul(10i128.checked_pow(u32::try_from(exp10).ok()?)?)?
    } else {
        let div = 10i128.checked_pow(u32::try_from(-exp10).ok()?)?;
        // Rounded up (away from zero), as the API server rounds sub-nano precision.
        (scaled + div - 1) / div
    };
    Some(sign * value)
}

#[cfg(test)]
mod tests {
    use super::nanos;

    #[test]
    fn equal_values_in_any_spelling_are_equal() {
        assert_eq!(nanos("10240Mi"), nanos("10Gi"));
        assert_eq!(nanos("1.5Gi"), nanos("1536Mi"));
        assert_eq!(nanos("8"), nanos("8000m"));
        assert_eq!(nanos("1k"), nanos("1e3"));
        assert_eq!(nanos("0.5"), nanos("500m"));
        assert_eq!(nanos("10G"), Some(10_000_000_000 * 1_000_000_000));
        assert_ne!(nanos("9984Mi"), nanos("10Gi"));
        assert_ne!(nanos("10G"), nanos("10Gi"));
    }

    #[test]
    fn non_quantities_are_none() {
        for bad in ["", "Gi", "10GB", "1.2.3", "ten", "-", "10 Gi"] {
            assert_eq!(nanos(bad), None, "{bad:?}");
        }
    }
}
