//! The simulated node's model: GPUs modelled exactly on the catalog, their GPU and compute
//! instances, the checks that refuse what NVML refuses, and the node's `sim.json` (the checked
//! state-file format, written by `SimNode::save`, e.g. for `dynamigctl sim init`).

use crate::backend::{gi_id_for, BackendError, InstanceInfo, MigMode};
use crate::state::file;
use dynamig_core::catalog::{self, GpuModel};
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use dynamig_core::layout::{Conflict, Usage};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimInstance {
    pub gi: GiId,
    pub ci: Option<CiId>,
    pub profile_id: ProfileId,
    pub start: u8,
    pub uuid: String,
    /// Pids of processes using the instance (destroy is refused while any remain).
    #[serde(default)]
    pub pids: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimGpu {
    pub index: GpuIndex,
    pub model: String,
    pub uuid: String,
    pub minor: u32,
    pub mig: MigMode,
    pub instances: Vec<SimInstance>,
}

impl SimGpu {
    pub fn model(&self) -> Result<&'static GpuModel, BackendError> {
        catalog::model_by_key(&self.model)
            .ok_or_else(|| BackendError::Sim(format!("unknown model {:?} in sim.json", self.model)))
    }

    pub fn usage(&self) -> Result<Usage, BackendError> {
        let m = self.model()?;
        let mut u = Usage::default();
        for i in &self.instances {
            let p = m
                .profile_by_id(i.profile_id)
                .ok_or(BackendError::UnknownProfile {
                    gpu: self.index,
                    profile_id: i.profile_id,
                })?;
            u.add(m, p, i.start);
        }
        Ok(u)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SimNode {
    pub gpus: Vec<SimGpu>,
    /// Feeds the made-up UUIDs.
    pub counter: u64,
    /// The NVIDIA driver version the simulated node claims (`dynamigctl sim init
    /// --driver-version`; [`DEFAULT_DRIVER_VERSION`] for a node made before it was recorded).
    #[serde(default = "default_driver_version")]
    pub driver_version: String,
}

/// The driver version a simulated node claims unless told otherwise (the fake NVML's default).
pub const DEFAULT_DRIVER_VERSION: &str = "580.126.09";

fn default_driver_version() -> String {
    DEFAULT_DRIVER_VERSION.to_string()
}

fn fake_uuid(prefix: &str, a: u64, b: u64) -> String {
    let h1 = crc32fast::hash(format!("{a}/{b}/x").as_bytes());
    let h2 = crc32fast::hash(format!("{b}/{a}/y").as_bytes());
    let h3 = crc32fast::hash(format!("{a}-{b}-z").as_bytes());
    format!(
        "{prefix}-{h1:08x}-{:04x}-{:04x}-{:04x}-{:04x}{h3:08x}",
        h2 >> 16,
        (h2 & 0xffff) | 0x4000,
        (a & 0x3fff) | 0x8000,
        b & 0xffff
    )
}

impl file::Versioned for SimNode {
    const VERSION: u32 = 1;
}

impl SimNode {
    /// A node with one GPU per model key, MIG enabled on each.
    pub fn new(models: &[&str]) -> Result<SimNode, BackendError> {
        let mut gpus = Vec::new();
        for (i, key) in (0u32..).zip(models.iter()) {
            let m = catalog::model_by_key(key).ok_or_else(|| {
                BackendError::Sim(format!(
                    "unknown GPU model {key:?}; known: {}",
                    catalog::model_keys().join(" ")
                ))
            })?;
            gpus.push(SimGpu {
                index: GpuIndex(i),
                model: m.key.to_string(),
                uuid: fake_uuid("GPU", u64::from(i), 0xA100),
                minor: i,
                mig: MigMode {
                    current: true,
                    pending: true,
                },
                instances: Vec::new(),
            });
        }
        Ok(SimNode {
            gpus,
            counter: 0,
            driver_version: default_driver_version(),
        })
    }

    pub fn load(path: &Path) -> Result<Option<SimNode>, BackendError> {
        file::read(path).map_err(|e| BackendError::Sim(e.to_string()))
    }

    /// Atomic for processes, not forced to disk ([`file::Durability::Volatile`]): it stands in
    /// for the GPU, whose MIG instances do not survive a power loss either, and a real GPU
    /// change has no disk write to wait for.
    pub fn save(&self, path: &Path) -> Result<(), BackendError> {
        file::write_with(path, self, file::Durability::Volatile)
            .map_err(|e| BackendError::Sim(e.to_string()))
    }

    pub fn gpu(&self, gpu: GpuIndex) -> Result<&SimGpu, BackendError> {
        self.gpus
            .get(gpu.get() as usize)
            .ok_or(BackendError::NoSuchGpu(gpu))
    }

    pub fn gpu_mut(&mut self, gpu: GpuIndex) -> Result<&mut SimGpu, BackendError> {
        self.gpus
            .get_mut(gpu.get() as usize)
            .ok_or(BackendError::NoSuchGpu(gpu))
    }

    /// Sets a GPU's MIG mode (`current`, and `pending`: the mode after the next reset) as
    /// `nvmlDeviceSetMigMode` would: disabling MIG, at once or pending a reset, is refused
    /// while the GPU has GPU instances.
    pub fn set_mig_mode(&mut self, gpu: GpuIndex, mode: MigMode) -> Result<(), BackendError> {
        let g = self.gpu_mut(gpu)?;
        let disables = !mode.usable();
        if disables && !g.instances.is_empty() {
            return Err(BackendError::MigInUse {
                gpu,
                gis: g.instances.iter().map(|i| i.gi).collect(),
            });
        }
        g.mig = mode;
        Ok(())
    }

    /// Creates the GPU instance only (`nvmlDeviceCreateGpuInstanceWithPlacement`).
    pub fn create_gi(
        &mut self,
        gpu: GpuIndex,
        profile_id: ProfileId,
        start: u8,
    ) -> Result<GiId, BackendError> {
        let g = self.gpu(gpu)?;
        if !g.mig.usable() {
            return Err(BackendError::MigDisabled { gpu });
        }
        let m = g.model()?;
        let p = m
            .profile_by_id(profile_id)
            .ok_or(BackendError::UnknownProfile { gpu, profile_id })?;
        match g.usage()?.check(m, p, start) {
            Ok(()) => {}
            Err(Conflict::NotAPlacement(_)) => {
                return Err(BackendError::InvalidPlacement {
                    gpu,
                    profile_id,
                    start,
                    size: p.memory_slices,
                })
            }
            Err(c) => {
                return Err(BackendError::InsufficientResources {
                    gpu,
                    profile_id,
                    start,
                    why: c.to_string(),
                })
            }
        }
        let gi = gi_id_for(m.memory_slices, start, p.memory_slices);
        self.gpu_mut(gpu)?.instances.push(SimInstance {
            gi,
            ci: None,
            profile_id,
            start,
            uuid: String::new(),
            pids: Vec::new(),
        });
        Ok(gi)
    }

    /// Creates the compute instance spanning a GPU instance (`nvmlGpuInstanceCreateComputeInstance`).
    pub fn create_ci(&mut self, gpu: GpuIndex, gi: GiId) -> Result<CiId, BackendError> {
        self.counter += 1;
        let uuid = fake_uuid(
            "MIG",
            u64::from(gpu.get()) << 8 | u64::from(gi.get()),
            self.counter,
        );
        let inst = self
            .gpu_mut(gpu)?
            .instances
            .iter_mut()
            .find(|i| i.gi == gi)
            .ok_or(BackendError::NoSuchInstance { gpu, gi })?;
        if inst.ci.is_some() {
            return Err(BackendError::InsufficientResources {
                gpu,
                profile_id: inst.profile_id,
                start: inst.start,
                why: "the GPU instance already has its compute instance".into(),
            });
        }
        inst.ci = Some(CiId(0));
        inst.uuid = uuid;
        Ok(CiId(0))
    }

    /// Destroys the compute instance then the GPU instance; refused while processes use it.
    pub fn destroy(&mut self, gpu: GpuIndex, gi: GiId) -> Result<(), BackendError> {
        let g = self.gpu_mut(gpu)?;
        let pos = g
            .instances
            .iter()
            .position(|i| i.gi == gi)
            .ok_or(BackendError::NoSuchInstance { gpu, gi })?;
        let live: Vec<u32> = g.instances[pos]
            .pids
            .iter()
            .copied()
            .filter(|p| crate::process::ProcRef::of(*p).is_some())
            .collect();
        if !live.is_empty() {
            return Err(BackendError::InUse {
                gpu,
                gi,
                pids: live,
            });
        }
        g.instances.remove(pos);
        Ok(())
    }

    pub fn info(&self, gpu: GpuIndex, i: &SimInstance) -> Result<InstanceInfo, BackendError> {
        let m = self.gpu(gpu)?.model()?;
        let size = m
            .profile_by_id(i.profile_id)
            .map(|p| p.memory_slices)
            .unwrap_or(0);
        Ok(InstanceInfo {
            gpu,
            gi: i.gi,
            ci: i.ci,
            profile_id: i.profile_id,
            start: i.start,
            size,
            uuid: i.uuid.clone(),
        })
    }
}
