//! Refusals that explain themselves in one line.

use super::search::candidate_profiles;
use super::view::{NodeView, Owner, PlanRequest};
use crate::ids::GpuIndex;
use crate::quantity::format_bytes;
use crate::request::Size;
use serde::Serialize;
use std::fmt;

/// One instance standing in the way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// Holder id, or `foreign` for an instance dynamig did not create.
    pub id: String,
    pub profile: &'static str,
    pub priority: Option<i32>,
    pub preemptible: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuBlockers {
    pub gpu: GpuIndex,
    pub model: &'static str,
    pub usable: bool,
    pub held: Vec<Blocker>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Refusal {
    /// No GPU on the node has that profile.
    UnknownProfile {
        name: String,
        known: Vec<(String, Vec<String>)>,
    },
    /// More memory than any profile of any GPU on the node.
    TooLarge {
        requested: String,
        largest: Vec<(String, String, u64)>,
    },
    /// The node has no GPU at all.
    NoGpus,
    /// Valid, but no room now, and nothing that may be evicted would make room.
    NoRoom {
        request: String,
        priority: i32,
        gpus: Vec<GpuBlockers>,
    },
}

impl Refusal {
    /// Bad input (exit 2) rather than a request that cannot be met now (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Refusal::UnknownProfile { .. } | Refusal::TooLarge { .. }
        )
    }

    pub(super) fn unservable(node: &NodeView, size: &Size) -> Refusal {
        if node.gpus.is_empty() {
            return Refusal::NoGpus;
        }
        let mut models: Vec<&'static crate::catalog::GpuModel> = Vec::new();
        for g in &node.gpus {
            if !models.iter().any(|m| m.key == g.model.key) {
                models.push(g.model);
            }
        }
        match size {
            Size::Profile { name } => Refusal::UnknownProfile {
                name: name.clone(),
                known: models
                    .iter()
                    .map(|m| {
                        (
                            m.key.to_string(),
                            m.profiles.iter().map(|p| p.name.to_string()).collect(),
                        )
                    })
                    .collect(),
            },
            Size::Memory { text, .. } => Refusal::TooLarge {
                requested: text.clone(),
                largest: models
                    .iter()
                    .filter_map(|m| {
                        let p = m.profiles.iter().max_by_key(|p| p.memory_mib)?;
                        Some((m.key.to_string(), p.name.to_string(), p.memory_mib))
                    })
                    .collect(),
            },
        }
    }

    pub(super) fn no_room(node: &NodeView, req: &PlanRequest) -> Refusal {
        let request = match &req.size {
            Size::Memory { text, .. } => text.clone(),
            Size::Profile { name } => name.clone(),
        };
        let gpus = node
            .gpus
            .iter()
            .filter(|g| !candidate_profiles(g.model, &req.size).is_empty())
            .map(|g| GpuBlockers {
                gpu: g.index,
                model: g.model.key,
                usable: g.usable,
                held: g
                    .instances
                    .iter()
                    .map(|i| match &i.owner {
                        Owner::Foreign => Blocker {
                            id: "foreign".into(),
                            profile: i.profile.name,
                            priority: None,
                            preemptible: false,
                        },
                        Owner::Warm => Blocker {
                            id: "warm".into(),
                            profile: i.profile.name,
                            priority: None,
                            preemptible: false,
                        },
                        Owner::Holder(h) => Blocker {
                            id: h.id.clone(),
                            profile: i.profile.name,
                            priority: Some(h.priority.0),
                            preemptible: h.preemptible,
                        },
                    })
                    .collect(),
            })
            .collect();
        Refusal::NoRoom {
            request,
            priority: req.priority.0,
            gpus,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnknownProfile { name, known } => {
                write!(f, "no GPU on this node has MIG profile {name:?}; known: ")?;
                let parts: Vec<String> = known
                    .iter()
                    .map(|(m, ps)| format!("{m}: {}", ps.join(" ")))
                    .collect();
                f.write_str(&parts.join("; "))
            }
            Refusal::TooLarge { requested, largest } => {
                write!(
                    f,
                    "gpu-memory {requested} is more than any GPU on this node can give; largest: "
                )?;
                let parts: Vec<String> = largest
                    .iter()
                    .map(|(m, p, mib)| format!("{m} {p} ({})", format_bytes(mib * 1024 * 1024)))
                    .collect();
                f.write_str(&parts.join(", "))
            }
            Refusal::NoGpus => f.write_str(
                "this node has no MIG-capable GPU that dynamig can use (a GPU not in the catalog needs sound MIG tables from its driver; `dynamigctl doctor` says why a GPU is not used)",
            ),
            Refusal::NoRoom {
                request,
                priority,
                gpus,
            } => {
                let prio = crate::priority::Priority(*priority);
                write!(f, "no room for {request} at priority {prio}")?;
                let mut parts = Vec::new();
                for g in gpus {
                    if !g.usable {
                        parts.push(format!(
                            "GPU {} ({}) has MIG off or a mode change pending",
                            g.gpu, g.model
                        ));
                        continue;
                    }
                    let held: Vec<String> = g
                        .held
                        .iter()
                        .map(|b| match b.priority {
                            None => format!("{} (foreign)", b.profile),
                            Some(p) => format!(
                                "{} {} ({}{})",
                                b.id,
                                b.profile,
                                crate::priority::Priority(p),
                                if b.preemptible { ", preemptible" } else { "" }
                            ),
                        })
                        .collect();
                    parts.push(format!(
                        "GPU {} ({}) holds {}",
                        g.gpu,
                        g.model,
                        if held.is_empty() {
                            "nothing".to_string()
                        } else {
                            held.join(", ")
                        }
                    ));
                }
                if !parts.is_empty() {
                    write!(f, ": {}", parts.join("; "))?;
                }
                f.write_str(
                    "; evicting only preemptible holders of lower priority would not make room",
                )
            }
        }
    }
}
