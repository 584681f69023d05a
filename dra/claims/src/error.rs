//! Node errors as the kubelet gets them: a [`ClaimError`] per claim.

use dynamig_dra_api::claim::ClaimError;
use dynamig_node::backend::BackendError;
use dynamig_node::node::{ExactError, NodeError};
use dynamig_node::state::LockError;

/// A node error: the lock not had in time and an instance still in use are worth a retry; a
/// request the hardware refuses is invalid; anything else is the node's own failure.
pub fn node(e: NodeError) -> ClaimError {
    match &e {
        NodeError::Lock(LockError::Timeout { .. }) => {
            ClaimError::Retryable(format!("the node lock was not had in time: {e}"))
        }
        NodeError::Backend(b) => backend(b),
        _ => ClaimError::Internal(e.to_string()),
    }
}

fn backend(b: &BackendError) -> ClaimError {
    match b {
        BackendError::InUse { .. } => ClaimError::Retryable(b.to_string()),
        BackendError::InsufficientResources { .. }
        | BackendError::InvalidPlacement { .. }
        | BackendError::UnknownProfile { .. }
        | BackendError::MigDisabled { .. }
        | BackendError::NoSuchGpu(_) => ClaimError::Invalid(b.to_string()),
        _ => ClaimError::Internal(b.to_string()),
    }
}

/// An exact create's failure, for device `device` of the claim.
pub fn exact(device: &str, e: ExactError) -> ClaimError {
    match e {
        ExactError::Occupied { ref by, .. } if by.is_transient() => {
            ClaimError::Retryable(format!("device {device}: {e}"))
        }
        ExactError::Occupied { .. } | ExactError::NotUsable { .. } => {
            ClaimError::Invalid(format!("device {device}: {e}"))
        }
        ExactError::Node(n) => match node(n) {
            ClaimError::Invalid(m) => ClaimError::Invalid(format!("device {device}: {m}")),
            ClaimError::Retryable(m) => ClaimError::Retryable(format!("device {device}: {m}")),
            ClaimError::Internal(m) => ClaimError::Internal(format!("device {device}: {m}")),
        },
    }
}
