//! Devices: the GPU count and handles, name, UUID, minor number, MIG mode and persistence
//! mode. A MIG device handle answers name and UUID for its MIG device.

use dynamig_core::ids::CiId;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};

use crate::abi::{entry, put, put_str};
use crate::config::{gpu_name, persistence};
use crate::errors::{Ret, INVALID_ARGUMENT};
use crate::handles::{device_gpu, handle, unpack, TAG_DEVICE, TAG_MIG};
use crate::model::{gpu_of, instance_of, profile_of};
use crate::store::load;

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `count` is null or points to a writable `c_uint`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetCount_v2(count: *mut c_uint) -> Ret {
    entry(|| put(count, c_uint::try_from(load()?.gpus.len()).unwrap_or(0)))
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `device` is null or points to a writable `nvmlDevice_t`.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetHandleByIndex_v2(
    index: c_uint,
    device: *mut sys::nvmlDevice_t,
) -> Ret {
    entry(|| {
        gpu_of(&load()?, index)?;
        put(device, handle(TAG_DEVICE, index, 0, 0))
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `name` is null or valid for writes of `length` chars.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetName(
    device: sys::nvmlDevice_t,
    name: *mut c_char,
    length: c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (tag, gpu, gi, _) = unpack(device);
        let g = gpu_of(&n, gpu)?;
        let gname = gpu_name(g)?;
        match tag {
            TAG_DEVICE => put_str(name, length, &gname),
            TAG_MIG => {
                let p = profile_of(g, instance_of(g, gi)?.profile_id)?;
                put_str(name, length, &format!("{gname} MIG {}", p.name))
            }
            _ => Err(INVALID_ARGUMENT),
        }
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `uuid` is null or valid for writes of `length` chars.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetUUID(
    device: sys::nvmlDevice_t,
    uuid: *mut c_char,
    length: c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (tag, gpu, gi, ci) = unpack(device);
        let g = gpu_of(&n, gpu)?;
        match tag {
            TAG_DEVICE => put_str(uuid, length, &g.uuid),
            TAG_MIG => {
                let i = instance_of(g, gi)?;
                if i.ci != Some(CiId(ci)) {
                    return Err(INVALID_ARGUMENT);
                }
                put_str(uuid, length, &i.uuid)
            }
            _ => Err(INVALID_ARGUMENT),
        }
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `minor` is null or points to a writable `c_uint`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMinorNumber(
    device: sys::nvmlDevice_t,
    minor: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        put(minor, gpu_of(&n, device_gpu(device)?)?.minor)
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `current` is null or points to a writable `c_uint`.
/// - `pending` is null or points to a writable `c_uint`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMigMode(
    device: sys::nvmlDevice_t,
    current: *mut c_uint,
    pending: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let g = gpu_of(&n, device_gpu(device)?)?;
        put(current, c_uint::from(g.mig.current))?;
        put(pending, c_uint::from(g.mig.pending))
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `mode` is null or points to a writable `nvmlEnableState_t`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetPersistenceMode(
    device: sys::nvmlDevice_t,
    mode: *mut sys::nvmlEnableState_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let gpu = device_gpu(device)?;
        gpu_of(&n, gpu)?;
        put(mode, c_uint::from(persistence(gpu)))
    })
}
