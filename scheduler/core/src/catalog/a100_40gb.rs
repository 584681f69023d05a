//! NVIDIA A100-SXM4-40GB.
//!
//! Sources:
//! - Profiles (ids, instance counts, SMs, engines): NVIDIA MIG User Guide, "Supported MIG
//!   Profiles", A100-40GB table and its `nvidia-smi mig -lgip` example output.
//! - Placements: NVIDIA MIG User Guide (r580), "Getting Started", the `nvidia-smi mig -lgipp`
//!   output for A100-SXM4-40GB: ids 19 and 20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`,
//!   14 `{0,2,4}:2`, 9 `{0,4}:4`, 5 `{0}:4`, 0 `{0}:8`.
//! - Memory: pinned to driver 580.126.09 on A100-SXM4-40GB, whose `-lgip` prints
//!   4.75 / 9.75 / 19.62 / 39.38 GiB and whose MIG devices list 4864 / 9984 / 20096 MiB (the seed
//!   walkthrough's `2g.10gb` devices also show 9984 MiB). Some driver builds and PCIe boards report
//!   9856 / 19968 / 40192 instead, and PCIe sources show 7g.40gb as 39.50 GiB (40448 MiB); the
//!   NVML backend reads the live value and logs the difference. Details and every source:
//!   `docs/catalog-sources.md`.
//! - Total memory 40536 MiB: `nvidia-smi` on A100-SXM4-40GB (the seed walkthrough).

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "a100-40gb",
    name: "NVIDIA A100-SXM4-40GB",
    aliases: &["A100-SXM4-40GB", "NVIDIA A100-PCIE-40GB", "A100-PCIE-40GB"],
    memory_mib: 40536,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(7, 5, 0, 1, 1),
    driver: "580.126.09",
    profiles: &[
        Profile {
            name: "1g.5gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 4864,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 14,
            engines: Engines::new(1, 0, 0, 0, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.5gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 4864,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 14,
            engines: Engines::new(1, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.10gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 9984,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 14,
            engines: Engines::new(1, 1, 0, 0, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.10gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 9984,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 28,
            engines: Engines::new(2, 1, 0, 0, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.20gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 20096,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 42,
            engines: Engines::new(3, 2, 0, 0, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.20gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 20096,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 56,
            engines: Engines::new(4, 2, 0, 0, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.40gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 40320,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 98,
            engines: Engines::new(7, 5, 0, 1, 1),
            starts: &[0],
        },
    ],
};
