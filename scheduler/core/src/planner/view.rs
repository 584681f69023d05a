//! The planner's read-only view of the node: GPUs, their instances and who holds each.

use crate::catalog::{GpuModel, Profile};
use crate::ids::GpuIndex;
use crate::priority::Priority;
use crate::request::Size;

/// Who an existing instance belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// Created by someone else (an administrator): never touched.
    Foreign,
    /// Held by a dynamig holder.
    Holder(HolderRef),
    /// Created by dynamig, kept after its holder left, held by nobody (docs/warm-instances.md):
    /// free room that a request of its profile takes as it is, and that costs one destroy to
    /// reshape. Never a victim.
    Warm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderRef {
    pub id: String,
    pub namespace: String,
    pub priority: Priority,
    pub preemptible: bool,
    /// Allocation order: larger is younger.
    pub seq: u64,
    /// Admitted beyond its namespace's quota (docs/policy.md): the first victim of a request
    /// within its quota, whatever its priority.
    pub over_quota: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedInstance {
    pub profile: &'static Profile,
    pub start: u8,
    pub owner: Owner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuView {
    pub index: GpuIndex,
    pub model: &'static GpuModel,
    /// False when MIG is off or a mode change is pending: nothing is placed there.
    pub usable: bool,
    pub instances: Vec<PlacedInstance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeView {
    pub gpus: Vec<GpuView>,
}

/// What the planner needs of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    pub size: Size,
    pub priority: Priority,
    /// Within its namespace's quota (or no quota applies): it may take back room held over
    /// quota whatever the holder's priority.
    pub within_quota: bool,
}

impl HolderRef {
    /// Whether a request of `priority` may evict this holder.
    pub fn evictable_by(&self, priority: Priority) -> bool {
        self.preemptible && self.priority < priority
    }

    /// Whether `req` may evict this holder: by priority, or, when `req` is within its quota and
    /// this holder over quota, whatever its priority.
    pub fn reclaimable_by(&self, req: &PlanRequest) -> bool {
        self.evictable_by(req.priority) || (self.preemptible && self.over_quota && req.within_quota)
    }
}
