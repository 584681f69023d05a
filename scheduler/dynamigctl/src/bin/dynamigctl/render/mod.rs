//! How `dynamigctl` prints things for people (and the JSON shapes of `plan`): one line for a
//! plan or an allocation, the events; the tables of [`status`] and [`profiles`].

mod profiles;
mod status;

pub use profiles::profiles;
pub use status::{status, Form};

use dynamig_core::ids::GpuIndex;
use dynamig_core::planner::Decision;
use dynamig_node::events::Event;
use dynamig_node::node::{Allocation, Placement};
use dynamig_node::state::HolderKey;
use serde::Serialize;

#[derive(Serialize)]
pub struct PlanOut {
    pub gpu: GpuIndex,
    pub profile: String,
    pub placement: Placement,
    /// Holder ids, as before namespaces; `evict_holders` says whose.
    pub evict: Vec<String>,
    pub evict_holders: Vec<HolderKey>,
    /// Takes a warm instance as it is (docs/warm-instances.md); present only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warm: bool,
    /// Warm instances destroyed first (`2g.10gb@4`); present only when there are some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reclaim_warm: Vec<String>,
}

impl From<&Decision> for PlanOut {
    fn from(d: &Decision) -> Self {
        PlanOut {
            gpu: d.gpu,
            profile: d.profile.name.to_string(),
            placement: Placement {
                start: d.start,
                size: d.profile.memory_slices,
            },
            evict: d.victims.iter().map(|v| v.id.clone()).collect(),
            evict_holders: d.victims.iter().map(|v| v.key()).collect(),
            warm: d.reuse,
            reclaim_warm: d
                .reclaim
                .iter()
                .map(|r| format!("{}@{}", r.profile, r.start))
                .collect(),
        }
    }
}

pub fn plan_line(p: &PlanOut) -> String {
    let mut ev = if p.evict_holders.is_empty() {
        "no eviction".to_string()
    } else {
        format!("evicts {}", names(&p.evict_holders))
    };
    if p.warm {
        ev.push_str(", a warm instance as it is");
    }
    if !p.reclaim_warm.is_empty() {
        ev.push_str(&format!(", destroys warm {}", p.reclaim_warm.join(", ")));
    }
    format!(
        "GPU {} {} at {}:{} ({ev})",
        p.gpu, p.profile, p.placement.start, p.placement.size
    )
}

pub fn allocation_line(a: &Allocation) -> String {
    let ev = if a.evict_holders.is_empty() {
        String::new()
    } else {
        format!(", evicted {}", names(&a.evict_holders))
    };
    format!(
        "{}: GPU {} {} at {}:{} GI {} CI {} {}{ev}",
        a.id, a.gpu, a.profile, a.placement.start, a.placement.size, a.gi, a.ci, a.uuid
    )
}

/// `ns/a, ns/b`.
fn names(keys: &[HolderKey]) -> String {
    keys.iter()
        .map(HolderKey::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The value, or `-` when there is none.
fn dash(s: Option<String>) -> String {
    s.unwrap_or_else(|| "-".into())
}

pub fn events(evs: &[Event]) -> String {
    if evs.is_empty() {
        return "no events".into();
    }
    evs.iter()
        .map(|e| {
            let place = match (e.gpu, &e.profile, e.start) {
                (Some(g), Some(p), Some(s)) => format!(" GPU {g} {p}@{s}"),
                _ => String::new(),
            };
            format!(
                "{} {:<10} {}{place}: {}",
                dynamig_core::rfc3339::format_ms(e.time_ms),
                e.kind,
                e.holder_name().as_deref().unwrap_or("-"),
                e.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
