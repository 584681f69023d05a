//! The policies compared by the replay, and the pieces they share.

use super::{Optimum, Static};
use dynamig_core::catalog::Profile;
use dynamig_core::layout::Usage;
use dynamig_core::planner::{
    candidate_profiles, plan, Decision, GpuView, Loss, NodeView, Owner, PlanRequest, Victim,
};
use dynamig_core::priority::Priority;

/// A way of placing requests. `decide` sees the node as the planner does and returns where the
/// request goes and whom it evicts, or `None` to refuse it.
pub trait Policy {
    fn name(&self) -> &'static str;
    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision>;
    /// How result rows name it (a static layout names its shapes).
    fn label(&self) -> String {
        self.name().to_string()
    }
    /// Whether it may serve a memory request with a profile of more memory than the smallest
    /// that fits (a static layout's slot), rather than only with the planner's profiles.
    fn takes_larger(&self) -> bool {
        false
    }
}

pub const POLICY_NAMES: [&str; 5] = ["first-fit", "best-fit", "static", "dynamig", "optimum"];

pub fn policy_by_name(name: &str) -> Option<Box<dyn Policy>> {
    Some(match name {
        "first-fit" => Box::new(FirstFit),
        "best-fit" => Box::new(BestFit),
        "static" => Box::new(Static::new()),
        "dynamig" => Box::new(Dynamig),
        "optimum" => Box::new(Optimum::new()),
        _ => return None,
    })
}

/// dynamig's planner, as `allocate` uses it.
pub struct Dynamig;

impl Policy for Dynamig {
    fn name(&self) -> &'static str {
        "dynamig"
    }
    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision> {
        plan(view, req).ok()
    }
}

/// First-fit: the lowest GPU, then the preferred profile, then the lowest placement that fits
/// as things are; if none does, the first one in the same order that eviction can free, evicting
/// the instances in the way and then, while compute, engines or the instance limit are short,
/// further evictable instances in the GPU's order.
pub struct FirstFit;

impl Policy for FirstFit {
    fn name(&self) -> &'static str {
        "first-fit"
    }
    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision> {
        let cands = candidates(view, req);
        if let Some(&(g, p, s)) = cands
            .iter()
            .find(|(g, p, s)| usage_without(g, &[]).fits(g.model, p, *s))
        {
            return Some(decision(g, p, s, &[]));
        }
        cands.iter().find_map(|&(g, p, s)| {
            greedy_eviction(g, p, s, req.priority).map(|v| decision(g, p, s, &v))
        })
    }
}

/// Best-fit: the placement that leaves the fewest free memory slices on its GPU (the tightest
/// hole); if none fits as things are, the eviction (chosen as first-fit chooses its victims for
/// each placement) that leaves the fewest free memory slices, then the fewest victims.
pub struct BestFit;

impl Policy for BestFit {
    fn name(&self) -> &'static str {
        "best-fit"
    }
    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision> {
        let cands = candidates(view, req);
        let leftover = |g: &GpuView, p: &Profile, s: u8, v: &[usize]| {
            let mut u = usage_without(g, v);
            u.add(g.model, p, s);
            u.free_slices(g.model)
        };
        let free = cands
            .iter()
            .enumerate()
            .filter(|(_, (g, p, s))| usage_without(g, &[]).fits(g.model, p, *s))
            .min_by_key(|(i, (g, p, s))| (leftover(g, p, *s, &[]), *i));
        if let Some((_, &(g, p, s))) = free {
            return Some(decision(g, p, s, &[]));
        }
        cands
            .iter()
            .enumerate()
            .filter_map(|(i, &(g, p, s))| {
                let v = greedy_eviction(g, p, s, req.priority)?;
                Some(((leftover(g, p, s, &v), v.len(), i), (g, p, s, v)))
            })
            .min_by_key(|(k, _)| *k)
            .map(|(_, (g, p, s, v))| decision(g, p, s, &v))
    }
}

/// Every (GPU, profile, start) a request may use, in first-fit order: GPU, then preferred
/// profile, then start.
pub(super) fn candidates<'v>(
    view: &'v NodeView,
    req: &PlanRequest,
) -> Vec<(&'v GpuView, &'static Profile, u8)> {
    let mut out = Vec::new();
    for g in view.gpus.iter().filter(|g| g.usable) {
        for p in candidate_profiles(g.model, &req.size) {
            for &s in p.starts {
                out.push((g, p, s));
            }
        }
    }
    out
}

/// The usage of a GPU with the instances at these positions gone.
pub(super) fn usage_without(g: &GpuView, gone: &[usize]) -> Usage {
    Usage::of(
        g.model,
        g.instances
            .iter()
            .enumerate()
            .filter(|(i, _)| !gone.contains(i))
            .map(|(_, inst)| (inst.profile, inst.start)),
    )
}

pub(super) fn evictable(g: &GpuView, i: usize, prio: Priority) -> bool {
    match &g.instances[i].owner {
        Owner::Holder(h) => h.evictable_by(prio),
        Owner::Foreign | Owner::Warm => false,
    }
}

/// The naive eviction for one placement: every instance in the way (all must be evictable),
/// then further evictable instances in the GPU's order until the placement is valid.
pub(super) fn greedy_eviction(
    g: &GpuView,
    p: &Profile,
    s: u8,
    prio: Priority,
) -> Option<Vec<usize>> {
    let mask = p.mask_at(s);
    let mut victims = Vec::new();
    for (i, inst) in g.instances.iter().enumerate() {
        if inst.profile.mask_at(inst.start) & mask != 0 {
            if !evictable(g, i, prio) {
                return None;
            }
            victims.push(i);
        }
    }
    let extras: Vec<usize> = (0..g.instances.len())
        .filter(|i| !victims.contains(i) && evictable(g, *i, prio))
        .collect();
    let mut extras = extras.into_iter();
    loop {
        if usage_without(g, &victims).fits(g.model, p, s) {
            return (!victims.is_empty()).then_some(victims);
        }
        victims.push(extras.next()?);
    }
}

/// A decision that places `p` at `s` on `g`, evicting the instances at these positions.
pub(super) fn decision(g: &GpuView, p: &'static Profile, s: u8, victims: &[usize]) -> Decision {
    Decision {
        gpu: g.index,
        profile: p,
        start: s,
        victims: victims
            .iter()
            .map(|&i| {
                let inst = &g.instances[i];
                let (id, namespace, priority) = match &inst.owner {
                    Owner::Holder(h) => (h.id.clone(), h.namespace.clone(), h.priority.0),
                    Owner::Foreign | Owner::Warm => (String::new(), String::new(), 0),
                };
                Victim {
                    id,
                    namespace,
                    gpu: g.index,
                    profile: inst.profile.name,
                    start: inst.start,
                    priority,
                }
            })
            .collect(),
        loss: Loss::default(),
        reuse: false,
        reclaim: Vec::new(),
    }
}
