//! The device nodes a simulated MIG device is handed as: the `nvidia-caps` minors of NVIDIA's
//! `mig-minors` table, and the fixed majors the simulation uses.

use crate::backend::DeviceNode;
use dynamig_core::ids::{CiId, GiId};

/// Major numbers the simulation hands out. Real nodes read `nvidia-caps` from `/proc/devices`.
pub const NVIDIA_MAJOR: u32 = 195;
pub const CAPS_MAJOR: u32 = 509;
pub const UVM_MAJOR: u32 = 510;

/// The minors of `/proc/driver/nvidia-caps/mig-minors`: per GPU 15 GPU instances, each with its
/// own access minor followed by 8 compute-instance minors; minors 1 and 2 are `config` and
/// `monitor`.
pub fn cap_minor(gpu_minor: u32, gi: GiId, ci: Option<CiId>) -> u32 {
    let base = 3 + gpu_minor * 135 + gi.get() * 9;
    match ci {
        None => base,
        Some(c) => base + 1 + c.get(),
    }
}

/// The device nodes of a MIG device on a node with the given majors.
pub fn mig_device_nodes(
    gpu_minor: u32,
    gi: GiId,
    ci: CiId,
    caps_major: u32,
    uvm_major: u32,
) -> Vec<DeviceNode> {
    let gi_minor = cap_minor(gpu_minor, gi, None);
    let ci_minor = cap_minor(gpu_minor, gi, Some(ci));
    vec![
        DeviceNode {
            path: format!("/dev/nvidia-caps/nvidia-cap{gi_minor}"),
            major: caps_major,
            minor: gi_minor,
        },
        DeviceNode {
            path: format!("/dev/nvidia-caps/nvidia-cap{ci_minor}"),
            major: caps_major,
            minor: ci_minor,
        },
        DeviceNode {
            path: format!("/dev/nvidia{gpu_minor}"),
            major: NVIDIA_MAJOR,
            minor: gpu_minor,
        },
        DeviceNode {
            path: "/dev/nvidiactl".into(),
            major: NVIDIA_MAJOR,
            minor: 255,
        },
        DeviceNode {
            path: "/dev/nvidia-uvm".into(),
            major: uvm_major,
            minor: 0,
        },
        DeviceNode {
            path: "/dev/nvidia-uvm-tools".into(),
            major: uvm_major,
            minor: 1,
        },
    ]
}
