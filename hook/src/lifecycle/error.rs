//! The lifecycle's one error type, and the kind of each error: what an edge (the shim's ttrpc
//! codes, a future CRI or DRA surface) tells its caller, so that a bad annotation, "no room"
//! and a lock timeout read apart. The message text is the library error's own, unchanged.
//!
//! The kind is decided by matching the library errors' variants (never their text); a variant
//! added later falls to [`ErrorKind::Internal`] until it is classified here.

use crate::spec::SpecError;
use dynamig_core::planner::Refusal;
use dynamig_core::policy::PolicyError;
use dynamig_node::backend::SelectError;
use dynamig_node::driver_stack::DriverStackError;
use dynamig_node::node::NodeError;
use dynamig_node::state::dir::StateDirError;
use dynamig_node::state::lock::LockError;
use thiserror::Error;

/// Why a lifecycle step failed.
#[derive(Debug, Error)]
pub enum LifecycleError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Dir(#[from] StateDirError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    DriverStack(#[from] DriverStackError),
    #[error("container process {pid} of {id} is already gone")]
    ProcessGone { id: String, pid: u32 },
    #[error("cannot find the dynamig-hook binary next to {0}; set DYNAMIG_HOOK")]
    NoHook(String),
}

/// What kind of failure an error is, for the caller to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request as given can never be met: a bad annotation, holder id or request, a
    /// profile the node does not have, a priority above the policy's allowance. Do not retry.
    BadInput,
    /// Valid, but there is no room now: the planner's refusal, room reserved for waiting
    /// requests, an eviction the policy forbids. Retry later.
    NoRoom,
    /// Another dynamig process holds the node (lock timeout) or the same request is in flight.
    /// Retry soon.
    Busy,
    /// The node is not in a state to serve this: a stale or missing driver stack, a backend
    /// other than the state's, a holder already held or unknown, a misconfigured node.
    FailedPrecondition,
    /// Anything else: I/O, NVML, a damaged state file.
    Internal,
}

impl LifecycleError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            LifecycleError::Spec(e) => spec_kind(e),
            LifecycleError::Dir(e) => dir_kind(e),
            LifecycleError::Node(e) => node_kind(e),
            LifecycleError::DriverStack(e) => driver_stack_kind(e),
            LifecycleError::ProcessGone { .. } | LifecycleError::NoHook(_) => {
                ErrorKind::FailedPrecondition
            }
        }
    }
}

fn spec_kind(e: &SpecError) -> ErrorKind {
    match e {
        SpecError::Request(_) | SpecError::Json { .. } | SpecError::Shape(_) => ErrorKind::BadInput,
        SpecError::Read { .. } | SpecError::Write { .. } => ErrorKind::Internal,
    }
}

fn dir_kind(e: &StateDirError) -> ErrorKind {
    match e {
        StateDirError::Io { .. } => ErrorKind::Internal,
        StateDirError::TooOpen { .. }
        | StateDirError::WrongOwner { .. }
        | StateDirError::NotADirectory { .. } => ErrorKind::FailedPrecondition,
    }
}

/// The same bad-input split as [`NodeError::exit_code`] (2 there is [`ErrorKind::BadInput`]
/// here), with the rest told apart.
pub fn node_kind(e: &NodeError) -> ErrorKind {
    match e {
        NodeError::Refused(r) => refusal_kind(r),
        NodeError::BadId(_) => ErrorKind::BadInput,
        NodeError::Policy(p) => policy_kind(p),
        NodeError::WaitExpired { last, .. } => node_kind(last),
        NodeError::Reserved { .. } => ErrorKind::NoRoom,
        NodeError::Lock(LockError::Timeout { .. }) => ErrorKind::Busy,
        NodeError::EvictionTakenOver(_) | NodeError::Cancelled { .. } => ErrorKind::Busy,
        NodeError::AlreadyHeld(_)
        | NodeError::BeingAllocated(_)
        | NodeError::AlreadyQueued(_)
        | NodeError::NoSuchHolder(_)
        | NodeError::BackendMismatch { .. }
        | NodeError::DraManaged
        | NodeError::ClaimsPrepared { .. } => ErrorKind::FailedPrecondition,
        NodeError::Select(s) => select_kind(s),
        NodeError::Dir(d) => dir_kind(d),
        NodeError::Lock(LockError::Open { .. } | LockError::Flock { .. })
        | NodeError::State(_)
        | NodeError::Backend(_)
        | NodeError::VictimAlive { .. } => ErrorKind::Internal,
    }
}

fn refusal_kind(r: &Refusal) -> ErrorKind {
    if r.is_bad_input() {
        ErrorKind::BadInput
    } else {
        ErrorKind::NoRoom
    }
}

fn policy_kind(p: &PolicyError) -> ErrorKind {
    match p {
        PolicyError::PriorityAbove { .. } => ErrorKind::BadInput,
        PolicyError::MayNotEvict { .. } | PolicyError::BeyondQuota(_) => ErrorKind::NoRoom,
        PolicyError::File { .. } => ErrorKind::FailedPrecondition,
    }
}

fn select_kind(s: &SelectError) -> ErrorKind {
    match s {
        SelectError::BadChoice(_)
        | SelectError::NoSim { .. }
        | SelectError::Nothing { .. }
        | SelectError::NvmlInit { .. } => ErrorKind::FailedPrecondition,
        SelectError::Nvml(_) | SelectError::Backend(_) => ErrorKind::Internal,
    }
}

