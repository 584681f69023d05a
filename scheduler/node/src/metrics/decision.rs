//! Planner decision times of one node, from its open to its close.
//!
//! The node times each planner call itself (the core's queue rule takes the plan function for
//! that) and records it here; at close it hands the histogram to the counters. No global or
//! thread-local state: two nodes (tests in parallel, a process that opens the node again)
//! never mix their decisions.

use super::histogram::Histogram;
use std::time::Duration;

/// The decisions recorded so far, and how long the latest one took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decisions {
    /// Decisions not yet handed to the counters.
    pub histogram: Histogram,
    /// The latest decision (kept when the histogram is handed over), for log lines.
    pub last: Option<Duration>,
}

impl Decisions {
    pub fn observe(&mut self, took: Duration) {
        self.histogram.observe(took.as_secs_f64());
        self.last = Some(took);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_each_decision_and_the_latest() {
        let mut d = Decisions::default();
        d.observe(Duration::from_micros(30));
        d.observe(Duration::from_micros(7));
        assert_eq!(d.last, Some(Duration::from_micros(7)));
        assert_eq!(std::mem::take(&mut d.histogram).count, 2);
        assert_eq!(d.histogram.count, 0);
        assert_eq!(d.last, Some(Duration::from_micros(7)));
    }
}
