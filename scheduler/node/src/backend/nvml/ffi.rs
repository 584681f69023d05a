//! The raw NVML calls, and the only `unsafe` code of the NVML backend.
//!
//! nvml-wrapper 0.13 has no safe wrapper for most GPU/compute-instance calls, and its
//! `possible_placements` never sets the length of the vector it returns (always empty). So every
//! MIG call goes through the function pointers of the library nvml-wrapper loaded
//! ([`nvml_wrapper::Nvml::lib`]), with the structs of `nvml-wrapper-sys` (nvml.h's layouts).
//!
//! Each call: take the function pointer (a symbol the library lacks becomes
//! `NVML_ERROR_FUNCTION_NOT_FOUND`, never a panic), call it in one small `unsafe` block with
//! pointers to live locals, and turn its return code into a [`CallError`] naming the function.
//! Handles are opaque pointers that NVML owns; they are only ever passed back to NVML.

use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};

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
/// `NVML_FEATURE_ENABLED`.
const FEATURE_ENABLED: u32 = 1;
/// `NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED`.
const CI_ENGINE_PROFILE_SHARED: c_uint = 0;

/// A failed NVML call: the function and its `nvmlReturn_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallError {
    pub function: &'static str,
    pub code: u32,
}

pub type R<T> = Result<T, CallError>;

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

fn check(function: &'static str, code: sys::nvmlReturn_t) -> R<()> {
    if code == SUCCESS {
        Ok(())
    } else {
        Err(CallError { function, code })
    }
}

/// The function pointer `$name` of the loaded library, or `FUNCTION_NOT_FOUND`.
macro_rules! sym {
    ($lib:expr, $name:ident) => {
        match $lib.$name.as_ref() {
            Ok(f) => *f,
            Err(_) => {
                return Err(CallError {
                    function: stringify!($name),
                    code: ERROR_FUNCTION_NOT_FOUND,
                })
            }
        }
    };
}

/// An NVML device handle (a GPU or a MIG device).
#[derive(Debug, Clone, Copy)]
pub struct Dev(sys::nvmlDevice_t);
/// An NVML GPU-instance handle.
#[derive(Debug, Clone, Copy)]
pub struct Gi(sys::nvmlGpuInstance_t);
/// An NVML compute-instance handle.
#[derive(Debug, Clone, Copy)]
pub struct Ci(sys::nvmlComputeInstance_t);

/// The `device` handle of a compute instance's info. nvml.h documents it as the parent device;
/// some drivers put the MIG device there ([`Raw::is_mig_device_handle`] tells which).
pub fn ci_info_device(info: &CiInfoRaw) -> Dev {
    Dev(info.device)
}

