//! NVIDIA H200 (141 GB).
//!
//! Sources:
//! - Profiles and memory: `nvidia-smi mig -lgip` on an H200 quoted in NVIDIA/mig-parted issue
//!   #120 (16.00 / 32.25 / 69.50 / 139.75 GiB; the only complete, self-consistent set; the driver
//!   is not named there). Driver 570.86.15 reports 2g.35gb as 33280 MiB and 7g.141gb as 143360
//!   MiB; its 1g.35gb / 3g.71gb / 4g.71gb values were not found, so that set is not used.
//!   Instance counts, SMs and engines: MIG User Guide's H200 table.
//! - Placements: no published H200 `-lgipp` was found; this is the H100 geometry (an inference:
//!   the MIG User Guide gives Hopper GPUs the same 8-memory-slice, 7-compute-slice layout).
//! - Placements (`-lgipp`): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`,
//!   9 `{0,4}:4`, 5 `{0}:4`, 0 `{0}:8`.
//! - Total memory 143771 MiB: `nvidia-smi` on H200.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "h200-141gb",
    name: "NVIDIA H200",
    aliases: &["H200"],
    memory_mib: 143771,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(8, 7, 0, 7, 1),
    driver: "unnamed (mig-parted #120)",
    profiles: &[
        Profile {
            name: "1g.18gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 16384,
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
            memory_mib: 16384,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 16,
            engines: Engines::new(1, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.35gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 33024,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 26,
            engines: Engines::new(1, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.35gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 33024,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 32,
            engines: Engines::new(2, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.71gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 71168,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 60,
            engines: Engines::new(3, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.71gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 71168,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 64,
            engines: Engines::new(4, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.141gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 143104,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 132,
            engines: Engines::new(8, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
