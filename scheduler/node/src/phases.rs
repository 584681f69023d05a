//! Where the time of one allocation or release went, phase by phase (issue #17): the node
//! lock's wait, the decision, the wait for evicted victims to exit, the destruction of
//! instances, the creation of the GPU instance and of its compute instance, and the edit of the
//! container's spec. Durations in microseconds; a phase that did not happen is absent (`None`),
//! never zero.
//!
//! Carried in the `allocated` and `released` events (`phases`, so `dynamigctl events --json`
//! shows them), logged with the runtime's `injected` line, and summed in the metrics file
//! (`dynamig_phase_seconds{phase}`, docs/observability.md).

use dynamig_core::duration::micros;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The phases of one operation, in µs; `None`: the phase did not happen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phases {
    /// Waiting for the node lock (every acquisition of the operation, added up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wait_us: Option<u64>,
    /// The admission decision: policy, wait queue and planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_us: Option<u64>,
    /// Outside the lock, until every victim of an eviction had exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eviction_wait_us: Option<u64>,
    /// Destroying instances (a release's own, or an eviction's victims', added up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destroy_us: Option<u64>,
    /// Creating the GPU instance (the backend's call and what it reads back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gi_create_us: Option<u64>,
    /// Creating the compute instance that spans it, and reading the instance back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_create_us: Option<u64>,
    /// Editing and saving the container's spec (the runtime entry points only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_edit_us: Option<u64>,
}

/// The phase names, as the metrics' `phase` label and the log's `<name>_us` fields say them.
pub const NAMES: [&str; 7] = [
    "lock_wait",
    "decision",
    "eviction_wait",
    "destroy",
    "gi_create",
    "ci_create",
    "spec_edit",
];

impl Phases {
    /// Each phase by name, in [`NAMES`]' order.
    pub fn each(&self) -> [(&'static str, Option<u64>); 7] {
        [
            (NAMES[0], self.lock_wait_us),
            (NAMES[1], self.decision_us),
            (NAMES[2], self.eviction_wait_us),
            (NAMES[3], self.destroy_us),
            (NAMES[4], self.gi_create_us),
            (NAMES[5], self.ci_create_us),
            (NAMES[6], self.spec_edit_us),
        ]
    }

    /// Whether no phase was measured.
    pub fn is_empty(&self) -> bool {
        self.each().iter().all(|(_, v)| v.is_none())
    }

    /// The phases' sum, in µs.
    pub fn total_us(&self) -> u64 {
        self.each().iter().filter_map(|(_, v)| *v).sum()
    }
}

/// Sets a phase to `d`, or adds `d` to it when it already happened (two destroys, two lock
/// acquisitions).
pub fn add(phase: &mut Option<u64>, d: Duration) {
    *phase = Some(phase.unwrap_or(0).saturating_add(micros(d)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_phases_are_left_out_of_the_json() {
        let mut p = Phases::default();
        assert!(p.is_empty());
        assert_eq!(serde_json::to_string(&p).unwrap(), "{}");
        add(&mut p.destroy_us, Duration::from_micros(40));
        add(&mut p.destroy_us, Duration::from_micros(2));
        p.gi_create_us = Some(0);
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            serde_json::json!({"destroy_us": 42, "gi_create_us": 0})
        );
        assert_eq!(p.total_us(), 42);
        let back: Phases = serde_json::from_str(r#"{"destroy_us":42,"gi_create_us":0}"#).unwrap();
        assert_eq!(back, p);
    }
}
