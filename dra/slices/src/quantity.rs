//! The integer subset of Kubernetes quantities that the slices use: counters as plain integers
//! (`"7"`), memory as mebibytes (`"40320Mi"`). [`parse`] reads back any non-negative integer
//! with an optional binary (`Ki`..`Ei`) or decimal (`k`..`E`) suffix; fractions, exponents and
//! milli-units are refused (the validator reports them rather than guess).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A plain integer quantity.
pub fn int(n: u64) -> Quantity {
    Quantity(n.to_string())
}

/// `mib` mebibytes, written as `<mib>Mi`.
pub fn mebibytes(mib: u64) -> Quantity {
    Quantity(format!("{mib}Mi"))
}

/// The value of `q` in base units, or `None` when it is not a non-negative integer quantity with
/// an integer suffix.
pub fn parse(q: &Quantity) -> Option<u128> {
    let s = q.0.as_str();
    let digits_end = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (digits, suffix) = s.split_at(digits_end);
    if digits.is_empty() {
        return None;
    }
    let n: u128 = digits.parse().ok()?;
    let scale: u128 = match suffix {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        "Ei" => 1 << 60,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "E" => 1_000_000_000_000_000_000,
        _ => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_writes_and_refuses_the_rest() {
        assert_eq!(parse(&int(7)), Some(7));
        assert_eq!(parse(&mebibytes(40320)), Some(40320 << 20));
        assert_eq!(parse(&Quantity("2k".into())), Some(2000));
        for bad in ["", "Mi", "1.5", "1e3", "100m", "-1", "+1", "1 Mi", "1Xi"] {
            assert_eq!(parse(&Quantity(bad.into())), None, "{bad:?}");
        }
    }
}
