//! dynamig's part of a container's life, called by the task service in process: allocate and
//! edit the spec before `runc create`, record the container's process after it, release on
//! deletion. The same library calls as `dynamig-runc` and `dynamig-hook`, without their
//! processes and without OCI hooks.

use crate::error::{Result, ShimError};
use dynamig_hook::injected::Injected;
use dynamig_hook::runtime::{self, Caller, Prepared};
use dynamig_hook::HolderKey;
use std::path::Path;

/// What a container was given: the env entries its processes see it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// `NAME=VALUE`: `NVIDIA_VISIBLE_DEVICES` and `CUDA_VISIBLE_DEVICES` (`MIG-<uuid>`) and
    /// `DYNAMIG_HOLDER`, as the container's own process has them.
    pub env: Vec<(String, String)>,
}

/// Allocates for a bundle whose spec makes a request and edits its `config.json`. `Ok(Some)`
/// when it did, `Ok(None)` when the spec makes no request (the bundle is not touched).
pub fn prepare(bundle: &Path, id: &str, namespace: &str) -> Result<Option<Slice>> {
    match runtime::prepare(bundle, id, namespace, Caller::Shim) {
        Ok(Prepared::Untouched) => Ok(None),
        Ok(Prepared::Injected(a)) => Ok(Some(Slice {
            env: dynamig_hook::exec_env::device_env(&a.uuid, &a.id),
        })),
        Err(e) => {
            tracing::error!(holder = id, namespace, error = %e, "create refused");
            Err(ShimError::Dynamig(e.to_string()))
        }
    }
}

/// Records the container's init process on its holder: from now on the holder lives exactly
/// as long as that process (reconciliation releases it once the process is gone).
pub fn record(key: &HolderKey, pid: u32) {
    if let Err(e) = runtime::record_process(key, pid) {
        // The holder keeps this shim as its creator: it is released when the shim is gone.
        tracing::error!(holder = %key.id, namespace = %key.namespace, pid, error = %e, "cannot record the container process");
    }
}

/// Releases holder `key`, if there is one (a lock-free check first). Only for a container
/// that this shim's Create gave a slice, or whose bundle says so ([`given_in_bundle`]).
pub fn release(key: &HolderKey) {
    match runtime::release(key) {
        Ok(_) => {}
        Err(e) => tracing::error!(
            holder = %key.id,
            namespace = %key.namespace,
            error = %e,
            "release failed; the next dynamig call reconciles it"
        ),
    }
}

/// An exec process's spec (OCI `Process`, JSON) with the slice's env entries set, replacing any
/// of the same names ([`dynamig_hook::exec_env`]).
pub fn exec_spec(process: &[u8], slice: &Slice) -> Vec<u8> {
    dynamig_hook::exec_env::set(process, &slice.env)
}

/// Why holder `key` lost its slice before its container started, if it did
/// ([`runtime::preemption`]).
pub fn preemption(key: &HolderKey) -> Option<String> {
    runtime::preemption(key)
}

/// Whether the bundle's `config.json` says that container `key` was given a slice (the
/// `dynamig.io/injected` record its Create wrote): what `shim delete` goes by once the shim
/// that knew is gone.
pub fn given_in_bundle(bundle: &Path, key: &HolderKey) -> bool {
    Injected::from_bundle(bundle).is_some_and(|r| r.is_for(key))
}
