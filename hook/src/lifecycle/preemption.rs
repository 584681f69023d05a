//! Preemption: a container whose `runc start` failed may have lost its slice between its
//! create and its start (evicted for a higher-priority request, or its MIG instance destroyed
//! outside dynamig); runc only says "cannot start a container that has stopped". This says why.

use dynamig_node::state::{HolderKey, HolderState, NodeState, StateDir};

/// Why holder `key` no longer has its slice, when it does not: `it was preempted (evicted for
/// NS/ID at TIME)` or `its MIG instance was lost`. Read without the lock (the state file and
/// the event log).
pub fn preemption(key: &HolderKey) -> Option<String> {
    let dir = StateDir::env_path();
    let state: NodeState = dynamig_node::state::file::read(&dir.join("state.json")).ok()??;
    match state.holder(key)?.state {
        HolderState::Active => None,
        HolderState::Lost => {
            Some("lost its MIG instance before it started (destroyed outside dynamig)".to_string())
        }
        HolderState::Preempted | HolderState::Preempting => {
            let events = dynamig_node::events::read(&dir.join("events.jsonl"), 0);
            let by = events.iter().rev().find(|e| {
                e.kind == "preempted"
                    && e.holder.as_deref() == Some(key.id.as_str())
                    && e.namespace.as_deref().is_none_or(|n| n == key.namespace)
            });
            Some(match by {
                Some(e) => format!(
                    "was preempted before it started: {} at {} (its MIG slice is gone; see `dynamigctl events`)",
                    e.message,
                    dynamig_core::rfc3339::format_ms(e.time_ms)
                ),
                None => "was preempted before it started (its MIG slice is gone; see `dynamigctl events`)".to_string(),
            })
        }
    }
}