/// A NUL-terminated string out of an NVML char buffer.
fn buf_string(buf: &[c_char]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .map(|c| c.to_ne_bytes()[0])
        .take_while(|b| *b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The raw calls on a loaded library.
pub struct Raw<'a> {
    lib: &'a sys::NvmlLib,
}

/// Calls a `(…, char *buf, unsigned len)` function and returns the string it wrote.
macro_rules! string_call {
    ($self:ident, $name:ident, $len:expr $(, $arg:expr)*) => {{
        let f = sym!($self.lib, $name);
        let mut buf = [0 as c_char; $len as usize];
        // SAFETY: `buf` is a live buffer of exactly the length passed; NVML writes at most that
        // many bytes, NUL included. The other arguments are handles NVML gave us.
        let code = unsafe { f($($arg,)* buf.as_mut_ptr(), $len as c_uint) };
        check(stringify!($name), code)?;
        Ok(buf_string(&buf))
    }};
}

/// Calls a `(…, T *items, unsigned *count)` list function twice-proof: with a buffer of `cap`
/// items, growing it once if NVML answers `INSUFFICIENT_SIZE`.
macro_rules! list_call {
    ($self:ident, $name:ident, $zero:expr, $cap:expr, |$f:ident, $buf:ident, $count:ident| $call:expr) => {{
        let $f = sym!($self.lib, $name);
        let mut cap: usize = $cap;
        loop {
            let mut $buf = vec![$zero; cap.max(1)];
            let mut $count: c_uint = c_uint::try_from(cap).unwrap_or(c_uint::MAX);
            // SAFETY (for `$call`): `$buf` holds `$count` elements and NVML writes at most that
            // many; `$count` is a live local.
            let code = $call;
            if code == ERROR_INSUFFICIENT_SIZE && ($count as usize) > cap && cap < 4096 {
                cap = $count as usize;
                continue;
            }
            check(stringify!($name), code)?;
            $buf.truncate(($count as usize).min(cap));
            break Ok($buf);
        }
    }};
}

impl<'a> Raw<'a> {
    pub fn new(nvml: &'a nvml_wrapper::Nvml) -> Raw<'a> {
        Raw { lib: nvml.lib() }
    }

    pub fn driver_version(&self) -> R<String> {
        string_call!(
            self,
            nvmlSystemGetDriverVersion,
            sys::NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
        )
    }

    pub fn nvml_version(&self) -> R<String> {
        string_call!(
            self,
            nvmlSystemGetNVMLVersion,
            sys::NVML_SYSTEM_NVML_VERSION_BUFFER_SIZE
        )
    }

    pub fn device_count(&self) -> R<u32> {
        let f = sym!(self.lib, nvmlDeviceGetCount_v2);
        let mut n: c_uint = 0;
        // SAFETY: NVML writes one unsigned int through a pointer to a live local.
        check("nvmlDeviceGetCount_v2", unsafe { f(&mut n) })?;
        Ok(n)
    }

    pub fn device(&self, index: u32) -> R<Dev> {
        let f = sym!(self.lib, nvmlDeviceGetHandleByIndex_v2);
        let mut d: sys::nvmlDevice_t = std::ptr::null_mut();
        // SAFETY: NVML writes one handle through a pointer to a live local.
        check("nvmlDeviceGetHandleByIndex_v2", unsafe { f(index, &mut d) })?;
        Ok(Dev(d))
    }

    pub fn name(&self, d: Dev) -> R<String> {
        string_call!(
            self,
            nvmlDeviceGetName,
            sys::NVML_DEVICE_NAME_V2_BUFFER_SIZE,
            d.0
        )
    }

    pub fn uuid(&self, d: Dev) -> R<String> {
        string_call!(
            self,
            nvmlDeviceGetUUID,
            sys::NVML_DEVICE_UUID_V2_BUFFER_SIZE,
            d.0
        )
    }

    pub fn minor_number(&self, d: Dev) -> R<u32> {
        let f = sym!(self.lib, nvmlDeviceGetMinorNumber);
        let mut m: c_uint = 0;
        // SAFETY: `d` came from NVML; NVML writes one unsigned int to a live local.
        check("nvmlDeviceGetMinorNumber", unsafe { f(d.0, &mut m) })?;
        Ok(m)
    }

    /// (current, pending), each `NVML_DEVICE_MIG_ENABLE` (1) or `_DISABLE` (0).
    pub fn mig_mode(&self, d: Dev) -> R<(u32, u32)> {
        let f = sym!(self.lib, nvmlDeviceGetMigMode);
        let (mut cur, mut pend): (c_uint, c_uint) = (0, 0);
        // SAFETY: `d` came from NVML; NVML writes two unsigned ints to live locals.
        check("nvmlDeviceGetMigMode", unsafe {
            f(d.0, &mut cur, &mut pend)
        })?;
        Ok((cur, pend))
    }

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

    pub fn max_mig_device_count(&self, d: Dev) -> R<u32> {
        let f = sym!(self.lib, nvmlDeviceGetMaxMigDeviceCount);
        let mut n: c_uint = 0;
        // SAFETY: `d` came from NVML; NVML writes one unsigned int to a live local.
        check("nvmlDeviceGetMaxMigDeviceCount", unsafe { f(d.0, &mut n) })?;
        Ok(n)
    }

    pub fn mig_device(&self, d: Dev, index: u32) -> R<Dev> {
        let f = sym!(self.lib, nvmlDeviceGetMigDeviceHandleByIndex);
        let mut m: sys::nvmlDevice_t = std::ptr::null_mut();
        // SAFETY: `d` came from NVML; NVML writes one handle to a live local.
        check("nvmlDeviceGetMigDeviceHandleByIndex", unsafe {
            f(d.0, index, &mut m)
        })?;
        Ok(Dev(m))
    }

    pub fn mig_gi_id(&self, m: Dev) -> R<u32> {
        let f = sym!(self.lib, nvmlDeviceGetGpuInstanceId);
        let mut id: c_uint = 0;
        // SAFETY: `m` is a MIG device handle from NVML; NVML writes to a live local.
        check("nvmlDeviceGetGpuInstanceId", unsafe { f(m.0, &mut id) })?;
        Ok(id)
    }

    pub fn mig_ci_id(&self, m: Dev) -> R<u32> {
        let f = sym!(self.lib, nvmlDeviceGetComputeInstanceId);
        let mut id: c_uint = 0;
        // SAFETY: `m` is a MIG device handle from NVML; NVML writes to a live local.
        check("nvmlDeviceGetComputeInstanceId", unsafe { f(m.0, &mut id) })?;
        Ok(id)
    }

    /// Whether `d` is a MIG device handle (not a GPU's).
    pub fn is_mig_device_handle(&self, d: Dev) -> R<bool> {
        let f = sym!(self.lib, nvmlDeviceIsMigDeviceHandle);
        let mut v: c_uint = 0;
        // SAFETY: `d` came from NVML; NVML writes one unsigned int to a live local.
        check("nvmlDeviceIsMigDeviceHandle", unsafe { f(d.0, &mut v) })?;
        Ok(v != 0)
    }

    /// Whether persistence mode is on (`nvmlDeviceGetPersistenceMode`).
    pub fn persistence_mode(&self, d: Dev) -> R<bool> {
        let f = sym!(self.lib, nvmlDeviceGetPersistenceMode);
        let mut v: sys::nvmlEnableState_t = 0;
        // SAFETY: `d` came from NVML; NVML writes one enum value to a live local.
        check("nvmlDeviceGetPersistenceMode", unsafe { f(d.0, &mut v) })?;
        Ok(v == FEATURE_ENABLED)
    }

    /// Compute processes on a device. On a MIG device handle: the processes of that MIG device.
    /// On a MIG-enabled parent NVML answers an aggregate only to a privileged caller, and may
    /// leave the instance ids unset (0xFFFFFFFF): never rely on the parent's list.
    pub fn compute_processes(&self, d: Dev) -> R<Vec<ProcessRaw>> {
        let zero = ProcessRaw {
            pid: 0,
            usedGpuMemory: 0,
            gpuInstanceId: 0,
            computeInstanceId: 0,
        };
        list_call!(
            self,
            nvmlDeviceGetComputeRunningProcesses_v3,
            zero,
            64,
            // SAFETY: the buffer and count are the macro's live locals, sized as NVML is told.
            |f, buf, count| unsafe { f(d.0, &mut count, buf.as_mut_ptr()) }
        )
    }
}
