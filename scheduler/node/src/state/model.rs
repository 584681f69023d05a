//! What the state file holds.

use crate::backend::BackendKind;
use crate::process::ProcRef;
use dynamig_core::catalog::Profile;
pub use dynamig_core::holder::HolderKey;
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use dynamig_core::priority::Priority;
use dynamig_core::request::Request;
use serde::{Deserialize, Serialize};

/// Where an instance was planned: the parent GPU, the profile and the placement (the spec
/// tuple). Known before anything is created, from the planner's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub gpu: GpuIndex,
    /// The parent GPU's `GPU-<uuid>`, to tell it is still the same GPU at that index.
    pub gpu_uuid: String,
    pub profile_id: ProfileId,
    pub profile: String,
    pub start: u8,
    pub size: u8,
}

impl Planned {
    /// The instance the planner decided on `gpu` (whose uuid is `gpu_uuid`).
    pub fn of(gpu: GpuIndex, gpu_uuid: String, profile: &Profile, start: u8) -> Planned {
        Planned {
            gpu,
            gpu_uuid,
            profile_id: profile.id,
            profile: profile.name.to_string(),
            start,
            size: profile.memory_slices,
        }
    }
}

/// What the hardware gave for a planned instance (the live tuple): the ids the driver chose
/// and the MIG device's uuid, read off the backend's create result
/// ([`crate::backend::InstanceInfo::live`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    pub gi: GiId,
    pub ci: CiId,
    /// `MIG-<uuid>`.
    pub uuid: String,
}

/// A MIG instance that dynamig created for a holder: where it was planned, and what the
/// hardware gave. On disk one flat object, its keys in the order they have always had
/// (`InstanceWire`), so files written before the split read, and read back, the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "InstanceWire", into = "InstanceWire")]
pub struct InstanceRef {
    pub planned: Planned,
    pub live: Live,
}

/// [`InstanceRef`] as the state file spells it. No test or doc reads state.json by byte order
/// (they parse it), but `#[serde(flatten)]` would reorder the keys, so this keeps them as written.
#[derive(Serialize, Deserialize)]
struct InstanceWire {
    gpu: GpuIndex,
    gpu_uuid: String,
    gi: GiId,
    ci: CiId,
    profile_id: ProfileId,
    profile: String,
    start: u8,
    size: u8,
    uuid: String,
}

impl From<InstanceWire> for InstanceRef {
    fn from(w: InstanceWire) -> InstanceRef {
        InstanceRef {
            planned: Planned {
                gpu: w.gpu,
                gpu_uuid: w.gpu_uuid,
                profile_id: w.profile_id,
                profile: w.profile,
                start: w.start,
                size: w.size,
            },
            live: Live {
                gi: w.gi,
                ci: w.ci,
                uuid: w.uuid,
            },
        }
    }
}

