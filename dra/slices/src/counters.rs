//! The counter model of one GPU: the counters of its counter set, and what each of its devices
//! consumes, such that a set of the GPU's devices fits in the counters exactly when NVML (and
//! the simulator, which refuses what NVML refuses: `dynamig_core::layout::Usage::check`) would
//! create all of them together.
//!
//! NVML refuses a GPU instance for five reasons, and each has its counters:
//!
//! | NVML's rule | counters (value) | a device of profile P at start S consumes |
//! |---|---|---|
//! | the placement is in P's table | none: only table placements are devices | |
//! | its memory slices are free | `memory-slice-I` (1) for every memory slice I | 1 of each slice in S..S+size |
//! | compute slices left | `compute-slices` (the GPU's) | P's compute slices |
//! | engines left | `copy-engines`, `decoders`, `encoders`, `jpeg-engines`, `ofa-engines` (the GPU's; only those it has) | P's engines of each kind |
//! | P under its instance count | `instances-SLUG` (P's `max_count`), only where it binds | 1 |
//!
//! Every rule is a sum of per-instance amounts under a fixed bound (a memory slice is a bound of
//! 1), and the scheduler's check is exactly "the sum of what the allocated devices consume is at
//! most each counter's value", so the two agree on every set of devices. An instance-count
//! counter is only published where the count can bind: when more than `max_count` instances of
//! P fit together under the other rules; otherwise the others already imply it. (No catalog model
//! needs one today: each profile with a low `max_count` owns an engine the GPU has as many of;
//! the tests check a model that does.)
//!
//! The whole GPU consumes every counter in full: nothing else of its GPU can be allocated with it,
//! as nothing else can be created beside the full-size profile it is prepared as.

use dynamig_core::catalog::{Engines, GpuModel, Profile};
use dynamig_core::layout::Usage;
use dynamig_dra_api::device_name::profile_slug;

/// A counter: its name in the GPU's counter set and its value (or the amount consumed).
pub type Counter = (String, u64);

/// The prefix of the memory-slice counters (`memory-slice-0`, ...).
pub const MEMORY_SLICE: &str = "memory-slice-";
pub const COMPUTE_SLICES: &str = "compute-slices";
pub const COPY_ENGINES: &str = "copy-engines";
pub const DECODERS: &str = "decoders";
pub const ENCODERS: &str = "encoders";
pub const JPEG_ENGINES: &str = "jpeg-engines";
pub const OFA_ENGINES: &str = "ofa-engines";
/// The prefix of the instance-count counters (`instances-` + the profile's slug).
pub const INSTANCES: &str = "instances-";

