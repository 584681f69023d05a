//! NVIDIA RTX PRO 6000 Blackwell Server Edition (96 GB, GB202).
//!
//! Sources (every value here is sourced; nothing is inferred but the total memory):
//! - Profiles, ids, memory, SMs, engines, instance counts and placements: `nvidia-smi mig -lgip`,
//!   `-lgipp` and `-lgi` on an RTX PRO 6000 Blackwell Server Edition with driver 610.43.02, as
//!   printed in the blog post "Slicing GPUs in Kubernetes with NVIDIA MIG"; the profile ids also
//!   appear in GKE's `partition_gpu.go`, and the MIG User Guide's RTX PRO 6000 table agrees on the
//!   fractions and engines. 23.62 / 47.38 / 95.12 GiB = 24192 / 48512 / 97408 MiB (24192 MiB is
//!   also what `nvidia-smi` shows for a 1g.24gb device on a Max-Q Workstation with 580.105.08).
//! - Profile index constants (`NVML_GPU_INSTANCE_PROFILE_*`) by suffix, NVML 13's nvml.h:
//!   `+me` = `1_SLICE_REV1` (7), `+gfx` = `*_GFX` (10, 11, 12), `-me` = `*_NO_ME` (13, 14),
//!   `+me.all` = `*_ALL_ME` (15, 16).
//! - Placements are on a 12-unit grid, not one unit per memory slice: 1g `{0,3,6,9}:3`, 2g
//!   `{0,6}:6`, 4g `{0}:12`. The catalog keeps the driver's grid (`memory_slices: 12`), so the
//!   placements and GPU-instance starts here are exactly what NVML takes and reports.
//! - Four compute slices; `+me.all` takes all four decoders, encoders and JPEG engines and the OFA,
//!   so beside it only `-me` profiles fit (nvml.h: it "prevents allocation of all but _NO_ME
//!   profiles"); `+me` takes the one OFA.
//! - Disagreement: a Max-Q Workstation's 580.105.08 prints 4g.96gb as 95.00 GiB (97280 MiB) and
//!   one Server Edition report (cubecos #312, driver not named) 1g.24gb as 23.12 GiB; this table
//!   follows the 610.43.02 Server Edition output, the only complete one. The NVML backend reads the
//!   live values.
//! - Total memory: GUESS, the 4g.96gb profile's 97408 MiB (`nvidia-smi`'s total was not in the
//!   sources).
//! - Collected rows: `shared/reference/mig-gi-profiles-more-models.csv` (each row names its
//!   source); "GUESS" marks a value no source gave.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "rtx-pro-6000-bse",
    name: "NVIDIA RTX PRO 6000 Blackwell Server Edition",
    aliases: &["RTX PRO 6000 Blackwell Server Edition"],
    memory_mib: 97408,
    compute_slices: 4,
    memory_slices: 12,
    engines: Engines::new(4, 4, 4, 4, 1),
    driver: "610.43.02",
    profiles: &[
        Profile {
            name: "1g.24gb",
            id: ProfileId(14),
            index: 0,
            memory_mib: 24192,
            compute_slices: 1,
            memory_slices: 3,
            max_count: 4,
            sms: 46,
            engines: Engines::new(1, 1, 1, 1, 0),
            starts: &[0, 3, 6, 9],
        },
        Profile {
            name: "1g.24gb+me",
            id: ProfileId(21),
            index: 7,
            memory_mib: 24192,
            compute_slices: 1,
            memory_slices: 3,
            max_count: 1,
            sms: 46,
            engines: Engines::new(1, 1, 1, 1, 1),
            starts: &[0, 3, 6, 9],
        },
        Profile {
            name: "1g.24gb+gfx",
            id: ProfileId(47),
            index: 10,
            memory_mib: 24192,
            compute_slices: 1,
            memory_slices: 3,
            max_count: 4,
            sms: 46,
            engines: Engines::new(1, 1, 1, 1, 0),
            starts: &[0, 3, 6, 9],
        },
        Profile {
            name: "1g.24gb+me.all",
            id: ProfileId(65),
            index: 15,
            memory_mib: 24192,
            compute_slices: 1,
            memory_slices: 3,
            max_count: 1,
            sms: 46,
            engines: Engines::new(1, 4, 4, 4, 1),
            starts: &[0, 3, 6, 9],
        },
        Profile {
            name: "1g.24gb-me",
            id: ProfileId(67),
            index: 13,
            memory_mib: 24192,
            compute_slices: 1,
            memory_slices: 3,
            max_count: 4,
            sms: 46,
            engines: Engines::new(1, 0, 0, 0, 0),
            starts: &[0, 3, 6, 9],
        },
        Profile {
            name: "2g.48gb",
            id: ProfileId(5),
            index: 1,
            memory_mib: 48512,
            compute_slices: 2,
            memory_slices: 6,
            max_count: 2,
            sms: 94,
            engines: Engines::new(2, 2, 2, 2, 0),
            starts: &[0, 6],
        },
        Profile {
            name: "2g.48gb+gfx",
            id: ProfileId(35),
            index: 11,
            memory_mib: 48512,
            compute_slices: 2,
            memory_slices: 6,
            max_count: 2,
            sms: 94,
            engines: Engines::new(2, 2, 2, 2, 0),
            starts: &[0, 6],
        },
        Profile {
            name: "2g.48gb+me.all",
            id: ProfileId(64),
            index: 16,
            memory_mib: 48512,
            compute_slices: 2,
            memory_slices: 6,
            max_count: 1,
            sms: 94,
            engines: Engines::new(2, 4, 4, 4, 1),
            starts: &[0, 6],
        },
        Profile {
            name: "2g.48gb-me",
            id: ProfileId(66),
            index: 14,
            memory_mib: 48512,
            compute_slices: 2,
            memory_slices: 6,
            max_count: 2,
            sms: 94,
            engines: Engines::new(2, 0, 0, 0, 0),
            starts: &[0, 6],
        },
        Profile {
            name: "4g.96gb",
            id: ProfileId(0),
            index: 3,
            memory_mib: 97408,
            compute_slices: 4,
            memory_slices: 12,
            max_count: 1,
            sms: 188,
            engines: Engines::new(4, 4, 4, 4, 1),
            starts: &[0],
        },
        Profile {
            name: "4g.96gb+gfx",
            id: ProfileId(32),
            index: 12,
            memory_mib: 97408,
            compute_slices: 4,
            memory_slices: 12,
            max_count: 1,
            sms: 188,
            engines: Engines::new(4, 4, 4, 4, 1),
            starts: &[0],
        },
    ],
};
