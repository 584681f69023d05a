//! The planner's read-only view of the node: GPUs, their instances and who holds each.

use crate::catalog::{GpuModel, Profile};
use crate::ids::GpuIndex;
use crate::priority::Priority;
use crate::request::Size;
use std::time::Duration;

/// The unit of a GPU share in [`HolderRef::work_at_risk`]: lcm(1..=12), so that a share of
/// every memory-slice grid in the catalog (4, 8, 12 slices) is a whole number of it.
pub const SHARE_SCALE: u128 = 27_720;

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
    /// How long it has held its instance (the node: now − its allocation time in state). The
    /// planner has no clock; this is what it knows of the work an eviction would lose.
    pub run_time: Duration,
    /// How often it checkpoints (`dynamig.io/checkpoint-interval`), when it declared it.
    pub checkpoint_interval: Option<Duration>,
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
    /// The run time an eviction now would lose: the time since its last checkpoint (run time
    /// modulo its interval), or its whole run time when it declared no interval.
    pub fn at_risk(&self) -> Duration {
        match self.checkpoint_interval {
            // Checkpointing continuously (only a replay says so): nothing is at risk.
            Some(every) if every.is_zero() => Duration::ZERO,
            Some(every) => {
                let since = self.run_time.as_nanos() % every.as_nanos();
                // Below `every`, a Duration: its seconds fit a u64, its nanoseconds a u32.
                Duration::new(
                    u64::try_from(since / 1_000_000_000).unwrap_or(u64::MAX),
                    u32::try_from(since % 1_000_000_000).unwrap_or(0),
                )
            }
            _ => self.run_time,
        }
    }

    /// [`HolderRef::at_risk`] times its share of the GPU (`slices` of the GPU's `total` memory
    /// slices), in nanoseconds × [`SHARE_SCALE`]: what the planner sums over a victim set.
    pub fn work_at_risk(&self, slices: u8, total: u8) -> u128 {
        let total = u128::from(total.max(1));
        self.at_risk().as_nanos() * u128::from(slices) * SHARE_SCALE / total
    }

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
