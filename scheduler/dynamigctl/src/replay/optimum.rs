//! The exhaustive per-decision optimum, the quality bound of the comparison.
//!
//! For one request it tries every usable GPU, every profile the request may use, every placement
//! and every subset of the evictable instances on that GPU (up to 2^7 per placement), and keeps
//! the valid choice that is best by, in order:
//!
//! 1. fewest victims, then lowest highest victim priority, then lowest priority sum (an
//!    admission without eviction, when there is one, always wins);
//! 2. most memory slices the node could still fill afterwards, computed exactly: for each GPU
//!    the largest number of memory slices that some set of further instances could cover, under
//!    every NVML rule (placements, compute slices, engines, instance limits). Slices that no
//!    future instance can use are what fragmentation wastes;
//! 3. most placements still individually possible per size class, largest class first (the
//!    planner's score), then the youngest victims, then the lowest GPU and start.
//!
//! It admits whenever any valid choice exists, as the planner does. It is the best choice for
//! the state after this one decision, not for the whole run: no policy that does not know future
//! arrivals and departures can be globally optimal, so on some runs a heuristic may end up ahead.
//! It takes at most [`Optimum::MAX_GPUS`] GPUs.

use super::policy::{decision, evictable, usage_without, Policy};
use dynamig_core::catalog::GpuModel;
use dynamig_core::layout::Usage;
use dynamig_core::planner::{
    candidate_profiles, Decision, GpuView, NodeView, Owner, PlanRequest, SIZE_CLASSES,
};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::HashMap;

type Key = (&'static str, u16, u8, [u8; 5], [u8; 12]);

#[derive(Default)]
pub struct Optimum {
    memo: RefCell<HashMap<Key, u8>>,
}

impl Optimum {
    pub const MAX_GPUS: usize = 4;

    pub fn new() -> Optimum {
        Optimum::default()
    }

    /// The most memory slices further instances could cover on a GPU with this usage.
    fn packable(&self, model: &'static GpuModel, usage: &Usage) -> u8 {
        let e = usage.engines;
        let key = (
            model.key,
            usage.mask,
            usage.compute,
            [e.ce, e.dec, e.enc, e.jpg, e.ofa],
            usage.counts,
        );
        if let Some(&v) = self.memo.borrow().get(&key) {
            return v;
        }
        let mut best = 0u8;
        for p in model.profiles {
            for &s in p.starts {
                if usage.fits(model, p, s) {
                    let mut u = *usage;
                    u.add(model, p, s);
                    best = best.max(p.memory_slices + self.packable(model, &u));
                }
            }
            if u32::from(best) + usage.mask.count_ones() >= u32::from(model.memory_slices) {
                break;
            }
        }
        self.memo.borrow_mut().insert(key, best);
        best
    }
}

/// Placements still individually possible per size class, largest first.
fn capacity(model: &GpuModel, usage: &Usage) -> [u16; 4] {
    let mut c = [0u16; 4];
    for p in model.profiles {
        let k = SIZE_CLASSES
            .iter()
            .position(|&s| s == p.memory_slices)
            .unwrap_or(3);
        let fit = p
            .starts
            .iter()
            .filter(|&&s| usage.fits(model, p, s))
            .count();
        c[k] += u16::try_from(fit).unwrap_or(u16::MAX);
    }
    c
}

type Score = (
    usize,
    i32,
    i64,
    Reverse<u32>,
    Reverse<[u16; 4]>,
    Reverse<u64>,
    usize,
    u8,
);

impl Policy for Optimum {
    fn name(&self) -> &'static str {
        "optimum"
    }

    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision> {
        let packs: Vec<u32> = view
            .gpus
            .iter()
            .map(|g| u32::from(self.packable(g.model, &usage_without(g, &[]))))
            .collect();
        let node_pack: u32 = packs.iter().sum();
        let mut best: Option<(
            Score,
            usize,
            &'static dynamig_core::catalog::Profile,
            u8,
            Vec<usize>,
        )> = None;
        for (gi, g) in view.gpus.iter().enumerate().filter(|(_, g)| g.usable) {
            let ev: Vec<usize> = (0..g.instances.len())
                .filter(|&i| evictable(g, i, req.priority))
                .collect();
            for p in candidate_profiles(g.model, &req.size) {
                for &s in p.starts {
                    for set in 0u32..(1 << ev.len()) {
                        let victims: Vec<usize> = (0..ev.len())
                            .filter(|b| set & (1 << b) != 0)
                            .map(|b| ev[b])
                            .collect();
                        if best.as_ref().is_some_and(|b| b.0 .0 < victims.len()) {
                            continue;
                        }
                        let mut u = usage_without(g, &victims);
                        if !u.fits(g.model, p, s) {
                            continue;
                        }
                        u.add(g.model, p, s);
                        let (maxp, sum, oldest) = victim_priorities(g, &victims);
                        let pack = node_pack - packs[gi] + u32::from(self.packable(g.model, &u));
                        let score = (
                            victims.len(),
                            maxp,
                            sum,
                            Reverse(pack),
                            Reverse(capacity(g.model, &u)),
                            Reverse(oldest),
                            gi,
                            s,
                        );
                        if best.as_ref().is_none_or(|b| score < b.0) {
                            best = Some((score, gi, p, s, victims));
                        }
                    }
                }
            }
        }
        best.map(|(_, gi, p, s, v)| decision(&view.gpus[gi], p, s, &v))
    }
}

/// Of the holders of instances `victims` on `g`: the highest priority, the sum of priorities
/// and the oldest holder's sequence number (`i32::MIN`, 0 and `u64::MAX` for none).
fn victim_priorities(g: &GpuView, victims: &[usize]) -> (i32, i64, u64) {
    let (mut maxp, mut sum, mut oldest) = (i32::MIN, 0i64, u64::MAX);
    for &v in victims {
        if let Owner::Holder(h) = &g.instances[v].owner {
            maxp = maxp.max(h.priority.0);
            sum += i64::from(h.priority.0);
            oldest = oldest.min(h.seq);
        }
    }
    (maxp, sum, oldest)
}
