//! NVIDIA H100 NVL (94 GB).
//!
//! Sources:
//! - Profiles and memory: `nvidia-smi mig -lgip` (10.75 / 21.62 / 46.38 / 93.12 GiB) and MIG device
//!   memory on an H100 NVL with driver 560.35.03, the same figures as NVIDIA's own gpu-operator
//!   PRs #900/#903 and mig-parted PR #101. An older Go test fixture (no driver named) shows
//!   10.62 / 21.50 / 46.12 / 92.62 GiB.
//! - Placements: `nvidia-smi mig -lgipp` on an H100 NVL, the same geometry as the H100 80GB.
//! - Placements (`-lgipp`): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`,
//!   9 `{0,4}:4`, 5 `{0}:4`, 0 `{0}:8`.
//! - Total memory 95830 MiB: `nvidia-smi` on H100 NVL.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "h100-94gb",
    name: "NVIDIA H100 NVL",
    aliases: &["H100 NVL"],
    memory_mib: 95830,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(8, 7, 0, 7, 1),
    driver: "560.35.03",
    profiles: &[
        Profile {
            name: "1g.12gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 11008,
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
            memory_mib: 11008,
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
            memory_mib: 22144,
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
            memory_mib: 22144,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 32,
            engines: Engines::new(2, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.47gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 47488,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 60,
            engines: Engines::new(3, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.47gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 47488,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 64,
            engines: Engines::new(4, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.94gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 95360,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 132,
            engines: Engines::new(8, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
