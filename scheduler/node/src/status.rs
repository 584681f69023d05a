//! The node's status as `dynamigctl status --json` gives it (and as the table renders it).

use crate::backend::BackendKind;
use crate::node::{Node, Placement};
use crate::state::HolderState;
use dynamig_core::ids::{CiId, GiId, GpuIndex};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct HolderInfo {
    pub id: String,
    pub namespace: String,
    pub priority: i32,
    pub priority_class: String,
    pub preemptible: bool,
    pub pid: Option<u32>,
    pub request: String,
    /// Admitted beyond its namespace's quota (docs/policy.md); present only when true.
    #[serde(default, skip_serializing_if = "is_false")]
    pub over_quota: bool,
    /// How often it checkpoints (`dynamig.io/checkpoint-interval`), in milliseconds; present
    /// only when it declared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_interval_ms: Option<u64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub gi: GiId,
    pub ci: Option<CiId>,
    pub profile: String,
    pub placement: Placement,
    pub memory_mib: u64,
    /// Streaming multiprocessors of the profile.
    pub sms: u16,
    pub uuid: String,
    /// `active` (held by a dynamig holder), `preempting` (held by a holder being evicted, until
    /// its process is gone), `warm` (dynamig's, released and kept for the next request of its
    /// profile: docs/warm-instances.md) or `foreign` (created by someone else).
    pub state: String,
    pub holder: Option<HolderInfo>,
    /// While `warm`: since when, for how much longer, and who released it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm: Option<WarmInfo>,
}

