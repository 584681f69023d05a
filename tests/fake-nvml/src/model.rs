//! Lookups in the simulated node with the driver's codes for what is not there, and the
//! compute-instance profile table (profile id = `NVML_COMPUTE_INSTANCE_PROFILE_*` index).

use dynamig_core::catalog::Profile;
use dynamig_core::ids::{GiId, ProfileId};
use dynamig_node::backend::sim::{SimGpu, SimInstance, SimNode};

use crate::errors::{Ret, INVALID_ARGUMENT, UNKNOWN};

pub(crate) fn gpu_of(n: &SimNode, gpu: u32) -> Result<&SimGpu, Ret> {
    n.gpus.get(gpu as usize).ok_or(INVALID_ARGUMENT)
}

pub(crate) fn profile_of(g: &SimGpu, id: ProfileId) -> Result<&'static Profile, Ret> {
    let m = g.model().map_err(|_| UNKNOWN)?;
    m.profile_by_id(id).ok_or(INVALID_ARGUMENT)
}

pub(crate) fn instance_of(g: &SimGpu, gi: u32) -> Result<&SimInstance, Ret> {
    g.instances
        .iter()
        .find(|i| i.gi == GiId(gi))
        .ok_or(INVALID_ARGUMENT)
}

pub(crate) fn alive(pid: u32) -> bool {
    dynamig_node::process::ProcRef::of(pid).is_some()
}

/// Compute slices of `NVML_COMPUTE_INSTANCE_PROFILE_*` index (the profile id equals the index).
pub(crate) fn ci_slices(index: u32) -> Option<u32> {
    match index {
        0 => Some(1),
        1 => Some(2),
        2 => Some(3),
        3 => Some(4),
        4 => Some(7),
        5 => Some(8),
        6 => Some(6),
        8 => Some(7), // 7_SLICE_NVL (NVML 13): listed; the full-span one created is 7_SLICE
        _ => None,    // 7 = 1_SLICE_REV1 (+me compute instances): not modelled
    }
}

pub(crate) fn full_ci_profile(p: &Profile) -> u32 {
    (0..7)
        .find(|i| ci_slices(*i) == Some(u32::from(p.compute_slices)))
        .unwrap_or(0)
}

/// MIG devices of a GPU in NVML's index order: instances with a compute instance, by GI id.
pub(crate) fn mig_devices(g: &SimGpu) -> Vec<&SimInstance> {
    let mut v: Vec<&SimInstance> = g.instances.iter().filter(|i| i.ci.is_some()).collect();
    v.sort_by_key(|i| i.gi);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_span_compute_profiles() {
        let m = dynamig_core::catalog::model_by_key("a100-40gb").unwrap();
        let ids: Vec<u32> = m.profiles.iter().map(full_ci_profile).collect();
        assert!(ids.iter().all(|i| ci_slices(*i).is_some()));
        let p7 = m.profiles.iter().find(|p| p.compute_slices == 7).unwrap();
        assert_eq!(full_ci_profile(p7), 4);
    }
}
