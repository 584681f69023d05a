//! Warm instances (docs/warm-instances.md): instances dynamig keeps after their holder left,
//! with no holder. To the planner a warm instance is free room with a price: taking it as it is
//! costs nothing (no destroy, no create), reshaping its room costs one destroy per warm instance
//! in the way. Never a victim: nobody is evicted for a warm instance's room.
//!
//! The rule, as [`plan`] applies it when a GPU has warm instances:
//!
//! 1. Placements that need no eviction, with the warm instances' room counted free, compare by:
//!    the profile's rank (rule 1 of the planner: a memory request's smaller profile first; a
//!    warm instance of a larger profile is not taken while the preferred one fits), then reuse of
//!    a warm instance of that profile at that very placement before anything else, then the
//!    fewest warm instances destroyed, then the fragmentation loss (computed with warm room
//!    free), then the GPU index and start.
//! 2. Only when nothing fits that way does eviction come in, exactly as without warm
//!    instances (their room counted free); the warm instances still in the way of the chosen
//!    placement are destroyed with the victims.
//!
//! So a warm instance is reused whenever the request's preferred profile is that instance's, and
//! is destroyed only when a placement that keeps it does not exist.

use super::refusal::Refusal;
use super::score::{capacity, loss, Loss};
use super::search::{self, candidate_profiles, profile_rank};
use super::view::{NodeView, Owner, PlanRequest};
use super::Decision;
use crate::catalog::{GpuModel, Profile};
use crate::ids::{GpuIndex, ProfileId};
use crate::layout::Usage;
use serde::Serialize;

/// A warm instance a decision destroys to make room (on the decision's GPU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reclaim {
    pub profile: &'static str,
    pub start: u8,
}

/// Orders the placements of rule 1: rank, reuse (false first), warm destroyed, loss, GPU, start.
type WarmKey = ((u8, u8, bool, ProfileId), bool, usize, Loss, GpuIndex, u8);

/// Whether any GPU of `node` has a warm instance.
pub(super) fn any(node: &NodeView) -> bool {
    node.gpus
        .iter()
        .any(|g| g.instances.iter().any(|i| i.owner == Owner::Warm))
}

/// The node with its warm instances taken away: their room free.
fn cold(node: &NodeView) -> NodeView {
    let mut v = node.clone();
    for g in &mut v.gpus {
        g.instances.retain(|i| i.owner != Owner::Warm);
    }
    v
}

/// Plans a request on a node with warm instances (the rule in the module doc).
pub(super) fn plan(node: &NodeView, req: &PlanRequest) -> Result<Decision, Refusal> {
    let cold = cold(node);
    let mut best: Option<(WarmKey, Decision)> = None;
    for (g, c) in node.gpus.iter().zip(&cold.gpus) {
        if !g.usable {
            continue;
        }
        let warm = warm_of(g);
        let usage = Usage::of(g.model, c.instances.iter().map(|i| (i.profile, i.start)));
        let before = capacity(g.model, &usage);
        for p in candidate_profiles(g.model, &req.size) {
            for &start in p.starts {
                if !usage.fits(g.model, p, start) {
                    continue;
                }
                let reuse = warm.iter().any(|w| w.0.id == p.id && w.1 == start);
                let clear = if reuse {
                    Vec::new()
                } else {
                    match fewest_to_clear(g.model, &usage, &warm, p, start) {
                        Some(c) => c,
                        None => continue,
                    }
                };
                let mut after = usage;
                after.add(g.model, p, start);
                let l = loss(&before, &capacity(g.model, &after));
                let key = (profile_rank(p), !reuse, clear.len(), l, g.index, start);
                if best.as_ref().is_none_or(|(k, _)| key < *k) {
                    let decision = Decision {
                        gpu: g.index,
                        profile: p,
                        start,
                        victims: Vec::new(),
                        loss: l,
                        reuse,
                        reclaim: reclaims(&warm, &clear),
                    };
                    best = Some((key, decision));
                }
            }
        }
    }
    if let Some((_, d)) = best {
        return Ok(d);
    }
    // Nothing fits without eviction even with every warm instance gone: evict as the planner
    // does with warm room free, and destroy the warm instances still in the way.
    let mut d = search::plan(&cold, req)?;
    if let Some((g, c)) = node
        .gpus
        .iter()
        .zip(&cold.gpus)
        .find(|(g, _)| g.index == d.gpu)
    {
        let warm = warm_of(g);
        let usage = Usage::of(
            g.model,
            c.instances
                .iter()
                .filter(|i| !d.victims.iter().any(|v| v.start == i.start))
                .map(|i| (i.profile, i.start)),
        );
        let clear = fewest_to_clear(g.model, &usage, &warm, d.profile, d.start)
            .unwrap_or_else(|| (0..warm.len()).collect());
        d.reclaim = reclaims(&warm, &clear);
    }
    Ok(d)
}

