//! One GPU's devices: every MIG profile x placement of its model, and the whole GPU, with the
//! attributes, capacities, counter consumption and taints of docs/dra-slices.md.
//!
//! Attributes and capacities are written without a domain, so they are the driver's own
//! (`device.attributes["mig.dynamig.io"].profile` in CEL).
//!
//! Taints, by the GPU's MIG mode:
//!
//! | MIG mode | MIG devices | whole GPU |
//! |---|---|---|
//! | Enabled | none | none (prepared as the full-size profile at placement 0) |
//! | Disabled | `mig.dynamig.io/mig-disabled` NoSchedule | none: it is the GPU itself, usable as it is |
//! | Pending | `mig.dynamig.io/mig-pending` NoSchedule | `mig.dynamig.io/mig-pending` NoSchedule |
//!
//! A pending mode change takes effect at the next GPU reset, which needs the GPU idle and turns
//! it into the other kind of device; so while it is pending nothing on that GPU is offered.

use crate::counters::{whole_gpu_profile, Counter, CounterModel};
use crate::names::counter_set;
use crate::quantity;
use dynamig_core::catalog::Profile;
use dynamig_dra_api::device_name::DeviceName;
use dynamig_dra_api::inventory::{GpuInventory, MigState};
use dynamig_dra_api::DRIVER_NAME;
use k8s_openapi::api::resource::v1::{
    Counter as K8sCounter, Device, DeviceAttribute, DeviceCapacity, DeviceCounterConsumption,
    DeviceTaint,
};
use std::collections::BTreeMap;

/// Attribute names (`device.attributes["mig.dynamig.io"].NAME`).
pub mod attribute {
    /// `"mig"` or `"gpu"`.
    pub const TYPE: &str = "type";
    /// The MIG profile (`"2g.10gb"`); absent on the whole GPU.
    pub const PROFILE: &str = "profile";
    /// The first memory slice of the placement (0 on the whole GPU).
    pub const PLACEMENT_START: &str = "placementStart";
    /// The placement's memory slices (all of them on the whole GPU).
    pub const PLACEMENT_SIZE: &str = "placementSize";
    /// The GPU's `GPU-...` UUID, on MIG devices.
    pub const PARENT_UUID: &str = "parentUUID";
    /// The GPU's `GPU-...` UUID, on the whole GPU.
    pub const UUID: &str = "uuid";
    /// The NVML product name (`"NVIDIA A100-SXM4-40GB"`).
    pub const MODEL: &str = "model";
    /// The GPU's index.
    pub const INDEX: &str = "index";
    pub const COMPUTE_SLICES: &str = "computeSlices";
    pub const MEMORY_SLICES: &str = "memorySlices";
}

/// Capacity names (`device.capacity["mig.dynamig.io"].NAME`).
pub mod capacity {
    /// Bytes, written as `<MiB>Mi`.
    pub const MEMORY: &str = "memory";
    /// Streaming multiprocessors.
    pub const MULTIPROCESSORS: &str = "multiprocessors";
}

/// The taint key of MIG devices on a GPU whose MIG mode is off.
pub fn mig_disabled_taint_key() -> String {
    format!("{DRIVER_NAME}/mig-disabled")
}

/// The taint key of every device of a GPU whose MIG mode change waits for a reset.
pub fn mig_pending_taint_key() -> String {
    format!("{DRIVER_NAME}/mig-pending")
}

fn taint(key: String) -> DeviceTaint {
    DeviceTaint {
        key,
        effect: "NoSchedule".to_string(),
        time_added: None,
        value: None,
    }
}

fn string(s: &str) -> DeviceAttribute {
    DeviceAttribute {
        string: Some(s.to_string()),
        ..Default::default()
    }
}

fn int(n: impl Into<i64>) -> DeviceAttribute {
    DeviceAttribute {
        int: Some(n.into()),
        ..Default::default()
    }
}

fn consumes(gpu: &GpuInventory, counters: Vec<Counter>) -> Vec<DeviceCounterConsumption> {
    vec![DeviceCounterConsumption {
        counter_set: counter_set(gpu.index),
        counters: counters
            .into_iter()
            .map(|(name, n)| {
                (
                    name,
                    K8sCounter {
                        value: quantity::int(n),
                    },
                )
            })
            .collect(),
    }]
}

