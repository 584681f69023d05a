//! The planner: a pure function of (catalog, node view, request) to a decision (GPU, profile,
//! placement, victims) or a refusal that explains itself.
//!
//! # Rules
//!
//! 1. **Profile.** A profile request names its profile. A memory request may use any profile whose
//!    memory fits and whose memory equals that of the smallest such profile (on an A100-40GB a
//!    `10GB` request may use `1g.10gb` or `2g.10gb`, both 9984 MiB); the smaller one in compute
//!    slices is preferred, the larger is taken only when it avoids an eviction.
//!    Only plain and `+me` profiles are memory candidates: never `+gfx` or `+me.all`, and a
//!    `-me` one only when it lacks none of its plain sibling's engines (docs/models.md).
//! 2. **Validity.** Only placements NVML accepts: in the profile's placement table, on free memory
//!    slices, with compute slices and engines left, under the profile's instance limit
//!    ([`crate::layout::Usage::check`]).
//! 3. **No eviction first.** Every GPU and placement that fits as things are is scored; only if
//!    there is none does eviction come in.
//! 4. **Fragmentation score.** For a GPU, count the placements of every profile that would still
//!    be individually possible, grouped by placement size (8, 4, 2, 1 memory slices). The *loss*
//!    of a candidate is how many possible placements of each size it destroys. Losses compare
//!    largest size first: a candidate that keeps one more full-GPU or half-GPU placement possible
//!    wins over any number of small ones. This packs small requests onto GPUs and slice ranges
//!    that are already broken up and keeps whole GPUs and aligned halves free for the largest
//!    future requests. Ties go to the smaller profile, then the lower GPU index and start.
//! 5. **Eviction.** Otherwise, for each GPU and placement: the instances overlapping it must go,
//!    and if compute slices, engines or the instance limit are still short, the fewest further
//!    instances that make it fit. Every victim must be a holder (never an instance dynamig did not
//!    create) that is preemptible and of strictly lower priority than the request, or, when the
//!    request is within its namespace's quota, a holder over quota of any priority
//!    (docs/policy.md). Candidate sets compare by: fewer victims within quota (over-quota
//!    holders go first; without quotas this is the next rule), fewer victims, then lower highest
//!    victim priority, then lower priority sum, then the least work at risk, then the youngest
//!    (the set whose oldest member is newest), then the fragmentation loss. A victim's work at
//!    risk is what its eviction would throw away: the run time since its last checkpoint (its
//!    run time modulo its `dynamig.io/checkpoint-interval`; its whole run time when it declared
//!    none) times its share of the GPU (its memory slices over the GPU's), summed over the set.
//!    Run times come in the view ([`HolderRef::run_time`]); the planner reads no clock. With
//!    no interval declared the least work at risk is the least run time × share: among single
//!    victims of one size, exactly the youngest, as before the rule existed.
//!    A set is only considered when, with it gone, the placement is valid: no eviction ever
//!    happens that would still not make room.
//!
//! 6. **Warm instances** (docs/warm-instances.md) are free room: reused as they are when the
//!    request's preferred profile is theirs, destroyed (one destroy each, never an eviction) only
//!    when no placement keeps them (`warm.rs`).
//!
//! Deterministic: equal inputs give equal decisions.

mod refusal;
mod score;
mod search;
mod view;
mod warm;

pub use refusal::{Blocker, GpuBlockers, Refusal};
pub use score::{Loss, SIZE_CLASSES};
pub use search::candidate_profiles;
pub use view::{GpuView, HolderRef, NodeView, Owner, PlacedInstance, PlanRequest, SHARE_SCALE};
pub use warm::Reclaim;

use crate::catalog::Profile;
use crate::ids::GpuIndex;
use serde::Serialize;

/// One instance to evict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Victim {
    pub id: String,
    pub namespace: String,
    pub gpu: GpuIndex,
    pub profile: &'static str,
    pub start: u8,
    pub priority: i32,
}

impl Victim {
    pub fn key(&self) -> crate::holder::HolderKey {
        crate::holder::HolderKey::new(&self.namespace, &self.id)
    }
}

/// What the planner decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub gpu: GpuIndex,
    pub profile: &'static Profile,
    pub start: u8,
    pub victims: Vec<Victim>,
    pub loss: Loss,
    /// Takes the warm instance at `profile@start` on `gpu` as it is: no destroy, no create
    /// (docs/warm-instances.md).
    pub reuse: bool,
    /// Warm instances on `gpu` to destroy first: free room, never victims.
    pub reclaim: Vec<Reclaim>,
}

/// Decides where a request goes ([`search::plan`]). Pure: the node times its decisions itself.
/// Warm instances (an [`Owner::Warm`] instance) are free room, reused or destroyed as
/// `warm.rs` says.
pub fn plan(node: &NodeView, req: &PlanRequest) -> Result<Decision, Refusal> {
    if warm::any(node) {
        return warm::plan(node, req);
    }
    search::plan(node, req)
}

#[cfg(test)]
mod tests;