fn engine_counters(e: Engines) -> [(&'static str, u8); 5] {
    [
        (COPY_ENGINES, e.ce),
        (DECODERS, e.dec),
        (ENCODERS, e.enc),
        (JPEG_ENGINES, e.jpg),
        (OFA_ENGINES, e.ofa),
    ]
}

/// The counters of a GPU model and what its devices consume.
#[derive(Debug, Clone)]
pub struct CounterModel {
    model: &'static GpuModel,
    counters: Vec<Counter>,
}

/// The memory-slice counter of slice `i`.
pub fn memory_slice(i: u8) -> String {
    format!("{MEMORY_SLICE}{i}")
}

/// The instance-count counter of `profile`.
pub fn instances(profile: &Profile) -> String {
    format!("{INSTANCES}{}", profile_slug(profile.name))
}

/// True when NVML would create `profile` at `start` on an empty GPU of `model`: the placements
/// published as devices.
pub fn creatable_alone(model: &GpuModel, profile: &Profile, start: u8) -> bool {
    Usage::default().fits(model, profile, start)
}

/// Every (profile, start) of `model` that is a device: the table's placements, in catalog and
/// start order, that an empty GPU accepts.
pub fn placements(model: &'static GpuModel) -> impl Iterator<Item = (&'static Profile, u8)> {
    model.profiles.iter().flat_map(move |p| {
        p.starts
            .iter()
            .copied()
            .filter(move |&s| creatable_alone(model, p, s))
            .map(move |s| (p, s))
    })
}

/// The most instances of `profile` that fit together on `model` by memory slices, compute slices
/// and engines alone (ignoring its `max_count`).
fn most_together(model: &GpuModel, profile: &Profile) -> usize {
    fn go(model: &GpuModel, p: &Profile, starts: &[u8], mask: u16, n: u8) -> usize {
        let Some((&s, rest)) = starts.split_first() else {
            return usize::from(n);
        };
        let without = go(model, p, rest, mask, n);
        let m = p.mask_at(s);
        let compute = u16::from(p.compute_slices) * (u16::from(n) + 1);
        let mut engines = Engines::ZERO;
        for _ in 0..=n {
            engines = engines.plus(p.engines);
        }
        let fits = mask & m == 0
            && compute <= u16::from(model.compute_slices)
            && engines.within(model.engines);
        if fits {
            without.max(go(model, p, rest, mask | m, n + 1))
        } else {
            without
        }
    }
    go(model, profile, profile.starts, 0, 0)
}

/// True when `profile`'s `max_count` can bind on `model`, so it needs an instance counter.
pub fn instance_count_binds(model: &GpuModel, profile: &Profile) -> bool {
    most_together(model, profile) > usize::from(profile.max_count)
}

/// The profile the whole-GPU device is prepared as on a MIG-enabled GPU: the largest (most
/// compute slices) profile that covers every memory slice, the first such in catalog order
/// (`7g.40gb` on an A100-40GB, `4g.96gb` before `4g.96gb+gfx` on an RTX PRO 6000).
pub fn whole_gpu_profile(model: &'static GpuModel) -> Option<&'static Profile> {
    model
        .profiles
        .iter()
        .filter(|p| p.memory_slices == model.memory_slices && p.starts.contains(&0))
        .fold(None, |best: Option<&'static Profile>, p| match best {
            Some(b) if b.compute_slices >= p.compute_slices => Some(b),
            _ => Some(p),
        })
}

impl CounterModel {
    pub fn of(model: &'static GpuModel) -> CounterModel {
        let mut counters: Vec<Counter> = (0..model.memory_slices)
            .map(|i| (memory_slice(i), 1))
            .collect();
        counters.push((COMPUTE_SLICES.to_string(), u64::from(model.compute_slices)));
        for (name, n) in engine_counters(model.engines) {
            if n > 0 {
                counters.push((name.to_string(), u64::from(n)));
            }
        }
        for p in model.profiles {
            if instance_count_binds(model, p) {
                counters.push((instances(p), u64::from(p.max_count)));
            }
        }
        CounterModel { model, counters }
    }

    pub fn model(&self) -> &'static GpuModel {
        self.model
    }

    /// The counter set's counters with their values, in a fixed order.
    pub fn counters(&self) -> &[Counter] {
        &self.counters
    }

    /// What the device `profile` at `start` consumes (only non-zero amounts).
    pub fn consumption(&self, profile: &Profile, start: u8) -> Vec<Counter> {
        let mut out: Vec<Counter> = (start..start.saturating_add(profile.memory_slices))
            .map(|i| (memory_slice(i), 1))
            .collect();
        out.push((
            COMPUTE_SLICES.to_string(),
            u64::from(profile.compute_slices),
        ));
        for (name, n) in engine_counters(profile.engines) {
            if n > 0 {
                out.push((name.to_string(), u64::from(n)));
            }
        }
        let limit = instances(profile);
        if self.counters.iter().any(|(c, _)| *c == limit) {
            out.push((limit, 1));
        }
        out
    }

    /// What the whole-GPU device consumes: every counter, in full.
    pub fn whole(&self) -> Vec<Counter> {
        self.counters.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamig_core::catalog::{model_by_key, models};

    #[test]
    fn a100_40gb_counters() {
        let m = model_by_key("a100-40gb").unwrap();
        let c = CounterModel::of(m);
        let names: Vec<&str> = c.counters().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "memory-slice-0",
                "memory-slice-1",
                "memory-slice-2",
                "memory-slice-3",
                "memory-slice-4",
                "memory-slice-5",
                "memory-slice-6",
                "memory-slice-7",
                "compute-slices",
                "copy-engines",
                "decoders",
                "jpeg-engines",
                "ofa-engines"
            ]
        );
        let g3 = m.profile("3g.20gb").unwrap();
        assert_eq!(
            c.consumption(g3, 4),
            [
                ("memory-slice-4".to_string(), 1),
                ("memory-slice-5".to_string(), 1),
                ("memory-slice-6".to_string(), 1),
                ("memory-slice-7".to_string(), 1),
                ("compute-slices".to_string(), 3),
                ("copy-engines".to_string(), 3),
                ("decoders".to_string(), 2),
            ]
        );
        // 1g.5gb+me's limit of 1 is implied by the single JPEG engine and OFA it owns.
        assert!(!instance_count_binds(m, m.profile("1g.5gb+me").unwrap()));
        assert_eq!(whole_gpu_profile(m).map(|p| p.name), Some("7g.40gb"));
    }

    #[test]
    fn every_model_has_a_whole_gpu_profile_and_every_placement_is_a_device() {
        for m in models() {
            let full = whole_gpu_profile(m).unwrap_or_else(|| panic!("{}", m.key));
            assert!(creatable_alone(m, full, 0), "{}", m.key);
            let table: usize = m.profiles.iter().map(|p| p.starts.len()).sum();
            assert_eq!(placements(m).count(), table, "{}", m.key);
        }
        let rtx = model_by_key("rtx-pro-6000-bse").unwrap();
        assert_eq!(whole_gpu_profile(rtx).map(|p| p.name), Some("4g.96gb"));
    }
}
