//! dynamig's part of a container's life, called by the task service in process: allocate and
//! edit the spec before `runc create`, record the container's process after it, release on
//! deletion. The same library calls as `dynamig-runc` and `dynamig-hook`, without their
//! processes and without OCI hooks.

use crate::error::{Result, ShimError};
use dynamig_hook::runtime::{self, Caller, Prepared};
use std::path::Path;

/// Allocates for a bundle whose spec makes a request and edits its `config.json`. `Ok(true)`
/// when it did, `Ok(false)` when the spec makes no request (the bundle is not touched).
pub fn prepare(bundle: &Path, id: &str, namespace: &str) -> Result<bool> {
    match runtime::prepare(bundle, id, namespace, Caller::Shim) {
        Ok(Prepared::Untouched) => Ok(false),
        Ok(Prepared::Injected(_)) => Ok(true),
        Err(e) => {
            tracing::error!(holder = id, namespace, error = %e, "create refused");
            Err(ShimError::Dynamig(e.to_string()))
        }
    }
}

/// Records the container's init process on its holder: from now on the holder lives exactly
/// as long as that process (reconciliation releases it once the process is gone).
pub fn record(id: &str, pid: u32) {
    if let Err(e) = runtime::record_process(id, pid) {
        // The holder keeps this shim as its creator: it is released when the shim is gone.
        tracing::error!(holder = id, pid, error = %e, "cannot record the container process");
    }
}

/// Releases the holder of `id`, if there is one (a lock-free check first).
pub fn release(id: &str) {
    match runtime::release(id) {
        Ok(_) => {}
        Err(e) => tracing::error!(
            holder = id,
            error = %e,
            "release failed; the next dynamig call reconciles it"
        ),
    }
}
