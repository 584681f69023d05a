//! NVIDIA B200 (180 GB).
//!
//! Sources:
//! - 1g.23gb, 1g.23gb+me, 1g.45gb, 2g.45gb (ids, counts, memory, SMs, engines): `nvidia-smi mig
//!   -lgip` on a B200 in NVIDIA/gpu-operator PR #1351 and mig-parted PR #187 (2025-03-20; driver
//!   not named): 20.50 / 44.25 GiB = 20992 / 45312 MiB; SMs and engines the same in the earlier
//!   gpu-operator PR #1242 / mig-parted #166. gpu-operator issue #2155's `nvidia-smi` shows the
//!   same 20992 and 45312 MiB and 2g.45gb's CE 4 / DEC 2 / JPG 2.
//! - 3g.90gb, 4g.90gb, 7g.180gb: instance counts and copy engines from the MIG User Guide's
//!   "Supported MIG Profiles" B200 table, ids from GoogleCloudPlatform/container-engine-accelerators
//!   `partition_gpu.go` (9, 5, 0). No `-lgip` row was seen: memory is a GUESS (two and four times
//!   2g.45gb's, as on Hopper), SMs are a GUESS (66, 72, and the B200's 148 for 7g).
//! - Disagreements: PR #1242 (an older driver) printed 1g.23gb as 22.00 GiB; this table follows
//!   the newer 20.50. The guide gives 2g.45gb CE 3 / DEC 1 / JPEG 1 and every larger profile one
//!   decoder and one JPEG engine; this table follows `-lgip` (CE 4 / DEC 2 / JPG 2, engines growing
//!   with the slices as on Hopper), for 3g/4g/7g by that pattern (GUESS: 3 / 4 / 7 decoders and
//!   JPEG engines; the 7g's 16 copy engines are the guide's).
//! - Placements: GUESS, the H100 geometry (no `nvidia-smi mig -lgipp` for this model was
//!   found): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`, 9 `{0,4}:4`, 5 `{0}:4`,
//!   0 `{0}:8`. On a real node the NVML backend plans with the driver's placements and logs every
//!   difference (`scheduler/node/src/backend/tables/`).
//! - Total memory: GUESS, the 7g.180gb profile's.
//! - Collected rows: `shared/reference/mig-gi-profiles-more-models.csv` (each row names its
//!   source); "GUESS" marks a value no source gave.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "b200-180gb",
    name: "NVIDIA B200",
    aliases: &["B200"],
    memory_mib: 181248,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(16, 7, 0, 7, 1),
    driver: "unnamed (gpu-operator #1351)",
    profiles: &[
        Profile {
            name: "1g.23gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 20992,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 18,
            engines: Engines::new(2, 1, 0, 1, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.23gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 20992,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 18,
            engines: Engines::new(2, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.45gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 45312,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 30,
            engines: Engines::new(2, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.45gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 45312,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 36,
            engines: Engines::new(4, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.90gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 90624,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 66,
            engines: Engines::new(6, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.90gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 90624,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 72,
            engines: Engines::new(8, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.180gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 181248,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 148,
            engines: Engines::new(16, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