/// The warm instances of a GPU: (profile, start).
fn warm_of(g: &super::view::GpuView) -> Vec<(&'static Profile, u8)> {
    g.instances
        .iter()
        .filter(|i| i.owner == Owner::Warm)
        .map(|i| (i.profile, i.start))
        .collect()
}

fn reclaims(warm: &[(&'static Profile, u8)], clear: &[usize]) -> Vec<Reclaim> {
    clear
        .iter()
        .filter_map(|&i| warm.get(i))
        .map(|(p, s)| Reclaim {
            profile: p.name,
            start: *s,
        })
        .collect()
}

/// The fewest warm instances (indices into `warm`) whose destruction makes `profile@start` valid
/// on a GPU whose other instances use `usage`: those overlapping it, then, if compute slices,
/// engines or the instance limit are still short, the fewest more (lowest indices first among
/// equals). `None` when even destroying all of them would not do.
fn fewest_to_clear(
    model: &GpuModel,
    usage: &Usage,
    warm: &[(&'static Profile, u8)],
    profile: &Profile,
    start: u8,
) -> Option<Vec<usize>> {
    let mask = profile.mask_at(start);
    let (mandatory, optional): (Vec<usize>, Vec<usize>) =
        (0..warm.len()).partition(|&i| warm[i].0.mask_at(warm[i].1) & mask != 0);
    let n = optional.len().min(16);
    let mut sets: Vec<u32> = (0u32..(1u32 << n)).collect();
    sets.sort_by_key(|s| s.count_ones());
    for set in sets {
        let cleared = |i: usize| {
            mandatory.contains(&i)
                || optional
                    .iter()
                    .take(n)
                    .position(|&o| o == i)
                    .is_some_and(|b| set & (1 << b) != 0)
        };
        let mut u = *usage;
        for (i, (p, s)) in warm.iter().enumerate() {
            if !cleared(i) {
                u.add(model, p, *s);
            }
        }
        if u.fits(model, profile, start) {
            let mut v: Vec<usize> = (0..warm.len()).filter(|&i| cleared(i)).collect();
            v.sort_unstable();
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::{plan, HolderRef, PlacedInstance};
    use super::*;
    use crate::catalog::model_by_key;
    use crate::priority::Priority;
    use crate::request::Size;

    fn a100(index: u32, instances: &[(&str, u8, Owner)]) -> super::super::GpuView {
        let m = model_by_key("a100-40gb").unwrap();
        super::super::GpuView {
            index: GpuIndex(index),
            model: m,
            usable: true,
            instances: instances
                .iter()
                .map(|(p, s, o)| PlacedInstance {
                    profile: m.profile(p).unwrap(),
                    start: *s,
                    owner: o.clone(),
                })
                .collect(),
        }
    }

    fn held(id: &str, prio: &str) -> Owner {
        let p = Priority::parse(prio).unwrap();
        Owner::Holder(HolderRef {
            id: id.into(),
            namespace: "ns".into(),
            priority: p,
            preemptible: p.default_preemptible(),
            seq: 1,
            over_quota: false,
            run_time: std::time::Duration::ZERO,
            checkpoint_interval: None,
        })
    }

    fn ask(size: Size, prio: &str) -> PlanRequest {
        PlanRequest {
            size,
            priority: Priority::parse(prio).unwrap(),
            within_quota: true,
        }
    }

    fn prof(name: &str) -> Size {
        Size::Profile { name: name.into() }
    }

    fn mem(text: &str) -> Size {
        Size::Memory {
            bytes: crate::quantity::parse_bytes(text).unwrap(),
            text: text.into(),
        }
    }

    #[test]
    fn a_warm_instance_of_the_profile_is_taken_as_it_is_even_on_a_later_gpu() {
        let node = NodeView {
            gpus: vec![a100(0, &[]), a100(1, &[("2g.10gb", 4, Owner::Warm)])],
        };
        let d = plan(&node, &ask(prof("2g.10gb"), "training")).unwrap();
        assert_eq!(
            (d.gpu, d.profile.name, d.start),
            (GpuIndex(1), "2g.10gb", 4)
        );
        assert!(
            d.reuse && d.reclaim.is_empty() && d.victims.is_empty(),
            "{d:?}"
        );
        // A memory request whose preferred profile is the warm one takes it too.
        let node = NodeView {
            gpus: vec![a100(0, &[]), a100(1, &[("1g.10gb", 6, Owner::Warm)])],
        };
        let d = plan(&node, &ask(mem("10GB"), "training")).unwrap();
        assert!(d.reuse && d.gpu == GpuIndex(1) && d.start == 6, "{d:?}");
    }

    #[test]
    fn a_warm_instance_of_another_profile_is_kept_while_other_room_fits() {
        let node = NodeView {
            gpus: vec![a100(0, &[("3g.20gb", 4, Owner::Warm)])],
        };
        let d = plan(&node, &ask(prof("1g.5gb"), "training")).unwrap();
        assert!(!d.reuse && d.reclaim.is_empty(), "{d:?}");
        assert!(d.start < 4, "{d:?}");
        // A larger profile a memory request could use is not taken while its preferred one fits.
        let node = NodeView {
            gpus: vec![a100(0, &[("2g.10gb", 0, Owner::Warm)])],
        };
        let d = plan(&node, &ask(mem("10GB"), "training")).unwrap();
        assert_eq!(d.profile.name, "1g.10gb", "{d:?}");
        assert!(!d.reuse && d.reclaim.is_empty(), "{d:?}");
    }

    #[test]
    fn warm_room_is_reshaped_with_one_destroy_each_and_no_victim() {
        // Every slice warm: a whole-GPU request destroys them all, evicting nobody.
        let node = NodeView {
            gpus: vec![a100(
                0,
                &[
                    ("3g.20gb", 0, Owner::Warm),
                    ("2g.10gb", 4, Owner::Warm),
                    ("1g.5gb", 6, Owner::Warm),
                ],
            )],
        };
        let d = plan(&node, &ask(prof("7g.40gb"), "inference")).unwrap();
        assert!(d.victims.is_empty() && !d.reuse, "{d:?}");
        let mut starts: Vec<u8> = d.reclaim.iter().map(|r| r.start).collect();
        starts.sort_unstable();
        assert_eq!(starts, vec![0, 4, 6]);
        // A half GPU destroys only what is in its way.
        let d = plan(&node, &ask(prof("4g.20gb"), "inference")).unwrap();
        assert_eq!(d.start, 0);
        let starts: Vec<u8> = d.reclaim.iter().map(|r| r.start).collect();
        assert_eq!(starts, vec![0], "{d:?}");
    }

    #[test]
    fn warm_room_goes_before_any_eviction_and_with_one() {
        // Half held, half warm: a 4g.20gb takes the warm half (no victim) where it can.
        let node = NodeView {
            gpus: vec![a100(
                0,
                &[
                    ("3g.20gb", 4, held("busy", "training")),
                    ("2g.10gb", 0, Owner::Warm),
                    ("2g.10gb", 2, Owner::Warm),
                ],
            )],
        };
        let d = plan(&node, &ask(prof("4g.20gb"), "interactive")).unwrap();
        assert!(d.victims.is_empty(), "{d:?}");
        assert_eq!(d.reclaim.len(), 2, "{d:?}");
        // The whole GPU: the holder is evicted, and the warm instances go with it.
        let d = plan(&node, &ask(prof("7g.40gb"), "interactive")).unwrap();
        assert_eq!(d.victims.len(), 1, "{d:?}");
        assert_eq!(d.reclaim.len(), 2, "{d:?}");
    }

    #[test]
    fn a_warm_instance_never_explains_a_refusal_as_a_victim() {
        let node = NodeView {
            gpus: vec![a100(
                0,
                &[("4g.20gb", 0, Owner::Foreign), ("3g.20gb", 4, Owner::Warm)],
            )],
        };
        assert!(plan(&node, &ask(prof("7g.40gb"), "interactive")).is_err());
        let d = plan(&node, &ask(prof("3g.20gb"), "interactive")).unwrap();
        assert!(d.reuse && d.start == 4);
    }

    #[test]
    fn without_warm_instances_nothing_changes() {
        let node = NodeView {
            gpus: vec![a100(0, &[("3g.20gb", 4, held("a", "training"))])],
        };
        let d = plan(&node, &ask(prof("1g.5gb"), "training")).unwrap();
        assert_eq!(
            d,
            search::plan(&node, &ask(prof("1g.5gb"), "training")).unwrap()
        );
        assert!(!d.reuse && d.reclaim.is_empty());
    }
}
