//! What a queued replay measured ([`super::queued`]), and its table.

use super::queued::JobResult;
use serde::Serialize;
use std::fmt::Write;

/// One policy on one workload and node, every job run to completion.
#[derive(Debug, Clone, Serialize)]
pub struct JctStats {
    pub workload: String,
    pub node: String,
    pub policy: String,
    pub jobs: u64,
    /// Jobs no slot on the node could ever hold (a static layout without one big enough); the
    /// means and percentiles are over the others.
    pub never_served: u64,
    /// Job completion time, completion − arrival.
    pub jct_mean: f64,
    pub jct_p95: f64,
    /// Time spent in the queue, over all of a job's waits.
    pub wait_mean: f64,
    pub wait_p95: f64,
    /// First arrival to last completion.
    pub makespan: f64,
    /// Run time lost to preemption, weighted by the share of its GPU each job held.
    pub lost_gpu_time: f64,
    pub evictions: u64,
    /// Time-weighted share of memory slices held, over the makespan, 0..1.
    pub utilization: f64,
    /// Mean JCT of the served jobs of each request size and class, e.g. `20096MiB training`.
    pub jct_by_kind: Vec<(String, f64)>,
    /// Decisions that broke a rule (never expected; none is applied).
    pub invalid: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_invalid: Option<String>,
}

impl JctStats {
    pub fn new(workload: &str, node: &str, policy: &str) -> JctStats {
        JctStats {
            workload: workload.into(),
            node: node.into(),
            policy: policy.into(),
            jobs: 0,
            never_served: 0,
            jct_mean: 0.0,
            jct_p95: 0.0,
            wait_mean: 0.0,
            wait_p95: 0.0,
            makespan: 0.0,
            lost_gpu_time: 0.0,
            evictions: 0,
            utilization: 0.0,
            jct_by_kind: Vec::new(),
            invalid: 0,
            first_invalid: None,
        }
    }

    /// Fills the job-level figures from the results of a run from `start` to `end` in which
    /// `area` slice-time was held on a node of `total` slices.
    pub(super) fn set_results(
        &mut self,
        results: &[JobResult],
        start: f64,
        end: f64,
        area: f64,
        total: u32,
    ) {
        self.jobs = results.len() as u64;
        let done: Vec<&JobResult> = results.iter().filter(|r| r.completion.is_some()).collect();
        self.never_served = self.jobs - done.len() as u64;
        let jct: Vec<f64> = done
            .iter()
            .filter_map(|r| r.completion.map(|c| c - r.arrival))
            .collect();
        let wait: Vec<f64> = done.iter().map(|r| r.waited).collect();
        (self.jct_mean, self.jct_p95) = (mean(&jct), p95(jct));
        (self.wait_mean, self.wait_p95) = (mean(&wait), p95(wait));
        self.makespan = end - start;
        let span = (end - start) * f64::from(total);
        self.utilization = if span > 0.0 { area / span } else { 0.0 };
    }
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// The 95th percentile, nearest rank.
// The rank is a small non-negative whole number within the samples.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn p95(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let rank = (0.95 * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

/// The rows as a Markdown table. `unit` names the time unit (`s`, or `u` for the synthetic
/// mixes' mean job life).
pub fn render_jct_table(rows: &[JctStats], unit: &dyn Fn(&str) -> &'static str) -> String {
    let mut s = String::new();
    s.push_str("| workload | node | policy | JCT mean | JCT p95 | wait mean | wait p95 | makespan | lost GPU-time | evictions | util % | never served | invalid |\n");
    s.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let u = unit(&r.workload);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} | {} |",
            r.workload,
            r.node,
            r.policy,
            num(r.jct_mean, u),
            num(r.jct_p95, u),
            num(r.wait_mean, u),
            num(r.wait_p95, u),
            num(r.makespan, u),
            num(r.lost_gpu_time, u),
            r.evictions,
            r.utilization * 100.0,
            r.never_served,
            r.invalid
        );
    }
    s
}

fn num(x: f64, unit: &str) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0} {unit}")
    } else {
        format!("{x:.2} {unit}")
    }
}
