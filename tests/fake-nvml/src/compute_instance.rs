//! Compute instances: profile info, creation (only the one spanning its GPU instance is
//! modelled), listing, info and destruction.

use dynamig_core::ids::{CiId, GiId, GpuIndex};
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

use crate::abi::{entry, put, put_list};
use crate::config::CI_DEVICE_ENV;
use crate::errors::{code_of, Ret, INVALID_ARGUMENT, IN_USE, NOT_SUPPORTED};
use crate::handles::{ci_ref, gi_ref, handle, TAG_CI, TAG_DEVICE, TAG_GI, TAG_MIG};
use crate::latency::{emulate, Kind};
use crate::model::{alive, ci_slices, full_ci_profile, gpu_of, instance_of, profile_of};
use crate::store::{held, load, modify};

/// `NVML_COMPUTE_INSTANCE_PROFILE_COUNT` of NVML 13.
const CI_PROFILE_COUNT: u32 = 0x09;

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `info` is null or points to a writable `nvmlComputeInstanceProfileInfo_t`.
/// - `gpu_instance` may be any value: handles are never dereferenced, and one this library did not
///   give out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstanceProfileInfo(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile: c_uint,
    eng_profile: c_uint,
    info: *mut sys::nvmlComputeInstanceProfileInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi) = gi_ref(gpu_instance)?;
        let g = gpu_of(&n, gpu)?;
        let p = profile_of(g, instance_of(g, gi)?.profile_id)?;
        if profile >= CI_PROFILE_COUNT {
            return Err(INVALID_ARGUMENT);
        }
        if eng_profile != 0 {
            return Err(NOT_SUPPORTED);
        }
        let slices = ci_slices(profile).ok_or(NOT_SUPPORTED)?;
        let gi_slices = u32::from(p.compute_slices);
        if slices > gi_slices {
            return Err(NOT_SUPPORTED);
        }
        put(
            info,
            sys::nvmlComputeInstanceProfileInfo_t {
                id: profile,
                sliceCount: slices,
                instanceCount: gi_slices / slices,
                multiprocessorCount: u32::from(p.sms) * slices / gi_slices,
                sharedCopyEngineCount: u32::from(p.engines.ce),
                sharedDecoderCount: u32::from(p.engines.dec),
                sharedEncoderCount: u32::from(p.engines.enc),
                sharedJpegCount: u32::from(p.engines.jpg),
                sharedOfaCount: u32::from(p.engines.ofa),
            },
        )
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `compute_instance` is null or points to a writable `nvmlComputeInstance_t`.
/// - `gpu_instance` may be any value: handles are never dereferenced, and one this library did not
///   give out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceCreateComputeInstance(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    compute_instance: *mut sys::nvmlComputeInstance_t,
) -> Ret {
    entry(|| {
        emulate(Kind::CiCreate);
        let (gpu, gi) = gi_ref(gpu_instance)?;
        if compute_instance.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        let ci = modify(|n| {
            let g = gpu_of(n, gpu)?;
            let p = profile_of(g, instance_of(g, gi)?.profile_id)?;
            let slices = ci_slices(profile_id).ok_or(INVALID_ARGUMENT)?;
            if slices > u32::from(p.compute_slices) {
                return Err(INVALID_ARGUMENT);
            }
            if profile_id != full_ci_profile(p) {
                // Only compute instances spanning the GPU instance are modelled.
                return Err(NOT_SUPPORTED);
            }
            n.create_ci(GpuIndex(gpu), GiId(gi))
                .map_err(|e| code_of(&e))
        })?;
        put(compute_instance, handle(TAG_CI, gpu, gi, ci.get()))
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `count` is null or points to a readable and writable `c_uint`; `compute_instances` is null or
///   valid for writes of as many items as `*count` says on entry.
/// - `gpu_instance` may be any value: handles are never dereferenced, and one this library did not
///   give out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetComputeInstances(
    gpu_instance: sys::nvmlGpuInstance_t,
    profile_id: c_uint,
    compute_instances: *mut sys::nvmlComputeInstance_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi) = gi_ref(gpu_instance)?;
        let g = gpu_of(&n, gpu)?;
        let i = instance_of(g, gi)?;
        let p = profile_of(g, i.profile_id)?;
        let items: Vec<sys::nvmlComputeInstance_t> = match i.ci {
            Some(c) if profile_id == full_ci_profile(p) => vec![handle(TAG_CI, gpu, gi, c.get())],
            _ => Vec::new(),
        };
        put_list(compute_instances, count, &items)
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `info` is null or points to a writable `nvmlComputeInstanceInfo_t`.
/// - `compute_instance` may be any value: handles are never dereferenced, and one this library did
///   not give out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlComputeInstanceGetInfo_v2(
    compute_instance: sys::nvmlComputeInstance_t,
    info: *mut sys::nvmlComputeInstanceInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi, ci) = ci_ref(compute_instance)?;
        let g = gpu_of(&n, gpu)?;
        let i = instance_of(g, gi)?;
        if i.ci != Some(CiId(ci)) {
            return Err(INVALID_ARGUMENT);
        }
        let p = profile_of(g, i.profile_id)?;
        put(
            info,
            sys::nvmlComputeInstanceInfo_t {
                device: if std::env::var(CI_DEVICE_ENV).is_ok_and(|v| v == "mig") {
                    handle(TAG_MIG, gpu, gi, ci)
                } else {
                    handle(TAG_DEVICE, gpu, 0, 0)
                },
                gpuInstance: handle(TAG_GI, gpu, gi, 0),
                id: ci,
                profileId: full_ci_profile(p),
                placement: sys::nvmlComputeInstancePlacement_t {
                    start: 0,
                    size: u32::from(p.compute_slices),
                },
            },
        )
    })
}

/// # Safety
///
/// No pointer is taken: `compute_instance` may be any value: handles are never dereferenced, and
/// one this library did not give out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlComputeInstanceDestroy(
    compute_instance: sys::nvmlComputeInstance_t,
) -> Ret {
    entry(|| {
        emulate(Kind::CiDestroy);
        let (gpu, gi, ci) = ci_ref(compute_instance)?;
        modify(|n| {
            let g = n.gpus.get_mut(gpu as usize).ok_or(INVALID_ARGUMENT)?;
            let i = g
                .instances
                .iter_mut()
                .find(|i| i.gi == GiId(gi) && i.ci == Some(CiId(ci)))
                .ok_or(INVALID_ARGUMENT)?;
            if i.pids.iter().any(|p| alive(*p)) || held(gpu, gi) {
                return Err(IN_USE);
            }
            i.ci = None;
            i.uuid.clear();
            Ok(())
        })
    })
}
