//! The node's inventory: every GPU with its model and MIG mode, as the ResourceSlices publish.

mod common;

use common::Sim;
use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::inventory::MigState;
use dynamig_node::backend::MigMode;

#[test]
fn the_inventory_lists_each_gpu_with_its_model_and_mig_state() {
    let s = Sim::new(&["a100-40gb", "h100-80gb", "a100-40gb"]);
    s.edit_hardware(|n| {
        n.set_mig_mode(
            GpuIndex::new(1),
            MigMode {
                current: false,
                pending: false,
            },
        )
        .unwrap();
        // MIG enabled, a reset away from off.
        n.gpus[2].mig.pending = false;
    });
    let inv = dynamig_dra_claims::inventory(&s.cfg, &s.dir).unwrap();
    let got: Vec<(u32, &str, MigState)> = inv
        .gpus
        .iter()
        .map(|g| (g.index.get(), g.model.key, g.mig))
        .collect();
    assert_eq!(
        got,
        [
            (0, "a100-40gb", MigState::Enabled),
            (1, "h100-80gb", MigState::Disabled),
            (2, "a100-40gb", MigState::Pending),
        ]
    );
    assert_eq!(inv.gpus[0].uuid, s.gpu_uuid(0));
    assert_ne!(inv.gpus[0].uuid, inv.gpus[2].uuid);
}
