//! What the node reports of its GPUs: the input from which `dra/slices` builds the
//! ResourceSlices. Filled by `dra/claims` from the node (the same backend, catalog and driver
//! tables as the shim), so the devices published are exactly the profiles and placements the
//! driver reports.

use dynamig_core::catalog::GpuModel;
use dynamig_core::ids::GpuIndex;

/// A GPU's MIG mode, as published: only `Enabled` GPUs' MIG devices are schedulable; the others
/// are published tainted so the scheduler does not place claims on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigState {
    /// MIG on, no change pending.
    Enabled,
    /// MIG off, no change pending.
    Disabled,
    /// A mode change waits for a GPU reset (either direction).
    Pending,
}

/// One GPU of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInventory {
    pub index: GpuIndex,
    /// `GPU-...` as NVML reports it.
    pub uuid: String,
    /// The model to publish: its profiles and placements are the devices.
    pub model: &'static GpuModel,
    pub mig: MigState,
}

/// The node's GPUs, in index order. Two inventories that are equal publish the same slices; a
/// change (a GPU's MIG mode, a GPU gone) is what makes the publisher bump the pool generation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inventory {
    pub gpus: Vec<GpuInventory>,
}
