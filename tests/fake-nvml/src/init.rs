//! Library and system: `nvmlInit_v2` (fails with `DRIVER_NOT_LOADED` without a node file),
//! `nvmlInitWithFlags`, `nvmlShutdown`, and the driver and NVML versions. An invalid
//! `FAKE_NVML_LATENCY_MS` fails `nvmlInit` with `NVML_ERROR_UNKNOWN` and a line on stderr.

use std::ffi::{c_char, c_uint};
use std::sync::atomic::Ordering;

use crate::abi::{entry, put_str, INIT_COUNT};
use crate::config::DRIVER_ENV;
use crate::errors::{Ret, SUCCESS, UNINITIALIZED, UNKNOWN};
use crate::latency::{self, Kind};
use crate::proc_tree::write_proc_tree;
use crate::store::load;

#[no_mangle]
pub extern "C" fn nvmlInit_v2() -> Ret {
    if let Err(e) = latency::setting() {
        eprintln!("fake-nvml: {e}");
        return UNKNOWN;
    }
    latency::timed(|| {
        latency::emulate(Kind::Init);
        match load() {
            Ok(n) => {
                write_proc_tree(&n);
                INIT_COUNT.fetch_add(1, Ordering::SeqCst);
                SUCCESS
            }
            Err(e) => e,
        }
    })
}

#[no_mangle]
pub extern "C" fn nvmlInitWithFlags(_flags: c_uint) -> Ret {
    nvmlInit_v2()
}

#[no_mangle]
pub extern "C" fn nvmlShutdown() -> Ret {
    let prev = INIT_COUNT.load(Ordering::SeqCst);
    if prev == 0 {
        return UNINITIALIZED;
    }
    latency::timed(|| {
        latency::emulate(Kind::Shutdown);
        INIT_COUNT.fetch_sub(1, Ordering::SeqCst);
        SUCCESS
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `version` is null or valid for writes of `length` chars.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetDriverVersion(version: *mut c_char, length: c_uint) -> Ret {
    entry(|| {
        let v = std::env::var(DRIVER_ENV).unwrap_or_else(|_| "580.126.09".into());
        put_str(version, length, &v)
    })
}

/// # Safety
///
/// nvml.h's contract for this call, as the real library assumes it:
/// - `version` is null or valid for writes of `length` chars.
#[no_mangle]
pub unsafe extern "C" fn nvmlSystemGetNVMLVersion(version: *mut c_char, length: c_uint) -> Ret {
    entry(|| {
        let v = std::env::var(DRIVER_ENV).unwrap_or_else(|_| "580.126.09".into());
        put_str(version, length, &format!("13.{v}"))
    })
}
