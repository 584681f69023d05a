//! What the state file holds.

use crate::priority::Priority;
use crate::process::ProcRef;
use crate::request::Request;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who a holder is: a container is known by its id *within its containerd namespace*
/// (`default/c1` and `tenant/c1` are two containers), and so is every holder, ticket and
/// intent. Written `namespace/id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HolderKey {
    pub namespace: String,
    pub id: String,
}

impl HolderKey {
    pub fn new(namespace: impl Into<String>, id: impl Into<String>) -> HolderKey {
        HolderKey {
            namespace: namespace.into(),
            id: id.into(),
        }
    }

    pub fn is(&self, namespace: &str, id: &str) -> bool {
        self.namespace == namespace && self.id == id
    }
}

impl fmt::Display for HolderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.id)
    }
}

/// A MIG instance that dynamig created for a holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRef {
    pub gpu: u32,
    pub gpu_uuid: String,
    pub gi: u32,
    pub ci: u32,
    pub profile_id: u32,
    pub profile: String,
    pub start: u8,
    pub size: u8,
    pub uuid: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderState {
    /// Holds its instance.
    Active,
    /// Evicted by a higher-priority request; its instance is gone.
    Preempted,
    /// Its instance vanished from the hardware (destroyed by someone else).
    Lost,
}

impl HolderState {
    pub fn as_str(self) -> &'static str {
        match self {
            HolderState::Active => "active",
            HolderState::Preempted => "preempted",
            HolderState::Lost => "lost",
        }
    }
}

/// A container (or a `dynamigctl allocate` caller) that holds a MIG instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub id: String,
    pub namespace: String,
    pub priority: Priority,
    pub preemptible: bool,
    pub grace_period_ms: u64,
    /// What was asked for, as the user wrote it (`gpu-memory 10GB`).
    pub request: String,
    pub state: HolderState,
    /// The process whose life is the holder's life (a container's init process).
    pub process: Option<ProcRef>,
    /// The process that is creating the holder's container, until `process` is known. If it
    /// dies first, the creation failed and the holder is released.
    pub creator: Option<ProcRef>,
    /// Allocation order; larger is younger.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub created_ms: u64,
    pub instance: Option<InstanceRef>,
}

impl Holder {
    pub fn key(&self) -> HolderKey {
        HolderKey::new(&self.namespace, &self.id)
    }

    pub fn is(&self, key: &HolderKey) -> bool {
        key.is(&self.namespace, &self.id)
    }

    /// The process that decides liveness: the container's, else its creator's.
    pub fn watched(&self) -> Option<&ProcRef> {
        self.process.as_ref().or(self.creator.as_ref())
    }
}

/// A hardware change that was started but whose outcome is not yet in the state. Written before
/// the change; whoever finds one after a crash finishes or undoes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Intent {
    /// Creating `profile_id@start` on `gpu` for `namespace/holder`.
    Create {
        gpu: u32,
        profile_id: u32,
        start: u8,
        holder: String,
        namespace: String,
    },
    /// Destroying GPU instance `gi` on `gpu`, held by `namespace/holder`.
    Destroy {
        gpu: u32,
        gi: u32,
        holder: String,
        namespace: String,
    },
}

impl Intent {
    /// The holder the intent is for.
    pub fn key(&self) -> HolderKey {
        match self {
            Intent::Create {
                holder, namespace, ..
            }
            | Intent::Destroy {
                holder, namespace, ..
            } => HolderKey::new(namespace, holder),
        }
    }

    pub fn is_for(&self, key: &HolderKey) -> bool {
        match self {
            Intent::Create {
                holder, namespace, ..
            }
            | Intent::Destroy {
                holder, namespace, ..
            } => key.is(namespace, holder),
        }
    }
}

/// A request waiting for room (`dynamig.io/wait`): see `docs/wait-queue.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The holder id the request will have once served.
    pub id: String,
    pub namespace: String,
    pub request: Request,
    /// What was asked for, as the user wrote it (`gpu-memory 10GB`).
    pub asked: String,
    /// The process that waits; the ticket is dropped when it is gone.
    pub waiter: ProcRef,
    /// Arrival order among tickets; smaller is older.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub enqueued_ms: u64,
    /// Unix time in milliseconds after which the waiter gives up.
    pub deadline_ms: u64,
}

impl Ticket {
    pub fn key(&self) -> HolderKey {
        HolderKey::new(&self.namespace, &self.id)
    }

    pub fn is(&self, key: &HolderKey) -> bool {
        key.is(&self.namespace, &self.id)
    }
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NodeState {
    /// `sim` or `nvml`: a state written by one backend is not read by the other.
    pub backend: String,
    pub next_seq: u64,
    pub holders: Vec<Holder>,
    pub intents: Vec<Intent>,
    /// Requests waiting for room, in arrival order (serving order is by priority, then `seq`).
    /// Absent from files written before the wait queue; older readers ignore it.
    #[serde(default)]
    pub queue: Vec<Ticket>,
    #[serde(default)]
    pub next_ticket: u64,
}

impl NodeState {
    pub fn holder(&self, key: &HolderKey) -> Option<&Holder> {
        self.holders.iter().find(|h| h.is(key))
    }

    pub fn holder_mut(&mut self, key: &HolderKey) -> Option<&mut Holder> {
        self.holders.iter_mut().find(|h| h.is(key))
    }

    /// Whether the state names `key` as a holder or in an intent: what a release could act on.
    pub fn names(&self, key: &HolderKey) -> bool {
        self.holder(key).is_some() || self.intents.iter().any(|i| i.is_for(key))
    }

    /// The namespaces that have a holder `id` (for a hint when the one asked for has none).
    pub fn namespaces_holding(&self, id: &str) -> Vec<String> {
        self.holders
            .iter()
            .filter(|h| h.id == id)
            .map(|h| h.namespace.clone())
            .collect()
    }

    /// The holder of GPU instance `gi` on `gpu`.
    pub fn holder_of(&self, gpu: u32, gi: u32) -> Option<&Holder> {
        self.holders.iter().find(|h| {
            h.instance
                .as_ref()
                .is_some_and(|i| i.gpu == gpu && i.gi == gi)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_from_before_the_wait_queue_loads_with_an_empty_queue() {
        let old = r#"{"backend":"sim","next_seq":3,"holders":[],"intents":[]}"#;
        let s: NodeState = serde_json::from_str(old).unwrap();
        assert!(s.queue.is_empty());
        assert_eq!((s.next_seq, s.next_ticket), (3, 0));
        // and an older reader, which knows no queue, ignores it
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Old {
            backend: String,
            next_seq: u64,
            holders: Vec<Holder>,
            intents: Vec<Intent>,
        }
        let new = serde_json::to_string(&NodeState {
            next_ticket: 5,
            ..s
        })
        .unwrap();
        assert!(serde_json::from_str::<Old>(&new).is_ok());
    }
}
