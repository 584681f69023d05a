//! NVIDIA H20 (96 GB). The least sourced Hopper here: no `-lgip` output and no H20 table in the
//! MIG User Guide were found.
//!
//! Sources:
//! - Profile names: Project-HAMi/HAMi's scheduler device config (models `H20` and `H100 on GH200`
//!   share 1g.12gb, 2g.24gb, 3g.48gb, 7g.96gb) and NVIDIA/mig-parted's `config-default.yaml`
//!   all-balanced comment "H100-96GB, PG506-96GB, GH200, H20" (device 0x232910DE); seven instances
//!   at most: the MIG User Guide's "Supported GPUs" (H20 96GB).
//! - GUESS: that the H20 has the full H100 96 GB set (1g.12gb+me, 1g.24gb, 4g.48gb are not named
//!   for it anywhere), the Hopper ids, the instance counts, engines and memory of this catalog's
//!   GH200 96GB, and SMs scaled to the H20's 78 (9 / 15 / 19 / 35 / 38 / 78).
//! - Placements: GUESS, the H100 geometry (no `nvidia-smi mig -lgipp` for this model was
//!   found): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`, 9 `{0,4}:4`, 5 `{0}:4`,
//!   0 `{0}:8`. On a real node the NVML backend plans with the driver's placements and logs every
//!   difference (`scheduler/node/src/backend/tables/`).
//! - Total memory: GUESS, the 7g.96gb profile's.
//! - Collected rows: `shared/reference/mig-gi-profiles-more-models.csv` (each row names its
//!   source); "GUESS" marks a value no source gave.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "h20-96gb",
    name: "NVIDIA H20",
    aliases: &["H20"],
    memory_mib: 95232,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(8, 7, 0, 7, 1),
    driver: "none seen",
    profiles: &[
        Profile {
            name: "1g.12gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 11264,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 9,
            engines: Engines::new(1, 1, 0, 1, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.12gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 11264,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 9,
            engines: Engines::new(1, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.24gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 23552,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 15,
            engines: Engines::new(1, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.24gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 23552,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 19,
            engines: Engines::new(2, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.48gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 47616,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 35,
            engines: Engines::new(3, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.48gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 47616,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 38,
            engines: Engines::new(4, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.96gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 95232,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 78,
            engines: Engines::new(8, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
