//! Raw calls on GPU and compute instances: GPU-instance profiles (v1, and the named V with its
//! fallback), possible placements, creation with a placement, listing, lookup by id, info and
//! destruction; compute-instance profiles, creation, listing, info and destruction.

use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_uint;

use super::{
    buf_string, check, CallError, Ci, CiInfoRaw, CiProfileRaw, Dev, Gi, GiInfoRaw, GiProfileRaw,
    GiProfileV2Raw, PlacementRaw, Raw, ERROR_ARGUMENT_VERSION_MISMATCH, ERROR_FUNCTION_NOT_FOUND,
    ERROR_INSUFFICIENT_SIZE, GI_PROFILE_INFO_V2, R,
};

/// `NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED`.
const CI_ENGINE_PROFILE_SHARED: c_uint = 0;

impl Raw<'_> {
    /// The GPU-instance profile at `index` (`NVML_GPU_INSTANCE_PROFILE_*`).
    pub fn gi_profile_info(&self, d: Dev, index: u32) -> R<GiProfileRaw> {
        let f = sym!(self.lib, nvmlDeviceGetGpuInstanceProfileInfo);
        let mut info = GiProfileRaw {
            id: 0,
            isP2pSupported: 0,
            sliceCount: 0,
            instanceCount: 0,
            multiprocessorCount: 0,
            copyEngineCount: 0,
            decoderCount: 0,
            encoderCount: 0,
            jpegCount: 0,
            ofaCount: 0,
            memorySizeMB: 0,
        };
        // SAFETY: `d` came from NVML; `info` is a live nvmlGpuInstanceProfileInfo_t.
        check("nvmlDeviceGetGpuInstanceProfileInfo", unsafe {
            f(d.0, index, &mut info)
        })?;
        Ok(info)
    }

    /// The GPU-instance profile at `index` with its name, through
    /// `nvmlDeviceGetGpuInstanceProfileInfoV` (v2 struct, which names the profile); a library or
    /// driver without it answers through [`Raw::gi_profile_info`], without a name.
    pub fn gi_profile_info_named(&self, d: Dev, index: u32) -> R<(GiProfileRaw, Option<String>)> {
        match self.gi_profile_info_v2(d, index) {
            Ok(v) => Ok((
                GiProfileRaw {
                    id: v.id,
                    isP2pSupported: v.isP2pSupported,
                    sliceCount: v.sliceCount,
                    instanceCount: v.instanceCount,
                    multiprocessorCount: v.multiprocessorCount,
                    copyEngineCount: v.copyEngineCount,
                    decoderCount: v.decoderCount,
                    encoderCount: v.encoderCount,
                    jpegCount: v.jpegCount,
                    ofaCount: v.ofaCount,
                    memorySizeMB: v.memorySizeMB,
                },
                Some(buf_string(&v.name)).filter(|n| !n.is_empty()),
            )),
            Err(e)
                if e.code == ERROR_FUNCTION_NOT_FOUND
                    || e.code == ERROR_ARGUMENT_VERSION_MISMATCH =>
            {
                Ok((self.gi_profile_info(d, index)?, None))
            }
            Err(e) => Err(e),
        }
    }

    fn gi_profile_info_v2(&self, d: Dev, index: u32) -> R<GiProfileV2Raw> {
        let f = sym!(self.lib, nvmlDeviceGetGpuInstanceProfileInfoV);
        let mut info = GiProfileV2Raw {
            version: GI_PROFILE_INFO_V2,
            id: 0,
            isP2pSupported: 0,
            sliceCount: 0,
            instanceCount: 0,
            multiprocessorCount: 0,
            copyEngineCount: 0,
            decoderCount: 0,
            encoderCount: 0,
            jpegCount: 0,
            ofaCount: 0,
            memorySizeMB: 0,
            name: [0; 96],
        };
        // SAFETY: `d` came from NVML; `info` is a live nvmlGpuInstanceProfileInfo_v2_t whose
        // `version` field says so.
        check("nvmlDeviceGetGpuInstanceProfileInfoV", unsafe {
            f(d.0, index, &mut info)
        })?;
        Ok(info)
    }

    pub fn gi_possible_placements(&self, d: Dev, profile_id: u32) -> R<Vec<PlacementRaw>> {
        let zero = PlacementRaw { start: 0, size: 0 };
        list_call!(
            self,
            nvmlDeviceGetGpuInstancePossiblePlacements_v2,
            zero,
            16,
            // SAFETY: the buffer and count are the macro's live locals, sized as NVML is told.
            |f, buf, count| unsafe { f(d.0, profile_id, buf.as_mut_ptr(), &mut count) }
        )
    }

    pub fn create_gi_with_placement(
        &self,
        d: Dev,
        profile_id: u32,
        start: u32,
        size: u32,
    ) -> R<Gi> {
        let f = sym!(self.lib, nvmlDeviceCreateGpuInstanceWithPlacement);
        let placement = PlacementRaw { start, size };
        let mut gi: sys::nvmlGpuInstance_t = std::ptr::null_mut();
        // SAFETY: `d` came from NVML; `placement` is read, `gi` written, both live locals.
        check("nvmlDeviceCreateGpuInstanceWithPlacement", unsafe {
            f(d.0, profile_id, &placement, &mut gi)
        })?;
        Ok(Gi(gi))
    }

    pub fn gpu_instances(&self, d: Dev, profile_id: u32, cap: u32) -> R<Vec<Gi>> {
        let v = list_call!(
            self,
            nvmlDeviceGetGpuInstances,
            std::ptr::null_mut(),
            cap as usize,
            // SAFETY: the buffer and count are the macro's live locals, sized as NVML is told.
            |f, buf, count| unsafe { f(d.0, profile_id, buf.as_mut_ptr(), &mut count) }
        )?;
        Ok(v.into_iter().map(Gi).collect())
    }

    pub fn gpu_instance_by_id(&self, d: Dev, id: u32) -> R<Gi> {
        let f = sym!(self.lib, nvmlDeviceGetGpuInstanceById);
        let mut gi: sys::nvmlGpuInstance_t = std::ptr::null_mut();
        // SAFETY: `d` came from NVML; NVML writes one handle to a live local.
        check("nvmlDeviceGetGpuInstanceById", unsafe {
            f(d.0, id, &mut gi)
        })?;
        Ok(Gi(gi))
    }

    pub fn gi_info(&self, gi: Gi) -> R<GiInfoRaw> {
        let f = sym!(self.lib, nvmlGpuInstanceGetInfo);
        let mut info = GiInfoRaw {
            device: std::ptr::null_mut(),
            id: 0,
            profileId: 0,
            placement: PlacementRaw { start: 0, size: 0 },
        };
        // SAFETY: `gi` came from NVML; `info` is a live nvmlGpuInstanceInfo_t.
        check("nvmlGpuInstanceGetInfo", unsafe { f(gi.0, &mut info) })?;
        Ok(info)
    }

    pub fn destroy_gi(&self, gi: Gi) -> R<()> {
        let f = sym!(self.lib, nvmlGpuInstanceDestroy);
        // SAFETY: `gi` came from NVML; NVML invalidates it, and callers drop it after this.
        check("nvmlGpuInstanceDestroy", unsafe { f(gi.0) })
    }

    /// The compute-instance profile at `index` (`NVML_COMPUTE_INSTANCE_PROFILE_*`), shared engines.
    pub fn ci_profile_info(&self, gi: Gi, index: u32) -> R<CiProfileRaw> {
        let f = sym!(self.lib, nvmlGpuInstanceGetComputeInstanceProfileInfo);
        let mut info = CiProfileRaw {
            id: 0,
            sliceCount: 0,
            instanceCount: 0,
            multiprocessorCount: 0,
            sharedCopyEngineCount: 0,
            sharedDecoderCount: 0,
            sharedEncoderCount: 0,
            sharedJpegCount: 0,
            sharedOfaCount: 0,
        };
        // SAFETY: `gi` came from NVML; `info` is a live nvmlComputeInstanceProfileInfo_t.
        check("nvmlGpuInstanceGetComputeInstanceProfileInfo", unsafe {
            f(gi.0, index, CI_ENGINE_PROFILE_SHARED, &mut info)
        })?;
        Ok(info)
    }

    pub fn create_ci(&self, gi: Gi, ci_profile_id: u32) -> R<Ci> {
        let f = sym!(self.lib, nvmlGpuInstanceCreateComputeInstance);
        let mut ci: sys::nvmlComputeInstance_t = std::ptr::null_mut();
        // SAFETY: `gi` came from NVML; NVML writes one handle to a live local.
        check("nvmlGpuInstanceCreateComputeInstance", unsafe {
            f(gi.0, ci_profile_id, &mut ci)
        })?;
        Ok(Ci(ci))
    }

    pub fn compute_instances(&self, gi: Gi, ci_profile_id: u32, cap: u32) -> R<Vec<Ci>> {
        let v = list_call!(
            self,
            nvmlGpuInstanceGetComputeInstances,
            std::ptr::null_mut(),
            cap as usize,
            // SAFETY: the buffer and count are the macro's live locals, sized as NVML is told.
            |f, buf, count| unsafe { f(gi.0, ci_profile_id, buf.as_mut_ptr(), &mut count) }
        )?;
        Ok(v.into_iter().map(Ci).collect())
    }

    pub fn ci_info(&self, ci: Ci) -> R<CiInfoRaw> {
        let f = sym!(self.lib, nvmlComputeInstanceGetInfo_v2);
        let mut info = CiInfoRaw {
            device: std::ptr::null_mut(),
            gpuInstance: std::ptr::null_mut(),
            id: 0,
            profileId: 0,
            placement: sys::nvmlComputeInstancePlacement_t { start: 0, size: 0 },
        };
        // SAFETY: `ci` came from NVML; `info` is a live nvmlComputeInstanceInfo_t.
        check("nvmlComputeInstanceGetInfo_v2", unsafe {
            f(ci.0, &mut info)
        })?;
        Ok(info)
    }

    pub fn destroy_ci(&self, ci: Ci) -> R<()> {
        let f = sym!(self.lib, nvmlComputeInstanceDestroy);
        // SAFETY: `ci` came from NVML; NVML invalidates it, and callers drop it after this.
        check("nvmlComputeInstanceDestroy", unsafe { f(ci.0) })
    }
}
