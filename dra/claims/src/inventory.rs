//! The node's GPUs as the ResourceSlices publish them: from the same backend, catalog and
//! driver tables as the shim (the `nvml` backend merges the driver's profile tables into the
//! catalog model), so the devices published are the profiles and placements the driver has.

use crate::error;
use dynamig_dra_api::claim::ClaimError;
use dynamig_dra_api::inventory::{GpuInventory, Inventory, MigState};
use dynamig_node::backend::{GpuInfo, MigMode};
use dynamig_node::config::NodeConfig;
use dynamig_node::node::Node;
use dynamig_node::state::StateDir;

/// A GPU's MIG mode as published.
pub fn mig_state(m: MigMode) -> MigState {
    match (m.current, m.pending) {
        (true, true) => MigState::Enabled,
        (false, false) => MigState::Disabled,
        _ => MigState::Pending,
    }
}

/// The GPUs of `gpus` that dynamig can use (a GPU whose model it does not know is left out).
pub fn from_gpus(gpus: &[GpuInfo]) -> Inventory {
    Inventory {
        gpus: gpus
            .iter()
            .filter_map(|g| {
                Some(GpuInventory {
                    index: g.index,
                    uuid: g.uuid.clone(),
                    model: g.model?,
                    mig: mig_state(g.mig),
                })
            })
            .collect(),
    }
}

/// The node's inventory, read under the node lock.
pub fn inventory(cfg: &NodeConfig, dir: &StateDir) -> Result<Inventory, ClaimError> {
    let node = Node::open(cfg, dir).map_err(error::node)?;
    let inv = from_gpus(node.gpus());
    node.close();
    Ok(inv)
}
