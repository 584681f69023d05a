//! From an allocated device (pool, device name) to what the node creates: a MIG profile at a
//! placement, or a whole GPU without MIG. A whole-GPU device `gpu-N` of a MIG-enabled GPU is the
//! model's full-size profile at placement 0 (the largest profile covering every memory slice),
//! so it is exactly that MIG device; of a MIG-disabled GPU it is the GPU itself.

use dynamig_core::catalog::{GpuModel, Profile};
use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::claim::{AllocatedDevice, ClaimError};
use dynamig_dra_api::device_name::DeviceName;
use dynamig_node::backend::GpuInfo;

/// What a device is on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Mig {
        gpu: GpuIndex,
        profile: &'static Profile,
        start: u8,
    },
    /// The GPU itself, MIG off: no instance to create.
    WholeGpu { gpu: GpuIndex, slices: u8 },
}

impl Target {
    pub fn gpu(&self) -> GpuIndex {
        match *self {
            Target::Mig { gpu, .. } | Target::WholeGpu { gpu, .. } => gpu,
        }
    }

    /// The memory slices it covers: (start, size).
    pub fn slices(&self) -> (u8, u8) {
        match *self {
            Target::Mig { profile, start, .. } => (start, profile.memory_slices),
            Target::WholeGpu { slices, .. } => (0, slices),
        }
    }

    pub fn profile(&self) -> Option<&'static Profile> {
        match *self {
            Target::Mig { profile, .. } => Some(profile),
            Target::WholeGpu { .. } => None,
        }
    }
}

/// The model's full-size profile: the one covering every memory slice with the most compute
/// slices (`7g.40gb` on an A100 40GB).
pub fn full_profile(model: &'static GpuModel) -> Option<&'static Profile> {
    model
        .profiles
        .iter()
        .filter(|p| p.memory_slices == model.memory_slices && p.accepts_start(0))
        .max_by_key(|p| (p.compute_slices, std::cmp::Reverse(p.id.get())))
}

/// Resolves one device of this driver allocated to a claim, for node `node_name` whose GPUs
/// are `gpus`. Another pool, a name that is not one of dynamig's for that GPU's model, a GPU
/// the node lacks: invalid. A MIG mode change that waits for a reset: retryable.
pub fn resolve(
    dev: &AllocatedDevice,
    node_name: &str,
    gpus: &[GpuInfo],
) -> Result<Target, ClaimError> {
    let invalid = |why: String| ClaimError::Invalid(format!("device {}: {why}", dev.device));
    if dev.pool != node_name {
        return Err(invalid(format!(
            "allocated from pool {:?}, but this node's pool is {node_name:?}",
            dev.pool
        )));
    }
    let gpu = DeviceName::gpu_of(&dev.device).map_err(|e| invalid(e.to_string()))?;
    let g = gpus
        .iter()
        .find(|g| g.index == gpu)
        .ok_or_else(|| invalid(format!("this node has no GPU {gpu}")))?;
    let model = g.model.ok_or_else(|| {
        invalid(format!(
            "GPU {gpu}'s model {:?} is not one dynamig knows",
            g.name
        ))
    })?;
    let name = DeviceName::parse(&dev.device, model).map_err(|e| invalid(e.to_string()))?;
    let mig_off = !g.mig.current && !g.mig.pending;
    let pending = g.mig.current != g.mig.pending;
    match name {
        DeviceName::Whole { gpu } if mig_off => Ok(Target::WholeGpu {
            gpu,
            slices: model.memory_slices,
        }),
        _ if pending => Err(ClaimError::Retryable(format!(
            "device {}: GPU {gpu}'s MIG mode change waits for a GPU reset",
            dev.device
        ))),
        DeviceName::Whole { gpu } => {
            let profile = full_profile(model).ok_or_else(|| {
                invalid(format!("{} has no profile covering the whole GPU", model.key))
            })?;
            Ok(Target::Mig {
                gpu,
                profile,
                start: 0,
            })
        }
        DeviceName::Mig { .. } if mig_off => Err(invalid(format!(
            "GPU {gpu} has MIG disabled (the device is published tainted mig.dynamig.io/mig-disabled)"
        ))),
        DeviceName::Mig {
            gpu,
            profile,
            start,
        } => Ok(Target::Mig {
            gpu,
            profile,
            start,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamig_core::catalog::{model_by_key, models};

    #[test]
    fn every_model_has_a_full_profile_covering_every_slice() {
        for m in models() {
            let p = full_profile(m).unwrap_or_else(|| panic!("{} has none", m.key));
            assert_eq!(p.memory_slices, m.memory_slices, "{}", m.key);
        }
        let a100 = model_by_key("a100-40gb").unwrap();
        assert_eq!(full_profile(a100).unwrap().name, "7g.40gb");
    }
}
