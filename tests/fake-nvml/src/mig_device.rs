//! MIG device handles: the maximum count, the handle at a MIG index (logged to
//! `FAKE_NVML_CALL_LOG`), and a handle's GPU- and compute-instance ids.

use dynamig_core::ids::CiId;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

use crate::abi::{entry, put};
use crate::config::log_call;
use crate::errors::{Ret, INVALID_ARGUMENT, NOT_FOUND, NOT_SUPPORTED, UNKNOWN};
use crate::handles::{device_gpu, handle, unpack, TAG_DEVICE, TAG_MIG};
use crate::model::{gpu_of, mig_devices};
use crate::store::load;

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `count` is null or points to a writable `c_uint`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMaxMigDeviceCount(
    device: sys::nvmlDevice_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let g = gpu_of(&n, device_gpu(device)?)?;
        let m = g.model().map_err(|_| UNKNOWN)?;
        put(
            count,
            if g.mig.current {
                u32::from(m.compute_slices)
            } else {
                0
            },
        )
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `mig_device` is null or points to a writable `nvmlDevice_t`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetMigDeviceHandleByIndex(
    device: sys::nvmlDevice_t,
    index: c_uint,
    mig_device: *mut sys::nvmlDevice_t,
) -> Ret {
    log_call("nvmlDeviceGetMigDeviceHandleByIndex");
    entry(|| {
        let n = load()?;
        let gpu = device_gpu(device)?;
        let g = gpu_of(&n, gpu)?;
        if !g.mig.current {
            return Err(NOT_SUPPORTED);
        }
        let devs = mig_devices(g);
        let i = devs.get(index as usize).ok_or(NOT_FOUND)?;
        put(
            mig_device,
            handle(TAG_MIG, gpu, i.gi.get(), i.ci.map_or(0, CiId::get)),
        )
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `id` is null or points to a writable `c_uint`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceId(
    device: sys::nvmlDevice_t,
    id: *mut c_uint,
) -> Ret {
    entry(|| match unpack(device) {
        (TAG_MIG, _, gi, _) => put(id, gi),
        (TAG_DEVICE, ..) => Err(NOT_SUPPORTED),
        _ => Err(INVALID_ARGUMENT),
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `id` is null or points to a writable `c_uint`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeInstanceId(
    device: sys::nvmlDevice_t,
    id: *mut c_uint,
) -> Ret {
    entry(|| match unpack(device) {
        (TAG_MIG, _, _, ci) => put(id, ci),
        (TAG_DEVICE, ..) => Err(NOT_SUPPORTED),
        _ => Err(INVALID_ARGUMENT),
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `is_mig` is null or points to a writable `c_uint`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceIsMigDeviceHandle(
    device: sys::nvmlDevice_t,
    is_mig: *mut c_uint,
) -> Ret {
    entry(|| put(is_mig, c_uint::from(unpack(device).0 == TAG_MIG)))
}
