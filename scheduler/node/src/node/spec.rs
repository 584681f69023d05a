//! What an allocation asks for ([`AllocSpec`]) and what it is given ([`Allocation`]).

use crate::backend::DeviceNode;
use crate::phases::Phases;
use crate::process::ProcRef;
use crate::state::HolderKey;
use dynamig_core::ids::{CiId, GiId, GpuIndex};
use dynamig_core::request::Request;
use serde::Serialize;

/// Checks a holder id or namespace; they are names, never paths or commands.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && id.chars().all(|c| c.is_ascii_graphic())
}

/// What an allocation asks for.
#[derive(Debug, Clone)]
pub struct AllocSpec {
    pub id: String,
    pub namespace: String,
    pub request: Request,
    /// The process whose life is the holder's life, when already known.
    pub process: Option<ProcRef>,
    /// The process creating the holder's container, until `process` is known.
    pub creator: Option<ProcRef>,
}

impl AllocSpec {
    pub fn key(&self) -> HolderKey {
        HolderKey::new(&self.namespace, &self.id)
    }
}

/// A granted MIG device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub id: String,
    pub namespace: String,
    pub gpu: GpuIndex,
    pub gpu_uuid: String,
    pub profile: String,
    pub placement: Placement,
    pub gi: GiId,
    pub ci: CiId,
    pub uuid: String,
    /// The evicted holders' ids (as before holders had namespaces); `evict_holders` says whose.
    pub evict: Vec<String>,
    pub evict_holders: Vec<HolderKey>,
    pub device_nodes: Vec<DeviceNode>,
    /// Where the allocation's time went (the caller adds `spec_edit`).
    pub phases: Phases,
}

/// Where on its GPU an instance is: its first memory slice and how many it spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub start: u8,
    pub size: u8,
}
