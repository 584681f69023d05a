//! The models added after the first six, served by the fake libnvidia-ml.so.1 at NVML 13's
//! `NVML_GPU_INSTANCE_PROFILE_*` indices and read back through the `nvml` backend: the driver's
//! tables equal the catalog's, and the RTX PRO 6000 Blackwell's 12-unit placement grid and its
//! engine variants behave as the driver's do.

mod common;

use common::{run, Fake};
use dynamig_core::catalog::model_by_key;
use dynamig_core::ids::{GpuIndex, ProfileId};
use dynamig_node::backend::nvml::{catalog_differences, NvmlBackend};
use dynamig_node::backend::{Backend, BackendError};
use dynamig_node::config::NodeConfig;

const NEW: [&str; 8] = [
    "rtx-pro-6000-bse",
    "b200-180gb",
    "gb200-186gb",
    "gh200-96gb",
    "gh200-144gb",
    "h20-96gb",
    "b300",
    "gb300",
];

fn open() -> NvmlBackend {
    match NvmlBackend::open(NodeConfig::from_env().proc_tree()) {
        Ok(b) => b,
        Err(e) => panic!("the fake NVML did not open: {e}"),
    }
}

#[test]
fn every_new_model_is_served_as_the_catalog_has_it() {
    run(
        "every_new_model_is_served_as_the_catalog_has_it",
        || Fake::new(&NEW, true),
        || {
            let mut b = open();
            let gpus = b.gpus().unwrap();
            assert_eq!(gpus.len(), NEW.len());
            for (g, key) in gpus.iter().zip(NEW) {
                let catalog = model_by_key(key).unwrap();
                assert_eq!(g.name, catalog.name);
                // The driver agrees with the catalog, so the node plans with the catalog itself.
                assert_eq!(g.model.map(|m| m.key), Some(key));
                let prof = b.driver_profiles(g.index).unwrap();
                assert_eq!(prof.len(), catalog.profiles.len(), "{key}");
                assert_eq!(
                    catalog_differences(catalog, &prof),
                    Vec::<String>::new(),
                    "{key}"
                );
                for p in catalog.profiles {
                    let d = prof.iter().find(|d| d.id == p.id).unwrap();
                    assert_eq!(d.index, p.index, "{key} {}", p.name);
                }
            }
        },
    );
}

#[test]
fn rtx_pro_6000_profiles_sit_at_nvml_13_indices_on_a_12_unit_grid() {
    run(
        "rtx_pro_6000_profiles_sit_at_nvml_13_indices_on_a_12_unit_grid",
        || Fake::new(&["rtx-pro-6000-bse"], true),
        || {
            let mut b = open();
            let prof = b.driver_profiles(GpuIndex(0)).unwrap();
            let index_of = |id: u32| prof.iter().find(|d| d.id == ProfileId(id)).unwrap().index;
            // nvml.h (NVML 13): 1_SLICE 0, 2_SLICE 1, 4_SLICE 3, 1_SLICE_REV1 7, *_GFX 0x0A-0x0C,
            // *_NO_ME 0x0D-0x0E, *_ALL_ME 0x0F-0x10; ids from the driver's `-lgip`.
            let want = [
                (14, 0),
                (5, 1),
                (0, 3),
                (21, 7),
                (47, 0x0A),
                (35, 0x0B),
                (32, 0x0C),
                (67, 0x0D),
                (66, 0x0E),
                (65, 0x0F),
                (64, 0x10),
            ];
            for (id, index) in want {
                assert_eq!(index_of(id), index, "profile id {id}");
            }
            let one_g = ProfileId(14);
            assert_eq!(b.placements(GpuIndex(0), one_g).unwrap(), vec![0, 3, 6, 9]);
            assert_eq!(b.placements(GpuIndex(0), ProfileId(5)).unwrap(), vec![0, 6]);
            let all_me = b.create(GpuIndex(0), ProfileId(65), 0).unwrap();
            assert_eq!((all_me.start, all_me.size), (0, 3));
            // Beside 1g.24gb+me.all only the engine-less `-me` profiles fit.
            assert!(matches!(
                b.create(GpuIndex(0), one_g, 3),
                Err(BackendError::InsufficientResources { .. })
            ));
            assert!(matches!(
                b.create(GpuIndex(0), ProfileId(47), 3),
                Err(BackendError::InsufficientResources { .. })
            ));
            let no_me = b.create(GpuIndex(0), ProfileId(67), 3).unwrap();
            assert_eq!((no_me.start, no_me.size), (3, 3));
            assert!(matches!(
                b.create(GpuIndex(0), ProfileId(66), 4),
                Err(BackendError::InvalidPlacement { .. })
            ));
            let two_no_me = b.create(GpuIndex(0), ProfileId(66), 6).unwrap();
            assert_eq!((two_no_me.start, two_no_me.size), (6, 6));
            assert_eq!(b.instances(GpuIndex(0)).unwrap().len(), 3);
        },
    );
}
