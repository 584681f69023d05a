//! Claims: as the kubelet names them in `NodePrepareResources`, as the API server says they
//! were allocated, and the two traits that join the pieces:
//!
//! - [`ClaimSource`] reads a claim's allocation from the API server (`dra/kube`; a map in
//!   tests);
//! - [`Preparer`] prepares and unprepares claims on this node (`dra/claims`, through the node
//!   core); the gRPC service (`dra/grpc`) calls it, one claim at a time, and maps its
//!   [`ClaimError`] to the per-claim error string of the DRA protocol.

use thiserror::Error;

/// A claim as the kubelet names it (`Claim` in the DRA protos).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// One allocated device of a claim (`status.allocation.devices.results[]` of a
/// `resource.k8s.io/v1` ResourceClaim).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedDevice {
    /// The claim's request this device serves (`request`, `main` or `main/subrequest`).
    pub request: String,
    pub driver: String,
    pub pool: String,
    pub device: String,
}

/// What the API server says of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimAllocation {
    /// The claim object's `metadata.uid`: a prepare whose [`ClaimRef::uid`] differs is for a
    /// claim that was deleted and recreated under the same name, and is refused.
    pub uid: String,
    /// Every allocated device, of every driver (a claim may mix drivers; each prepares its own).
    pub devices: Vec<AllocatedDevice>,
}

/// One prepared device, as the kubelet gets it back (`Device` in the DRA protos).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedDevice {
    pub requests: Vec<String>,
    pub pool: String,
    pub device: String,
    /// Fully qualified CDI device ids (`mig.dynamig.io/claim=<uid>-<device>`).
    pub cdi_device_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClaimError {
    /// The claim cannot be prepared as it is: another node's device, a device this driver does
    /// not publish, a UID that does not match, an overlap with a prepared claim.
    #[error("{0}")]
    Invalid(String),
    /// Worth the kubelet's retry: the API server did not answer, a just-freed instance is still
    /// in use, the node lock was not had in time.
    #[error("{0}")]
    Retryable(String),
    /// The node itself failed (NVML, the state file, the CDI directory).
    #[error("{0}")]
    Internal(String),
}

/// Reads claims from the API server.
pub trait ClaimSource: Send + Sync {
    /// The claim's allocation; `Ok(None)` when no claim of that namespace and name exists.
    fn allocation(&self, claim: &ClaimRef) -> Result<Option<ClaimAllocation>, ClaimError>;
}

/// Prepares and unprepares claims on this node. Both are idempotent: a second prepare of a
/// prepared claim returns the same devices, an unprepare of an unknown claim is success.
pub trait Preparer: Send + Sync {
    fn prepare(&self, claim: &ClaimRef) -> Result<Vec<PreparedDevice>, ClaimError>;
    fn unprepare(&self, claim: &ClaimRef) -> Result<(), ClaimError>;
}
