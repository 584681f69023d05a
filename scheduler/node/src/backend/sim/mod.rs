//! The simulated node: MIG GPUs modelled exactly on the catalog, persisted in
//! `<state dir>/sim.json` (the checked state-file format) so that separate processes see one
//! node. It refuses what NVML refuses: placements outside the table, occupied slices, too few
//! compute slices or engines, a profile at its instance limit, MIG off or pending, and destroying
//! an instance that processes still use.
//!
//! By concern: `node` ([`SimNode`], its GPUs and instances, the rules that refuse what NVML
//! refuses, and its `sim.json` file, which `dynamigctl sim init` writes), `devices` (the
//! capability minors and device nodes of a MIG device), and the [`Backend`] over the file here.

mod devices;
mod node;

pub use devices::{cap_minor, mig_device_nodes, CAPS_MAJOR, NVIDIA_MAJOR, UVM_MAJOR};
pub use node::{SimGpu, SimInstance, SimNode, DEFAULT_DRIVER_VERSION};

use super::{Backend, BackendError, BackendKind, CreateTimes, DeviceNode, GpuInfo, InstanceInfo};
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use std::path::{Path, PathBuf};

/// The `sim` backend over `sim.json`.
pub struct SimBackend {
    path: PathBuf,
    node: SimNode,
    last_create: Option<CreateTimes>,
}

impl SimBackend {
    /// Opens the simulated node at `path`; `Ok(None)` when none was created.
    pub fn open(path: &Path) -> Result<Option<SimBackend>, BackendError> {
        Ok(SimNode::load(path)?.map(|node| SimBackend {
            path: path.to_path_buf(),
            node,
            last_create: None,
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
        let t = std::time::Instant::now();
        let gi = self.node.create_gi(gpu, profile_id, start)?;
        self.save()?;
        let gi_took = t.elapsed();
        crate::fault::point("after-gi-create");
        let t = std::time::Instant::now();
        self.node.create_ci(gpu, gi)?;
        self.save()?;
        let g = self.node.gpu(gpu)?;
        let inst = g
            .instances
            .iter()
            .find(|i| i.gi == gi)
            .ok_or(BackendError::NoSuchInstance { gpu, gi })?;
        let info = self.node.info(gpu, inst)?;
        self.last_create = Some(CreateTimes {
            gi: gi_took,
            ci: t.elapsed(),
        });
        Ok(info)
    }

    fn last_create(&self) -> Option<CreateTimes> {
        self.last_create
    }

    fn processes_on(&mut self, gpu: GpuIndex, gi: GiId) -> Result<Vec<u32>, BackendError> {
        Ok(self
            .node
            .gpu(gpu)?
            .instances
            .iter()
            .find(|i| i.gi == gi)
            .map(|i| i.pids.clone())
            .unwrap_or_default())
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
