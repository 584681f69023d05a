//! What the DRA plugin (`dra/claims`, docs/dra-node.md) asks of the node core, under the same
//! lock, intents and state as the shim: an instance at exactly the placement the Kubernetes
//! scheduler chose (never an eviction: the scheduler's counters already say the room is free,
//! and where the node disagrees, the claim is refused or retried, never made room for), the
//! release of a claim's holder, the device nodes of a whole GPU without MIG, the state writes
//! of the claim records, and the DRA-managed mode that turns the standalone paths off.

use super::{AllocSpec, Allocation, Node, NodeError};
use crate::backend::{sim, BackendError, BackendKind, DeviceNode};
use crate::events::{now_ms, Event};
use crate::state::dra::{is_claim_namespace, DraState};
use crate::state::file::Durability;
use crate::state::{file, HolderKey, HolderState, Intent};
use dynamig_core::catalog::Profile;
use dynamig_core::ids::{GiId, GpuIndex};
use dynamig_core::request::{Request, Size};
use std::fmt;
use thiserror::Error;

/// Who has (part of) the room a claim's device needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Occupant {
    /// Another claim's device (its holder).
    Claim(HolderKey),
    /// A standalone holder (a container of the shim or `dynamig-runc`, a `dynamigctl allocate`).
    Holder(HolderKey),
    /// An instance that is leaving: being destroyed (a destroy the driver answered "in use"
    /// and that the next entry point finishes) or a victim of an eviction in flight.
    Leaving { gi: GiId, holder: Option<HolderKey> },
    /// Room an eviction in flight reserves for its requester.
    Reserved(HolderKey),
    /// An instance dynamig did not make (an administrator's `nvidia-smi mig -cgi`).
    Foreign { gi: GiId, profile: String },
}

impl Occupant {
    /// Whether the room may free itself soon (worth the kubelet's retry).
    pub fn is_transient(&self) -> bool {
        matches!(self, Occupant::Leaving { .. } | Occupant::Reserved(_))
    }
}

impl fmt::Display for Occupant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Occupant::Claim(k) => write!(f, "claim device {k}"),
            Occupant::Holder(k) => write!(f, "standalone holder {k}"),
            Occupant::Leaving {
                gi,
                holder: Some(k),
            } => {
                write!(f, "GPU instance {gi} of {k}, still being destroyed")
            }
            Occupant::Leaving { gi, holder: None } => {
                write!(f, "GPU instance {gi}, still being destroyed")
            }
            Occupant::Reserved(k) => write!(f, "room reserved by an eviction for {k}"),
            Occupant::Foreign { gi, profile } => write!(
                f,
                "GPU instance {gi} ({profile}), which dynamig did not make (an administrator's?)"
            ),
        }
    }
}

