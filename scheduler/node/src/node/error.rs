//! What a node operation can fail with, and the exit status `dynamigctl` maps each failure to.

use crate::backend::{BackendError, BackendKind, SelectError};
use crate::state::dir::StateDirError;
use crate::state::{HolderKey, LockError, StateFileError};
use dynamig_core::planner::Refusal;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    Dir(#[from] StateDirError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    State(#[from] StateFileError),
    #[error(transparent)]
    Select(#[from] SelectError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("{0}")]
    Refused(Refusal),
    #[error("{0} already holds a MIG instance on this node; release it first")]
    AlreadyHeld(HolderKey),
    #[error("holder id {0:?} is not valid: 1 to 256 printable characters, no white space")]
    BadId(String),
    #[error("the state in {dir} was written by the {state} backend, but this process uses {backend}; use DYNAMIG_BACKEND={state} or another DYNAMIG_STATE_DIR")]
    BackendMismatch {
        dir: String,
        state: BackendKind,
        backend: BackendKind,
    },
    #[error("could not evict {victim}: its process {pid} did not exit after SIGTERM and SIGKILL")]
    VictimAlive { victim: String, pid: u32 },
    #[error("{0} is already being allocated on this node (an eviction for it is in flight)")]
    BeingAllocated(HolderKey),
    #[error("the room reserved for {0} was taken over by a retry of the same Kubernetes container; this create gives up")]
    EvictionTakenOver(HolderKey),
    #[error("no holder {0} on this node")]
    NoSuchHolder(HolderKey),
    #[error(
        "no room for {request} now that is not reserved for waiting requests ahead of it: {ahead}"
    )]
    Reserved { request: String, ahead: String },
    #[error("gave up after waiting {waited_ms} ms: {last}")]
    WaitExpired {
        waited_ms: u64,
        last: Box<NodeError>,
    },
    #[error("stopped waiting after {waited_ms} ms (interrupted); nothing was allocated")]
    Cancelled { waited_ms: u64 },
    #[error("a request for holder {0} is already waiting on this node")]
    AlreadyQueued(HolderKey),
    #[error(transparent)]
    Policy(#[from] dynamig_core::policy::PolicyError),
    #[error("this node is DRA-managed (its GPUs are handed out by the mig.dynamig.io DRA plugin through ResourceClaims): standalone allocation is refused so that the Kubernetes scheduler's view of the GPUs stays exact; request the slice through a ResourceClaim, or run `dynamigctl dra standalone` once the plugin and its claims are gone (docs/dra-node.md)")]
    DraManaged,
    #[error("the node still has {claims} DRA claim(s) prepared; delete their pods (the kubelet unprepares them) before making the node standalone")]
    ClaimsPrepared { claims: usize },
}

impl NodeError {
    /// The exit status `dynamigctl` uses: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            NodeError::Refused(r) if r.is_bad_input() => 2,
            NodeError::BadId(_) => 2,
            NodeError::WaitExpired { last, .. } => last.exit_code(),
            NodeError::Policy(p) if p.is_bad_input() => 2,
            _ => 1,
        }
    }
}
