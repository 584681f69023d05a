//! Counters that must add up across processes (there is no daemon): preemptions, refusals by
//! reason, events by kind, the decision-time histogram and the per-phase histograms. They live in
//! `<state dir>/counters.json`, apart from the state file, and are updated under the node lock.
//!
//! Best effort by design: the file is written to a temporary file and renamed (never
//! half-written), but not fsynced; after a power loss, or when the file cannot be read, the
//! counters start again from zero (Prometheus treats that as a counter reset). Nothing here can
//! touch or damage `state.json`.

use super::histogram::Histogram;
use crate::events::Event;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The reasons a request is refused, as `dynamig_refusals_total{reason}` names them (the
/// planner's refusal kinds).
pub const REFUSAL_REASONS: [&str; 4] = ["no_room", "too_large", "unknown_profile", "no_gpus"];

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub preemptions: u64,
    pub refusals: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    pub decisions: Histogram,
    /// Per phase of the allocations and releases (`lock_wait`, `decision`, ...: the events'
    /// [`crate::phases::Phases`]), the time each took.
    pub phases: BTreeMap<String, Histogram>,
}

/// The refusal kind of a `refused` event, from its message (the planner's one-line refusal).
pub fn refusal_reason(message: &str) -> &'static str {
    if message.starts_with("no room for ") {
        "no_room"
    } else if message.contains(" is more than any GPU on this node can give") {
        "too_large"
    } else if message.starts_with("no GPU on this node has MIG profile ") {
        "unknown_profile"
    } else if message.starts_with("this node has no MIG-capable GPU") {
        "no_gpus"
    } else {
        "other"
    }
}

impl Counters {
    /// Reads the counters; missing or unreadable means zero.
    pub fn load(path: &Path) -> Counters {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "metrics counters unreadable; starting them from zero");
                Counters::default()
            }),
            Err(_) => Counters::default(),
        }
    }

    /// Writes the counters: a temporary file renamed over the old one.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let body = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        super::write_replace(path, &body, 0o600)
    }

    /// Counts a closing node's events and decisions. True when anything changed.
    pub fn add(&mut self, events: &[Event], decisions: &Histogram) -> bool {
        for e in events {
            *self.events.entry(e.kind.clone()).or_default() += 1;
            for (name, us) in e.phases.iter().flat_map(|p| p.each()) {
                if let Some(us) = us {
                    self.phases
                        .entry(name.to_string())
                        .or_default()
                        .observe(us as f64 / 1e6);
                }
            }
            match e.kind.as_str() {
                "preempted" => self.preemptions += 1,
                "refused" => {
                    *self
                        .refusals
                        .entry(refusal_reason(&e.message).to_string())
                        .or_default() += 1
                }
                _ => {}
            }
        }
        self.decisions.merge(decisions);
        !events.is_empty() || decisions.count > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamig_core::ids::GpuIndex;
    use dynamig_core::planner::{GpuBlockers, Refusal};

    #[test]
    fn every_refusal_kind_is_named_from_its_message() {
        let cases = [
            (
                Refusal::NoRoom {
                    request: "20GB".into(),
                    priority: 50,
                    gpus: vec![GpuBlockers {
                        gpu: GpuIndex(0),
                        model: "a100-40gb",
                        usable: true,
                        held: vec![],
                    }],
                },
                "no_room",
            ),
            (
                Refusal::TooLarge {
                    requested: "90GB".into(),
                    largest: vec![("a100-40gb".into(), "7g.40gb".into(), 40192)],
                },
                "too_large",
            ),
            (
                Refusal::UnknownProfile {
                    name: "9g.90gb".into(),
                    known: vec![],
                },
                "unknown_profile",
            ),
            (Refusal::NoGpus, "no_gpus"),
        ];
        for (r, want) in cases {
            assert_eq!(refusal_reason(&r.to_string()), want, "{r}");
            assert!(REFUSAL_REASONS.contains(&want));
        }
        assert_eq!(refusal_reason("something else"), "other");
    }

    #[test]
    fn counts_events_and_survives_a_damaged_file() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("counters.json");
        let mut c = Counters::load(&p);
        assert_eq!(c, Counters::default());
        let evs = vec![
            Event::new("allocated", "x"),
            Event::new("preempted", "evicted for y"),
            Event::new("refused", "no room for 20GB at priority training"),
        ];
        let mut h = Histogram::default();
        h.observe(0.0001);
        assert!(c.add(&evs, &h));
        c.save(&p).unwrap();
        let mut c = Counters::load(&p);
        assert!(!c.add(&[], &Histogram::default()));
        assert!(c.add(&evs[1..2], &Histogram::default()));
        assert_eq!(c.preemptions, 2);
        assert_eq!(c.refusals["no_room"], 1);
        assert_eq!(c.events["allocated"], 1);
        assert_eq!(c.decisions.count, 1);
        std::fs::write(&p, b"{not json").unwrap();
        assert_eq!(Counters::load(&p), Counters::default());
    }
}
