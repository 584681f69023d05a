//! Release: the container is deleted (`dynamig-runc delete`, the shim's Delete and `shim
//! delete`, `dynamig-hook poststop` after `runc run`), so its holder's slice goes back.

use super::LifecycleError;
use dynamig_node::config::NodeConfig;
use dynamig_node::node::Node;
use dynamig_node::state::HolderKey;

/// Whether the node may have a holder `key` (lock-free, see [`dynamig_node::node::may_hold`]).
pub fn may_hold(cfg: &NodeConfig, key: &HolderKey) -> bool {
    dynamig_node::node::may_hold(&cfg.state_dir, key)
}

/// Releases holder `key` (never another namespace's holder of the same id); `Ok(false)` when
/// it held nothing before this call (`Ok(true)` also when the node's reconciliation on opening
/// released it, its process being gone, as it usually is at a deletion). The caller has checked that this container was given that holder's slice
/// ([`crate::injected`]). When a lock-free read of the state proves there is no such holder
/// ([`may_hold`]), that answer comes without the lock, the backend or a write.
pub fn release(cfg: &NodeConfig, key: &HolderKey) -> Result<bool, LifecycleError> {
    if !may_hold(cfg, key) {
        return Ok(false);
    }
    crate::logging::init("dynamig-runc");
    let dir = cfg.open_state_dir()?;
    let started = std::time::Instant::now();
    // A container's process has exited by its deletion, so the open's reconciliation often
    // releases the holder first ("its process is gone"): released all the same.
    let released = Node::session(cfg, &dir, |node| {
        let by_reconcile = node.reconciled.released.contains(key);
        Ok::<_, LifecycleError>(node.release(key)? || by_reconcile)
    })?;
    if released {
        tracing::info!(
            holder = %key.id,
            namespace = %key.namespace,
            total_us = dynamig_core::duration::micros(started.elapsed()),
            "released"
        );
    }
    Ok(released)
}
