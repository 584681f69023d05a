//! What the node state records of the DRA kubelet plugin (`dynamig-dra`, docs/dra-node.md):
//! that the node is DRA-managed, the boot it was recorded in, and every claim it prepared or is
//! preparing. Absent from the state of a standalone node (and from files written before DRA);
//! older readers ignore it.
//!
//! A claim's devices are held by holders of the node state like any container's, one per
//! device: namespace [`holder_namespace`] (`dra:<claim namespace>`), id [`holder_id`]
//! (`<claim uid>-<device name>`, the CDI device name). They have no process: reconciliation
//! never releases them; only an unprepare (or the plugin's own reconciliation) does.

use dynamig_core::ids::GpuIndex;
use serde::{Deserialize, Serialize};

/// The prefix of the holder namespace of a claim's devices.
pub const HOLDER_NAMESPACE_PREFIX: &str = "dra:";

/// The holder namespace of the devices of a claim in Kubernetes namespace `claim_namespace`.
pub fn holder_namespace(claim_namespace: &str) -> String {
    format!("{HOLDER_NAMESPACE_PREFIX}{claim_namespace}")
}

/// The holder id of a claim's device: `<claim uid>-<device name>`.
pub fn holder_id(claim_uid: &str, device: &str) -> String {
    format!("{claim_uid}-{device}")
}

/// Whether a holder namespace is a claim's.
pub fn is_claim_namespace(namespace: &str) -> bool {
    namespace.starts_with(HOLDER_NAMESPACE_PREFIX)
}

/// The node is DRA-managed: it has this record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DraState {
    /// `/proc/sys/kernel/random/boot_id` when the plugin last started: a different boot means
    /// every MIG instance of the records below went with the reboot.
    pub boot_id: String,
    /// Unix time in milliseconds when the node became DRA-managed.
    #[serde(default)]
    pub since_ms: u64,
    #[serde(default)]
    pub claims: Vec<ClaimRecord>,
}

/// Where a claim is in its life on this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimPhase {
    /// A prepare started (written before any instance is created): a crash leaves it to be
    /// rolled back.
    Preparing,
    /// Every device exists and the CDI spec is written.
    Prepared,
    /// An unprepare started: a crash leaves it to be finished.
    Unpreparing,
}

/// One device of a claim, as prepared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDevice {
    /// The ResourceSlice device name (`gpu-0-mig-2g10gb-4`, `gpu-1`).
    pub device: String,
    pub pool: String,
    /// The claim's requests this device serves.
    pub requests: Vec<String>,
    pub gpu: GpuIndex,
    /// The MIG profile it is prepared as; `None` for a whole GPU whose MIG mode is off (the GPU
    /// itself, no instance).
    pub profile: Option<String>,
    /// The memory slices it covers: `start..start + size` (the whole GPU: all of them).
    pub start: u8,
    pub size: u8,
    /// The holder id of its instance (namespace: the claim's [`holder_namespace`]); `None` for
    /// a whole GPU without MIG.
    pub holder: Option<String>,
    /// `MIG-<uuid>` (or the GPU's `GPU-<uuid>`), once created.
    #[serde(default)]
    pub uuid: String,
}

/// A claim this node prepared or is preparing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub phase: ClaimPhase,
    pub devices: Vec<ClaimDevice>,
}

impl ClaimDevice {
    /// Whether the two devices share a memory slice of a GPU.
    pub fn overlaps(&self, other: &ClaimDevice) -> bool {
        self.gpu == other.gpu
            && self.start < other.start.saturating_add(other.size)
            && other.start < self.start.saturating_add(self.size)
    }
}

impl DraState {
    pub fn claim(&self, uid: &str) -> Option<&ClaimRecord> {
        self.claims.iter().find(|c| c.uid == uid)
    }

    pub fn claim_mut(&mut self, uid: &str) -> Option<&mut ClaimRecord> {
        self.claims.iter_mut().find(|c| c.uid == uid)
    }
}