fn driver_stack_kind(e: &DriverStackError) -> ErrorKind {
    match e {
        DriverStackError::Stale { .. }
        | DriverStackError::Missing { .. }
        | DriverStackError::BadMode(_)
        | DriverStackError::Cdi(_) => ErrorKind::FailedPrecondition,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamig_core::policy::Scope;
    use dynamig_core::request::RequestError;
    use dynamig_node::backend::BackendKind;
    use dynamig_node::state::HolderKey;
    use std::path::PathBuf;
    use std::time::Duration;

    fn node(e: NodeError) -> ErrorKind {
        LifecycleError::Node(e).kind()
    }

    fn key() -> HolderKey {
        HolderKey::new("ns", "c")
    }

    #[test]
    fn bad_input_is_what_the_request_got_wrong() {
        let annotation = SpecError::Request(RequestError::UnknownKey {
            key: "dynamig.io/gpu-memroy".into(),
            known: "dynamig.io/gpu-memory".into(),
        });
        assert_eq!(LifecycleError::Spec(annotation).kind(), ErrorKind::BadInput);
        assert_eq!(node(NodeError::BadId("a b".into())), ErrorKind::BadInput);
        let too_large = Refusal::TooLarge {
            requested: "90GB".into(),
            largest: Vec::new(),
        };
        assert_eq!(node(NodeError::Refused(too_large)), ErrorKind::BadInput);
        let above = PolicyError::PriorityAbove {
            scope: Scope::Containerd("ns".into()),
            max: "batch".into(),
            asked: "interactive".into(),
            path: "/etc/dynamig/policy.toml".into(),
        };
        assert_eq!(node(NodeError::Policy(above)), ErrorKind::BadInput);
    }

    #[test]
    fn no_room_is_a_valid_request_that_cannot_be_met_now() {
        let no_room = Refusal::NoRoom {
            request: "gpu-memory 10GB".into(),
            priority: 0,
            gpus: Vec::new(),
        };
        assert_eq!(node(NodeError::Refused(no_room)), ErrorKind::NoRoom);
        let reserved = NodeError::Reserved {
            request: "gpu-memory 10GB".into(),
            ahead: "ns/w".into(),
        };
        assert_eq!(node(reserved), ErrorKind::NoRoom);
        let may_not = PolicyError::MayNotEvict {
            scope: Scope::Kubernetes("team".into()),
            victims: "ns/v".into(),
            path: "/etc/dynamig/policy.toml".into(),
        };
        assert_eq!(node(NodeError::Policy(may_not)), ErrorKind::NoRoom);
        // beyond a quota: room may free up (docs/policy.md), never bad input
        let beyond = PolicyError::BeyondQuota(Box::new(dynamig_core::policy::BeyondQuota {
            scope: Scope::Kubernetes("team-a".into()),
            quota: "2 GPUs".into(),
            used: "2 GPUs".into(),
            asked: "0.5 GPU (3g.20gb)".into(),
            path: "/etc/dynamig/policy.toml".into(),
            why: "only a preemptible request may run beyond a quota".into(),
        }));
        assert_eq!(node(NodeError::Policy(beyond)), ErrorKind::NoRoom);
        // a wait that ran out is the kind of its last refusal
        let expired = NodeError::WaitExpired {
            waited_ms: 5,
            last: Box::new(NodeError::Refused(Refusal::NoGpus)),
        };
        assert_eq!(node(expired), ErrorKind::NoRoom);
    }

    #[test]
    fn busy_precondition_and_internal() {
        let timeout = LockError::Timeout {
            path: PathBuf::from("/run/dynamig/lock"),
            waited: Duration::from_secs(60),
        };
        assert_eq!(node(NodeError::Lock(timeout)), ErrorKind::Busy);
        assert_eq!(
            node(NodeError::AlreadyHeld(key())),
            ErrorKind::FailedPrecondition
        );
        assert_eq!(
            node(NodeError::NoSuchHolder(key())),
            ErrorKind::FailedPrecondition
        );
        let mismatch = NodeError::BackendMismatch {
            dir: "/run/dynamig".into(),
            state: BackendKind::Sim,
            backend: BackendKind::Nvml,
        };
        assert_eq!(node(mismatch), ErrorKind::FailedPrecondition);
        let stale = DriverStackError::Stale {
            path: PathBuf::from("/etc/cdi/nvidia.yaml"),
            spec: "550.54".into(),
            driver: "560.28".into(),
        };
        assert_eq!(
            LifecycleError::DriverStack(stale).kind(),
            ErrorKind::FailedPrecondition
        );
        let missing = DriverStackError::Missing {
            dirs: "/etc/cdi".into(),
        };
        assert_eq!(
            LifecycleError::DriverStack(missing).kind(),
            ErrorKind::FailedPrecondition
        );
        let read = SpecError::Read {
            path: PathBuf::from("/b/config.json"),
            source: std::io::Error::other("EIO"),
        };
        assert_eq!(LifecycleError::Spec(read).kind(), ErrorKind::Internal);
        let gone = NodeError::VictimAlive {
            victim: "ns/v".into(),
            pid: 7,
        };
        assert_eq!(node(gone), ErrorKind::Internal);
    }

    /// The split of bad input is the one `dynamigctl` exits 2 for.
    #[test]
    fn bad_input_is_exit_code_2() {
        let errors = [
            NodeError::BadId("a b".into()),
            NodeError::Refused(Refusal::NoGpus),
            NodeError::AlreadyHeld(key()),
            NodeError::Refused(Refusal::UnknownProfile {
                name: "9g.99gb".into(),
                known: Vec::new(),
            }),
        ];
        for e in errors {
            assert_eq!(
                node_kind(&e) == ErrorKind::BadInput,
                e.exit_code() == 2,
                "{e}"
            );
        }
    }
}
