//! The simulated node: MIG GPUs modelled exactly on the catalog, persisted in
//! `<state dir>/sim.json` (the checked state-file format) so that separate processes see one
//! node. It refuses what NVML refuses: placements outside the table, occupied slices, too few
//! compute slices or engines, a profile at its instance limit, MIG off or pending, and destroying
//! an instance that processes still use.

use super::{
    gi_id_for, Backend, BackendError, BackendKind, DeviceNode, GpuInfo, InstanceInfo, MigMode,
};
use crate::state::file;
use dynamig_core::catalog::{self, GpuModel};
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use dynamig_core::layout::{Conflict, Usage};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Major numbers the simulation hands out. Real nodes read `nvidia-caps` from `/proc/devices`.
pub const NVIDIA_MAJOR: u32 = 195;
pub const CAPS_MAJOR: u32 = 509;
pub const UVM_MAJOR: u32 = 510;

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

/// The minors of `/proc/driver/nvidia-caps/mig-minors`: per GPU 15 GPU instances, each with its
/// own access minor followed by 8 compute-instance minors; minors 1 and 2 are `config` and
/// `monitor`.
pub fn cap_minor(gpu_minor: u32, gi: GiId, ci: Option<CiId>) -> u32 {
    let base = 3 + gpu_minor * 135 + gi.get() * 9;
    match ci {
        None => base,
        Some(c) => base + 1 + c.get(),
    }
}

/// The device nodes of a MIG device on a node with the given majors.
pub fn mig_device_nodes(
    gpu_minor: u32,
    gi: GiId,
    ci: CiId,
    caps_major: u32,
    uvm_major: u32,
) -> Vec<DeviceNode> {
    let gi_minor = cap_minor(gpu_minor, gi, None);
    let ci_minor = cap_minor(gpu_minor, gi, Some(ci));
    vec![
        DeviceNode {
            path: format!("/dev/nvidia-caps/nvidia-cap{gi_minor}"),
            major: caps_major,
            minor: gi_minor,
        },
        DeviceNode {
            path: format!("/dev/nvidia-caps/nvidia-cap{ci_minor}"),
            major: caps_major,
            minor: ci_minor,
        },
        DeviceNode {
            path: format!("/dev/nvidia{gpu_minor}"),
            major: NVIDIA_MAJOR,
            minor: gpu_minor,
        },
        DeviceNode {
            path: "/dev/nvidiactl".into(),
            major: NVIDIA_MAJOR,
            minor: 255,
        },
        DeviceNode {
            path: "/dev/nvidia-uvm".into(),
            major: uvm_major,
            minor: 0,
        },
        DeviceNode {
            path: "/dev/nvidia-uvm-tools".into(),
            major: uvm_major,
            minor: 1,
        },
    ]
}

/// The `sim` backend over `sim.json`.
pub struct SimBackend {
    path: PathBuf,
    node: SimNode,
}

impl SimBackend {
    /// Opens the simulated node at `path`; `Ok(None)` when none was created.
    pub fn open(path: &Path) -> Result<Option<SimBackend>, BackendError> {
        Ok(SimNode::load(path)?.map(|node| SimBackend {
            path: path.to_path_buf(),
            node,
        }))
    }

    pub fn node(&self) -> &SimNode {
        &self.node
    }

    fn save(&self) -> Result<(), BackendError> {
        self.node.save(&self.path)
    }
}

