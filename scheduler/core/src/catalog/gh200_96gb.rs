//! NVIDIA GH200 480GB (the H100 96 GB HBM3 of a Grace Hopper superchip).
//!
//! Sources:
//! - Profiles (ids, counts, memory, SMs, engines): `nvidia-smi mig -lgip` on a GH200 480GB in
//!   kf-cuanschutz's "NVIDIA Grace Hopper benchmarking logs" (driver not named): 11.00 / 23.00 /
//!   46.50 / 93.00 GiB = 11264 / 23552 / 47616 / 95232 MiB; the MIG User Guide's "H100 96GB (H100
//!   on GH200)" table agrees on counts, SMs and engines.
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
    key: "gh200-96gb",
    name: "NVIDIA GH200 480GB",
    aliases: &["GH200 480GB"],
    memory_mib: 95232,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(8, 7, 0, 7, 1),
    driver: "unnamed (Grace Hopper logs)",
    profiles: &[
        Profile {
            name: "1g.12gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 11264,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 16,
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
            sms: 16,
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
            sms: 26,
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
            sms: 32,
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
            sms: 60,
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
            sms: 64,
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
            sms: 132,
            engines: Engines::new(8, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
