//! What the tests share: an in-memory claim source, a simulated node in a temp dir, and
//! readers of what a user would look at (the hardware, the CDI directory, the node state).

#![allow(dead_code)]

use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::claim::{AllocatedDevice, ClaimAllocation, ClaimError, ClaimRef, ClaimSource};
use dynamig_dra_api::DRIVER_NAME;
use dynamig_dra_claims::{ClaimsPreparer, Options};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::backend::BackendChoice;
use dynamig_node::config::NodeConfig;
use dynamig_node::driver_stack::Settings;
use dynamig_node::state::{file, NodeState, StateDir};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const NODE: &str = "node-a";

/// Claims as the API server has them, by (namespace, name).
#[derive(Default)]
pub struct MemSource {
    claims: Mutex<HashMap<(String, String), ClaimAllocation>>,
    /// When set, every read fails retryably (the API server does not answer).
    pub down: Mutex<bool>,
}

impl MemSource {
    pub fn put(&self, c: &ClaimRef, devices: &[&str]) {
        self.put_pool(c, devices, NODE);
    }

    pub fn put_pool(&self, c: &ClaimRef, devices: &[&str], pool: &str) {
        let a = ClaimAllocation {
            uid: c.uid.clone(),
            devices: devices
                .iter()
                .enumerate()
                .map(|(i, d)| AllocatedDevice {
                    request: format!("r{i}"),
                    driver: DRIVER_NAME.into(),
                    pool: pool.into(),
                    device: d.to_string(),
                })
                .collect(),
        };
        self.put_alloc(c, a);
    }

    pub fn put_alloc(&self, c: &ClaimRef, a: ClaimAllocation) {
        self.claims
            .lock()
            .unwrap()
            .insert((c.namespace.clone(), c.name.clone()), a);
    }

    pub fn delete(&self, c: &ClaimRef) {
        self.claims
            .lock()
            .unwrap()
            .remove(&(c.namespace.clone(), c.name.clone()));
    }
}

impl ClaimSource for MemSource {
    fn allocation(&self, c: &ClaimRef) -> Result<Option<ClaimAllocation>, ClaimError> {
        if *self.down.lock().unwrap() {
            return Err(ClaimError::Retryable(
                "the API server does not answer".into(),
            ));
        }
        Ok(self
            .claims
            .lock()
            .unwrap()
            .get(&(c.namespace.clone(), c.name.clone()))
            .cloned())
    }
}

pub fn claim(name: &str, uid: &str) -> ClaimRef {
    ClaimRef {
        namespace: "default".into(),
        name: name.into(),
        uid: uid.into(),
    }
}

/// A simulated node (`models`, one GPU each) with its state dir, a CDI output dir and an
/// empty NVIDIA CDI dir.
pub struct Sim {
    pub tmp: tempfile::TempDir,
    pub dir: StateDir,
    pub cfg: NodeConfig,
    pub cdi: PathBuf,
    pub nvidia_cdi: PathBuf,
    pub source: Arc<MemSource>,
}

impl Sim {
    pub fn new(models: &[&str]) -> Sim {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(&tmp.path().join("state")).unwrap();
        SimNode::new(models).unwrap().save(&dir.sim_file()).unwrap();
        let nvidia_cdi = tmp.path().join("nvidia-cdi");
        std::fs::create_dir_all(&nvidia_cdi).unwrap();
        let mut cfg = NodeConfig::at(dir.path());
        cfg.backend = Ok(BackendChoice::Sim);
        cfg.driver_stack = Settings::parse(None, Some(nvidia_cdi.clone().into_os_string()), None);
        Sim {
            cdi: tmp.path().join("cdi"),
            tmp,
            dir,
            cfg,
            nvidia_cdi,
            source: Arc::new(MemSource::default()),
        }
    }

    pub fn options(&self, boot: &str) -> Options {
        let mut o = Options::new(NODE, boot);
        o.cdi_dir = self.cdi.clone();
        o
    }

    pub fn preparer(&self, boot: &str) -> ClaimsPreparer {
        ClaimsPreparer::new(
            &self.cfg,
            self.dir.clone(),
            self.options(boot),
            self.source.clone(),
        )
    }

    /// A started preparer.
    pub fn started(&self, boot: &str) -> ClaimsPreparer {
        let p = self.preparer(boot);
        p.start().unwrap();
        p
    }

    pub fn hardware(&self) -> SimNode {
        SimNode::load(&self.dir.sim_file()).unwrap().unwrap()
    }

    pub fn edit_hardware(&self, f: impl FnOnce(&mut SimNode)) {
        let mut n = self.hardware();
        f(&mut n);
        n.save(&self.dir.sim_file()).unwrap();
    }

    /// (gpu, profile name, start) of every instance on the simulated GPUs.
    pub fn instances(&self) -> Vec<(u32, String, u8)> {
        let n = self.hardware();
        let mut v = Vec::new();
        for g in &n.gpus {
            let m = g.model().unwrap();
            for i in &g.instances {
                v.push((
                    g.index.get(),
                    m.profile_by_id(i.profile_id).unwrap().name.to_string(),
                    i.start,
                ));
            }
        }
        v.sort();
        v
    }

    pub fn state(&self) -> NodeState {
        file::read(&self.dir.state_file())
            .unwrap()
            .unwrap_or_default()
    }

    /// The claim uids with a CDI spec.
    pub fn specs(&self) -> Vec<String> {
        dynamig_dra_claims::cdi::list(&self.cdi).unwrap()
    }

    pub fn spec(&self, uid: &str) -> serde_json::Value {
        read_json(&dynamig_dra_claims::cdi::spec_path(&self.cdi, uid))
    }

    pub fn gpu_uuid(&self, gpu: u32) -> String {
        self.hardware()
            .gpu(GpuIndex::new(gpu))
            .unwrap()
            .uuid
            .clone()
    }
}

pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}
