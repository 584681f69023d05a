//! The search over GPUs, profiles, placements and victim sets.

use super::refusal::Refusal;
use super::score::{capacity, loss, Loss};
use super::view::{GpuView, NodeView, Owner, PlanRequest};
use super::{Decision, Victim};
use crate::catalog::{GpuModel, Profile};
use crate::ids::{GpuIndex, ProfileId};
use crate::layout::Usage;
use crate::request::{profile_suffix, ProfileSuffix, Size};
use std::cmp::Reverse;

/// The profiles a request may use on one model, preferred first. Empty when none fits.
pub fn candidate_profiles(model: &'static GpuModel, size: &Size) -> Vec<&'static Profile> {
    match size {
        Size::Profile { name } => model.profile(name).into_iter().collect(),
        Size::Memory { bytes, .. } => {
            let fitting = model
                .profiles
                .iter()
                .filter(|p| p.memory_bytes() >= *bytes && memory_request_may_use(model, p));
            let Some(min_mem) = fitting.clone().map(|p| p.memory_mib).min() else {
                return Vec::new();
            };
            let mut v: Vec<&'static Profile> =
                fitting.filter(|p| p.memory_mib == min_mem).collect();
            v.sort_by_key(|p| profile_rank(p));
            v
        }
    }
}

/// Whether a plain memory request may land on `p` (docs/models.md, "Which profiles a memory
/// request takes"): plain and `+me` profiles, as on every model before Blackwell; never `+gfx`
/// (graphics-capable instances are few and asked for by name) nor `+me.all` (it takes every
/// media engine and then only `-me` profiles fit beside it); a `-me` one only when it lacks none
/// of the engines of the plain profile of the same name (or there is no plain one to lose).
fn memory_request_may_use(model: &GpuModel, p: &Profile) -> bool {
    let (core, suffix) = profile_suffix(p.name);
    match suffix {
        ProfileSuffix::Plain | ProfileSuffix::MediaExtension => true,
        ProfileSuffix::Graphics | ProfileSuffix::AllMediaEngines => false,
        ProfileSuffix::NoMediaEngines => model
            .profile(core)
            .is_none_or(|plain| plain.engines.within(p.engines)),
    }
}

/// Smaller is preferred: fewer compute slices, fewer memory slices, no media extensions.
pub(super) fn profile_rank(p: &Profile) -> (u8, u8, bool, ProfileId) {
    (
        p.compute_slices,
        p.memory_slices,
        p.name.ends_with("+me"),
        p.id,
    )
}

/// The key that orders candidate placements that need no eviction.
type FreeKey = ((u8, u8, bool, ProfileId), Loss, GpuIndex, u8);
/// The key that orders candidates that need evictions (see the module doc of `planner`).
type EvictKey = (
    usize,
    usize,
    i32,
    i64,
    u128,
    Reverse<u64>,
    (u8, u8, bool, ProfileId),
    Loss,
    GpuIndex,
    u8,
);

struct Candidate {
    gpu: usize,
    profile: &'static Profile,
    start: u8,
    victims: Vec<usize>,
    loss: Loss,
}

/// Plans one request on a node.
pub fn plan(node: &NodeView, req: &PlanRequest) -> Result<Decision, Refusal> {
    let mut any_profile = false;
    let mut best_free: Option<(FreeKey, Candidate)> = None;
    // Pass 1: placements that need no eviction.
    let mut per_gpu: Vec<(usize, Vec<&'static Profile>, Usage, super::score::Capacity)> =
        Vec::new();
    for (gi, gpu) in node.gpus.iter().enumerate() {
        let profiles = candidate_profiles(gpu.model, &req.size);
        if profiles.is_empty() {
            continue;
        }
        any_profile = true;
        if !gpu.usable {
            continue;
        }
        let usage = Usage::of(
            gpu.model,
            gpu.instances.iter().map(|i| (i.profile, i.start)),
        );
        let before = capacity(gpu.model, &usage);
        for &p in &profiles {
            for &start in p.starts {
                if !usage.fits(gpu.model, p, start) {
                    continue;
                }
                let mut after = usage;
                after.add(gpu.model, p, start);
                let l = loss(&before, &capacity(gpu.model, &after));
                let key = (profile_rank(p), l, gpu.index, start);
                if best_free.as_ref().is_none_or(|(k, _)| key < *k) {
                    best_free = Some((
                        key,
                        Candidate {
                            gpu: gi,
                            profile: p,
                            start,
                            victims: Vec::new(),
                            loss: l,
                        },
                    ));
                }
            }
        }
        per_gpu.push((gi, profiles, usage, before));
    }
    if !any_profile {
        return Err(Refusal::unservable(node, &req.size));
    }
    let chosen = match best_free {
        Some((_, c)) => c,
        None => {
            // Pass 2: the cheapest eviction.
            let mut best_evict: Option<(EvictKey, Candidate)> = None;
            for (gi, profiles, _, before) in &per_gpu {
                let gpu = &node.gpus[*gi];
                for &p in profiles {
                    for &start in p.starts {
                        let limit = best_evict
                            .as_ref()
                            .map(|(k, _)| (k.0, k.1))
                            .unwrap_or((usize::MAX, usize::MAX));
                        if let Some((key, c)) =
                            cheapest_eviction(*gi, gpu, p, start, req, before, limit)
                        {
                            if best_evict.as_ref().is_none_or(|(k, _)| key < *k) {
                                best_evict = Some((key, c));
                            }
                        }
                    }
                }
            }
            match best_evict {
                Some((_, c)) => c,
                None => return Err(Refusal::no_room(node, req)),
            }
        }
    };
    let gpu = &node.gpus[chosen.gpu];
    let victims = chosen
        .victims
        .iter()
        .map(|&i| {
            let inst = &gpu.instances[i];
            let (id, namespace, priority) = match &inst.owner {
                Owner::Holder(h) => (h.id.clone(), h.namespace.clone(), h.priority.0),
                Owner::Foreign | Owner::Warm => (String::new(), String::new(), 0),
            };
            Victim {
                id,
                namespace,
                gpu: gpu.index,
                profile: inst.profile.name,
                start: inst.start,
                priority,
            }
        })
        .collect();
    Ok(Decision {
        gpu: gpu.index,
        profile: chosen.profile,
        start: chosen.start,
        victims,
        loss: chosen.loss,
        reuse: false,
        reclaim: Vec::new(),
    })
}

/// The cheapest set of instances on `gpu` whose eviction makes `profile@start` valid, if any,
/// among sets whose (victims within quota, victims) is at most `limit`. Holders over quota go
/// first: a set with fewer victims within quota wins over any set with more (without quotas
/// every victim is within quota, and this is the fewest victims).
fn cheapest_eviction(
    gi: usize,
    gpu: &GpuView,
    profile: &'static Profile,
    start: u8,
    req: &PlanRequest,
    before: &super::score::Capacity,
    limit: (usize, usize),
) -> Option<(EvictKey, Candidate)> {
    let mask = profile.mask_at(start);
    let n_inst = gpu.instances.len().min(31);
    let evictable = |i: usize| match &gpu.instances[i].owner {
        Owner::Holder(h) => h.reclaimable_by(req),
        Owner::Foreign | Owner::Warm => false,
    };
    let within = |i: usize| match &gpu.instances[i].owner {
        Owner::Holder(h) => !h.over_quota,
        Owner::Foreign | Owner::Warm => true,
    };
    let mut mandatory: u32 = 0;
    let mut optional: Vec<usize> = Vec::new();
    for i in 0..n_inst {
        let inst = &gpu.instances[i];
        if inst.profile.mask_at(inst.start) & mask != 0 {
            if !evictable(i) {
                return None;
            }
            mandatory |= 1 << i;
        } else if evictable(i) {
            optional.push(i);
        }
    }
    let base = mandatory.count_ones() as usize;
    let base_within = (0..n_inst)
        .filter(|&i| mandatory & (1 << i) != 0 && within(i))
        .count();
    if (base_within, base) > limit {
        return None;
    }
    // The overlapping instances alone, then with growing sets of the others (a GPU has at most
    // seven instances, so the subsets are few).
    let n = optional.len();
    let optional_over = optional.iter().filter(|&&i| !within(i)).count();
    let mut best: Option<(EvictKey, Candidate)> = None;
    let mut best_size = limit;
    for k in 0..=n {
        // The least a set of `base + k` victims can be: its extra victims over quota first.
        let floor = (base_within + k.saturating_sub(optional_over), base + k);
        if floor > best_size {
            break;
        }
        for set in 0u32..(1u32 << n) {
            if set.count_ones() as usize != k {
                continue;
            }
            let mut victims = mandatory;
            for (b, &i) in optional.iter().enumerate() {
                if set & (1 << b) != 0 {
                    victims |= 1 << i;
                }
            }
            if victims == 0 {
                continue;
            }
            let usage = Usage::of(
                gpu.model,
                (0..n_inst)
                    .filter(|i| victims & (1 << i) == 0)
                    .map(|i| (gpu.instances[i].profile, gpu.instances[i].start)),
            );
            let size = (
                (0..n_inst)
                    .filter(|&i| victims & (1 << i) != 0 && within(i))
                    .count(),
                base + k,
            );
            if size > best_size || !usage.fits(gpu.model, profile, start) {
                continue;
            }
            best_size = size;
            let mut after = usage;
            after.add(gpu.model, profile, start);
            let l = loss(before, &capacity(gpu.model, &after));
            let (mut maxp, mut sum, mut oldest) = (i32::MIN, 0i64, u64::MAX);
            let mut at_risk: u128 = 0;
            for i in (0..n_inst).filter(|i| victims & (1 << i) != 0) {
                let inst = &gpu.instances[i];
                if let Owner::Holder(h) = &inst.owner {
                    maxp = maxp.max(h.priority.0);
                    sum += i64::from(h.priority.0);
                    oldest = oldest.min(h.seq);
                    at_risk = at_risk.saturating_add(
                        h.work_at_risk(inst.profile.memory_slices, gpu.model.memory_slices),
                    );
                }
            }
            let key = (
                best_size.0,
                best_size.1,
                maxp,
                sum,
                at_risk,
                Reverse(oldest),
                profile_rank(profile),
                l,
                gpu.index,
                start,
            );
            if best.as_ref().is_none_or(|(bk, _)| key < *bk) {
                let list = (0..n_inst).filter(|i| victims & (1 << i) != 0).collect();
                best = Some((
                    key,
                    Candidate {
                        gpu: gi,
                        profile,
                        start,
                        victims: list,
                        loss: l,
                    },
                ));
            }
        }
    }
    best
}
