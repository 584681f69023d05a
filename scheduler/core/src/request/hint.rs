//! The nearest accepted spelling of a refused value, for the refusal's "did you mean …?".
//!
//! dynamig accepts one spelling of each unit and of each profile name, as NVIDIA
//! (`nvidia-smi`'s `2g.10gb`) and Kubernetes (`10Gi`, where a lower-case `m` means milli) do:
//! `10gb` and `2g.10GB` are refused, and the refusal names what was probably meant. The same
//! hints serve every origin (flag, annotation, env), since one parser serves them all.

use super::is_profile_name;
use crate::quantity::{parse_bytes, unit_multiplier};

/// Every unit [`parse_bytes`] accepts, in the case it accepts.
const UNITS: [&str; 18] = [
    "B", "K", "KB", "kB", "Ki", "KiB", "M", "MB", "Mi", "MiB", "G", "GB", "Gi", "GiB", "T", "TB",
    "Ti", "TiB",
];

/// A memory quantity that was refused, written as it would be accepted: without white space
/// (`10 GB` → `10GB`), with its unit's accepted case (`10gb` → `10GB`, `512mib` → `512MiB`),
/// or a fraction as a whole number of a smaller unit (`1.5GB` → `1500MB`, `1.5GiB` →
/// `1536MiB`). `None` when there is no such spelling.
pub(super) fn memory(value: &str) -> Option<String> {
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    let (num, unit) = split_number(&compact);
    let unit = accepted_unit(unit)?;
    let hint = match fraction(num, unit) {
        Some(whole) => whole,
        None => format!("{num}{unit}"),
    };
    (hint != value && parse_bytes(&hint).is_ok()).then_some(hint)
}

/// A profile name that was refused, written as it would be accepted: lower case (`2g.10GB` →
/// `2g.10gb`), without the `MIG ` or `mig-` of `nvidia-smi`'s and the device plugin's names,
/// with the `b` of `gb` (`2g.10g` → `2g.10gb`).
pub(super) fn profile(value: &str) -> Option<String> {
    let mut s = value.trim().to_ascii_lowercase();
    for prefix in ["nvidia.com/mig-", "mig-", "mig "] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.trim_start().to_string();
        }
    }
    if s.ends_with('g') {
        s.push('b');
    }
    (s != value && is_profile_name(&s)).then_some(s)
}

/// The leading digits, `.` and `,` of `s`, and the rest.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// The accepted unit that `unit` is, ignoring case.
fn accepted_unit(unit: &str) -> Option<&'static str> {
    UNITS
        .iter()
        .find(|u| **u == unit)
        .or_else(|| UNITS.iter().find(|u| u.eq_ignore_ascii_case(unit)))
        .copied()
}

/// `num` (with a `.` or `,` fraction) of `unit` as a whole number of the largest smaller unit
/// of the same family and style that holds it exactly: `1.5` `GB` → `1500MB`.
fn fraction(num: &str, unit: &str) -> Option<String> {
    let (int, frac) = num.split_once(['.', ','])?;
    if frac.contains(['.', ',']) || (int.is_empty() && frac.is_empty()) || frac.len() > 12 {
        return None;
    }
    let digits = format!("{int}{frac}");
    let mantissa: u128 = digits.parse().ok()?;
    let scale = 10u128.pow(u32::try_from(frac.len()).ok()?);
    let total = mantissa.checked_mul(u128::from(unit_multiplier(unit).ok()?))?;
    if total == 0 || total % scale != 0 {
        return None;
    }
    let bytes = total / scale;
    let binary = unit.contains('i');
    let long = unit.len() > 1 && unit.ends_with('B');
    let family: [(&str, &str); 5] = if binary {
        [
            ("TiB", "Ti"),
            ("GiB", "Gi"),
            ("MiB", "Mi"),
            ("KiB", "Ki"),
            ("B", "B"),
        ]
    } else {
        [
            ("TB", "T"),
            ("GB", "G"),
            ("MB", "M"),
            ("KB", "K"),
            ("B", "B"),
        ]
    };
    family.iter().find_map(|(l, s)| {
        let u = if long { *l } else { *s };
        let m = u128::from(unit_multiplier(u).ok()?);
        (bytes % m == 0).then(|| format!("{}{u}", bytes / m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_near_misses_get_the_accepted_spelling() {
        for (given, meant) in [
            ("1.5GB", "1500MB"),
            ("1.5G", "1500M"),
            ("1,5GB", "1500MB"),
            ("0.5GB", "500MB"),
            ("1.5GiB", "1536MiB"),
            ("1.5Gi", "1536Mi"),
            ("2.25TB", "2250GB"),
            ("1.5gb", "1500MB"),
            ("10gb", "10GB"),
            ("10Gb", "10GB"),
            ("512mib", "512MiB"),
            ("10gi", "10Gi"),
            ("10 GB", "10GB"),
            (" 10GB", "10GB"),
        ] {
            assert_eq!(memory(given).as_deref(), Some(meant), "{given:?}");
        }
    }

    #[test]
    fn no_hint_where_nothing_is_near() {
        for given in [
            "10XB", "10", "0GB", "0.0GB", "-5GB", "GB", "1.5B", "1.2.3GB", "10GB", "",
        ] {
            assert_eq!(memory(given), None, "{given:?}");
        }
    }

    #[test]
    fn profile_near_misses_get_the_accepted_spelling() {
        for (given, meant) in [
            ("2g.10GB", "2g.10gb"),
            ("2G.10GB", "2g.10gb"),
            ("1g.5gb+ME", "1g.5gb+me"),
            ("MIG 2g.10gb", "2g.10gb"),
            ("mig-3g.20gb", "3g.20gb"),
            ("nvidia.com/mig-1g.5gb", "1g.5gb"),
            ("2g.10g", "2g.10gb"),
            ("2g.10gb ", "2g.10gb"),
        ] {
            assert_eq!(profile(given).as_deref(), Some(meant), "{given:?}");
        }
        for given in ["big", "2g.10gb", "10GB", "g.5gb"] {
            assert_eq!(profile(given), None, "{given:?}");
        }
    }
}
