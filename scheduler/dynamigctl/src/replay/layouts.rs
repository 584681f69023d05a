//! Static mig-parted layouts, as users of a statically partitioned cluster meet them: each GPU
//! is cut once into fixed slots and never reshaped, and a request takes the smallest free slot
//! whose memory holds it (with the Kubernetes device plugin's `mixed` strategy a pod names one
//! MIG resource; a user who needs 10 GB on an `all-3g.20gb` cluster asks for `mig-3g.20gb`,
//! the only resource there is). With no free slot that holds it, a request may evict the holder
//! of one such slot if that holder is evictable (lowest priority, then youngest).
//!
//! The layouts are mig-parted's example `config.yaml` ones, generalized to every model from the
//! smallest-memory profile of each compute size: `all-1g.5gb`, `all-2g.10gb`, `all-3g.20gb`,
//! `all-balanced` (two 1g, one 2g, one 3g) and `all-7g.40gb`, which is the no-partitioning
//! baseline (the whole GPU, MIG off) and is named `no-partition`. A node may mix them per GPU,
//! as a mig-parted config can: [`combinations`] lists every multiset of per-GPU layouts.

use super::policy::{decision, evictable, usage_without, Policy};
use dynamig_core::catalog::{GpuModel, Profile};
use dynamig_core::layout::Usage;
use dynamig_core::planner::{Decision, NodeView, Owner, PlanRequest};
use dynamig_core::request::Size;
use std::cmp::Reverse;

/// The per-GPU shapes, by name.
pub const SHAPES: [&str; 5] = ["all-1g", "all-2g", "all-3g", "all-balanced", "no-partition"];

/// Slots on one GPU, as (profile, start).
pub type Slots = Vec<(&'static Profile, u8)>;

/// The slots of `shape` (one of [`SHAPES`]) on `model`.
pub fn shape_slots(model: &'static GpuModel, shape: &str) -> Slots {
    let smallest = |compute: u8| {
        model
            .profiles
            .iter()
            .filter(|p| p.compute_slices == compute && !p.name.contains("+me"))
            .min_by_key(|p| p.memory_mib)
    };
    let full = model
        .profiles
        .iter()
        .filter(|p| !p.name.contains("+me"))
        .max_by_key(|p| (p.memory_slices, p.compute_slices));
    let (want, fill): (Vec<&'static Profile>, bool) = match shape {
        "all-1g" => (smallest(1).into_iter().collect(), true),
        "all-2g" => (smallest(2).into_iter().collect(), true),
        "all-3g" => (smallest(3).into_iter().collect(), true),
        "all-balanced" => {
            let shape: &[(u8, usize)] = if model.compute_slices >= 7 {
                &[(3, 1), (2, 1), (1, 2)]
            } else {
                &[(2, 1), (1, 2)]
            };
            let mut w = Vec::new();
            for &(c, n) in shape {
                if let Some(p) = smallest(c) {
                    w.extend(std::iter::repeat_n(p, n));
                }
            }
            (w, false)
        }
        "no-partition" => (full.into_iter().collect(), false),
        _ => (Vec::new(), false),
    };
    let mut usage = Usage::default();
    let mut slots = Vec::new();
    if fill {
        // As many of the one profile as NVML accepts, lowest start first.
        if let Some(&p) = want.first() {
            while let Some(&s) = p.starts.iter().find(|&&s| usage.fits(model, p, s)) {
                usage.add(model, p, s);
                slots.push((p, s));
            }
        }
    } else {
        for p in want {
            if let Some(&s) = p.starts.iter().find(|&&s| usage.fits(model, p, s)) {
                usage.add(model, p, s);
                slots.push((p, s));
            }
        }
    }
    slots
}

/// A node cut into fixed slots, one shape per GPU.
pub struct Layout {
    name: String,
    per_gpu: Vec<Slots>,
}

impl Layout {
    /// `shapes[i]` on GPU `i` of `gpus`; the name lists the shapes (`all-3g` when all are one).
    pub fn new(gpus: &[&'static GpuModel], shapes: &[&str]) -> Layout {
        let name = if shapes.windows(2).all(|w| w[0] == w[1]) {
            shapes.first().copied().unwrap_or("").to_string()
        } else {
            shapes.join("+")
        };
        Layout {
            name,
            per_gpu: gpus
                .iter()
                .zip(shapes)
                .map(|(m, s)| shape_slots(m, s))
                .collect(),
        }
    }
}

/// Every multiset of per-GPU shapes for `n` GPUs, in a fixed order (the node's GPUs are
/// interchangeable when they are of one model; shapes are assigned in [`SHAPES`] order).
pub fn combinations(n: usize) -> Vec<Vec<&'static str>> {
    fn go(n: usize, from: usize, cur: &mut Vec<&'static str>, out: &mut Vec<Vec<&'static str>>) {
        if cur.len() == n {
            out.push(cur.clone());
            return;
        }
        for (i, shape) in SHAPES.iter().enumerate().skip(from) {
            cur.push(shape);
            go(n, i, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(n, 0, &mut Vec::new(), &mut out);
    out
}

/// Whether a slot of `p` serves a request of `size`: memory at least the request's, or the
/// profile it names.
pub fn slot_serves(p: &Profile, size: &Size) -> bool {
    match size {
        Size::Memory { bytes, .. } => p.memory_mib * 1024 * 1024 >= *bytes,
        Size::Profile { name } => p.name == name,
    }
}

impl Policy for Layout {
    fn name(&self) -> &'static str {
        "static-layout"
    }

    fn label(&self) -> String {
        self.name.clone()
    }

    fn takes_larger(&self) -> bool {
        true
    }

    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision> {
        // (gpu position, profile, start, free, occupant position)
        let mut slots = Vec::new();
        for (gi, g) in view.gpus.iter().enumerate().filter(|(_, g)| g.usable) {
            let usage = usage_without(g, &[]);
            for &(p, s) in self.per_gpu.get(gi).map_or(&[][..], Vec::as_slice) {
                if !slot_serves(p, &req.size) {
                    continue;
                }
                let occupant = g
                    .instances
                    .iter()
                    .position(|i| i.profile.id == p.id && i.start == s);
                slots.push((gi, p, s, usage.fits(g.model, p, s), occupant));
            }
        }
        // The smallest free slot that holds the request, then GPU and start.
        if let Some(&(gi, p, s, _, _)) = slots
            .iter()
            .filter(|(_, _, _, free, _)| *free)
            .min_by_key(|(gi, p, s, _, _)| (p.memory_mib, p.compute_slices, *gi, *s))
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
                Some((
                    (p.memory_mib, h.priority, Reverse(h.seq), gi, s),
                    (gi, p, s, o),
                ))
            })
            .min_by_key(|(k, _)| *k)
            .map(|(_, (gi, p, s, o))| decision(&view.gpus[gi], p, s, &[o]))
    }
}
