//! The nvml.h side of the ABI: the raw structs (as `nvml-wrapper-sys` lays them out, checked
//! against nvml.h by `tests/nvml_abi_layout.rs`), the `nvmlReturn_t` codes the backend tells
//! apart with their names, and the nvml.h constants profile enumeration is bounded by.

use nvml_wrapper_sys::bindings as sys;

pub use sys::{
    nvmlComputeInstanceInfo_t as CiInfoRaw, nvmlComputeInstanceProfileInfo_t as CiProfileRaw,
    nvmlGpuInstanceInfo_t as GiInfoRaw, nvmlGpuInstancePlacement_t as PlacementRaw,
    nvmlGpuInstanceProfileInfo_t as GiProfileRaw,
    nvmlGpuInstanceProfileInfo_v2_t as GiProfileV2Raw, nvmlProcessInfo_t as ProcessRaw,
};

pub const SUCCESS: u32 = 0;
pub const ERROR_INVALID_ARGUMENT: u32 = 2;
pub const ERROR_NOT_SUPPORTED: u32 = 3;
pub const ERROR_NOT_FOUND: u32 = 6;
pub const ERROR_INSUFFICIENT_SIZE: u32 = 7;
pub const ERROR_FUNCTION_NOT_FOUND: u32 = 13;
pub const ERROR_IN_USE: u32 = 19;
pub const ERROR_INSUFFICIENT_RESOURCES: u32 = 23;
pub const ERROR_ARGUMENT_VERSION_MISMATCH: u32 = 25;

/// `nvmlGpuInstanceProfileInfo_v2`: `NVML_STRUCT_VERSION(GpuInstanceProfileInfo, 2)`, the
/// struct's size with the version in the top byte.
#[allow(clippy::cast_possible_truncation)] // the struct is a few hundred bytes: far below 2^24
pub const GI_PROFILE_INFO_V2: u32 = std::mem::size_of::<GiProfileV2Raw>() as u32 | (2 << 24);

/// `NVML_GPU_INSTANCE_PROFILE_COUNT` of NVML 13's nvml.h (0x12: indices up to
/// `NVML_GPU_INSTANCE_PROFILE_3_SLICE_GFX` 0x11; the bindings stop at 17). Indices below it may be
/// holes (`NOT_SUPPORTED` on a GPU without that profile, `INVALID_ARGUMENT` from an older
/// driver); past it, enumeration goes on until the driver says there is nothing more.
pub const GI_PROFILE_KNOWN: u32 = 0x12;
/// `NVML_COMPUTE_INSTANCE_PROFILE_COUNT` of NVML 13 (0x09: up to `7_SLICE_NVL` 0x08).
pub const CI_PROFILE_KNOWN: u32 = 0x09;
/// Where a profile enumeration stops even if the driver keeps answering (a broken library).
pub const PROFILE_INDEX_LIMIT: u32 = 0x100;
/// `NOT_SUPPORTED` answers in a row past the known count after which enumeration stops (a
/// library that never says `INVALID_ARGUMENT`).
pub const PROFILE_HOLES_PAST_KNOWN: u32 = 8;

/// The name of an `nvmlReturn_t`, as nvml.h spells it.
pub fn code_name(code: u32) -> &'static str {
    match code {
        0 => "NVML_SUCCESS",
        1 => "NVML_ERROR_UNINITIALIZED",
        2 => "NVML_ERROR_INVALID_ARGUMENT",
        3 => "NVML_ERROR_NOT_SUPPORTED",
        4 => "NVML_ERROR_NO_PERMISSION",
        5 => "NVML_ERROR_ALREADY_INITIALIZED",
        6 => "NVML_ERROR_NOT_FOUND",
        7 => "NVML_ERROR_INSUFFICIENT_SIZE",
        8 => "NVML_ERROR_INSUFFICIENT_POWER",
        9 => "NVML_ERROR_DRIVER_NOT_LOADED",
        10 => "NVML_ERROR_TIMEOUT",
        11 => "NVML_ERROR_IRQ_ISSUE",
        12 => "NVML_ERROR_LIBRARY_NOT_FOUND",
        13 => "NVML_ERROR_FUNCTION_NOT_FOUND",
        14 => "NVML_ERROR_CORRUPTED_INFOROM",
        15 => "NVML_ERROR_GPU_IS_LOST",
        16 => "NVML_ERROR_RESET_REQUIRED",
        17 => "NVML_ERROR_OPERATING_SYSTEM",
        18 => "NVML_ERROR_LIB_RM_VERSION_MISMATCH",
        19 => "NVML_ERROR_IN_USE",
        20 => "NVML_ERROR_MEMORY",
        21 => "NVML_ERROR_NO_DATA",
        22 => "NVML_ERROR_VGPU_ECC_NOT_ENABLED",
        23 => "NVML_ERROR_INSUFFICIENT_RESOURCES",
        24 => "NVML_ERROR_FREQ_NOT_SUPPORTED",
        25 => "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
        26 => "NVML_ERROR_DEPRECATED",
        27 => "NVML_ERROR_NOT_READY",
        28 => "NVML_ERROR_GPU_NOT_FOUND",
        29 => "NVML_ERROR_INVALID_STATE",
        _ => "NVML_ERROR_UNKNOWN",
    }
}
