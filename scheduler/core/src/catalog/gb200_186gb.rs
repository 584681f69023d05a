//! NVIDIA GB200 (186 GB per GPU).
//!
//! Sources:
//! - 1g.23gb, 1g.23gb+me, 1g.47gb, 2g.47gb: `nvidia-smi mig -lgip` on a production GB200 board in
//!   NVIDIA/mig-parted issue #227 (2025-08-07; driver not named): 22.00 / 45.50 GiB = 22528 /
//!   46592 MiB, SMs 18 / 32 / 38; copy engines, JPEG and OFA from gpu-operator PR #1303's rows.
//! - 3g.93gb, 4g.93gb, 7g.186gb: names and instance counts from NVIDIA/mig-parted
//!   `deployments/systemd/config-default.yaml` (commit "production boards"); ids from
//!   GoogleCloudPlatform/container-engine-accelerators `partition_gpu.go`. Memory, SMs and engines
//!   are a GUESS (memory two and four times 2g.47gb's; SMs and engines as this catalog's B200).
//! - Disagreement: early HGX GB200 boards (gpu-operator PR #1303, 2025-03-01) named the small
//!   profiles 1g.24gb / 1g.24gb+me at 20.00 GiB and the large ones 3g.95gb / 4g.95gb / 7g.189gb;
//!   this table follows the production board's names. On an early board the NVML backend plans
//!   with the driver's names and values (a profile id the catalog knows keeps the catalog's name).
//! - Placements: GUESS, the H100 geometry (no `nvidia-smi mig -lgipp` for this model was
//!   found): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`, 9 `{0,4}:4`, 5 `{0}:4`,
//!   0 `{0}:8`. On a real node the NVML backend plans with the driver's placements and logs every
//!   difference (`scheduler/node/src/backend/tables/`).
//! - Total memory: GUESS, the 7g.186gb profile's.
//! - Collected rows: `shared/reference/mig-gi-profiles-more-models.csv` (each row names its
//!   source); "GUESS" marks a value no source gave.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "gb200-186gb",
    name: "NVIDIA GB200",
    aliases: &["GB200"],
    memory_mib: 186368,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(16, 7, 0, 7, 1),
    driver: "unnamed (mig-parted #227)",
    profiles: &[
        Profile {
            name: "1g.23gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 22528,
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
            memory_mib: 22528,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 18,
            engines: Engines::new(2, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.47gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 46592,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 32,
            engines: Engines::new(2, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.47gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 46592,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 38,
            engines: Engines::new(4, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.93gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 93184,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 66,
            engines: Engines::new(6, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.93gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 93184,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 72,
            engines: Engines::new(8, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.186gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 186368,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 148,
            engines: Engines::new(16, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
