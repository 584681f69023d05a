//! Closing a node: its events are appended to the event log and the metrics file is rewritten,
//! still under the lock. No I/O happens when a [`Node`] is dropped: a node is closed by
//! [`Node::close`], and entry points that open one for a single operation use
//! [`Node::session`], which closes it whatever the operation returned, so a `?` inside cannot
//! skip the close (a refusal's event is written with the refusal). Code that keeps a node past a
//! function ([`super::allocate_waiting`] returns it, locked) closes it explicitly on every path.
//! A node dropped unclosed writes nothing and says so in the log.
//!
//! The metrics get a plain [`Snapshot`] of the node and the decisions this node timed: the
//! metrics module knows nothing of the node.

use super::{Node, NodeError};
use crate::config::NodeConfig;
use crate::events;
use crate::metrics::{self, GpuGauges, Snapshot};
use crate::state::{HolderState, StateDir};
use dynamig_core::planner::{self, Decision, NodeView, PlanRequest, Refusal};
use dynamig_core::policy::GpuShare;
use std::time::Instant;

impl Node {
    /// Opens the node, runs `op` on it, and closes it, whatever `op` returned.
    pub fn session<T, E: From<NodeError>>(
        cfg: &NodeConfig,
        dir: &StateDir,
        op: impl FnOnce(&mut Node) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut node = Node::open(cfg, dir)?;
        let out = op(&mut node);
        node.close();
        out
    }

    /// Writes the events and the metrics, then lets the lock go.
    pub fn close(mut self) {
        self.flush();
    }

    /// Writes the events so far and the metrics (on close, and before an eviction lets the
    /// lock go).
    pub(super) fn flush(&mut self) {
        let events = std::mem::take(&mut self.events);
        events::append(&self.dir.events_file(), &events);
        let decisions = std::mem::take(&mut self.decisions.borrow_mut().histogram);
        metrics::on_close(
            self.dir.path(),
            self.cfg.metrics_file.as_deref(),
            || self.snapshot(),
            &events,
            &decisions,
        );
    }

    /// Runs the planner and records how long it took, as one decision of this node.
    pub fn timed_plan(&self, view: &NodeView, req: &PlanRequest) -> Result<Decision, Refusal> {
        let t = Instant::now();
        let out = planner::plan(view, req);
        self.decisions.borrow_mut().observe(t.elapsed());
        out
    }

    /// How long this node's latest planner decision took (for log lines).
    pub fn last_decision(&self) -> Option<std::time::Duration> {
        self.decisions.borrow().last
    }

    /// What the metrics show of the node now.
    fn snapshot(&self) -> Snapshot {
        let view = self.view();
        let gpus = self
            .gpus
            .iter()
            .map(|g| {
                let model = g.model;
                let usage = view.gpus.iter().find(|v| v.index == g.index).map(|v| {
                    dynamig_core::layout::Usage::of(
                        v.model,
                        v.instances.iter().map(|i| (i.profile, i.start)),
                    )
                });
                let used_memory = usage
                    .map(|u| u8::try_from(u.mask.count_ones()).unwrap_or(u8::MAX))
                    .unwrap_or(0);
                let used_compute = usage.map(|u| u.compute).unwrap_or(0);
                GpuGauges {
                    index: g.index,
                    name: g.name.clone(),
                    model: model
                        .map(|m| m.key.to_string())
                        .unwrap_or_else(|| "unknown".into()),
                    uuid: g.uuid.clone(),
                    usable: g.mig.usable() && model.is_some(),
                    instances: self
                        .hw_instances(g.index)
                        .iter()
                        .map(|i| {
                            model
                                .and_then(|m| m.profile_by_id(i.profile_id))
                                .map(|p| p.name.to_string())
                                .unwrap_or_else(|| format!("id {}", i.profile_id))
                        })
                        .collect(),
                    free_memory_slices: model
                        .map(|m| m.memory_slices)
                        .unwrap_or(0)
                        .saturating_sub(used_memory),
                    free_compute_slices: model
                        .map(|m| m.compute_slices)
                        .unwrap_or(0)
                        .saturating_sub(used_compute),
                }
            })
            .collect();
        let holders = [
            HolderState::Active,
            HolderState::Preempting,
            HolderState::Preempted,
            HolderState::Lost,
        ]
        .map(|s| {
            let n = self.state.holders.iter().filter(|h| h.state == s).count();
            (s.as_str(), n as u64)
        })
        .to_vec();
        let mut namespace_gpus: std::collections::BTreeMap<(String, bool), GpuShare> =
            std::collections::BTreeMap::new();
        for h in self
            .state
            .holders
            .iter()
            .filter(|h| h.state == HolderState::Active)
        {
            let e = namespace_gpus
                .entry((h.namespace.clone(), h.over_quota))
                .or_default();
            *e = *e + self.share_of(h);
        }
        Snapshot {
            gpus,
            holders,
            waiting: self.state.queue.len() as u64,
            namespace_gpus: namespace_gpus
                .into_iter()
                .map(|((ns, over), g)| (ns, over, g.as_gpus()))
                .collect(),
            over_quota_holders: self
                .state
                .holders
                .iter()
                .filter(|h| {
                    h.over_quota && matches!(h.state, HolderState::Active | HolderState::Preempting)
                })
                .count() as u64,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if !self.events.is_empty() {
            tracing::warn!(
                events = self.events.len(),
                "a node was dropped without close; its events are not in the event log"
            );
        }
    }
}
