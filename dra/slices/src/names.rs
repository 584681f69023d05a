//! Names: the DNS-1123 forms the API requires, a GPU's counter set, and the slices' own names.
//!
//! A slice is named `<node>-mig.dynamig.io-<k>`, k = 0, 1, ... in the order [`crate::build`]
//! returns them. A node name is a DNS subdomain of up to 253 characters, so that name can be too
//! long, and a node name that is not a valid subdomain would give an invalid slice name; in
//! either case the node part becomes a prefix of the node name in `[a-z0-9-]` (every other
//! character written as `-`), cut to fit, followed by `-` and the 8 hex digits of the node
//! name's CRC-32: `<prefix>-<crc32>-mig.dynamig.io-<k>`. Two nodes whose names share a long
//! prefix still get different slice names (unless their CRC-32s collide), and the same node
//! always gets the same ones.

use crate::limits::{MAX_LABEL_LEN, MAX_SUBDOMAIN_LEN};
use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::DRIVER_NAME;

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A DNS-1123 label: 1 to 63 of `[a-z0-9-]`, starting and ending with an alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LABEL_LEN
        && b.iter().all(|&c| is_alnum(c) || c == b'-')
        && is_alnum(b[0])
        && is_alnum(b[b.len() - 1])
}

/// A DNS-1123 subdomain: at most 253 characters, labels of `[a-z0-9-]` (each starting and
/// ending with an alphanumeric) joined by dots. As Kubernetes checks it (`IsDNS1123Subdomain`):
/// the length of the whole, not of each label.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= MAX_SUBDOMAIN_LEN
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter().all(|&c| is_alnum(c) || c == b'-')
                && is_alnum(b[0])
                && is_alnum(b[b.len() - 1])
        })
}

/// The counter set of a GPU: `gpu-N`, the same spelling as its whole-GPU device.
pub fn counter_set(gpu: GpuIndex) -> String {
    format!("gpu-{gpu}")
}

/// The suffix after the node part: `-mig.dynamig.io-`.
fn suffix() -> String {
    format!("-{DRIVER_NAME}-")
}

/// The name of slice `k` of `count` of `node`'s pool (see the module's doc). Every slice of one
/// pool uses the same node part, sized for the longest `k`.
pub fn slice_name(node: &str, k: usize, count: usize) -> String {
    let widest_k = count.saturating_sub(1).max(k).to_string().len();
    let fixed = suffix().len() + widest_k;
    if is_dns_subdomain(node) && node.len() + fixed <= MAX_SUBDOMAIN_LEN {
        return format!("{node}{}{k}", suffix());
    }
    let hash = format!("{:08x}", crc32fast::hash(node.as_bytes()));
    // <prefix>-<hash><suffix><k>
    let room = MAX_SUBDOMAIN_LEN.saturating_sub(fixed + 1 + hash.len());
    let cleaned: String = node
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let prefix: String = cleaned.trim_matches('-').chars().take(room).collect();
    let prefix = prefix.trim_end_matches('-');
    if prefix.is_empty() {
        format!("{hash}{}{k}", suffix())
    } else {
        format!("{prefix}-{hash}{}{k}", suffix())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        assert!(is_dns_label("gpu-0-mig-1g5gb-6"));
        assert!(!is_dns_label("-gpu"));
        assert!(!is_dns_label("gpu-"));
        assert!(!is_dns_label("Gpu"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_subdomain("node-1.example.com"));
        assert!(!is_dns_subdomain("node..x"));
        assert!(!is_dns_subdomain("node.-x"));
        assert!(!is_dns_subdomain(&"a".repeat(254)));
    }

    #[test]
    fn short_node_names_are_kept_whole() {
        assert_eq!(slice_name("node-a", 0, 3), "node-a-mig.dynamig.io-0");
        assert_eq!(slice_name("w1.rack2", 2, 3), "w1.rack2-mig.dynamig.io-2");
    }

    #[test]
    fn long_or_invalid_node_names_get_a_cut_prefix_and_a_hash() {
        let long = format!("{}.example.com", "n".repeat(240));
        let names: Vec<String> = (0..12).map(|k| slice_name(&long, k, 12)).collect();
        for n in &names {
            assert!(n.len() <= MAX_SUBDOMAIN_LEN, "{} chars", n.len());
            assert!(is_dns_subdomain(n), "{n}");
        }
        // One node part for the whole pool.
        let part = |n: &str| n.rsplit_once('-').map(|(a, _)| a.to_string());
        assert!(names.iter().all(|n| part(n) == part(&names[0])));
        // Another long name that shares the kept prefix gets other names.
        let other = format!("{}.example.org", "n".repeat(240));
        assert_ne!(slice_name(&other, 0, 12), names[0]);
        assert_eq!(slice_name(&long, 0, 12), names[0]);
        for bad in ["Node_A", "-x-", "...", "ünïcode"] {
            let n = slice_name(bad, 0, 1);
            assert!(is_dns_subdomain(&n), "{bad:?} -> {n}");
        }
    }
}
