//! NVIDIA H100 80GB HBM3 (SXM5).
//!
//! Sources:
//! - Profiles, memory and placements: `nvidia-smi mig -lgip` and `-lgipp` on an H100 80GB HBM3
//!   (drivers R570/R580: 9.75 / 19.62 / 39.50 / 79.25 GiB), as quoted in public issue threads;
//!   the MIG User Guide's H100 MPS example shows a 3g.40gb device of 40448 MiB on 580.65.06.
//!   Instance counts, SMs and engines: MIG User Guide, "GPU Instance Profiles on H100" table.
//!   Older drivers print 9.62 / 19.50 GiB; do not mix the two sets.
//! - Placements (`-lgipp`): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`,
//!   9 `{0,4}:4`, 5 `{0}:4`, 0 `{0}:8`.
//! - Total memory 81559 MiB: `nvidia-smi` on H100 80GB HBM3.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "h100-80gb",
    name: "NVIDIA H100 80GB HBM3",
    aliases: &["H100 80GB HBM3"],
    memory_mib: 81559,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(8, 7, 0, 7, 1),
    driver: "R570/R580",
    profiles: &[
        Profile {
            name: "1g.10gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 9984,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 16,
            engines: Engines::new(1, 1, 0, 1, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.10gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 9984,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 16,
            engines: Engines::new(1, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.20gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 20096,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 26,
            engines: Engines::new(1, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.20gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 20096,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 32,
            engines: Engines::new(2, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.40gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 40448,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 60,
            engines: Engines::new(3, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.40gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 40448,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 64,
            engines: Engines::new(4, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.80gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 81152,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 132,
            engines: Engines::new(8, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
