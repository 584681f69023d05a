//! NVIDIA GH200 144G HBM3e (the H100 of a GH200 with 144 GB HBM3e).
//!
//! Sources:
//! - 1g.18gb, 1g.18gb+me, 1g.36gb, 2g.36gb: `nvidia-smi mig -lgip` rows in NVIDIA/mig-parted PR
//!   #139 and gpu-operator PR #1057 (2024-10-23; partial output): 17.50 / 35.25 GiB = 17920 /
//!   36096 MiB, SMs 16 / 26 / 32.
//! - 3g.72gb, 4g.72gb, 7g.144gb: names and instance counts from NVIDIA/mig-parted
//!   `deployments/systemd/config-default.yaml` (device 0x234810DE); no `-lgip` row seen. Ids are a
//!   GUESS (the Hopper 9 / 5 / 0), memory a GUESS (two and four times 2g.36gb's), SMs and engines a
//!   GUESS (the H100's 60 / 64 / 132 and 3 / 4 / 7 decoders).
//! - Placements: GUESS, the H100 geometry (no `nvidia-smi mig -lgipp` for this model was
//!   found): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`, 9 `{0,4}:4`, 5 `{0}:4`,
//!   0 `{0}:8`. On a real node the NVML backend plans with the driver's placements and logs every
//!   difference (`scheduler/node/src/backend/tables/`).
//! - Total memory: GUESS, the 7g.144gb profile's.
//! - Collected rows: `shared/reference/mig-gi-profiles-more-models.csv` (each row names its
//!   source); "GUESS" marks a value no source gave.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "gh200-144gb",
    name: "NVIDIA GH200 144G HBM3e",
    aliases: &["GH200 144G HBM3e"],
    memory_mib: 144384,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(8, 7, 0, 7, 1),
    driver: "unnamed (mig-parted #139)",
    profiles: &[
        Profile {
            name: "1g.18gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 17920,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 16,
            engines: Engines::new(1, 1, 0, 1, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.18gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 17920,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 16,
            engines: Engines::new(1, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.36gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 36096,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 26,
            engines: Engines::new(1, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.36gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 36096,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 32,
            engines: Engines::new(2, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.72gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 72192,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 60,
            engines: Engines::new(3, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.72gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 72192,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 64,
            engines: Engines::new(4, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.144gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 144384,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 132,
            engines: Engines::new(8, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
