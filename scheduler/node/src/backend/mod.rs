//! GPU backends: the real one through NVML, and an exact simulation of MIG GPUs.
//!
//! Both answer the same questions and refuse what NVML refuses. The node logic
//! ([`crate::node`]) only ever talks to a `dyn Backend`.

pub mod nvml;
mod select;
pub mod sim;
pub mod tables;

pub use select::{open, BackendChoice, SelectError, BACKEND_ENV};

use dynamig_core::catalog::GpuModel;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// MIG mode of a GPU as NVML reports it: the current mode, and the pending mode that takes
/// effect at the next GPU reset (equal to `current` when no change waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigMode {
    pub current: bool,
    pub pending: bool,
}

impl MigMode {
    /// MIG is on and no change is pending: instances may be created.
    pub fn usable(&self) -> bool {
        self.current && self.pending
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuInfo {
    pub index: u32,
    pub uuid: String,
    /// The product name NVML reports.
    pub name: String,
    /// The model to plan with: the catalog's (`sim`); on `nvml` the driver's tables merged with
    /// the catalog ([`tables`]). `None`: the GPU cannot be used (not in the catalog and no
    /// usable driver tables).
    #[serde(skip)]
    pub model: Option<&'static GpuModel>,
    /// `/dev/nvidia<minor>`.
    pub minor: u32,
    pub mig: MigMode,
    /// Persistence mode (`nvmlDeviceGetPersistenceMode`); `None` where it is not reported (the
    /// simulator, a driver without it). Off, each short NVML session (every dynamig entry point
    /// opens one) can pay the GPU's initialisation, seconds per GPU.
    pub persistence_mode: Option<bool>,
}

/// A GPU instance with its compute instance, as the hardware has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    pub gpu: u32,
    pub gi: u32,
    /// None when the GPU instance has no compute instance (a half-made instance).
    pub ci: Option<u32>,
    pub profile_id: u32,
    pub start: u8,
    pub size: u8,
    /// `MIG-<uuid>`; empty when there is no compute instance.
    pub uuid: String,
}

/// A device node to hand to a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    pub path: String,
    pub major: u32,
    pub minor: u32,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BackendError {
    #[error("GPU {0} does not exist")]
    NoSuchGpu(u32),
    #[error("GPU {gpu}: no GPU instance {gi}")]
    NoSuchInstance { gpu: u32, gi: u32 },
    #[error("GPU {gpu}: profile id {profile_id} is not supported")]
    UnknownProfile { gpu: u32, profile_id: u32 },
    #[error("GPU {gpu}: MIG is not enabled (or a mode change waits for a GPU reset)")]
    MigDisabled { gpu: u32 },
    #[error("GPU {gpu}: placement {start}:{size} is not valid for profile id {profile_id}")]
    InvalidPlacement {
        gpu: u32,
        profile_id: u32,
        start: u8,
        size: u8,
    },
    #[error("GPU {gpu}: not enough free resources for profile id {profile_id} at {start} ({why})")]
    InsufficientResources {
        gpu: u32,
        profile_id: u32,
        start: u8,
        why: String,
    },
    /// The driver answers `NVML_ERROR_IN_USE`. With `pids` empty no process runs on the instance:
    /// another NVML client holds it, and the text names the likely ones.
    #[error("{}", in_use_text(*gpu, *gi, pids))]
    InUse { gpu: u32, gi: u32, pids: Vec<u32> },
    #[error("{function} on GPU {gpu:?} failed: {message} (NVML error {code})")]
    Nvml {
        function: &'static str,
        gpu: Option<u32>,
        code: i32,
        message: String,
    },
    #[error("{0}")]
    Io(String),
    #[error("simulated node: {0}")]
    Sim(String),
}

fn in_use_text(gpu: u32, gi: u32, pids: &[u32]) -> String {
    if pids.is_empty() {
        format!(
            "GPU {gpu}: GPU instance {gi} is held by another NVML client (the driver answers \
             NVML_ERROR_IN_USE and lists no process on it): likely DCGM (nv-hostengine), \
             dcgm-exporter or another NVML monitor; stop it or keep it off this GPU, then retry"
        )
    } else {
        format!("GPU {gpu}: GPU instance {gi} is in use by processes {pids:?}")
    }
}

/// A GPU backend.
pub trait Backend {
    /// `sim` or `nvml`.
    fn kind(&self) -> &'static str;
    fn gpus(&mut self) -> Result<Vec<GpuInfo>, BackendError>;
    /// Every GPU instance on `gpu`, ours and foreign.
    fn instances(&mut self, gpu: u32) -> Result<Vec<InstanceInfo>, BackendError>;
    /// Placement starts NVML would accept for a profile on an empty GPU (what
    /// `nvmlDeviceGetGpuInstancePossiblePlacements_v2` lists).
    fn placements(&mut self, gpu: u32, profile_id: u32) -> Result<Vec<u8>, BackendError>;
    /// Creates a GPU instance at `start` and a compute instance spanning it.
    fn create(
        &mut self,
        gpu: u32,
        profile_id: u32,
        start: u8,
    ) -> Result<InstanceInfo, BackendError>;
    /// Destroys the compute instances of GPU instance `gi`, then `gi`.
    fn destroy(&mut self, gpu: u32, gi: u32) -> Result<(), BackendError>;
    /// Device nodes a container needs to use the MIG device: the GI and CI access capability
    /// nodes, the parent GPU, `nvidiactl`, `nvidia-uvm` and `nvidia-uvm-tools`.
    fn device_nodes(&mut self, gpu: u32, gi: u32, ci: u32)
        -> Result<Vec<DeviceNode>, BackendError>;
    /// The NVIDIA driver version (`580.126.09`), to check the host's CDI spec against
    /// (docs/driver-stack.md); `None` when it cannot be told.
    fn driver_version(&self) -> Option<String>;
    /// Forgets what it cached of the hardware: another process may have changed it while this
    /// one did not hold the node lock. Nothing to do for a backend that asks the driver.
    fn reload(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// GPU instance ids as the driver numbers them: a binary tree over the memory slices, so the
/// id follows from the placement (A100: 7g → 0, 3g/4g → 1-2, 2g → 3-6, 1g → 7-14).
pub fn gi_id_for(memory_slices: u8, start: u8, size: u8) -> u32 {
    let mut offset = 0u32;
    let mut level_size = memory_slices;
    while level_size > size && level_size > 1 {
        offset += u32::from(memory_slices / level_size);
        level_size /= 2;
    }
    offset + u32::from(start / size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gi_ids_follow_the_driver_tree() {
        assert_eq!(gi_id_for(8, 0, 8), 0);
        assert_eq!(gi_id_for(8, 0, 4), 1);
        assert_eq!(gi_id_for(8, 4, 4), 2);
        // The seed's three 2g.10gb devices are GI 3, 4, 5.
        assert_eq!(gi_id_for(8, 0, 2), 3);
        assert_eq!(gi_id_for(8, 4, 2), 5);
        assert_eq!(gi_id_for(8, 6, 1), 13);
        assert_eq!(gi_id_for(4, 0, 4), 0);
        assert_eq!(gi_id_for(4, 2, 2), 2);
        assert_eq!(gi_id_for(4, 3, 1), 6);
    }
}
