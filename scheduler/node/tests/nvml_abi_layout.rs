//! The layouts of the NVML structs and constants the `nvml` backend passes across the C ABI
//! (`scheduler/node/src/backend/nvml/ffi/`, from `nvml-wrapper-sys`), as Rust sees them.
//!
//! Every field is listed, and the test fails when the listed fields do not tile the struct (a
//! field left out). With `DYNAMIG_ABI_LAYOUT_OUT=FILE` it also writes the layouts there, one line
//! each, for `tests/e2e/nvidia-real.sh`, which compares them with `sizeof`/`offsetof` compiled
//! against NVIDIA's own nvml.h (12.x and 13.x) and checks this list against the bindings' source.

use nvml_wrapper_sys::bindings as sys;
use std::mem::{align_of, offset_of, size_of};

struct Layout {
    name: &'static str,
    size: usize,
    align: usize,
    /// (field, offset, size)
    fields: Vec<(&'static str, usize, usize)>,
}

/// `layout!(C_TYPEDEF_NAME { field: FieldType, ... })`
macro_rules! layout {
    ($t:ident { $($f:ident : $ft:ty),* $(,)? }) => {
        Layout {
            name: stringify!($t),
            size: size_of::<sys::$t>(),
            align: align_of::<sys::$t>(),
            fields: vec![$((stringify!($f), offset_of!(sys::$t, $f), size_of::<$ft>())),*],
        }
    };
}

fn layouts() -> Vec<Layout> {
    use std::ffi::{c_char, c_uint, c_ulonglong};
    vec![
        layout!(nvmlGpuInstanceProfileInfo_t {
            id: c_uint,
            isP2pSupported: c_uint,
            sliceCount: c_uint,
            instanceCount: c_uint,
            multiprocessorCount: c_uint,
            copyEngineCount: c_uint,
            decoderCount: c_uint,
            encoderCount: c_uint,
            jpegCount: c_uint,
            ofaCount: c_uint,
            memorySizeMB: c_ulonglong,
        }),
        layout!(nvmlGpuInstanceProfileInfo_v2_t {
            version: c_uint,
            id: c_uint,
            isP2pSupported: c_uint,
            sliceCount: c_uint,
            instanceCount: c_uint,
            multiprocessorCount: c_uint,
            copyEngineCount: c_uint,
            decoderCount: c_uint,
            encoderCount: c_uint,
            jpegCount: c_uint,
            ofaCount: c_uint,
            memorySizeMB: c_ulonglong,
            name: [c_char; 96],
        }),
        layout!(nvmlGpuInstancePlacement_t {
            start: c_uint,
            size: c_uint,
        }),
        layout!(nvmlGpuInstanceInfo_t {
            device: sys::nvmlDevice_t,
            id: c_uint,
            profileId: c_uint,
            placement: sys::nvmlGpuInstancePlacement_t,
        }),
        layout!(nvmlComputeInstanceProfileInfo_t {
            id: c_uint,
            sliceCount: c_uint,
            instanceCount: c_uint,
            multiprocessorCount: c_uint,
            sharedCopyEngineCount: c_uint,
            sharedDecoderCount: c_uint,
            sharedEncoderCount: c_uint,
            sharedJpegCount: c_uint,
            sharedOfaCount: c_uint,
        }),
        layout!(nvmlComputeInstancePlacement_t {
            start: c_uint,
            size: c_uint,
        }),
        layout!(nvmlComputeInstanceInfo_t {
            device: sys::nvmlDevice_t,
            gpuInstance: sys::nvmlGpuInstance_t,
            id: c_uint,
            profileId: c_uint,
            placement: sys::nvmlComputeInstancePlacement_t,
        }),
        layout!(nvmlProcessInfo_t {
            pid: c_uint,
            usedGpuMemory: c_ulonglong,
            gpuInstanceId: c_uint,
            computeInstanceId: c_uint,
        }),
    ]
}

/// The enum typedefs ffi/ passes by pointer (`nvmlDeviceGetPersistenceMode`'s mode): (name,
/// size, align).
fn scalars() -> Vec<(&'static str, usize, usize)> {
    vec![(
        "nvmlEnableState_t",
        size_of::<sys::nvmlEnableState_t>(),
        align_of::<sys::nvmlEnableState_t>(),
    )]
}

/// The nvml.h constants ffi/ sizes buffers and loops with.
fn constants() -> Vec<(&'static str, u64)> {
    vec![
        (
            "NVML_DEVICE_NAME_V2_BUFFER_SIZE",
            sys::NVML_DEVICE_NAME_V2_BUFFER_SIZE.into(),
        ),
        (
            "NVML_DEVICE_UUID_V2_BUFFER_SIZE",
            sys::NVML_DEVICE_UUID_V2_BUFFER_SIZE.into(),
        ),
        (
            "NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE",
            sys::NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE.into(),
        ),
        (
            "NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE",
            sys::NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE.into(),
        ),
        (
            "NVML_GPU_INSTANCE_PROFILE_COUNT",
            sys::NVML_GPU_INSTANCE_PROFILE_COUNT.into(),
        ),
        (
            "NVML_COMPUTE_INSTANCE_PROFILE_COUNT",
            sys::NVML_COMPUTE_INSTANCE_PROFILE_COUNT.into(),
        ),
    ]
}

#[test]
fn every_field_of_every_abi_struct_is_listed() {
    for l in layouts() {
        let mut end = 0;
        for (f, off, size) in &l.fields {
            assert!(
                *off >= end,
                "{}.{f} at {off} overlaps the field before (ends at {end})",
                l.name
            );
            // Only alignment padding may come between two listed fields.
            assert!(
                *off - end < l.align,
                "{}: {} unlisted bytes before {f}",
                l.name,
                off - end
            );
            end = off + size;
        }
        assert!(
            l.size - end < l.align,
            "{}: {} unlisted bytes after the last field",
            l.name,
            l.size - end
        );
    }
}

#[test]
fn writes_the_layouts_when_asked() {
    let Some(out) = std::env::var_os("DYNAMIG_ABI_LAYOUT_OUT") else {
        return;
    };
    let mut text = String::new();
    for l in layouts() {
        text += &format!("struct {} size {} align {}\n", l.name, l.size, l.align);
        for (f, off, size) in &l.fields {
            text += &format!("field {} {f} offset {off} size {size}\n", l.name);
        }
    }
    for (name, size, align) in scalars() {
        text += &format!("scalar {name} size {size} align {align}\n");
    }
    for (name, v) in constants() {
        text += &format!("const {name} {v}\n");
    }
    std::fs::write(&out, text).expect("write DYNAMIG_ABI_LAYOUT_OUT");
}
