//! Record: once `runc create` has made the container's init process, that process becomes the
//! holder's life (reconciliation releases the holder once it is gone). Called by the shim after
//! `runc create` and by `dynamig-hook create-runtime`.
//!
//! The light path ([`dynamig_node::record`]): the node lock and the state file only; no backend,
//! no reconcile, no metrics rewrite.

use super::LifecycleError;
use dynamig_node::process::ProcRef;
use dynamig_node::state::{HolderKey, NodeLock, StateDir};

/// Records process `pid` as holder `key`'s life.
pub fn record(key: &HolderKey, pid: u32) -> Result<(), LifecycleError> {
    let dir = StateDir::from_env()?;
    let process = ProcRef::of(pid).ok_or_else(|| LifecycleError::ProcessGone {
        id: key.to_string(),
        pid,
    })?;
    dynamig_node::record::set_process(&dir, NodeLock::timeout_from_env(), key, process)?;
    tracing::info!(holder = %key.id, namespace = %key.namespace, pid, "recorded the container process");
    Ok(())
}
