//! Opaque handles: (tag, gpu, gi, ci) packed into the pointer value, so a handle stays valid
//! across processes sharing one node file. Never dereferenced: NVML's callers only pass them
//! back, and every entry point unpacks and checks the tag before using one.

use nvml_wrapper_sys::bindings as sys;

use crate::errors::{Ret, INVALID_ARGUMENT};

pub(crate) const TAG_DEVICE: usize = 1;
pub(crate) const TAG_MIG: usize = 2;
pub(crate) const TAG_GI: usize = 3;
pub(crate) const TAG_CI: usize = 4;

pub(crate) fn pack(tag: usize, gpu: u32, gi: u32, ci: u32) -> usize {
    (tag << 28)
        | ((gpu as usize & 0xfff) << 16)
        | ((gi as usize & 0xff) << 8)
        | (ci as usize & 0xff)
}

/// `v & mask` for a mask below 2^32.
pub(crate) fn low_bits(v: usize, mask: u32) -> u32 {
    u32::try_from(v & mask as usize).unwrap_or(0)
}

pub(crate) fn unpack<T>(p: *mut T) -> (usize, u32, u32, u32) {
    let v = p as usize;
    (
        v >> 28,
        low_bits(v >> 16, 0xfff),
        low_bits(v >> 8, 0xff),
        low_bits(v, 0xff),
    )
}

pub(crate) fn handle<T>(tag: usize, gpu: u32, gi: u32, ci: u32) -> *mut T {
    pack(tag, gpu, gi, ci) as *mut T
}

pub(crate) fn device_gpu(d: sys::nvmlDevice_t) -> Result<u32, Ret> {
    match unpack(d) {
        (TAG_DEVICE, gpu, _, _) => Ok(gpu),
        _ => Err(INVALID_ARGUMENT),
    }
}

pub(crate) fn gi_ref(gi: sys::nvmlGpuInstance_t) -> Result<(u32, u32), Ret> {
    match unpack(gi) {
        (TAG_GI, gpu, gi, _) => Ok((gpu, gi)),
        _ => Err(INVALID_ARGUMENT),
    }
}

pub(crate) fn ci_ref(ci: sys::nvmlComputeInstance_t) -> Result<(u32, u32, u32), Ret> {
    match unpack(ci) {
        (TAG_CI, gpu, gi, ci) => Ok((gpu, gi, ci)),
        _ => Err(INVALID_ARGUMENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip() {
        let h: sys::nvmlGpuInstance_t = handle(TAG_GI, 3, 14, 0);
        assert_eq!(gi_ref(h), Ok((3, 14)));
        let c: sys::nvmlComputeInstance_t = handle(TAG_CI, 1, 5, 2);
        assert_eq!(ci_ref(c), Ok((1, 5, 2)));
        assert!(gi_ref(c as sys::nvmlGpuInstance_t).is_err());
        assert!(!h.is_null());
    }
}
