//! What dynamig gave a container, and giving it back: the shim's side of
//! [`dynamig_hook::lifecycle`] once a container exists.

use dynamig_hook::injected::Injected;
use dynamig_hook::lifecycle;
use dynamig_hook::HolderKey;
use std::path::Path;

/// What a container was given: the env entries its processes see it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// `NAME=VALUE`: `NVIDIA_VISIBLE_DEVICES` and `CUDA_VISIBLE_DEVICES` (`MIG-<uuid>`) and
    /// `DYNAMIG_HOLDER`, as the container's own process has them.
    pub env: Vec<(String, String)>,
}

impl Slice {
    /// The slice of MIG device `uuid` given to holder `holder`.
    pub fn new(uuid: &str, holder: &str) -> Slice {
        Slice {
            env: dynamig_hook::exec_env::device_env(uuid, holder),
        }
    }

    /// An exec process's spec (OCI `Process`, JSON) with the slice's env entries set, replacing
    /// any of the same names ([`dynamig_hook::exec_env`]).
    pub fn exec_spec(&self, process: &[u8]) -> Vec<u8> {
        dynamig_hook::exec_env::set(process, &self.env)
    }
}

/// Releases holder `key`, if there is one (a lock-free check first). Only for a container
/// that this shim's Create gave a slice, or whose bundle says so ([`given_in_bundle`]). A
/// failure is logged: the next dynamig call reconciles it.
pub fn release(key: &HolderKey) {
    if let Err(e) = lifecycle::release(key) {
        tracing::error!(
            holder = %key.id,
            namespace = %key.namespace,
            error = %e,
            "release failed; the next dynamig call reconciles it"
        );
    }
}

/// Whether the bundle's `config.json` says that container `key` was given a slice (the
/// `dynamig.io/injected` record its Create wrote): what `shim delete` goes by once the shim
/// that knew is gone.
pub fn given_in_bundle(bundle: &Path, key: &HolderKey) -> bool {
    Injected::from_bundle(bundle).is_some_and(|r| r.is_for(key))
}