impl From<InstanceRef> for InstanceWire {
    fn from(i: InstanceRef) -> InstanceWire {
        let InstanceRef {
            planned: p,
            live: l,
        } = i;
        InstanceWire {
            gpu: p.gpu,
            gpu_uuid: p.gpu_uuid,
            gi: l.gi,
            ci: l.ci,
            profile_id: p.profile_id,
            profile: p.profile,
            start: p.start,
            size: p.size,
            uuid: l.uuid,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderState {
    /// Holds its instance.
    Active,
    /// Chosen as a victim by an eviction in flight: signalled, still holding its instance until
    /// its process is gone (then its instance is destroyed and it is `preempted`). Never a
    /// victim again, never released to anyone else meanwhile.
    Preempting,
    /// Evicted by a higher-priority request (or taken back from over quota); its instance is gone.
    Preempted,
    /// Its instance vanished from the hardware (destroyed by someone else).
    Lost,
}

impl HolderState {
    pub fn as_str(self) -> &'static str {
        match self {
            HolderState::Active => "active",
            HolderState::Preempting => "preempting",
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
    /// While `preempting`: the Unix time in milliseconds at which its grace period ends and
    /// whoever finds it still alive sends SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_at_ms: Option<u64>,
    /// The pod's Kubernetes namespace, when the request named one: what its quota counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
    /// Admitted beyond its namespace's quota (docs/policy.md): preemptible, the first victim of
    /// a request within its quota, not counted against the quota.
    #[serde(default, skip_serializing_if = "is_false")]
    pub over_quota: bool,
    /// How often it checkpoints (`dynamig.io/checkpoint-interval`), in milliseconds, when it
    /// declared it: with `created_ms`, what the planner weighs as its work at risk. Written
    /// only when declared, so files from before read and read back as they were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_interval_ms: Option<u64>,
}

/// For `skip_serializing_if`: a mark written only when set, so files without quotas read and
/// read back as before.
fn is_false(b: &bool) -> bool {
    !*b
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

    /// Whether its container is still being created: only its creator is known (the shim or
    /// `dynamig-runc`, which also creates other containers). Such a holder is never signalled,
    /// so never a victim (docs/eviction.md).
    pub fn being_created(&self) -> bool {
        self.process.is_none() && self.creator.is_some()
    }

    /// The process an eviction signals: the container's own, never its creator.
    pub fn signallable(&self) -> Option<&ProcRef> {
        self.process.as_ref()
    }
}

/// Room reserved for a request while the victims of its decision leave (docs/eviction.md). The
/// decision is made under the node lock and written here; the victims are signalled and waited
/// for outside it; then `owner` takes the lock again, destroys the victims' instances and
/// creates the requester's at `start` on `gpu`. Nobody else plans into that room meanwhile, and
/// the reservation ends with `owner`'s life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Eviction {
    /// The holder id the requester will have.
    pub holder: String,
    pub namespace: String,
    /// The process carrying the eviction out.
    pub owner: ProcRef,
    /// The Kubernetes container (`<sandbox id>/<container name>`), when the request came through
    /// the CRI: a retry of the same container takes the reservation over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_key: Option<String>,
    pub gpu: GpuIndex,
    pub profile_id: ProfileId,
    pub profile: String,
    pub start: u8,
    /// The holders being preempted for it (all `preempting`).
    pub victims: Vec<HolderKey>,
    /// Unix time in milliseconds.
    pub created_ms: u64,
    /// The requester was admitted beyond its namespace's quota: its holder is marked so.
    #[serde(default, skip_serializing_if = "is_false")]
    pub over_quota: bool,
    /// The requester's Kubernetes namespace, when it named one (what its quota counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
}

/// A hardware change that was started but whose outcome is not yet in the state. Written before
/// the change; whoever finds one after a crash finishes or undoes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Intent {
    /// Creating `profile_id@start` on `gpu` for `namespace/holder`.
    Create {
        gpu: GpuIndex,
        profile_id: ProfileId,
        start: u8,
        holder: String,
        namespace: String,
    },
    /// Destroying GPU instance `gi` on `gpu`, held by `namespace/holder`.
    Destroy {
        gpu: GpuIndex,
        gi: GiId,
        holder: String,
        namespace: String,
    },
}

impl Eviction {
    /// The requester's key.
    pub fn key(&self) -> HolderKey {
        HolderKey::new(&self.namespace, &self.holder)
    }

    pub fn is(&self, key: &HolderKey) -> bool {
        key.is(&self.namespace, &self.holder)
    }
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

/// An instance dynamig created and keeps after its holder left, held by nobody, for the next
/// request of its profile (docs/warm-instances.md). Leaves this list in one state write, to a
/// holder (taken) or to nothing (destroyed, or found gone from the hardware): never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warm {
    pub instance: InstanceRef,
    /// Unix time in milliseconds at which it was released and kept.
    pub since_ms: u64,
    /// The holder it was released by (for `status` and the event log).
    pub last_holder: HolderKey,
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
    /// Beyond its namespace's quota when it was queued: served after every request of its
    /// priority within quota.
    #[serde(default, skip_serializing_if = "is_false")]
    pub over_quota: bool,
}

impl dynamig_core::queue::Queued for Ticket {
    fn id(&self) -> &str {
        &self.id
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
    fn request(&self) -> &Request {
        &self.request
    }
    fn seq(&self) -> u64 {
        self.seq
    }
    fn over_quota(&self) -> bool {
        self.over_quota
    }
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
    /// `sim` or `nvml`: a state written by one backend is not read by the other. `None` (written
    /// `""`) until a backend first opens the node.
    #[serde(with = "backend_word")]
    pub backend: Option<BackendKind>,
    pub next_seq: u64,
    pub holders: Vec<Holder>,
    pub intents: Vec<Intent>,
    /// Requests waiting for room, in arrival order (serving order is by priority, then `seq`).
    /// Absent from files written before the wait queue; older readers ignore it.
    #[serde(default)]
    pub queue: Vec<Ticket>,
    #[serde(default)]
    pub next_ticket: u64,
    /// Evictions in flight, each with the room it reserves. Absent from older files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evictions: Vec<Eviction>,
    /// Present when the node is DRA-managed (`state/dra.rs`). Absent from older files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dra: Option<super::dra::DraState>,
    /// Instances kept warm, oldest first (docs/warm-instances.md). Absent from older files and
    /// when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warm: Vec<Warm>,
}

impl NodeState {
    pub fn holder(&self, key: &HolderKey) -> Option<&Holder> {
        self.holders.iter().find(|h| h.is(key))
    }

    pub fn holder_mut(&mut self, key: &HolderKey) -> Option<&mut Holder> {
        self.holders.iter_mut().find(|h| h.is(key))
    }

    /// Makes `process` the life of holder `key` (the container's init): its creator no longer
    /// counts. False when there is no such holder.
    pub fn set_process(&mut self, key: &HolderKey, process: ProcRef) -> bool {
        match self.holder_mut(key) {
            Some(h) => {
                h.process = Some(process);
                h.creator = None;
                true
            }
            None => false,
        }
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

    /// The eviction in flight for the requester `key`.
    pub fn eviction_for(&self, key: &HolderKey) -> Option<&Eviction> {
        self.evictions.iter().find(|e| e.is(key))
    }

    /// The eviction in flight that preempts holder `key`.
    pub fn eviction_of_victim(&self, key: &HolderKey) -> Option<&Eviction> {
        self.evictions
            .iter()
            .find(|e| e.victims.iter().any(|v| v == key))
    }

    /// The warm instance that is GPU instance `gi` on `gpu`.
    pub fn warm_at(&self, gpu: GpuIndex, gi: GiId) -> Option<&Warm> {
        self.warm
            .iter()
            .find(|w| w.instance.planned.gpu == gpu && w.instance.live.gi == gi)
    }

    /// The holder of GPU instance `gi` on `gpu`.
    pub fn holder_of(&self, gpu: GpuIndex, gi: GiId) -> Option<&Holder> {
        self.holders.iter().find(|h| {
            h.instance
                .as_ref()
                .is_some_and(|i| i.planned.gpu == gpu && i.live.gi == gi)
        })
    }
}

/// [`NodeState::backend`] as the file spells it: the backend's word, `""` for none yet.
mod backend_word {
    use crate::backend::BackendKind;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(b: &Option<BackendKind>, s: S) -> Result<S::Ok, S::Error> {
        match b {
            Some(k) => k.serialize(s),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BackendKind>, D::Error> {
        let word = String::deserialize(d)?;
        match word.as_str() {
            "" => Ok(None),
            "sim" => Ok(Some(BackendKind::Sim)),
            "nvml" => Ok(Some(BackendKind::Nvml)),
            other => Err(serde::de::Error::unknown_variant(other, &["sim", "nvml"])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A holder's instance is one flat object with its keys in the order dynamig has always
    /// written them, though it is held as the planned part and the live part.
    #[test]
    fn an_instance_is_written_flat_in_the_order_it_always_was() {
        let text = r#"{"gpu":1,"gpu_uuid":"GPU-1","gi":3,"ci":0,"profile_id":14,"profile":"2g.10gb","start":0,"size":2,"uuid":"MIG-3"}"#;
        let i: InstanceRef = serde_json::from_str(text).unwrap();
        assert_eq!(i.planned.gpu, GpuIndex(1));
        assert_eq!((i.planned.profile_id, i.planned.start), (ProfileId(14), 0));
        assert_eq!(
            (i.live.gi, i.live.ci, i.live.uuid.as_str()),
            (GiId(3), CiId(0), "MIG-3")
        );
        assert_eq!(serde_json::to_string(&i).unwrap(), text);
    }

    #[test]
    fn the_backend_is_its_word_and_empty_until_one_opens_the_node() {
        let fresh = serde_json::to_string(&NodeState::default()).unwrap();
        assert!(fresh.starts_with(r#"{"backend":"","#), "{fresh}");
        let s: NodeState = serde_json::from_str(&fresh).unwrap();
        assert_eq!(s.backend, None);
        let s: NodeState =
            serde_json::from_str(r#"{"backend":"nvml","next_seq":0,"holders":[],"intents":[]}"#)
                .unwrap();
        assert_eq!(s.backend, Some(BackendKind::Nvml));
        assert!(serde_json::to_string(&s)
            .unwrap()
            .starts_with(r#"{"backend":"nvml","#));
    }

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

#[cfg(test)]
mod quota_marks {
    use super::*;

    /// A holder as written before quotas existed.
    const OLD: &str = r#"{"id":"t1","namespace":"dynamigctl","priority":50,"preemptible":true,"grace_period_ms":10000,"request":"gpu-memory 10GB","state":"active","process":null,"creator":null,"seq":1,"created_ms":5,"instance":null}"#;

    #[test]
    fn files_without_quota_marks_read_and_write_back_the_same() {
        let h: Holder = serde_json::from_str(OLD).unwrap();
        assert!(!h.over_quota);
        assert_eq!(h.k8s_namespace, None);
        assert_eq!(h.checkpoint_interval_ms, None);
        assert_eq!(serde_json::to_string(&h).unwrap(), OLD);
        let mut marked = h;
        marked.over_quota = true;
        marked.k8s_namespace = Some("team-a".into());
        let text = serde_json::to_string(&marked).unwrap();
        assert!(
            text.contains(r#""over_quota":true"#) && text.contains(r#""k8s_namespace":"team-a""#)
        );
        assert_eq!(serde_json::from_str::<Holder>(&text).unwrap(), marked);
    }

    #[test]
    fn a_checkpoint_interval_is_written_only_when_declared() {
        let mut h: Holder = serde_json::from_str(OLD).unwrap();
        h.checkpoint_interval_ms = Some(1_800_000);
        let text = serde_json::to_string(&h).unwrap();
        assert!(
            text.contains(r#""checkpoint_interval_ms":1800000"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Holder>(&text).unwrap(), h);
    }
}
