//! Fault injection for the crash tests: when `DYNAMIG_FAULT` names a crash point, the process
//! kills itself with SIGKILL on reaching it. Compiled into debug builds (which the tests use) and
//! into builds with the `fault-injection` feature; a release build ignores the variable.
//!
//! The one environment read of this crate outside [`crate::config`]: a crash point is a test
//! device, absent from release builds, that must fire in any process the tests start (the CLI,
//! the hooks, the shim) at any depth; carrying it in `NodeConfig` would thread test plumbing
//! through every operation for no production use.

/// Every named crash point, in the order an allocate / evict / release meets them, then those of
/// warm instances (a release keeping one, an allocation taking one or destroying one for room).
pub const POINTS: &[&str] = &[
    "after-intent-create",
    "after-gi-create",
    "after-ci-create",
    "after-allocate-write",
    "after-evict-reserve",
    "after-sigterm",
    "after-evict-unlock",
    "after-evict-intent",
    "after-evict-destroy",
    "after-release-intent",
    "after-release-destroy",
    "after-warm-keep",
    "after-warm-take",
    "after-warm-reclaim",
];

pub const ENV: &str = "DYNAMIG_FAULT";

#[cfg(any(debug_assertions, feature = "fault-injection"))]
pub fn point(name: &str) {
    if std::env::var(ENV).is_ok_and(|v| v == name) {
        tracing::warn!(point = name, "fault injection: killing this process");
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

#[cfg(not(any(debug_assertions, feature = "fault-injection")))]
#[inline(always)]
pub fn point(_name: &str) {}
