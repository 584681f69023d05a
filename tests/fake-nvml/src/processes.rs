//! Compute processes: on a MIG device handle, that MIG device's (pids alive in the node's
//! instances); on a parent GPU, the aggregate with the instance ids unset.

use dynamig_core::ids::{CiId, GiId};
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

use crate::abi::{entry, put_list};
use crate::errors::{Ret, INVALID_ARGUMENT};
use crate::handles::{unpack, TAG_DEVICE, TAG_MIG};
use crate::model::{alive, gpu_of};
use crate::store::load;

/// `gpuInstanceId`/`computeInstanceId` of a process NVML does not attribute to an instance.
const NO_INSTANCE: u32 = 0xFFFF_FFFF;
/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `info_count` is null or points to a readable and writable `c_uint`; `infos` is null or valid
///   for writes of as many items as `*info_count` says on entry.
/// - `device` may be any value: handles are never dereferenced, and one this library did not give
///   out is refused.
#[no_mangle]
pub unsafe extern "C" fn nvmlDeviceGetComputeRunningProcesses_v3(
    device: sys::nvmlDevice_t,
    info_count: *mut c_uint,
    infos: *mut sys::nvmlProcessInfo_t,
) -> Ret {
    entry(|| {
        let n = load()?;
        let (tag, gpu, only_gi, only_ci) = unpack(device);
        if tag != TAG_DEVICE && tag != TAG_MIG {
            return Err(INVALID_ARGUMENT);
        }
        let g = gpu_of(&n, gpu)?;
        let mut items = Vec::new();
        for i in &g.instances {
            // A MIG device handle: that MIG device's processes only.
            if tag == TAG_MIG && (i.gi != GiId(only_gi) || i.ci != Some(CiId(only_ci))) {
                continue;
            }
            // The parent: the aggregate, not attributed to instances.
            let (gi, ci) = if tag == TAG_MIG {
                (i.gi.get(), i.ci.map_or(0, CiId::get))
            } else {
                (NO_INSTANCE, NO_INSTANCE)
            };
            for pid in i.pids.iter().copied().filter(|p| alive(*p)) {
                items.push(sys::nvmlProcessInfo_t {
                    pid,
                    usedGpuMemory: 256 << 20,
                    gpuInstanceId: gi,
                    computeInstanceId: ci,
                });
            }
        }
        put_list(infos, info_count, &items)
    })
}
