//! The planner's view of the node: the hardware's instances, each with its owner (a holder,
//! warm, someone else, or room reserved by an eviction in flight).

use super::Node;
use crate::events::now_ms;
use crate::state::HolderState;
use dynamig_core::planner::{GpuView, HolderRef, NodeView, Owner, PlacedInstance};
use std::time::Duration;

impl Node {
    /// The planner's view of the node now.
    pub fn view(&self) -> NodeView {
        self.view_at(now_ms())
    }

    /// The planner's view of the node at Unix time `now_ms` (milliseconds): each holder's run
    /// time is `now_ms` − its allocation time in state (`created_ms`), which with its declared
    /// checkpoint interval is what the planner weighs as its work at risk.
    pub fn view_at(&self, now_ms: u64) -> NodeView {
        let mut gpus = Vec::new();
        for g in &self.gpus {
            let Some(model) = g.model else { continue };
            // Room reserved by evictions in flight: occupied, and by nobody anyone may evict.
            let reserved: Vec<PlacedInstance> = self
                .state
                .evictions
                .iter()
                .filter(|e| e.gpu == g.index)
                .filter_map(|e| {
                    Some(PlacedInstance {
                        profile: model.profile_by_id(e.profile_id)?,
                        start: e.start,
                        owner: Owner::Foreign,
                    })
                })
                .collect();
            let in_reserved = |p: &dynamig_core::catalog::Profile, start: u8| {
                reserved.iter().any(|r| {
                    r.start <= start && start + p.memory_slices <= r.start + r.profile.memory_slices
                })
            };
            let mut instances: Vec<PlacedInstance> = self
                .hw_instances(g.index)
                .iter()
                .filter_map(|i| {
                    let profile = model.profile_by_id(i.profile_id)?;
                    let owner = match self.state.holder_of(g.index, i.gi) {
                        // A victim leaving: wholly inside reserved room it is counted there;
                        // otherwise its room is taken until it is gone (counted twice where it
                        // overlaps reserved room, which errs on the side of refusing). Never a
                        // victim twice.
                        Some(h) if h.state == HolderState::Preempting => {
                            if in_reserved(profile, i.start) {
                                return None;
                            }
                            Owner::Foreign
                        }
                        Some(h) => Owner::Holder(HolderRef {
                            id: h.id.clone(),
                            namespace: h.namespace.clone(),
                            priority: h.priority,
                            // A container still being created is never a victim: it could only
                            // be signalled through its creator (docs/eviction.md).
                            preemptible: h.preemptible && !h.being_created(),
                            seq: h.seq,
                            over_quota: h.over_quota,
                            run_time: Duration::from_millis(now_ms.saturating_sub(h.created_ms)),
                            checkpoint_interval: h
                                .checkpoint_interval_ms
                                .map(Duration::from_millis),
                        }),
                        // Warm and idle: free room (docs/warm-instances.md). In use by a process
                        // dynamig does not know: occupied, and touched by nobody.
                        None if self.state.warm_at(g.index, i.gi).is_some() => {
                            if self.warm_in_use(g.index, i.gi) {
                                Owner::Foreign
                            } else {
                                Owner::Warm
                            }
                        }
                        None => Owner::Foreign,
                    };
                    Some(PlacedInstance {
                        profile,
                        start: i.start,
                        owner,
                    })
                })
                .collect();
            instances.extend(reserved);
            gpus.push(GpuView {
                index: g.index,
                model,
                usable: g.mig.usable(),
                instances,
            });
        }
        NodeView { gpus }
    }
}
