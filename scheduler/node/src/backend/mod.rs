//! GPU backends: the real one through NVML, and an exact simulation of MIG GPUs.
//!
//! Both answer the same questions and refuse what NVML refuses. The node logic
//! ([`crate::node`]) only ever talks to a `dyn Backend`.

mod kind;
pub mod nvml;
mod select;
pub mod sim;
pub mod tables;

pub use kind::BackendKind;
pub use select::{open, open_in, BackendChoice, SelectError, BACKEND_ENV};

use crate::state::Live;
use dynamig_core::catalog::GpuModel;
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
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
    pub index: GpuIndex,
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
    pub gpu: GpuIndex,
    pub gi: GiId,
    /// None when the GPU instance has no compute instance (a half-made instance).
    pub ci: Option<CiId>,
    pub profile_id: ProfileId,
    pub start: u8,
    pub size: u8,
    /// `MIG-<uuid>`; empty when there is no compute instance.
    pub uuid: String,
}

impl InstanceInfo {
    /// What the hardware gave, as a holder records it (CI 0 when there is none yet).
    pub fn live(&self) -> Live {
        Live {
            gi: self.gi,
            ci: self.ci.unwrap_or(CiId(0)),
            uuid: self.uuid.clone(),
        }
    }
}

/// The two steps of a [`Backend::create`], timed (the allocation's `gi_create` and `ci_create`
/// phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CreateTimes {
    pub gi: std::time::Duration,
    pub ci: std::time::Duration,
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
    NoSuchGpu(GpuIndex),
    #[error("GPU {gpu}: no GPU instance {gi}")]
    NoSuchInstance { gpu: GpuIndex, gi: GiId },
    #[error("GPU {gpu}: profile id {profile_id} is not supported")]
    UnknownProfile {
        gpu: GpuIndex,
        profile_id: ProfileId,
    },
    #[error("GPU {gpu}: MIG is not enabled (or a mode change waits for a GPU reset)")]
    MigDisabled { gpu: GpuIndex },
    #[error("GPU {gpu}: placement {start}:{size} is not valid for profile id {profile_id}")]
    InvalidPlacement {
        gpu: GpuIndex,
        profile_id: ProfileId,
        start: u8,
        size: u8,
    },
    #[error("GPU {gpu}: not enough free resources for profile id {profile_id} at {start} ({why})")]
    InsufficientResources {
        gpu: GpuIndex,
        profile_id: ProfileId,
        start: u8,
        why: String,
    },
    /// The driver answers `NVML_ERROR_IN_USE`. With `pids` empty no process runs on the instance:
    /// another NVML client holds it, and the text names the likely ones.
    #[error("{}", in_use_text(*gpu, *gi, pids))]
    InUse {
        gpu: GpuIndex,
        gi: GiId,
        pids: Vec<u32>,
    },
    /// `nvmlDeviceSetMigMode` asked to disable MIG while GPU instances exist: the driver
    /// answers `NVML_ERROR_IN_USE`.
    #[error(
        "GPU {gpu}: cannot disable MIG while {} GPU instance(s) exist (GI {}): the driver refuses it \
         (NVML_ERROR_IN_USE, \"In use by another client\"); release or destroy them first",
        gis.len(),
        gis.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    MigInUse { gpu: GpuIndex, gis: Vec<GiId> },
    #[error("{function} on GPU {gpu:?} failed: {message} (NVML error {code})")]
    Nvml {
        function: &'static str,
        gpu: Option<GpuIndex>,
        code: i32,
        message: String,
    },
    #[error("{0}")]
    Io(String),
    #[error("simulated node: {0}")]
    Sim(String),
}

fn in_use_text(gpu: GpuIndex, gi: GiId, pids: &[u32]) -> String {
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
    fn kind(&self) -> BackendKind;
    fn gpus(&mut self) -> Result<Vec<GpuInfo>, BackendError>;
    /// Every GPU instance on `gpu`, ours and foreign.
    fn instances(&mut self, gpu: GpuIndex) -> Result<Vec<InstanceInfo>, BackendError>;
    /// Placement starts NVML would accept for a profile on an empty GPU (what
    /// `nvmlDeviceGetGpuInstancePossiblePlacements_v2` lists).
    fn placements(&mut self, gpu: GpuIndex, profile_id: ProfileId)
        -> Result<Vec<u8>, BackendError>;
    /// Creates a GPU instance at `start` and a compute instance spanning it; answers the
    /// instance as [`Backend::instances`] lists it, whose [`InstanceInfo::live`] is what the
    /// hardware gave.
    fn create(
        &mut self,
        gpu: GpuIndex,
        profile_id: ProfileId,
        start: u8,
    ) -> Result<InstanceInfo, BackendError>;
    /// Pids of the compute processes running on GPU instance `gi` (none when it does not
    /// exist): what a warm instance must lack before it is handed out.
    fn processes_on(&mut self, gpu: GpuIndex, gi: GiId) -> Result<Vec<u32>, BackendError>;
    /// How long the latest [`Backend::create`] of this backend took to make the GPU instance,
    /// then the compute instance (with the instance read back); `None` before any.
    fn last_create(&self) -> Option<CreateTimes> {
        None
    }
    /// Destroys the compute instances of GPU instance `gi`, then `gi`.
    fn destroy(&mut self, gpu: GpuIndex, gi: GiId) -> Result<(), BackendError>;
    /// Device nodes a container needs to use the MIG device: the GI and CI access capability
    /// nodes, the parent GPU, `nvidiactl`, `nvidia-uvm` and `nvidia-uvm-tools`.
    fn device_nodes(
        &mut self,
        gpu: GpuIndex,
        gi: GiId,
        ci: CiId,
    ) -> Result<Vec<DeviceNode>, BackendError>;
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
pub fn gi_id_for(memory_slices: u8, start: u8, size: u8) -> GiId {
    let mut offset = 0u32;
    let mut level_size = memory_slices;
    while level_size > size && level_size > 1 {
        offset += u32::from(memory_slices / level_size);
        level_size /= 2;
    }
    GiId(offset + u32::from(start / size.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gi_ids_follow_the_driver_tree() {
        assert_eq!(gi_id_for(8, 0, 8), GiId(0));
        assert_eq!(gi_id_for(8, 0, 4), GiId(1));
        assert_eq!(gi_id_for(8, 4, 4), GiId(2));
        // The seed's three 2g.10gb devices are GI 3, 4, 5.
        assert_eq!(gi_id_for(8, 0, 2), GiId(3));
        assert_eq!(gi_id_for(8, 4, 2), GiId(5));
        assert_eq!(gi_id_for(8, 6, 1), GiId(13));
        assert_eq!(gi_id_for(4, 0, 4), GiId(0));
        assert_eq!(gi_id_for(4, 2, 2), GiId(2));
        assert_eq!(gi_id_for(4, 3, 1), GiId(6));
    }
}
