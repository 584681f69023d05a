//! NVIDIA A100-SXM4-80GB (and A100 80GB PCIe, which has the same MIG geometry).
//!
//! Sources:
//! - Profiles (ids, counts, SMs, engines): NVIDIA MIG User Guide, "Supported MIG Profiles",
//!   A100-80GB table.
//! - Memory: `nvidia-smi mig -lgip` on drivers 515.86.01 and 570.148.08 (9.50 / 19.50 / 39.25 /
//!   79.00 GiB), and MIG device memory on 570.148.08 (9728 / 19968 / 40192 MiB). `1g.20gb` is
//!   19.50 GiB in two real A100-SXM4-80GB `-lgip` outputs.
//! - Placements: identical slice geometry to the A100-40GB (MIG User Guide placement diagram
//!   for A100: 8 memory slices, 7 compute slices).
//! - Total memory 81920 MiB: `nvidia-smi` on A100-SXM4-80GB.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "a100-80gb",
    name: "NVIDIA A100-SXM4-80GB",
    aliases: &["A100-SXM4-80GB", "NVIDIA A100 80GB PCIe", "A100 80GB PCIe"],
    memory_mib: 81920,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(7, 5, 0, 1, 1),
    driver: "570.148.08",
    profiles: &[
        Profile {
            name: "1g.10gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 9728,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 14,
            engines: Engines::new(1, 0, 0, 0, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.10gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 9728,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 14,
            engines: Engines::new(1, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.20gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 19968,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 14,
            engines: Engines::new(1, 1, 0, 0, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.20gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 19968,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 28,
            engines: Engines::new(2, 1, 0, 0, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.40gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 40192,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 42,
            engines: Engines::new(3, 2, 0, 0, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.40gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 40192,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 56,
            engines: Engines::new(4, 2, 0, 0, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.80gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 80896,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 98,
            engines: Engines::new(7, 5, 0, 1, 1),
            starts: &[0],
        },
    ],
};
