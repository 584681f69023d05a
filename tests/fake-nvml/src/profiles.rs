//! The GPU-instance profiles a fake GPU serves: the catalog model's, with the knobs applied
//! (memory, placements), plus `FAKE_NVML_EXTRA_PROFILES` (listed, never created), by
//! `NVML_GPU_INSTANCE_PROFILE_*` index; holes and the end of the list answer as the driver does.

use dynamig_core::catalog::Profile;
use dynamig_node::backend::sim::SimGpu;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

use crate::config::{offered_starts, profile_memory, EXTRA_PROFILES_ENV};
use crate::errors::{Ret, INVALID_ARGUMENT, NOT_SUPPORTED, UNKNOWN};
use crate::handles::device_gpu;
use crate::model::gpu_of;
use crate::store::load;

/// `NVML_GPU_INSTANCE_PROFILE_COUNT` of NVML 13.
pub(crate) const GI_PROFILE_COUNT: u32 = 0x12;

/// A GPU-instance profile as this fake driver serves it: a catalog profile, or one of
/// `FAKE_NVML_EXTRA_PROFILES` (`extra`: listed, never created).
pub(crate) struct Served {
    pub(crate) index: u32,
    pub(crate) name: String,
    pub(crate) info: sys::nvmlGpuInstanceProfileInfo_t,
    pub(crate) starts: Vec<u8>,
    pub(crate) size: u32,
    pub(crate) extra: bool,
}

/// The profiles a GPU's driver serves, by index.
pub(crate) fn served_profiles(g: &SimGpu) -> Result<Vec<Served>, Ret> {
    let m = g.model().map_err(|_| UNKNOWN)?;
    let mut v: Vec<Served> = m
        .profiles
        .iter()
        .map(|p| Served {
            index: p.index,
            name: p.name.to_string(),
            info: profile_info(p),
            starts: offered_starts(p),
            size: u32::from(p.memory_slices),
            extra: false,
        })
        .collect();
    let extras = std::env::var(EXTRA_PROFILES_ENV).unwrap_or_default();
    for entry in extras.split(';').filter(|e| !e.trim().is_empty()) {
        let mut it = entry.trim().splitn(3, ':');
        let (Some(Ok(index)), Some(Ok(id)), Some(name)) = (
            it.next().map(|x| x.trim().parse::<u32>()),
            it.next().map(|x| x.trim().parse::<u32>()),
            it.next().map(str::trim),
        ) else {
            continue;
        };
        let cut = name
            .char_indices()
            .skip(1)
            .find(|(_, c)| *c == '+' || *c == '-')
            .map(|(i, _)| i)
            .unwrap_or(name.len());
        let (base, suffix) = name.split_at(cut);
        let Some(bp) = m.profile(base) else { continue };
        let mut info = profile_info(bp);
        info.id = id;
        match suffix {
            "-me" => {
                (info.decoderCount, info.encoderCount) = (0, 0);
                (info.jpegCount, info.ofaCount) = (0, 0);
            }
            "+me.all" => {
                info.decoderCount = u32::from(m.engines.dec);
                info.encoderCount = u32::from(m.engines.enc);
                info.jpegCount = u32::from(m.engines.jpg);
                info.ofaCount = u32::from(m.engines.ofa);
                info.instanceCount = 1;
            }
            _ => {}
        }
        v.push(Served {
            index,
            name: name.to_string(),
            info,
            starts: offered_starts(bp),
            size: u32::from(bp.memory_slices),
            extra: true,
        });
    }
    v.sort_by_key(|p| p.index);
    Ok(v)
}

/// The profile at `NVML_GPU_INSTANCE_PROFILE_*` index `profile` of a device: `NOT_SUPPORTED`
/// for a hole, `INVALID_ARGUMENT` past the indices this driver knows.
pub(crate) fn profile_at(device: sys::nvmlDevice_t, profile: c_uint) -> Result<Served, Ret> {
    let n = load()?;
    let g = gpu_of(&n, device_gpu(device)?)?;
    let served = served_profiles(g)?;
    let count = served
        .iter()
        .map(|p| p.index + 1)
        .max()
        .unwrap_or(0)
        .max(GI_PROFILE_COUNT);
    if profile >= count {
        return Err(INVALID_ARGUMENT);
    }
    if !g.mig.current {
        return Err(NOT_SUPPORTED);
    }
    served
        .into_iter()
        .find(|p| p.index == profile)
        .ok_or(NOT_SUPPORTED)
}

/// The served profile with id `id`, or `INVALID_ARGUMENT`.
pub(crate) fn served_by_id(g: &SimGpu, id: u32) -> Result<Served, Ret> {
    served_profiles(g)?
        .into_iter()
        .find(|p| p.info.id == id)
        .ok_or(INVALID_ARGUMENT)
}

pub(crate) fn profile_info(p: &Profile) -> sys::nvmlGpuInstanceProfileInfo_t {
    sys::nvmlGpuInstanceProfileInfo_t {
        id: p.id.get(),
        isP2pSupported: 0,
        sliceCount: u32::from(p.compute_slices),
        instanceCount: u32::from(p.max_count),
        multiprocessorCount: u32::from(p.sms),
        copyEngineCount: u32::from(p.engines.ce),
        decoderCount: u32::from(p.engines.dec),
        encoderCount: u32::from(p.engines.enc),
        jpegCount: u32::from(p.engines.jpg),
        ofaCount: u32::from(p.engines.ofa),
        memorySizeMB: profile_memory(p),
    }
}

/// `nvmlGpuInstanceProfileInfo_v2`: the v2 struct's size with version 2 in the top byte.
// The struct is a few hundred bytes: far below 2^24.
#[allow(clippy::cast_possible_truncation)]
pub(crate) const GI_PROFILE_INFO_V2: c_uint =
    std::mem::size_of::<sys::nvmlGpuInstanceProfileInfo_v2_t>() as c_uint | (2 << 24);
