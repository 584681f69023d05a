//! The crash points of a prepare and an unprepare that are the plugin's own (the node core's,
//! `after-intent-create` … `after-release-destroy`, fire on this path too): named in
//! `DYNAMIG_FAULT`, the process kills itself with SIGKILL there (debug builds, or the node's
//! `fault-injection` feature), through [`dynamig_node::fault::point`].

/// Every crash point of this crate, in the order a prepare then an unprepare meet them.
pub const POINTS: &[&str] = &[
    "dra-after-claim-record",
    "dra-after-device-create",
    "dra-after-cdi-write",
    "dra-after-prepared",
    "dra-after-unprepare-record",
    "dra-after-cdi-remove",
];

/// The node core's crash points that a prepare or an unprepare meets.
pub const NODE_POINTS: &[&str] = &[
    "after-intent-create",
    "after-gi-create",
    "after-ci-create",
    "after-allocate-write",
    "after-release-intent",
    "after-release-destroy",
];

pub fn point(name: &str) {
    debug_assert!(POINTS.contains(&name), "unlisted crash point {name}");
    dynamig_node::fault::point(name);
}
