//! The node's status as `dynamigctl status --json` gives it (and as the table renders it).

use crate::node::{Node, Placement};
use crate::state::HolderState;
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
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub gi: u32,
    pub ci: Option<u32>,
    pub profile: String,
    pub placement: Placement,
    pub memory_mib: u64,
    /// Streaming multiprocessors of the profile.
    pub sms: u16,
    pub uuid: String,
    /// `active` (held by a dynamig holder) or `foreign` (created by someone else).
    pub state: String,
    pub holder: Option<HolderInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Used {
    pub used: u8,
    pub total: u8,
}

#[derive(Debug, Clone, Serialize)]
pub struct GpuStatus {
    pub index: u32,
    pub model: String,
    pub name: String,
    pub uuid: String,
    pub mig_enabled: bool,
    pub mig_pending: bool,
    pub usable: bool,
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

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub backend: String,
    pub state_dir: String,
    pub gpus: Vec<GpuStatus>,
    /// Holders that hold no instance now: `preempted` or `lost`.
    pub ended: Vec<EndedHolder>,
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
    }
}

pub fn status(node: &Node) -> Status {
    let view = node.view();
    let mut gpus = Vec::new();
    for g in node.gpus() {
        let model = g.model;
        let mut instances: Vec<InstanceStatus> = node
            .hw_instances(g.index)
            .iter()
            .map(|i| {
                let p = model.and_then(|m| m.profile_by_id(i.profile_id));
                let holder = node.state.holder_of(g.index, i.gi);
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
                    state: if holder.is_some() {
                        "active"
                    } else {
                        "foreign"
                    }
                    .into(),
                    holder: holder.map(holder_info),
                }
            })
            .collect();
        instances.sort_by_key(|i| (i.placement.start, i.gi));
        let usage = view.gpus.iter().find(|v| v.index == g.index).map(|v| {
            crate::layout::Usage::of(v.model, v.instances.iter().map(|i| (i.profile, i.start)))
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
            memory_mib: model.map(|m| m.memory_mib).unwrap_or(0),
            memory_slices: Used {
                used: usage.map(|u| u.mask.count_ones() as u8).unwrap_or(0),
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
        .filter(|h| h.state != HolderState::Active)
        .map(|h| EndedHolder {
            id: h.id.clone(),
            state: h.state.as_str().into(),
            holder: holder_info(h),
        })
        .collect();
    Status {
        backend: node.backend_kind().to_string(),
        state_dir: node.dir().path().display().to_string(),
        gpus,
        ended,
    }
}
