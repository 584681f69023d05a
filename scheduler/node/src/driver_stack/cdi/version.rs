//! `cdiVersion`: the released versions of the CDI spec that dynamig reads, and the minimum
//! version a spec's fields require (the CDI project's `specs-go/version.go` rules).

use super::spec::{ContainerEdits, SpecFile};

/// The versions accepted, oldest first: 0.3.0 (the first tagged release) to 1.1.0.
pub const KNOWN: &[&str] = &[
    "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
];

/// The index of `v` (a leading `v` allowed) in [`KNOWN`].
pub fn index(v: &str) -> Option<usize> {
    let v = v.strip_prefix('v').unwrap_or(v);
    KNOWN.iter().position(|k| *k == v)
}

fn edits(spec: &SpecFile) -> impl Iterator<Item = &ContainerEdits> {
    std::iter::once(&spec.container_edits).chain(spec.devices.iter().map(|d| &d.container_edits))
}

/// The lowest version whose format has every field the spec uses.
pub fn minimum_required(spec: &SpecFile) -> &'static str {
    let any = |f: &dyn Fn(&ContainerEdits) -> bool| edits(spec).any(f);
    if any(&|e| {
        !e.net_devices.is_empty()
            || e.intel_rdt
                .as_ref()
                .is_some_and(|r| r.schemata.is_some() || r.enable_monitoring)
    }) {
        return "1.1.0";
    }
    if any(&|e| e.intel_rdt.is_some() || !e.additional_gids.is_empty()) {
        return "0.7.0";
    }
    let dotted_class = spec
        .kind
        .split_once('/')
        .is_some_and(|(_, class)| class.contains('.'));
    if !spec.annotations.is_empty()
        || spec.devices.iter().any(|d| !d.annotations.is_empty())
        || dotted_class
    {
        return "0.6.0";
    }
    if spec
        .devices
        .iter()
        .any(|d| d.name.starts_with(|c: char| c.is_ascii_digit()))
        || any(&|e| e.device_nodes.iter().any(|n| n.host_path.is_some()))
    {
        return "0.5.0";
    }
    if any(&|e| e.mounts.iter().any(|m| m.kind.is_some())) {
        return "0.4.0";
    }
    "0.3.0"
}

/// Checks `cdiVersion`: known, and not older than what the spec's fields require.
pub fn check(spec: &SpecFile) -> Result<(), String> {
    let Some(have) = index(&spec.cdi_version) else {
        return Err(format!(
            "unknown cdiVersion {:?} (dynamig reads {} to {})",
            spec.cdi_version,
            KNOWN[0],
            KNOWN[KNOWN.len() - 1]
        ));
    };
    let need = minimum_required(spec);
    if index(need).is_some_and(|n| n > have) {
        return Err(format!(
            "cdiVersion {} is too old for the fields it uses (they need {need})",
            spec.cdi_version
        ));
    }
    Ok(())
}
