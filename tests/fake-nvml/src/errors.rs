//! Return codes: the `nvmlReturn_t` values this fake answers, the mapping from the simulated
//! node's refusals to them (the driver's codes for the same refusals), and `nvmlErrorString`.

use dynamig_node::backend::BackendError;
use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_char;

pub(crate) type Ret = sys::nvmlReturn_t;
pub(crate) const SUCCESS: Ret = 0;
pub(crate) const UNINITIALIZED: Ret = 1;
pub(crate) const INVALID_ARGUMENT: Ret = 2;
pub(crate) const NOT_SUPPORTED: Ret = 3;
pub(crate) const NOT_FOUND: Ret = 6;
pub(crate) const INSUFFICIENT_SIZE: Ret = 7;
pub(crate) const DRIVER_NOT_LOADED: Ret = 9;
pub(crate) const IN_USE: Ret = 19;
pub(crate) const INSUFFICIENT_RESOURCES: Ret = 23;
pub(crate) const ARGUMENT_VERSION_MISMATCH: Ret = 25;
pub(crate) const UNKNOWN: Ret = 999;

pub(crate) fn code_of(e: &BackendError) -> Ret {
    match e {
        BackendError::NoSuchGpu(_) | BackendError::UnknownProfile { .. } => INVALID_ARGUMENT,
        BackendError::InvalidPlacement { .. } => INVALID_ARGUMENT,
        BackendError::NoSuchInstance { .. } => NOT_FOUND,
        BackendError::MigDisabled { .. } => NOT_SUPPORTED,
        BackendError::InsufficientResources { .. } => INSUFFICIENT_RESOURCES,
        BackendError::InUse { .. } | BackendError::MigInUse { .. } => IN_USE,
        _ => UNKNOWN,
    }
}

#[no_mangle]
pub extern "C" fn nvmlErrorString(result: Ret) -> *const c_char {
    let s: &'static [u8] = match result {
        SUCCESS => b"Success\0",
        UNINITIALIZED => b"Uninitialized\0",
        INVALID_ARGUMENT => b"Invalid Argument\0",
        NOT_SUPPORTED => b"Not Supported\0",
        NOT_FOUND => b"Not Found\0",
        INSUFFICIENT_SIZE => b"Insufficient Size\0",
        DRIVER_NOT_LOADED => b"Driver Not Loaded\0",
        IN_USE => b"In use by another client\0",
        INSUFFICIENT_RESOURCES => b"Insufficient Resources\0",
        _ => b"Unknown Error\0",
    };
    s.as_ptr() as *const c_char
}