impl Backend for SimBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }

    fn driver_version(&self) -> Option<String> {
        Some(self.node.driver_version.clone()).filter(|v| !v.is_empty())
    }

    fn reload(&mut self) -> Result<(), BackendError> {
        if let Some(node) = SimNode::load(&self.path)? {
            self.node = node;
        }
        Ok(())
    }

    fn gpus(&mut self) -> Result<Vec<GpuInfo>, BackendError> {
        self.node
            .gpus
            .iter()
            .map(|g| {
                let m = g.model()?;
                Ok(GpuInfo {
                    index: g.index,
                    uuid: g.uuid.clone(),
                    name: m.name.to_string(),
                    model: Some(m),
                    minor: g.minor,
                    mig: g.mig,
                    persistence_mode: None,
                })
            })
            .collect()
    }

    fn instances(&mut self, gpu: GpuIndex) -> Result<Vec<InstanceInfo>, BackendError> {
        let g = self.node.gpu(gpu)?;
        g.instances.iter().map(|i| self.node.info(gpu, i)).collect()
    }

    fn placements(
        &mut self,
        gpu: GpuIndex,
        profile_id: ProfileId,
    ) -> Result<Vec<u8>, BackendError> {
        let m = self.node.gpu(gpu)?.model()?;
        let p = m
            .profile_by_id(profile_id)
            .ok_or(BackendError::UnknownProfile { gpu, profile_id })?;
        Ok(p.starts.to_vec())
    }

    fn create(
        &mut self,
        gpu: GpuIndex,
        profile_id: ProfileId,
        start: u8,
    ) -> Result<InstanceInfo, BackendError> {
        let gi = self.node.create_gi(gpu, profile_id, start)?;
        self.save()?;
        crate::fault::point("after-gi-create");
        self.node.create_ci(gpu, gi)?;
        self.save()?;
        let g = self.node.gpu(gpu)?;
        let inst = g
            .instances
            .iter()
            .find(|i| i.gi == gi)
            .ok_or(BackendError::NoSuchInstance { gpu, gi })?;
        self.node.info(gpu, inst)
    }

    fn destroy(&mut self, gpu: GpuIndex, gi: GiId) -> Result<(), BackendError> {
        self.node.destroy(gpu, gi)?;
        self.save()
    }

    fn device_nodes(
        &mut self,
        gpu: GpuIndex,
        gi: GiId,
        ci: CiId,
    ) -> Result<Vec<DeviceNode>, BackendError> {
        let g = self.node.gpu(gpu)?;
        if !g.instances.iter().any(|i| i.gi == gi && i.ci == Some(ci)) {
            return Err(BackendError::NoSuchInstance { gpu, gi });
        }
        Ok(mig_device_nodes(g.minor, gi, ci, CAPS_MAJOR, UVM_MAJOR))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_nvml_refuses_and_persists() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("sim.json");
        SimNode::new(&["a100-40gb"]).unwrap().save(&p).unwrap();
        let mut b = SimBackend::open(&p).unwrap().unwrap();
        // 3g.20gb (id 9) only at 0 or 4.
        assert!(matches!(
            b.create(GpuIndex(0), ProfileId(9), 2),
            Err(BackendError::InvalidPlacement { .. })
        ));
        let i = b.create(GpuIndex(0), ProfileId(9), 4).unwrap();
        assert_eq!(
            (i.gi, i.ci, i.start, i.size),
            (GiId(2), Some(CiId(0)), 4, 4)
        );
        assert!(i.uuid.starts_with("MIG-"));
        assert!(matches!(
            b.create(GpuIndex(0), ProfileId(14), 4),
            Err(BackendError::InsufficientResources { .. })
        ));
        // Another process sees the same node.
        let mut b2 = SimBackend::open(&p).unwrap().unwrap();
        assert_eq!(b2.instances(GpuIndex(0)).unwrap().len(), 1);
        // In use: refused while the pid lives.
        let mut n = SimNode::load(&p).unwrap().unwrap();
        n.gpus[0].instances[0].pids = vec![std::process::id()];
        n.save(&p).unwrap();
        let mut b3 = SimBackend::open(&p).unwrap().unwrap();
        assert!(matches!(
            b3.destroy(GpuIndex(0), GiId(2)),
            Err(BackendError::InUse { .. })
        ));
        let mut n = SimNode::load(&p).unwrap().unwrap();
        n.gpus[0].instances[0].pids.clear();
        n.gpus[0].mig.pending = false;
        n.save(&p).unwrap();
        let mut b4 = SimBackend::open(&p).unwrap().unwrap();
        b4.destroy(GpuIndex(0), GiId(2)).unwrap();
        assert!(matches!(
            b4.create(GpuIndex(0), ProfileId(9), 0),
            Err(BackendError::MigDisabled { .. })
        ));
        assert_eq!(
            b4.device_nodes(GpuIndex(0), GiId(2), CiId(0)),
            Err(BackendError::NoSuchInstance {
                gpu: GpuIndex(0),
                gi: GiId(2)
            })
        );
    }

    #[test]
    fn device_nodes_follow_the_mig_minors_table() {
        let n = mig_device_nodes(0, GiId(0), CiId(0), 235, 511);
        assert_eq!(n[0].path, "/dev/nvidia-caps/nvidia-cap3");
        assert_eq!(n[1].path, "/dev/nvidia-caps/nvidia-cap4");
        assert_eq!(cap_minor(0, GiId(1), None), 12);
        assert_eq!(cap_minor(1, GiId(0), None), 138);
    }
}
