//! The static baseline: every GPU is cut once into mig-parted's `all-balanced` shape and never
//! reshaped.
//!
//! `all-balanced` (nvidia/mig-parted's example `config.yaml`) is, on an A100-40GB, two `1g.5gb`,
//! one `2g.10gb` and one `3g.20gb`; the same shape (two 1g, one 2g, one 3g of the smallest memory
//! each; on an A30 two 1g and one 2g) is used for the other models. A request may only take a
//! free slot whose profile is one it may use (the same profiles the planner considers: a `10GB`
//! request fits a `2g.10gb` slot, never a `3g.20gb` one, as with the Kubernetes device plugin's
//! `mixed` strategy where a pod asks for one MIG resource by name). With no free slot, it may
//! evict the holder of one matching slot if that holder is evictable (lowest priority, then
//! youngest). Requests with no matching slot on the node (e.g. a whole GPU) are refused.

use super::policy::{decision, evictable, usage_without, Policy};
use dynamig_core::catalog::{models, GpuModel, Profile};
use dynamig_core::layout::Usage;
use dynamig_core::planner::{candidate_profiles, Decision, NodeView, Owner, PlanRequest};
use std::cmp::Reverse;

pub struct Static {
    layouts: Vec<(&'static str, Vec<(&'static Profile, u8)>)>,
}

impl Default for Static {
    fn default() -> Self {
        Self::new()
    }
}

impl Static {
    pub fn new() -> Static {
        Static {
            layouts: models().iter().map(|m| (m.key, balanced(m))).collect(),
        }
    }

    /// The fixed slots of a model, as (profile, start).
    pub fn slots(&self, model: &GpuModel) -> &[(&'static Profile, u8)] {
        self.layouts
            .iter()
            .find(|(k, _)| *k == model.key)
            .map_or(&[], |(_, s)| s.as_slice())
    }
}

/// The `all-balanced` profiles of a model, placed where NVML accepts them together.
fn balanced(model: &'static GpuModel) -> Vec<(&'static Profile, u8)> {
    let smallest = |compute: u8| {
        model
            .profiles
            .iter()
            .filter(|p| p.compute_slices == compute && !p.name.contains("+me"))
            .min_by_key(|p| p.memory_mib)
    };
    let mut want: Vec<&'static Profile> = Vec::new();
    let shape: &[(u8, usize)] = if model.compute_slices >= 7 {
        &[(3, 1), (2, 1), (1, 2)]
    } else {
        &[(2, 1), (1, 2)]
    };
    for &(c, n) in shape {
        if let Some(p) = smallest(c) {
            want.extend(std::iter::repeat_n(p, n));
        }
    }
    let mut placed = Vec::new();
    if place(model, &want, Usage::default(), &mut placed) {
        placed
    } else {
        Vec::new()
    }
}

fn place(
    model: &GpuModel,
    want: &[&'static Profile],
    usage: Usage,
    placed: &mut Vec<(&'static Profile, u8)>,
) -> bool {
    let Some((&p, rest)) = want.split_first() else {
        return true;
    };
    for &s in p.starts {
        if usage.fits(model, p, s) {
            let mut u = usage;
            u.add(model, p, s);
            placed.push((p, s));
            if place(model, rest, u, placed) {
                return true;
            }
            placed.pop();
        }
    }
    false
}

impl Policy for Static {
    fn name(&self) -> &'static str {
        "static"
    }

    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision> {
        // (gpu position, profile, start, free, occupant position)
        let mut slots = Vec::new();
        for (gi, g) in view.gpus.iter().enumerate().filter(|(_, g)| g.usable) {
            let allowed = candidate_profiles(g.model, &req.size);
            let usage = usage_without(g, &[]);
            for &(p, s) in self.slots(g.model) {
                if !allowed.iter().any(|a| a.id == p.id) {
                    continue;
                }
                let occupant = g
                    .instances
                    .iter()
                    .position(|i| i.profile.id == p.id && i.start == s);
                // A slot is free when NVML would take it (on a node cut by this policy that is
                // when no one holds it); its holder may be evicted only if it is the slot's
                // own instance.
                slots.push((gi, p, s, usage.fits(g.model, p, s), occupant));
            }
        }
        // Smallest matching slot first (profiles are in preference order), then GPU and start.
        if let Some(&(gi, p, s, _, _)) = slots
            .iter()
            .filter(|(_, _, _, free, _)| *free)
            .min_by_key(|(gi, p, s, _, _)| (p.compute_slices, *gi, *s))
        {
            return Some(decision(&view.gpus[gi], p, s, &[]));
        }
        slots
            .iter()
            .filter_map(|&(gi, p, s, _, o)| {
                let g = &view.gpus[gi];
                let o = o?;
                if !evictable(g, o, req.priority) || !usage_without(g, &[o]).fits(g.model, p, s) {
                    return None;
                }
                let Owner::Holder(h) = &g.instances[o].owner else {
                    return None;
                };
                Some(((h.priority, Reverse(h.seq), gi, s), (gi, p, s, o)))
            })
            .min_by_key(|(k, _)| *k)
            .map(|(_, (gi, p, s, o))| decision(&view.gpus[gi], p, s, &[o]))
    }
}
