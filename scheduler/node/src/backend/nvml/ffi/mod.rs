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
//!
//! By concern: [`types`] (the nvml.h structs, return codes and constants), the call machinery
//! here (`sym!`, `string_call!`, `list_call!`, [`CallError`], the handle types), and the calls
//! themselves on [`Raw`]: `device_calls` (system, devices, MIG device handles, processes) and
//! `instance_calls` (GPU- and compute-instance profiles, placements, instances).

use nvml_wrapper_sys::bindings as sys;
use std::ffi::c_char;

mod types;
pub use types::*;

/// A failed NVML call: the function and its `nvmlReturn_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallError {
    pub function: &'static str,
    pub code: u32,
}

pub type R<T> = Result<T, CallError>;

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

mod device_calls;
mod instance_calls;