/// Why an instance cannot be made at exactly a placement.
#[derive(Debug, Error)]
pub enum ExactError {
    #[error("GPU {gpu}: {why}")]
    NotUsable { gpu: GpuIndex, why: String },
    #[error("GPU {gpu}: {profile} at memory slice {start} is taken by {by}")]
    Occupied {
        gpu: GpuIndex,
        profile: String,
        start: u8,
        by: Occupant,
    },
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl Node {
    /// Whether the node is DRA-managed (docs/dra-node.md).
    pub fn dra_managed(&self) -> bool {
        self.state.dra.is_some()
    }

    /// The standalone paths (the shim, `dynamig-runc`, `dynamigctl allocate`) refuse to
    /// allocate on a DRA-managed node.
    pub(super) fn refuse_if_dra_managed(&self) -> Result<(), NodeError> {
        if self.dra_managed() {
            return Err(NodeError::DraManaged);
        }
        Ok(())
    }

    /// Makes the node DRA-managed (if it is not yet) and records `boot_id`; returns the boot
    /// id recorded before (`None`: the node was standalone). Written at once.
    pub fn set_dra_managed(&mut self, boot_id: &str) -> Result<Option<String>, NodeError> {
        let before = self.state.dra.as_ref().map(|d| d.boot_id.clone());
        let dra = self.state.dra.get_or_insert_with(|| DraState {
            since_ms: now_ms(),
            ..DraState::default()
        });
        dra.boot_id = boot_id.to_string();
        if before.is_none() {
            self.event(Event::new(
                "dra-managed",
                "the DRA plugin manages this node",
            ));
        }
        self.write_claims()?;
        Ok(before)
    }

    /// Makes the node standalone again: refused while it has claims, or holders of claims.
    pub fn set_standalone(&mut self) -> Result<bool, NodeError> {
        let Some(dra) = &self.state.dra else {
            return Ok(false);
        };
        let held = self
            .state
            .holders
            .iter()
            .filter(|h| is_claim_namespace(&h.namespace))
            .count();
        let claims = dra.claims.len();
        if claims > 0 || held > 0 {
            return Err(NodeError::ClaimsPrepared {
                claims: claims.max(held),
            });
        }
        self.state.dra = None;
        self.event(Event::new("standalone", "the node is standalone again"));
        self.save()?;
        Ok(true)
    }

    /// Writes the state after a change to the claim records, forced to disk before it returns
    /// (a claim record is written before the hardware changes it describes).
    pub fn write_claims(&mut self) -> Result<(), NodeError> {
        file::write_with(&self.dir.state_file(), &self.state, Durability::Barrier)?;
        Ok(())
    }

    /// Who has room that `profile` at `start` on `gpu` would take, if anyone.
    pub fn occupant(&self, gpu: GpuIndex, profile: &Profile, start: u8) -> Option<Occupant> {
        let end = start.saturating_add(profile.memory_slices);
        let overlaps = |s: u8, size: u8| s < end && start < s.saturating_add(size);
        let model = self.gpus.get(gpu.slot()).and_then(|g| g.model);
        if let Some(e) = self.state.evictions.iter().find(|e| {
            e.gpu == gpu
                && model
                    .and_then(|m| m.profile_by_id(e.profile_id))
                    .is_some_and(|p| overlaps(e.start, p.memory_slices))
        }) {
            return Some(Occupant::Reserved(e.key()));
        }
        let i = self
            .hw_instances(gpu)
            .iter()
            .find(|i| overlaps(i.start, i.size))?;
        let destroying =
            self.state.intents.iter().any(
                |x| matches!(x, Intent::Destroy { gpu: g, gi, .. } if *g == gpu && *gi == i.gi),
            );
        let holder = self.state.holder_of(gpu, i.gi);
        if destroying || holder.is_some_and(|h| h.state == HolderState::Preempting) {
            return Some(Occupant::Leaving {
                gi: i.gi,
                holder: holder.map(|h| h.key()),
            });
        }
        Some(match holder {
            Some(h) if is_claim_namespace(&h.namespace) => Occupant::Claim(h.key()),
            Some(h) => Occupant::Holder(h.key()),
            None => Occupant::Foreign {
                gi: i.gi,
                profile: model
                    .and_then(|m| m.profile_by_id(i.profile_id))
                    .map(|p| p.name.to_string())
                    .unwrap_or_else(|| format!("profile id {}", i.profile_id)),
            },
        })
    }

    /// Creates `profile` at exactly `start` on `gpu` for holder `key`, as an allocation does
    /// (the write-ahead intent, the backend's create, the holder recorded), without planning
    /// and never evicting. The holder has no process: only its release ends it.
    pub fn create_exact(
        &mut self,
        key: &HolderKey,
        gpu: GpuIndex,
        profile: &'static Profile,
        start: u8,
    ) -> Result<Allocation, ExactError> {
        let not_usable = |why: &str| ExactError::NotUsable {
            gpu,
            why: why.to_string(),
        };
        let g = self
            .gpus
            .get(gpu.slot())
            .ok_or_else(|| not_usable("no such GPU on this node"))?;
        if g.model.is_none() {
            return Err(not_usable("its model is not one dynamig knows"));
        }
        if !g.mig.usable() {
            return Err(not_usable(if g.mig.current != g.mig.pending {
                "a MIG mode change waits for a GPU reset"
            } else {
                "MIG is not enabled"
            }));
        }
        if let Some(by) = self.occupant(gpu, profile, start) {
            return Err(ExactError::Occupied {
                gpu,
                profile: profile.name.to_string(),
                start,
                by,
            });
        }
        if self.state.holder(key).is_some() {
            return Err(NodeError::AlreadyHeld(key.clone()).into());
        }
        let mut request = Request::new(Size::Profile {
            name: profile.name.to_string(),
        });
        request.preemptible = false;
        let spec = AllocSpec {
            id: key.id.clone(),
            namespace: key.namespace.clone(),
            request,
            process: None,
            creator: None,
        };
        self.check_ids(&spec)?;
        self.create_for(spec, gpu, profile, start, Vec::new(), false)
            .map_err(ExactError::Node)
    }

    /// Destroys a claim holder's instance (bracketed by a destroy intent; retried while NVML
    /// says it is in use) and forgets the holder. A holder that is gone is success.
    pub fn release_claim_holder(&mut self, key: &HolderKey, why: &str) -> Result<(), NodeError> {
        self.release_holder(key, why)
    }

    /// The device nodes of the whole GPU `gpu` (MIG off): the GPU, `nvidiactl`, `nvidia-uvm`
    /// and `nvidia-uvm-tools`.
    pub fn whole_gpu_device_nodes(&self, gpu: GpuIndex) -> Result<Vec<DeviceNode>, NodeError> {
        let g = self
            .gpus
            .get(gpu.slot())
            .ok_or(BackendError::NoSuchGpu(gpu))?;
        let (nvidia, uvm) = match self.backend.kind() {
            BackendKind::Sim => (sim::NVIDIA_MAJOR, sim::UVM_MAJOR),
            BackendKind::Nvml => {
                let m = self.cfg.proc_tree().majors()?;
                let uvm = m.uvm.ok_or_else(|| {
                    BackendError::Io(
                        "no nvidia-uvm major in the proc tree's devices: load nvidia-uvm".into(),
                    )
                })?;
                (m.nvidia, uvm)
            }
        };
        let node = |path: String, major: u32, minor: u32| DeviceNode { path, major, minor };
        Ok(vec![
            node(format!("/dev/nvidia{}", g.minor), nvidia, g.minor),
            node("/dev/nvidiactl".into(), nvidia, 255),
            node("/dev/nvidia-uvm".into(), uvm, 0),
            node("/dev/nvidia-uvm-tools".into(), uvm, 1),
        ])
    }

    /// Appends an event to what [`Node::close`] writes (the DRA plugin's prepares, unprepares
    /// and reconciliation).
    pub fn note(&mut self, kind: &str, message: impl Into<String>, key: Option<&HolderKey>) {
        let mut e = Event::new(kind, message);
        if let Some(k) = key {
            e = e.holder(k);
        }
        self.event(e);
    }
}

impl Node {
    /// The device nodes and `MIG-<uuid>` of holder `key`'s instance.
    pub fn holder_device(
        &mut self,
        key: &HolderKey,
    ) -> Result<(Vec<DeviceNode>, String), NodeError> {
        let inst = self
            .state
            .holder(key)
            .and_then(|h| h.instance.clone())
            .ok_or_else(|| NodeError::NoSuchHolder(key.clone()))?;
        let nodes = self
            .backend
            .device_nodes(inst.planned.gpu, inst.live.gi, inst.live.ci)?;
        Ok((nodes, inst.live.uuid))
    }
}
