//! What a replay measured, and the comparison table.

use serde::Serialize;
use std::fmt::Write;

/// One policy on one workload and node.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    pub workload: String,
    pub node: String,
    pub policy: String,
    pub requests: u64,
    pub admitted_free: u64,
    pub admitted_evict: u64,
    pub victims: u64,
    /// Admissions with eviction made while some GPU had enough free memory slices (see
    /// `sim::room_somewhere`): the only evictions a placement policy could have avoided.
    pub evict_with_room: u64,
    pub refused: u64,
    /// Decisions that broke a rule (never expected; each is refused instead of applied).
    pub invalid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_invalid: Option<String>,
    /// Time-weighted share of memory slices held, 0..1.
    pub utilization: f64,
    /// The same per tenth of the run.
    pub timeline: Vec<f64>,
    pub decision_us_p50: f64,
    pub decision_us_p99: f64,
}

impl Stats {
    pub fn new(workload: &str, node: &str, policy: &str) -> Stats {
        Stats {
            workload: workload.into(),
            node: node.into(),
            policy: policy.into(),
            requests: 0,
            admitted_free: 0,
            admitted_evict: 0,
            victims: 0,
            evict_with_room: 0,
            refused: 0,
            invalid: 0,
            first_invalid: None,
            utilization: 0.0,
            timeline: Vec::new(),
            decision_us_p50: 0.0,
            decision_us_p99: 0.0,
        }
    }

    fn victims_per_1000(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.victims as f64 * 1000.0 / self.requests as f64
        }
    }

    // `q` is in 0..=1: the rounded index is within the sorted samples.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    pub(super) fn set_times(&mut self, mut us: Vec<f64>) {
        us.sort_by(f64::total_cmp);
        let at = |q: f64| {
            if us.is_empty() {
                0.0
            } else {
                us[((us.len() - 1) as f64 * q).round() as usize]
            }
        };
        self.decision_us_p50 = at(0.5);
        self.decision_us_p99 = at(0.99);
    }
}

/// The comparison as a Markdown table, then the utilization timelines.
pub fn render_table(rows: &[Stats]) -> String {
    let mut s = String::new();
    s.push_str("| workload | node | policy | util % | admitted | admitted w/ evict | of which with free room | victims/1k req | refused | invalid | decide p50 µs | decide p99 µs |\n");
    s.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1} | {} | {} | {} | {:.1} | {} | {} | {:.1} | {:.1} |",
            r.workload,
            r.node,
            r.policy,
            r.utilization * 100.0,
            r.admitted_free,
            r.admitted_evict,
            r.evict_with_room,
            r.victims_per_1000(),
            r.refused,
            r.invalid,
            r.decision_us_p50,
            r.decision_us_p99
        );
    }
    s.push_str("\nUtilization over time (% of memory slices held, per tenth of the run):\n\n");
    for r in rows {
        let t: Vec<String> = r
            .timeline
            .iter()
            .map(|u| format!("{:>3.0}", u * 100.0))
            .collect();
        let _ = writeln!(
            s,
            "  {:<12} {:<16} {:<10} {}",
            r.workload,
            r.node,
            r.policy,
            t.join(" ")
        );
    }
    s
}
