//! NVIDIA GB300 (DGX Station). Names, ids and counts only: no `-lgip` output and no GB300 table in
//! the MIG User Guide were found.
//!
//! Sources:
//! - Profile names and ids: NVIDIA's DGX Station playbook "MIG on DGX Station" (GB300), which warns
//!   that "exact profile names may vary by driver (e.g. 1g.34gb vs 1g.35gb)"; instance counts:
//!   NVIDIA/mig-parted `config-default.yaml` (commit 75449116, device 0x31C210DE).
//! - GUESS: memory (1g.35gb at 34.75 GiB = 35584 MiB, the name less a quarter GiB as on the B300,
//!   and two, four and eight times that); SMs and engines (this catalog's B200); the NVML name.
//! - Placements: GUESS, the H100 geometry (no `nvidia-smi mig -lgipp` for this model was
//!   found): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`, 9 `{0,4}:4`, 5 `{0}:4`,
//!   0 `{0}:8`. On a real node the NVML backend plans with the driver's placements and logs every
//!   difference (`scheduler/node/src/backend/tables/`).
//! - Total memory: GUESS, the 7g.278gb profile's.
//! - Collected rows: `shared/reference/mig-gi-profiles-more-models.csv` (each row names its
//!   source); "GUESS" marks a value no source gave.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "gb300",
    name: "NVIDIA GB300",
    aliases: &["GB300"],
    memory_mib: 284672,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(16, 7, 0, 7, 1),
    driver: "none seen",
    profiles: &[
        Profile {
            name: "1g.35gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 35584,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 18,
            engines: Engines::new(2, 1, 0, 1, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.35gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 35584,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 18,
            engines: Engines::new(2, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.70gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 71168,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 30,
            engines: Engines::new(2, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.70gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 71168,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 36,
            engines: Engines::new(4, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.139gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 142336,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 66,
            engines: Engines::new(6, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.139gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 142336,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 72,
            engines: Engines::new(8, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.278gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 284672,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 148,
            engines: Engines::new(16, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
