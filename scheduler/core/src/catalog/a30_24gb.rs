//! NVIDIA A30 (24 GB). Four memory slices and four compute slices, not eight and seven.
//!
//! Sources:
//! - Profiles and placements: `nvidia-smi mig -lgip` and `-lgipp` output on an A30 (as quoted in
//!   NVIDIA/mig-parted and NVIDIA/gpu-operator issue threads) and the MIG User Guide's A30 table.
//!   The user guide lists 0 NVDEC for `1g.6gb`; the driver's `-lgip` shows 1, which we follow.
//! - `2g.12gb+me` needs driver R525 or newer.
//! - The one JPEG and one OFA engine mean `1g.6gb+me`, `2g.12gb+me` and `4g.24gb` exclude each
//!   other (the engine check in the planner enforces it).
//! - Total memory 24576 MiB: `nvidia-smi` on A30.

use super::{Engines, GpuModel, Profile};
use crate::ids::ProfileId;

pub(super) const MODEL: GpuModel = GpuModel {
    key: "a30-24gb",
    name: "NVIDIA A30",
    aliases: &["A30"],
    memory_mib: 24576,
    compute_slices: 4,
    memory_slices: 4,
    engines: Engines::new(4, 4, 0, 1, 1),
    driver: "R525+",
    profiles: &[
        Profile {
            name: "1g.6gb",
            id: ProfileId(14),
            index: 0,
            memory_mib: 5952,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 4,
            sms: 14,
            engines: Engines::new(1, 1, 0, 0, 0),
            starts: &[0, 1, 2, 3],
        },
        Profile {
            name: "1g.6gb+me",
            id: ProfileId(21),
            index: 7,
            memory_mib: 5952,
            compute_slices: 1,
            memory_slices: 1,
            max_count: 1,
            sms: 14,
            engines: Engines::new(1, 1, 0, 1, 1),
            starts: &[0, 1, 2, 3],
        },
        Profile {
            name: "2g.12gb",
            id: ProfileId(5),
            index: 1,
            memory_mib: 11968,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 2,
            sms: 28,
            engines: Engines::new(2, 2, 0, 0, 0),
            starts: &[0, 2],
        },
        Profile {
            name: "2g.12gb+me",
            id: ProfileId(6),
            index: 8,
            memory_mib: 11968,
            compute_slices: 2,
            memory_slices: 2,
            max_count: 1,
            sms: 28,
            engines: Engines::new(2, 2, 0, 1, 1),
            starts: &[0, 2],
        },
        Profile {
            name: "4g.24gb",
            id: ProfileId(0),
            index: 4,
            memory_mib: 24000,
            compute_slices: 4,
            memory_slices: 4,
            max_count: 1,
            sms: 56,
            engines: Engines::new(4, 4, 0, 1, 1),
            starts: &[0],
        },
    ],
};
