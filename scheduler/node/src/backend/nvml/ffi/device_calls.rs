//! Raw calls on the system, on devices (a GPU or a MIG device handle) and on the MIG device
//! handles of a GPU: versions, count and handles, name, UUID, minor, MIG mode, persistence
//! mode, MIG device lookup and compute processes.

use nvml_wrapper_sys::bindings as sys;
use std::ffi::{c_char, c_uint};

use super::ERROR_INSUFFICIENT_SIZE;
use super::{buf_string, check, CallError, Dev, ProcessRaw, Raw, ERROR_FUNCTION_NOT_FOUND, R};

/// `NVML_FEATURE_ENABLED`.
const FEATURE_ENABLED: u32 = 1;

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
