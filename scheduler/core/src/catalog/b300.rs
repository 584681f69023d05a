//! NVIDIA B300 (HGX). Names and counts only: no `-lgip` output and no B300 table in the MIG User
//! Guide were found.
//!
//! Sources:
//! - Profile names and instance counts: NVIDIA/mig-parted `deployments/systemd/config-default.yaml`
//!   (commit 47c56d96, device 0x318210DE).
//! - GUESS: the ids (the Blackwell pattern GB300's DGX Station playbook shows: 19 / 20 / 15 / 14 /
//!   9 / 5 / 0); memory (1g.34gb 33.75 GiB = 34560 MiB, from one unverified third-party test
//!   fixture, and two, four and eight times that); SMs and engines (this catalog's B200); the NVML
//!   name.
//! - Placements: GUESS, the H100 geometry (no `nvidia-smi mig -lgipp` for this model was
//!   found): 19/20 `{0,1,2,3,4,5,6}:1`, 15 `{0,2,4,6}:2`, 14 `{0,2,4}:2`, 9 `{0,4}:4`, 5 `{0}:4`,
//!   0 `{0}:8`. On a real node the NVML backend plans with the driver's placements and logs every
//!   difference (`scheduler/node/src/backend/tables/`).
//! - Total memory: GUESS, the 7g.269gb profile's.
//! - Collected rows: `shared/reference/mig-gi-profiles-more-models.csv` (each row names its
//!   source); "GUESS" marks a value no source gave.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "b300",
    name: "NVIDIA B300 SXM6 AC",
    aliases: &["B300 SXM6 AC"],
    memory_mib: 276480,
    compute_slices: 7,
    memory_slices: 8,
    engines: Engines::new(16, 7, 0, 7, 1),
    driver: "none seen",
    profiles: &[
        Profile {
            name: "1g.34gb",
            id: ProfileId(19),
            index: 0,
            memory_mib: 34560,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 7,
            sms: 18,
            engines: Engines::new(2, 1, 0, 1, 0),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.34gb+me",
            id: ProfileId(20),
            index: 7,
            memory_mib: 34560,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 18,
            engines: Engines::new(2, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3, 4, 5, 6],
        },
        Profile {
            name: "1g.67gb",
            id: ProfileId(15),
            index: 9,
            memory_mib: 69120,
            compute_slices: 1,
            memory_slices: 2,
            max_count: 4,
            sms: 30,
            engines: Engines::new(2, 1, 0, 1, 0),
            starts: &[0, 2, 4, 6],
        },
        Profile {
            name: "2g.67gb",
            id: ProfileId(14),
            index: 1,
            memory_mib: 69120,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 3,
            sms: 36,
            engines: Engines::new(4, 2, 0, 2, 0),
            starts: &[0, 2, 4],
        },
        Profile {
            name: "3g.135gb",
            id: ProfileId(9),
            index: 2,
            memory_mib: 138240,
            compute_slices: 3,
            memory_slices: 4,
            max_count: 2,
            sms: 66,
            engines: Engines::new(6, 3, 0, 3, 0),
            starts: &[0, 4],
        },
        Profile {
            name: "4g.135gb",
            id: ProfileId(5),
            index: 3,
            memory_mib: 138240,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 72,
            engines: Engines::new(8, 4, 0, 4, 0),
            starts: &[0],
        },
        Profile {
            name: "7g.269gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 276480,
            compute_slices: 7,
            memory_slices: 8,
            max_count: 1,
            sms: 148,
            engines: Engines::new(16, 7, 0, 7, 1),
            starts: &[0],
        },
    ],
};
