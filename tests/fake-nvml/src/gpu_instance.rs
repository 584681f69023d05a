//! GPU instances: profile info (v1 and the named V), possible placements, creation with a
//! placement (refused as the driver refuses), listing, lookup by id, info and destruction.

use dynamig_core::ids::{GiId, GpuIndex, ProfileId};
use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};

use crate::abi::{entry, put, put_list};
use crate::config::offered_starts;
use crate::errors::{
    code_of, Ret, ARGUMENT_VERSION_MISMATCH, INVALID_ARGUMENT, IN_USE, NOT_FOUND, NOT_SUPPORTED,
};
use crate::handles::{device_gpu, gi_ref, handle, TAG_DEVICE, TAG_GI};
use crate::latency::{emulate, Kind};
use crate::model::{gpu_of, instance_of, profile_of};
use crate::profiles::{profile_at, served_by_id, GI_PROFILE_INFO_V2};
use crate::store::{held, load, modify, take_busy};

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `info` is null or points to a writable `nvmlGpuInstanceProfileInfo_t`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfo(
    device: sys::nvmlDevice_t,
    profile: c_uint,
    info: *mut sys::nvmlGpuInstanceProfileInfo_t,
) -> Ret {
    entry(|| put(info, profile_at(device, profile)?.info))
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `info` is null or points to a readable and writable `nvmlGpuInstanceProfileInfo_v2_t` whose
///   `version` the caller set.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceProfileInfoV(
    device: sys::nvmlDevice_t,
    profile: c_uint,
    info: *mut sys::nvmlGpuInstanceProfileInfo_v2_t,
) -> Ret {
    entry(|| {
        if info.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        if (*info).version != GI_PROFILE_INFO_V2 {
            return Err(ARGUMENT_VERSION_MISMATCH);
        }
        let p = profile_at(device, profile)?;
        let v1 = p.info;
        let mut name = [0 as c_char; 96];
        for (i, b) in format!("MIG {}", p.name).bytes().take(95).enumerate() {
            name[i] = b as c_char;
        }
        put(
            info,
            sys::nvmlGpuInstanceProfileInfo_v2_t {
                version: GI_PROFILE_INFO_V2,
                id: v1.id,
                isP2pSupported: v1.isP2pSupported,
                sliceCount: v1.sliceCount,
                instanceCount: v1.instanceCount,
                multiprocessorCount: v1.multiprocessorCount,
                copyEngineCount: v1.copyEngineCount,
                decoderCount: v1.decoderCount,
                encoderCount: v1.encoderCount,
                jpegCount: v1.jpegCount,
                ofaCount: v1.ofaCount,
                memorySizeMB: v1.memorySizeMB,
                name,
            },
        )
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `count` is null or points to a readable and writable `c_uint`; `placements` is null or valid
///   for writes of as many items as `*count` says on entry.
/// - A null `placements` with a valid `count` asks for the count only.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstancePossiblePlacements_v2(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placements: *mut sys::nvmlGpuInstancePlacement_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        let n = load()?;
        let g = gpu_of(&n, device_gpu(device)?)?;
        let p = served_by_id(g, profile_id)?;
        let items: Vec<sys::nvmlGpuInstancePlacement_t> = p
            .starts
            .iter()
            .map(|s| sys::nvmlGpuInstancePlacement_t {
                start: u32::from(*s),
                size: p.size,
            })
            .collect();
        if placements.is_null() && !count.is_null() {
            *count = c_uint::try_from(items.len()).unwrap_or(c_uint::MAX);
            return Ok(());
        }
        put_list(placements, count, &items)
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `placement` is null or points to a readable `nvmlGpuInstancePlacement_t`.
/// - `gpu_instance` is null or points to a writable `nvmlGpuInstance_t`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceCreateGpuInstanceWithPlacement(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    placement: *const sys::nvmlGpuInstancePlacement_t,
    gpu_instance: *mut sys::nvmlGpuInstance_t,
) -> Ret {
    entry(|| {
        emulate(Kind::GiCreate);
        let gpu = device_gpu(device)?;
        if placement.is_null() || gpu_instance.is_null() {
            return Err(INVALID_ARGUMENT);
        }
        let pl = *placement;
        let gi = modify(|n| {
            let g = gpu_of(n, gpu)?;
            if !g.mig.usable() {
                return Err(NOT_SUPPORTED);
            }
            if served_by_id(g, profile_id)?.extra {
                // Listed only: the model has no such profile to place.
                return Err(NOT_SUPPORTED);
            }
            let p = profile_of(g, ProfileId(profile_id))?;
            if pl.size != u32::from(p.memory_slices) {
                return Err(INVALID_ARGUMENT);
            }
            let start = u8::try_from(pl.start).map_err(|_| INVALID_ARGUMENT)?;
            if !offered_starts(p).contains(&start) {
                return Err(INVALID_ARGUMENT);
            }
            n.create_gi(GpuIndex(gpu), ProfileId(profile_id), start)
                .map_err(|e| code_of(&e))
        })?;
        put(gpu_instance, handle(TAG_GI, gpu, gi.get(), 0))
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `count` is null or points to a readable and writable `c_uint`; `gpu_instances` is null or
///   valid for writes of as many items as `*count` says on entry.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstances(
    device: sys::nvmlDevice_t,
    profile_id: c_uint,
    gpu_instances: *mut sys::nvmlGpuInstance_t,
    count: *mut c_uint,
) -> Ret {
    entry(|| {
        emulate(Kind::GiList);
        let n = load()?;
        let gpu = device_gpu(device)?;
        let g = gpu_of(&n, gpu)?;
        if !g.mig.current {
            return Err(NOT_SUPPORTED);
        }
        served_by_id(g, profile_id)?;
        let items: Vec<sys::nvmlGpuInstance_t> = g
            .instances
            .iter()
            .filter(|i| i.profile_id == ProfileId(profile_id))
            .map(|i| handle(TAG_GI, gpu, i.gi.get(), 0))
            .collect();
        put_list(gpu_instances, count, &items)
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `gpu_instance` is null or points to a writable `nvmlGpuInstance_t`.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetGpuInstanceById(
    device: sys::nvmlDevice_t,
    id: c_uint,
    gpu_instance: *mut sys::nvmlGpuInstance_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let gpu = device_gpu(device)?;
        let g = gpu_of(&n, gpu)?;
        if !g.mig.current {
            return Err(NOT_SUPPORTED);
        }
        if !g.instances.iter().any(|i| i.gi == GiId(id)) {
            return Err(NOT_FOUND);
        }
        put(gpu_instance, handle(TAG_GI, gpu, id, 0))
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `info` is null or points to a writable `nvmlGpuInstanceInfo_t`.
/// - `gpu_instance` may be any value: handles are never dereferenced, and one this library did not
///   give out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceGetInfo(
    gpu_instance: sys::nvmlGpuInstance_t,
    info: *mut sys::nvmlGpuInstanceInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (gpu, gi) = gi_ref(gpu_instance)?;
        let g = gpu_of(&n, gpu)?;
        let i = instance_of(g, gi)?;
        let p = profile_of(g, i.profile_id)?;
        put(
            info,
            sys::nvmlGpuInstanceInfo_t {
                device: handle(TAG_DEVICE, gpu, 0, 0),
                id: gi,
                profileId: i.profile_id.get(),
                placement: sys::nvmlGpuInstancePlacement_t {
                    start: u32::from(i.start),
                    size: u32::from(p.memory_slices),
                },
            },
        )
    })
}

/// # Safety
///
/// No pointer is taken: `gpu_instance` may be any value: handles are never dereferenced, and one
/// this library did not give out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlGpuInstanceDestroy(gpu_instance: sys::nvmlGpuInstance_t) -> Ret {
    entry(|| {
        emulate(Kind::GiDestroy);
        let (gpu, gi) = gi_ref(gpu_instance)?;
        modify(|n| {
            let i = instance_of(gpu_of(n, gpu)?, gi)?;
            if i.ci.is_some() || held(gpu, gi) {
                return Err(IN_USE);
            }
            if take_busy() {
                return Err(IN_USE);
            }
            n.destroy(GpuIndex(gpu), GiId(gi)).map_err(|e| code_of(&e))
        })
    })
}
