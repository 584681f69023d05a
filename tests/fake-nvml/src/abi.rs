//! Plumbing of the exported functions: the initialisation count, the entry wrapper (no panic
//! crosses the C boundary) and the writers of results into caller pointers, which check for
//! null and sizes as NVML does.
#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{c_char, c_uint};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::errors::{Ret, INSUFFICIENT_SIZE, INVALID_ARGUMENT, SUCCESS, UNINITIALIZED, UNKNOWN};

pub(crate) static INIT_COUNT: AtomicU32 = AtomicU32::new(0);

/// Runs an entry point: checks initialisation, never lets a panic cross the C boundary.
pub(crate) fn entry(f: impl FnOnce() -> Result<(), Ret>) -> Ret {
    if INIT_COUNT.load(Ordering::SeqCst) == 0 {
        return UNINITIALIZED;
    }
    crate::latency::timed(
        || match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            Ok(Ok(())) => SUCCESS,
            Ok(Err(code)) => code,
            Err(_) => UNKNOWN,
        },
    )
}

/// Writes `v` through the caller's out-pointer `p`; `INVALID_ARGUMENT` when it is null.
///
/// # Safety
///
/// `p` is null or valid for a write of one `T` (nvml.h's contract for an out-parameter).
pub(crate) unsafe fn put<T>(p: *mut T, v: T) -> Result<(), Ret> {
    if p.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    // SAFETY: `p` is not null, and the caller guarantees it is valid for one write of `T`.
    unsafe { p.write(v) };
    Ok(())
}

/// Writes `s` NUL-terminated into the caller's buffer of `len` chars: `INVALID_ARGUMENT` when
/// it is null, `INSUFFICIENT_SIZE` (nothing written) when `s` and its NUL do not fit.
///
/// # Safety
///
/// `buf` is null or valid for writes of `len` chars (nvml.h's contract for a string buffer).
pub(crate) unsafe fn put_str(buf: *mut c_char, len: c_uint, s: &str) -> Result<(), Ret> {
    if buf.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    let b = s.as_bytes();
    if (len as usize) < b.len() + 1 {
        return Err(INSUFFICIENT_SIZE);
    }
    for (i, c) in b.iter().enumerate() {
        // SAFETY: `i < b.len() < len`, and the caller guarantees `len` writable chars.
        unsafe { buf.add(i).write(*c as c_char) };
    }
    // SAFETY: `b.len() < len` (checked above): the NUL is inside the caller's buffer.
    unsafe { buf.add(b.len()).write(0) };
    Ok(())
}

/// Writes a list into a caller buffer with NVML's count protocol: `*count` in = capacity
/// (0 with a null buffer = just ask), out = the number of items.
///
/// # Safety
///
/// `count` is null or valid for a read and a write of one `c_uint`; `buf` is null or valid
/// for writes of as many `T` as `*count` says on entry (nvml.h's list-call contract).
pub(crate) unsafe fn put_list<T: Copy>(
    buf: *mut T,
    count: *mut c_uint,
    items: &[T],
) -> Result<(), Ret> {
    if count.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    // SAFETY: `count` is not null, and the caller guarantees it is valid to read and write.
    let cap = unsafe { *count } as usize;
    // SAFETY: as above.
    unsafe { *count = c_uint::try_from(items.len()).unwrap_or(c_uint::MAX) };
    if cap < items.len() {
        return Err(INSUFFICIENT_SIZE);
    }
    if items.is_empty() {
        return Ok(());
    }
    if buf.is_null() {
        return Err(INVALID_ARGUMENT);
    }
    for (i, it) in items.iter().enumerate() {
        // SAFETY: `buf` is not null and `i < items.len() <= cap`, the capacity the caller
        // gave in `*count` and guarantees writable.
        unsafe { buf.add(i).write(*it) };
    }
    Ok(())
}
