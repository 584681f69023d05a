//! The queued comparison: every policy on one workload and node, and the best static layout
//! found by trying each.

use super::jct::JctStats;
use super::layouts::{combinations, Layout};
use super::queued::{replay_queued, QueueSettings};
use super::sim::Replay;
use super::workload::Workload;
use super::{policy_by_name, Policy};

/// The policies of a queued comparison, besides the static layouts.
pub const QUEUED_POLICIES: [&str; 3] = ["first-fit", "best-fit", "dynamig"];

/// The rows of a queued comparison: `policies` (names from [`QUEUED_POLICIES`]), then
/// `no-partition` (whole GPUs only), then the best static layout (the lowest mean JCT among the
/// layouts that serve every job, over every per-GPU combination of [`super::layouts::SHAPES`]),
/// named `best static: <layout>`; with `every_layout`, every layout's row too.
pub fn compare_queued(
    node: &Replay,
    wl: &Workload,
    policies: &[&str],
    settings: QueueSettings,
    every_layout: bool,
) -> Vec<JctStats> {
    let mut rows: Vec<JctStats> = policies
        .iter()
        .filter_map(|p| policy_by_name(p))
        .map(|p| replay_queued(node, wl, p.as_ref(), settings).0)
        .collect();
    if policies.contains(&"dynamig") {
        let easy = QueueSettings {
            max_reservations: 1,
            ..settings
        };
        let mut r = replay_queued(node, wl, &super::Dynamig, easy).0;
        r.policy = "dynamig, head-only reservation (experiment)".into();
        rows.push(r);
    }
    let whole = vec!["no-partition"; node.gpus.len()];
    let layouts: Vec<JctStats> = combinations(node.gpus.len())
        .iter()
        .map(|shapes| {
            let layout = Layout::new(node.gpus, shapes);
            replay_queued(node, wl, &layout as &dyn Policy, settings).0
        })
        .collect();
    let best = layouts
        .iter()
        .filter(|r| r.never_served == 0)
        .min_by(|a, b| a.jct_mean.total_cmp(&b.jct_mean));
    if let Some(w) = layouts.iter().find(|r| r.policy == whole[0]) {
        rows.push(w.clone());
    }
    if let Some(b) = best {
        let mut b = b.clone();
        b.policy = format!("best static: {}", b.policy);
        rows.push(b);
    }
    if every_layout {
        rows.extend(layouts);
    }
    rows
}