fn capacities(memory_mib: u64, sms: u16) -> BTreeMap<String, DeviceCapacity> {
    BTreeMap::from([
        (
            capacity::MEMORY.to_string(),
            DeviceCapacity {
                value: quantity::mebibytes(memory_mib),
                ..Default::default()
            },
        ),
        (
            capacity::MULTIPROCESSORS.to_string(),
            DeviceCapacity {
                value: quantity::int(u64::from(sms)),
                ..Default::default()
            },
        ),
    ])
}

/// The MIG device `profile` at `start` of `gpu`.
pub fn mig_device(
    gpu: &GpuInventory,
    counters: &CounterModel,
    profile: &'static Profile,
    start: u8,
) -> Device {
    let name = DeviceName::Mig {
        gpu: gpu.index,
        profile,
        start,
    };
    let attributes = BTreeMap::from([
        (attribute::TYPE.to_string(), string("mig")),
        (attribute::PROFILE.to_string(), string(profile.name)),
        (attribute::PLACEMENT_START.to_string(), int(start)),
        (
            attribute::PLACEMENT_SIZE.to_string(),
            int(profile.memory_slices),
        ),
        (attribute::PARENT_UUID.to_string(), string(&gpu.uuid)),
        (attribute::MODEL.to_string(), string(gpu.model.name)),
        (attribute::INDEX.to_string(), int(gpu.index.get())),
        (
            attribute::COMPUTE_SLICES.to_string(),
            int(profile.compute_slices),
        ),
        (
            attribute::MEMORY_SLICES.to_string(),
            int(profile.memory_slices),
        ),
    ]);
    let taints = match gpu.mig {
        MigState::Enabled => None,
        MigState::Disabled => Some(vec![taint(mig_disabled_taint_key())]),
        MigState::Pending => Some(vec![taint(mig_pending_taint_key())]),
    };
    Device {
        name: name.to_string(),
        attributes: Some(attributes),
        capacity: Some(capacities(profile.memory_mib, profile.sms)),
        consumes_counters: Some(consumes(gpu, counters.consumption(profile, start))),
        taints,
        ..Default::default()
    }
}

/// The whole-GPU device `gpu-N`. Its memory is the full-size profile's where MIG is (or may
/// become) on, since that is what it is prepared as, and the GPU's total where MIG is off; its
/// multiprocessors are the full-size profile's (the catalog has no MIG-off count).
pub fn whole_device(gpu: &GpuInventory, counters: &CounterModel) -> Device {
    let model = gpu.model;
    let full = whole_gpu_profile(model);
    let memory_mib = match (gpu.mig, full) {
        (MigState::Disabled, _) | (_, None) => model.memory_mib,
        (_, Some(p)) => p.memory_mib,
    };
    let sms = full.map_or(0, |p| p.sms);
    let attributes = BTreeMap::from([
        (attribute::TYPE.to_string(), string("gpu")),
        (attribute::PLACEMENT_START.to_string(), int(0)),
        (
            attribute::PLACEMENT_SIZE.to_string(),
            int(model.memory_slices),
        ),
        (attribute::UUID.to_string(), string(&gpu.uuid)),
        (attribute::MODEL.to_string(), string(model.name)),
        (attribute::INDEX.to_string(), int(gpu.index.get())),
        (
            attribute::COMPUTE_SLICES.to_string(),
            int(model.compute_slices),
        ),
        (
            attribute::MEMORY_SLICES.to_string(),
            int(model.memory_slices),
        ),
    ]);
    let taints = match gpu.mig {
        MigState::Enabled | MigState::Disabled => None,
        MigState::Pending => Some(vec![taint(mig_pending_taint_key())]),
    };
    Device {
        name: DeviceName::Whole { gpu: gpu.index }.to_string(),
        attributes: Some(attributes),
        capacity: Some(capacities(memory_mib, sms)),
        consumes_counters: Some(consumes(gpu, counters.whole())),
        taints,
        ..Default::default()
    }
}
