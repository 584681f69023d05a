//! What one GPU's MIG layout has in use, and whether NVML would accept one more GPU instance at a
//! given placement: the placement must be in the profile's table, its memory slices free, enough
//! compute slices and engines left, and the profile under its instance count.

use crate::catalog::{GpuModel, Profile};
use serde::Serialize;
use thiserror::Error;

/// Why a placement is refused, as NVML would refuse it.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    #[error("start {0} is not a valid placement for this profile")]
    NotAPlacement(u8),
    #[error("memory slices are occupied")]
    SlicesOccupied,
    #[error("not enough compute slices left")]
    ComputeExhausted,
    #[error("not enough engines (decoders, JPEG, OFA, copy engines) left")]
    EnginesExhausted,
    #[error("the profile is at its instance limit")]
    CountExhausted,
}

/// The sum of a GPU's instances: occupied memory slices, compute slices and engines used, and
/// instances per profile (indexed like `GpuModel::profiles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub mask: u16,
    pub compute: u8,
    pub engines: crate::catalog::Engines,
    pub counts: [u8; 12],
}

fn position(model: &GpuModel, profile: &Profile) -> usize {
    model
        .profiles
        .iter()
        .position(|p| p.id == profile.id)
        .unwrap_or(0)
}

impl Usage {
    /// The usage of a set of instances, each a profile and a start.
    pub fn of<'a>(
        model: &GpuModel,
        instances: impl IntoIterator<Item = (&'a Profile, u8)>,
    ) -> Usage {
        let mut u = Usage::default();
        for (p, start) in instances {
            u.add(model, p, start);
        }
        u
    }

    pub fn add(&mut self, model: &GpuModel, profile: &Profile, start: u8) {
        self.mask |= profile.mask_at(start);
        self.compute = self.compute.saturating_add(profile.compute_slices);
        self.engines = self.engines.plus(profile.engines);
        let i = position(model, profile);
        self.counts[i] = self.counts[i].saturating_add(1);
    }

    /// Whether NVML would accept `profile` at `start` on top of this usage.
    pub fn check(&self, model: &GpuModel, profile: &Profile, start: u8) -> Result<(), Conflict> {
        if !profile.accepts_start(start) {
            return Err(Conflict::NotAPlacement(start));
        }
        if self.mask & profile.mask_at(start) != 0 {
            return Err(Conflict::SlicesOccupied);
        }
        if self.compute + profile.compute_slices > model.compute_slices {
            return Err(Conflict::ComputeExhausted);
        }
        if !self.engines.plus(profile.engines).within(model.engines) {
            return Err(Conflict::EnginesExhausted);
        }
        if self.counts[position(model, profile)] >= profile.max_count {
            return Err(Conflict::CountExhausted);
        }
        Ok(())
    }

    pub fn fits(&self, model: &GpuModel, profile: &Profile, start: u8) -> bool {
        self.check(model, profile, start).is_ok()
    }

    /// Free memory slices.
    pub fn free_slices(&self, model: &GpuModel) -> u8 {
        // A mask of at most 16 slices has at most 16 set bits.
        u8::try_from((model.full_mask() & !self.mask).count_ones()).unwrap_or(u8::MAX)
    }
}

/// How many instances of `profile` could still be added, greedily from the lowest start (the
/// number `nvmlDeviceGetGpuInstanceRemainingCapacity` reports for an empty placement choice).
pub fn remaining_capacity(model: &GpuModel, usage: &Usage, profile: &Profile) -> u8 {
    let mut u = *usage;
    let mut n = 0;
    for &s in profile.starts {
        if u.fits(model, profile, s) {
            u.add(model, profile, s);
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model_by_key;

    #[test]
    fn seven_1g5gb_and_no_eighth_on_a100_40gb() {
        let m = model_by_key("a100-40gb").unwrap();
        let p = m.profile("1g.5gb").unwrap();
        let mut u = Usage::default();
        for s in 0..7 {
            assert_eq!(u.check(m, p, s), Ok(()));
            u.add(m, p, s);
        }
        assert_eq!(remaining_capacity(m, &u, p), 0);
        // Slice 7 is free memory, but no 1g placement starts there, and compute is exhausted.
        assert_eq!(u.free_slices(m), 1);
        assert_eq!(u.check(m, p, 7), Err(Conflict::NotAPlacement(7)));
    }

    #[test]
    fn a100_4g_and_3g_coexist_but_not_3g_at_0_with_4g() {
        let m = model_by_key("a100-40gb").unwrap();
        let g4 = m.profile("4g.20gb").unwrap();
        let g3 = m.profile("3g.20gb").unwrap();
        let u = Usage::of(m, [(g4, 0)]);
        assert_eq!(u.check(m, g3, 4), Ok(()));
        assert_eq!(u.check(m, g3, 0), Err(Conflict::SlicesOccupied));
        let u = Usage::of(m, [(g4, 0), (g3, 4)]);
        assert_eq!(u.compute, 7);
    }

    #[test]
    fn a30_media_extension_profiles_exclude_each_other() {
        let m = model_by_key("a30-24gb").unwrap();
        let me1 = m.profile("1g.6gb+me").unwrap();
        let me2 = m.profile("2g.12gb+me").unwrap();
        let u = Usage::of(m, [(me1, 0)]);
        assert_eq!(u.check(m, me2, 2), Err(Conflict::EnginesExhausted));
        // A second instance of a max-1 profile is refused.
        assert!(u.check(m, me1, 1).is_err());
        let g1 = m.profile("1g.6gb").unwrap();
        let mut u = Usage::of(m, [(g1, 0), (g1, 1), (g1, 2), (g1, 3)]);
        u.mask = 0; // pretend slices are free to reach the count check
        u.compute = 0;
        u.engines = crate::catalog::Engines::ZERO;
        assert_eq!(u.check(m, g1, 0), Err(Conflict::CountExhausted));
    }

    #[test]
    fn compute_slices_can_run_out_before_memory() {
        let m = model_by_key("a100-40gb").unwrap();
        let g2 = m.profile("2g.10gb").unwrap();
        let g1 = m.profile("1g.5gb").unwrap();
        // 2g@0, 2g@2, 1g@4, 1g@5, 1g@6 use all 7 compute slices; slice 7 is left.
        let u = Usage::of(m, [(g2, 0), (g2, 2), (g1, 4), (g1, 5), (g1, 6)]);
        assert_eq!(u.compute, 7);
        assert_eq!(u.free_slices(m), 1);
    }
}