/// A warm instance (docs/warm-instances.md).
#[derive(Debug, Clone, Serialize)]
pub struct WarmInfo {
    /// Unix time in milliseconds at which it was released and kept.
    pub since_ms: u64,
    /// Until the next entry point destroys it, unless a request takes it first.
    pub remaining_ms: u64,
    /// The holder that released it, `namespace/id`.
    pub last_holder: String,
    /// Processes run on it (it was found so when the node was opened): handed out to nobody
    /// and destroyed by nobody while they do.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub in_use: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Used {
    pub used: u8,
    pub total: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuStatus {
    pub index: GpuIndex,
    pub model: String,
    pub name: String,
    pub uuid: String,
    pub mig_enabled: bool,
    pub mig_pending: bool,
    pub usable: bool,
    /// Persistence mode as NVML reports it; null where it is not reported (the simulator).
    pub persistence_mode: Option<bool>,
    pub memory_mib: u64,
    pub memory_slices: Used,
    pub compute_slices: Used,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EndedHolder {
    pub id: String,
    pub state: String,
    pub holder: HolderInfo,
}

/// A request waiting for room, in serving order.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedInfo {
    /// 1 is served first.
    pub position: usize,
    pub id: String,
    pub namespace: String,
    pub request: String,
    pub priority: i32,
    pub priority_class: String,
    /// The waiting process.
    pub pid: u32,
    pub waited_ms: u64,
    /// Unix time in milliseconds when the waiter gives up.
    pub deadline_ms: u64,
    pub remaining_ms: u64,
    /// Where the request is reserved room now, if anywhere: `GPU 0 7g.40gb@0`.
    pub reserved: Option<String>,
    /// Beyond its namespace's quota: served after requests of its priority within quota.
    #[serde(default, skip_serializing_if = "is_false")]
    pub over_quota: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub backend: BackendKind,
    /// `standalone` or `dra-managed` (docs/dra-node.md).
    pub mode: &'static str,
    pub state_dir: String,
    pub gpus: Vec<GpuStatus>,
    /// Holders that hold no instance now: `preempted` or `lost`.
    pub ended: Vec<EndedHolder>,
    /// Requests waiting for room (`dynamig.io/wait`), in serving order.
    pub queue: Vec<QueuedInfo>,
    /// Evictions in flight: the room each reserves while its victims leave.
    pub evictions: Vec<EvictionInfo>,
}

/// An eviction in flight (docs/eviction.md).
#[derive(Debug, Clone, Serialize)]
pub struct EvictionInfo {
    /// The requester's holder id.
    pub id: String,
    pub namespace: String,
    /// The process carrying it out.
    pub pid: u32,
    /// The room reserved for it: `GPU 0 3g.20gb@4`.
    pub reserved: String,
    /// The holders being preempted for it.
    pub victims: Vec<String>,
    pub waited_ms: u64,
}

fn eviction_info(node: &Node) -> Vec<EvictionInfo> {
    let now = crate::events::now_ms();
    node.state
        .evictions
        .iter()
        .map(|e| EvictionInfo {
            id: e.holder.clone(),
            namespace: e.namespace.clone(),
            pid: e.owner.pid,
            reserved: format!("GPU {} {}@{}", e.gpu, e.profile, e.start),
            victims: e.victims.iter().map(ToString::to_string).collect(),
            waited_ms: now.saturating_sub(e.created_ms),
        })
        .collect()
}

fn queue_info(node: &Node, view: &dynamig_core::planner::NodeView) -> Vec<QueuedInfo> {
    let now = crate::events::now_ms();
    let (_, held) = dynamig_core::queue::reserved_view_with(
        view,
        &node.state.queue,
        dynamig_core::queue::arrival_key_at(dynamig_core::priority::Priority(i32::MIN), true),
        &mut |v, r| node.timed_plan(v, r),
    );
    dynamig_core::queue::ordered(&node.state.queue)
        .into_iter()
        .enumerate()
        .map(|(n, t)| QueuedInfo {
            position: n + 1,
            id: t.id.clone(),
            namespace: t.namespace.clone(),
            request: t.asked.clone(),
            priority: t.request.priority.0,
            priority_class: t.request.priority.to_string(),
            pid: t.waiter.pid,
            waited_ms: now.saturating_sub(t.enqueued_ms),
            deadline_ms: t.deadline_ms,
            remaining_ms: t.deadline_ms.saturating_sub(now),
            reserved: held
                .iter()
                .find(|r| r.id == t.id && r.namespace == t.namespace)
                .map(|r| format!("GPU {} {}@{}", r.gpu, r.profile, r.start)),
            over_quota: t.over_quota,
        })
        .collect()
}

fn holder_info(h: &crate::state::Holder) -> HolderInfo {
    HolderInfo {
        id: h.id.clone(),
        namespace: h.namespace.clone(),
        priority: h.priority.0,
        priority_class: h.priority.to_string(),
        preemptible: h.preemptible,
        pid: h.process.map(|p| p.pid),
        request: h.request.clone(),
        over_quota: h.over_quota,
        checkpoint_interval_ms: h.checkpoint_interval_ms,
    }
}

pub fn status(node: &Node) -> Status {
    let view = node.view();
    let now = crate::events::now_ms();
    let mut gpus = Vec::new();
    for g in node.gpus() {
        let model = g.model;
        let mut instances: Vec<InstanceStatus> = node
            .hw_instances(g.index)
            .iter()
            .map(|i| {
                let p = model.and_then(|m| m.profile_by_id(i.profile_id));
                let holder = node.state.holder_of(g.index, i.gi);
                let warm = node
                    .state
                    .warm_at(g.index, i.gi)
                    .filter(|_| holder.is_none());
                InstanceStatus {
                    gi: i.gi,
                    ci: i.ci,
                    profile: p
                        .map(|p| p.name.to_string())
                        .unwrap_or_else(|| format!("id {}", i.profile_id)),
                    placement: Placement {
                        start: i.start,
                        size: i.size,
                    },
                    memory_mib: p.map(|p| p.memory_mib).unwrap_or(0),
                    sms: p.map(|p| p.sms).unwrap_or(0),
                    uuid: i.uuid.clone(),
                    state: match holder {
                        Some(h) if h.state == HolderState::Preempting => "preempting",
                        Some(_) => "active",
                        None if warm.is_some() => "warm",
                        None => "foreign",
                    }
                    .into(),
                    holder: holder.map(holder_info),
                    warm: warm.map(|w| WarmInfo {
                        since_ms: w.since_ms,
                        remaining_ms: (w.since_ms + node.config().warm.ttl_ms())
                            .saturating_sub(now),
                        last_holder: w.last_holder.to_string(),
                        in_use: node.warm_in_use(g.index, i.gi),
                    }),
                }
            })
            .collect();
        instances.sort_by_key(|i| (i.placement.start, i.gi));
        let usage = view.gpus.iter().find(|v| v.index == g.index).map(|v| {
            dynamig_core::layout::Usage::of(
                v.model,
                v.instances.iter().map(|i| (i.profile, i.start)),
            )
        });
        gpus.push(GpuStatus {
            index: g.index,
            model: model
                .map(|m| m.key.to_string())
                .unwrap_or_else(|| "unknown".into()),
            name: g.name.clone(),
            uuid: g.uuid.clone(),
            mig_enabled: g.mig.current,
            mig_pending: g.mig.current != g.mig.pending,
            usable: g.mig.usable() && model.is_some(),
            persistence_mode: g.persistence_mode,
            memory_mib: model.map(|m| m.memory_mib).unwrap_or(0),
            memory_slices: Used {
                used: usage
                    .map(|u| u8::try_from(u.mask.count_ones()).unwrap_or(u8::MAX))
                    .unwrap_or(0),
                total: model.map(|m| m.memory_slices).unwrap_or(0),
            },
            compute_slices: Used {
                used: usage.map(|u| u.compute).unwrap_or(0),
                total: model.map(|m| m.compute_slices).unwrap_or(0),
            },
            instances,
        });
    }
    let ended = node
        .state
        .holders
        .iter()
        .filter(|h| !matches!(h.state, HolderState::Active | HolderState::Preempting))
        .map(|h| EndedHolder {
            id: h.id.clone(),
            state: h.state.as_str().into(),
            holder: holder_info(h),
        })
        .collect();
    Status {
        backend: node.backend_kind(),
        mode: if node.dra_managed() {
            "dra-managed"
        } else {
            "standalone"
        },
        state_dir: node.dir().path().display().to_string(),
        gpus,
        ended,
        queue: queue_info(node, &view),
        evictions: eviction_info(node),
    }
}
