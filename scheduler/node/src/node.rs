//! One node, under its lock: read the state and the hardware, reconcile them, decide, act, write.
//!
//! Every hardware change is bracketed by writes: an [`Intent`] is written before the change and
//! removed, together with the change's outcome, after it. A crash at any point leaves either no
//! intent (nothing happened, or everything was recorded) or an intent that the next entry point
//! finishes or undoes in [`Node::reconcile`]. The hardware is the truth for which instances
//! exist; process liveness (pid plus start time) is the truth for which holders are alive.

use crate::backend::{
    self, Backend, BackendChoice, BackendError, BackendKind, DeviceNode, GpuInfo, InstanceInfo,
    SelectError,
};
use crate::events::{self, now_ms, Event};
use crate::fault;
use crate::process::ProcRef;
use crate::state::dir::StateDirError;
use crate::state::file::Durability;
use crate::state::{
    file, Holder, HolderKey, HolderState, InstanceRef, Intent, LockError, NodeLock, NodeState,
    Planned, StateDir, StateFileError,
};
use dynamig_core::ids::{CiId, GiId, GpuIndex};
use dynamig_core::planner::{
    self, Decision, GpuView, HolderRef, NodeView, Owner, PlacedInstance, PlanRequest, Refusal,
};
use dynamig_core::request::Request;
use serde::Serialize;
use std::time::Duration;
use thiserror::Error;

mod evict;
mod waiting;
pub use waiting::{allocate_waiting, cancel_on_signals};

/// How long a destroy keeps retrying while NVML reports the instance in use.
const DESTROY_RETRY: Duration = Duration::from_secs(5);
/// After SIGKILL, how long to wait for a victim to exit.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Preempted or lost holders whose process is gone are forgotten after this long.
const FORGET_AFTER_MS: u64 = 10 * 60 * 1000;

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

/// Checks a holder id or namespace; they are names, never paths or commands.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && id.chars().all(|c| c.is_ascii_graphic())
}

/// What an allocation asks for.
#[derive(Debug, Clone)]
pub struct AllocSpec {
    pub id: String,
    pub namespace: String,
    pub request: Request,
    /// The process whose life is the holder's life, when already known.
    pub process: Option<ProcRef>,
    /// The process creating the holder's container, until `process` is known.
    pub creator: Option<ProcRef>,
}

impl AllocSpec {
    pub fn key(&self) -> HolderKey {
        HolderKey::new(&self.namespace, &self.id)
    }
}

/// A granted MIG device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub id: String,
    pub namespace: String,
    pub gpu: GpuIndex,
    pub gpu_uuid: String,
    pub profile: String,
    pub placement: Placement,
    pub gi: GiId,
    pub ci: CiId,
    pub uuid: String,
    /// The evicted holders' ids (as before holders had namespaces); `evict_holders` says whose.
    pub evict: Vec<String>,
    pub evict_holders: Vec<HolderKey>,
    pub device_nodes: Vec<DeviceNode>,
}

/// Where [`Node::create_for`] creates.
struct PlacedAt {
    gpu: GpuIndex,
    start: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Placement {
    pub start: u8,
    pub size: u8,
}

/// What reconciliation did, holder by holder.
#[derive(Debug, Clone, Default)]
pub struct Reconciled {
    pub released: Vec<HolderKey>,
    pub reclaimed: Vec<HolderKey>,
    pub lost: Vec<HolderKey>,
    pub forgotten: Vec<HolderKey>,
    /// Temporary files of state writes whose writer is gone, removed.
    pub temp_files: Vec<String>,
}

/// As `dynamigctl gc --json` prints it: each list as holder ids (as before holders had
/// namespaces), and again as `{namespace, id}` in `<list>_holders`.
impl Serialize for Reconciled {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let lists = [
            ("released", &self.released),
            ("reclaimed", &self.reclaimed),
            ("lost", &self.lost),
            ("forgotten", &self.forgotten),
        ];
        let mut m = s.serialize_map(Some(2 * lists.len() + 1))?;
        for (name, keys) in lists {
            let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            m.serialize_entry(name, &ids)?;
        }
        for (name, keys) in lists {
            m.serialize_entry(&format!("{name}_holders"), keys)?;
        }
        m.serialize_entry("temp_files", &self.temp_files)?;
        m.end()
    }
}

pub struct Node {
    dir: StateDir,
    /// `None` only while an eviction waits for its victims outside the lock.
    lock: Option<NodeLock>,
    backend: Box<dyn Backend>,
    pub state: NodeState,
    gpus: Vec<GpuInfo>,
    hw: Vec<Vec<InstanceInfo>>,
    events: Vec<Event>,
    pub reconciled: Reconciled,
}

/// Whether the node in state directory `dir` may have a holder `key`, read without the lock.
/// `false` only when that is certain: the directory or its state file does not exist, or the
/// state file (replaced whole by rename, so never seen half written) names `key` neither as a
/// holder nor in an intent. Anything else (a damaged or unreadable file included) is `true`, so
/// that the caller takes the lock and gets the real answer or the real error.
///
/// A `false` cannot go stale for the caller releasing a container: a holder is added only by
/// the creation of the container with that namespace and id, which happened before its
/// deletion.
pub fn may_hold(dir: &std::path::Path, key: &HolderKey) -> bool {
    match file::read::<NodeState>(&dir.join("state.json")) {
        Ok(Some(s)) => s.names(key),
        Ok(None) => false,
        Err(_) => true,
    }
}

impl Node {
    /// Locks the node, opens its backend, reads and reconciles its state.
    pub fn open(dir: &StateDir) -> Result<Node, NodeError> {
        let lock = NodeLock::acquire(&dir.lock_file(), NodeLock::timeout_from_env())?;
        let backend = backend::open(dir, BackendChoice::from_env()?)?;
        Node::with_backend(dir, lock, backend)
    }

    /// Like [`Node::open`] with a given backend (tests).
    pub fn with_backend(
        dir: &StateDir,
        lock: NodeLock,
        mut backend: Box<dyn Backend>,
    ) -> Result<Node, NodeError> {
        let mut state: NodeState = file::read(&dir.state_file())?.unwrap_or_default();
        match state.backend {
            None => state.backend = Some(backend.kind()),
            Some(written) if written != backend.kind() => {
                return Err(NodeError::BackendMismatch {
                    dir: dir.path().display().to_string(),
                    state: written,
                    backend: backend.kind(),
                });
            }
            Some(_) => {}
        }
        let gpus = backend.gpus()?;
        let mut node = Node {
            dir: dir.clone(),
            lock: Some(lock),
            backend,
            state,
            gpus,
            hw: Vec::new(),
            events: Vec::new(),
            reconciled: Reconciled::default(),
        };
        node.refresh()?;
        node.reconcile()?;
        Ok(node)
    }

    pub fn dir(&self) -> &StateDir {
        &self.dir
    }

    pub fn lock_waited(&self) -> Duration {
        self.lock.as_ref().map(|l| l.waited).unwrap_or_default()
    }

    /// Runs `f` without the node lock: writes out the events so far, lets the lock go, runs `f`,
    /// takes the lock again and reads the node afresh (state, hardware, reconciliation), since
    /// anyone may have changed it meanwhile.
    fn unlocked<T>(&mut self, f: impl FnOnce() -> T) -> Result<T, NodeError> {
        let events = std::mem::take(&mut self.events);
        events::append(&self.dir.events_file(), &events);
        crate::metrics::on_close(self, &events);
        let waited = self.lock_waited();
        self.lock = None;
        let out = f();
        let mut lock = NodeLock::acquire(&self.dir.lock_file(), NodeLock::timeout_from_env())?;
        lock.waited += waited;
        self.lock = Some(lock);
        self.backend.reload()?;
        self.state = file::read(&self.dir.state_file())?.unwrap_or_default();
        self.refresh()?;
        self.reconcile()?;
        Ok(out)
    }

    pub fn backend_kind(&self) -> BackendKind {
        self.backend.kind()
    }

    /// The driver version the backend reports (docs/driver-stack.md).
    pub fn driver_version(&self) -> Option<String> {
        self.backend.driver_version()
    }

    pub fn gpus(&self) -> &[GpuInfo] {
        &self.gpus
    }

    pub fn hw_instances(&self, gpu: GpuIndex) -> &[InstanceInfo] {
        self.hw.get(gpu.slot()).map(Vec::as_slice).unwrap_or(&[])
    }

    fn refresh(&mut self) -> Result<(), NodeError> {
        let mut hw = Vec::with_capacity(self.gpus.len());
        for g in &self.gpus {
            hw.push(self.backend.instances(g.index)?);
        }
        self.hw = hw;
        Ok(())
    }

    /// Writes the state before a hardware change: the intent in it is on disk when this returns
    /// (power loss included), so whatever happens to the change, the next entry point knows.
    fn save_intent(&mut self) -> Result<(), NodeError> {
        file::write_with(&self.dir.state_file(), &self.state, Durability::Barrier)?;
        Ok(())
    }

    /// Writes an outcome. Atomic for processes, and never torn on disk; after a power loss the
    /// rename may be lost, which leaves the last [`Node::save_intent`] write: its intent is
    /// finished or undone by [`Node::reconcile`], and every holder's process is gone by then.
    fn save(&mut self) -> Result<(), NodeError> {
        file::write_with(&self.dir.state_file(), &self.state, Durability::Replace)?;
        Ok(())
    }

    fn event(&mut self, e: Event) {
        tracing::info!(kind = %e.kind, holder = e.holder.as_deref(), gpu = e.gpu.map(GpuIndex::get), profile = e.profile.as_deref(), message = %e.message, "event");
        self.events.push(e);
    }

    /// Destroys an instance, retrying while NVML reports it in use.
    fn destroy_hw(&mut self, gpu: GpuIndex, gi: GiId) -> Result<(), BackendError> {
        let deadline = std::time::Instant::now() + DESTROY_RETRY;
        loop {
            match self.backend.destroy(gpu, gi) {
                Ok(()) | Err(BackendError::NoSuchInstance { .. }) => return Ok(()),
                Err(BackendError::InUse { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn hw_has(&self, gpu: GpuIndex, gi: GiId) -> bool {
        self.hw_instances(gpu).iter().any(|i| i.gi == gi)
    }

    /// Brings the state in line with the hardware and with process liveness.
    pub fn reconcile(&mut self) -> Result<(), NodeError> {
        let mut changed = false;
        // 1. Finish or undo what a crashed process left half done.
        for intent in std::mem::take(&mut self.state.intents) {
            changed = true;
            match &intent {
                Intent::Create {
                    gpu,
                    profile_id,
                    start,
                    ..
                } => {
                    let holder = intent.key();
                    let orphan = self
                        .hw_instances(*gpu)
                        .iter()
                        .find(|i| {
                            i.start == *start
                                && i.profile_id == *profile_id
                                && self.state.holder_of(*gpu, i.gi).is_none()
                        })
                        .map(|i| i.gi);
                    if let Some(gi) = orphan {
                        if let Err(e) = self.destroy_hw(*gpu, gi) {
                            self.state.intents.push(intent.clone());
                            tracing::error!(error = %e, "cannot undo an interrupted create; will retry");
                            continue;
                        }
                    }
                    if self
                        .state
                        .holder(&holder)
                        .is_some_and(|h| h.instance.is_none() && h.state == HolderState::Active)
                    {
                        self.state.holders.retain(|h| !h.is(&holder));
                    }
                    self.event(
                        Event::new("reclaimed", "undid an allocation interrupted by a crash")
                            .holder(&holder),
                    );
                    self.reconciled.reclaimed.push(holder);
                }
                Intent::Destroy { gpu, gi, .. } => {
                    let holder = &intent.key();
                    // An eviction interrupted before its victim was gone: the request that
                    // wanted the room died with it, so undo the eviction rather than pull a
                    // device from under a running container.
                    let victim_alive = self.state.holder(holder).is_some_and(|h| {
                        h.state == HolderState::Preempted
                            && h.instance.is_some()
                            && h.watched().is_some_and(ProcRef::is_alive)
                    });
                    if victim_alive && self.hw_has(*gpu, *gi) {
                        if let Some(h) = self.state.holder_mut(holder) {
                            h.state = HolderState::Active;
                        }
                        self.event(
                            Event::new("restored", "an interrupted eviction was undone")
                                .holder(holder),
                        );
                        continue;
                    }
                    if self.hw_has(*gpu, *gi) {
                        if let Err(e) = self.destroy_hw(*gpu, *gi) {
                            self.state.intents.push(intent.clone());
                            tracing::error!(error = %e, "cannot finish an interrupted destroy; will retry");
                            continue;
                        }
                    }
                    let preempted = self.state.holder(holder).is_some_and(|h| {
                        matches!(h.state, HolderState::Preempted | HolderState::Preempting)
                    });
                    if preempted {
                        if let Some(h) = self.state.holder_mut(holder) {
                            h.instance = None;
                            h.state = HolderState::Preempted;
                            h.kill_at_ms = None;
                        }
                    } else {
                        self.state.holders.retain(|h| !h.is(holder));
                        self.reconciled.released.push(holder.clone());
                        self.event(
                            Event::new("released", "finished a release interrupted by a crash")
                                .holder(holder),
                        );
                    }
                }
            }
        }
        self.refresh()?;
        // 2. Instances the state has that the hardware lacks.
        let now = now_ms();
        let mut lost = Vec::new();
        for h in &mut self.state.holders {
            if let Some(i) = &h.instance {
                let gone = self
                    .gpus
                    .get(i.planned.gpu.slot())
                    .is_none_or(|g| g.uuid != i.planned.gpu_uuid)
                    || !self.hw.get(i.planned.gpu.slot()).is_some_and(|v| {
                        v.iter().any(|x| x.gi == i.live.gi && x.uuid == i.live.uuid)
                    });
                if gone {
                    lost.push((h.key(), i.clone()));
                    h.instance = None;
                    h.state = HolderState::Lost;
                    h.created_ms = now;
                }
            }
        }
        for (key, i) in lost {
            changed = true;
            self.event(
                Event::new("lost", "its MIG instance is gone from the hardware")
                    .holder(&key)
                    .at(
                        i.planned.gpu,
                        &i.planned.profile,
                        i.planned.start,
                        Some(&i.live.uuid),
                    ),
            );
            self.reconciled.lost.push(key);
        }
        // 3. Evictions whose requester is gone, and preempting holders nobody waits for.
        changed |= self.expire_evictions();
        changed |= self.settle_preempting(now)?;
        // 4. Holders whose process is gone.
        let dead: Vec<Holder> = self
            .state
            .holders
            .iter()
            .filter(|h| h.watched().is_some_and(|p| !p.is_alive()))
            .cloned()
            .collect();
        for h in dead {
            let key = h.key();
            match (h.state, &h.instance) {
                // Its eviction destroys its instance.
                (HolderState::Preempting, _) => {}
                (HolderState::Active, Some(_)) => {
                    changed = true;
                    self.release_holder(&key, "its process is gone")?;
                    self.reconciled.released.push(key);
                }
                (HolderState::Active, None) => {
                    changed = true;
                    self.state.holders.retain(|x| !x.is(&key));
                    self.reconciled.released.push(key);
                }
                _ if now.saturating_sub(h.created_ms) > FORGET_AFTER_MS => {
                    changed = true;
                    self.state.holders.retain(|x| !x.is(&key));
                    self.reconciled.forgotten.push(key);
                }
                _ => {}
            }
        }
        // 5. Tickets whose waiter is gone or whose deadline passed.
        changed |= self.expire_tickets(now);
        // 5. Temp files of writes whose writer died before its rename (under the lock: no
        //    write of this directory is in progress but a live process's, which is kept).
        for name in file::remove_stale_temps(self.dir.path()) {
            tracing::info!(file = %name, "removed a stale temp file");
            self.reconciled.temp_files.push(name);
        }
        if changed {
            self.save()?;
        }
        Ok(())
    }

    /// The planner's view of the node.
    pub fn view(&self) -> NodeView {
        let mut gpus = Vec::new();
        for g in &self.gpus {
            let Some(model) = g.model else { continue };
            // Room reserved by evictions in flight: occupied, and by nobody anyone may evict.
            let reserved: Vec<PlacedInstance> = self
                .state
                .evictions
                .iter()
                .filter(|e| e.gpu == g.index)
                .filter_map(|e| {
                    Some(PlacedInstance {
                        profile: model.profile_by_id(e.profile_id)?,
                        start: e.start,
                        owner: Owner::Foreign,
                    })
                })
                .collect();
            let in_reserved = |p: &dynamig_core::catalog::Profile, start: u8| {
                reserved.iter().any(|r| {
                    r.start <= start && start + p.memory_slices <= r.start + r.profile.memory_slices
                })
            };
            let mut instances: Vec<PlacedInstance> = self
                .hw_instances(g.index)
                .iter()
                .filter_map(|i| {
                    let profile = model.profile_by_id(i.profile_id)?;
                    let owner = match self.state.holder_of(g.index, i.gi) {
                        // A victim leaving: wholly inside reserved room it is counted there;
                        // otherwise its room is taken until it is gone (counted twice where it
                        // overlaps reserved room, which errs on the side of refusing). Never a
                        // victim twice.
                        Some(h) if h.state == HolderState::Preempting => {
                            if in_reserved(profile, i.start) {
                                return None;
                            }
                            Owner::Foreign
                        }
                        Some(h) => Owner::Holder(HolderRef {
                            id: h.id.clone(),
                            namespace: h.namespace.clone(),
                            priority: h.priority,
                            // A container still being created is never a victim: it could only
                            // be signalled through its creator (docs/eviction.md).
                            preemptible: h.preemptible && !h.being_created(),
                            seq: h.seq,
                        }),
                        None => Owner::Foreign,
                    };
                    Some(PlacedInstance {
                        profile,
                        start: i.start,
                        owner,
                    })
                })
                .collect();
            instances.extend(reserved);
            gpus.push(GpuView {
                index: g.index,
                model,
                usable: g.mig.usable(),
                instances,
            });
        }
        NodeView { gpus }
    }

    pub fn plan(&self, request: &Request) -> Result<Decision, Refusal> {
        let req = PlanRequest {
            size: request.size.clone(),
            priority: request.priority,
        };
        let view = self.view();
        crate::metrics::decision::timed(|| planner::plan(&view, &req))
    }

    /// Plans (under the wait queue's reservations), evicts if it must, creates the instance, and
    /// records the holder. Never waits: see [`allocate_waiting`].
    pub fn allocate(&mut self, spec: AllocSpec) -> Result<Allocation, NodeError> {
        self.check_spec(&spec)?;
        if let Some(done) = self.take_over(&spec) {
            return done;
        }
        self.check_not_evicting(&spec)?;
        let decision = match self.decide(&spec) {
            Ok(d) => d,
            Err(
                e @ (NodeError::Refused(_) | NodeError::Reserved { .. } | NodeError::Policy(_)),
            ) => {
                self.event(Event::new("refused", e.to_string()).holder(&spec.key()));
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.carry_out(spec, decision)
    }

    fn check_spec(&mut self, spec: &AllocSpec) -> Result<(), NodeError> {
        if !valid_id(&spec.id) {
            return Err(NodeError::BadId(spec.id.clone()));
        }
        if !valid_id(&spec.namespace) {
            return Err(NodeError::BadId(spec.namespace.clone()));
        }
        // The node's admission policy: what this namespace may claim (docs/policy.md).
        let allowance = crate::policy_file::from_env()?
            .allowance(&spec.namespace, spec.request.k8s_namespace.as_deref());
        if let Err(e) = allowance.admit(&spec.request) {
            self.event(Event::new("refused", e.to_string()).holder(&spec.key()));
            return Err(e.into());
        }
        if self
            .state
            .holder(&spec.key())
            .is_some_and(|h| h.state == HolderState::Active)
        {
            return Err(NodeError::AlreadyHeld(spec.key()));
        }
        Ok(())
    }

    /// Refuses a request whose id has an eviction in flight (unless it takes it over, which
    /// [`Node::take_over`] does first).
    fn check_not_evicting(&self, spec: &AllocSpec) -> Result<(), NodeError> {
        match self.state.eviction_for(&spec.key()) {
            Some(_) => Err(NodeError::BeingAllocated(spec.key())),
            None => Ok(()),
        }
    }

    /// Carries out a decision for `spec`: at once when it evicts nobody, else through an
    /// eviction outside the lock (`node/evict.rs`).
    fn carry_out(&mut self, spec: AllocSpec, decision: Decision) -> Result<Allocation, NodeError> {
        if decision.victims.is_empty() {
            return self.create_for(
                spec,
                decision.gpu,
                decision.profile,
                decision.start,
                Vec::new(),
            );
        }
        self.evict_then_create(spec, decision)
    }

    /// Creates `profile` at `start` on `gpu` for `spec` and records the holder.
    fn create_for(
        &mut self,
        spec: AllocSpec,
        gpu: GpuIndex,
        profile: &'static dynamig_core::catalog::Profile,
        start: u8,
        evicted: Vec<HolderKey>,
    ) -> Result<Allocation, NodeError> {
        let key = spec.key();
        // A preempted or lost record of the same holder is replaced.
        self.state.holders.retain(|h| !h.is(&key));
        let decision = PlacedAt { gpu, start };
        let seq = self.state.next_seq;
        self.state.next_seq += 1;
        self.state.holders.push(Holder {
            id: spec.id.clone(),
            namespace: spec.namespace.clone(),
            priority: spec.request.priority,
            preemptible: spec.request.preemptible,
            grace_period_ms: dynamig_core::duration::millis(spec.request.grace_period),
            request: spec.request.size.to_string(),
            state: HolderState::Active,
            process: spec.process,
            creator: spec.creator,
            seq,
            created_ms: now_ms(),
            instance: None,
            kill_at_ms: None,
        });
        self.state.intents.push(Intent::Create {
            gpu: decision.gpu,
            profile_id: profile.id,
            start: decision.start,
            holder: spec.id.clone(),
            namespace: spec.namespace.clone(),
        });
        self.save_intent()?;
        fault::point("after-intent-create");
        let created = match self
            .backend
            .create(decision.gpu, profile.id, decision.start)
        {
            Ok(c) => c,
            Err(e) => {
                self.state.intents.pop();
                self.state.holders.retain(|h| !h.is(&key));
                self.save()?;
                self.event(Event::new("error", format!("create failed: {e}")).holder(&key));
                return Err(e.into());
            }
        };
        fault::point("after-ci-create");
        let live = created.live();
        let ci = live.ci;
        let device_nodes = self.backend.device_nodes(decision.gpu, live.gi, ci)?;
        let gpu_uuid = self
            .gpus
            .get(decision.gpu.slot())
            .map(|g| g.uuid.clone())
            .unwrap_or_default();
        let iref = InstanceRef {
            planned: Planned::of(decision.gpu, gpu_uuid.clone(), profile, decision.start),
            live,
        };
        if let Some(h) = self.state.holder_mut(&key) {
            h.instance = Some(iref);
        }
        self.state
            .intents
            .retain(|i| !(matches!(i, Intent::Create { .. }) && i.is_for(&key)));
        self.save()?;
        fault::point("after-allocate-write");
        self.refresh()?;
        self.event(
            Event::new(
                "allocated",
                format!("{} for {}", profile.name, spec.request.size),
            )
            .holder(&key)
            .at(
                decision.gpu,
                profile.name,
                created.start,
                Some(&created.uuid),
            ),
        );
        Ok(Allocation {
            id: spec.id,
            namespace: spec.namespace,
            gpu: decision.gpu,
            gpu_uuid,
            profile: profile.name.to_string(),
            placement: Placement {
                start: created.start,
                size: created.size,
            },
            gi: created.gi,
            ci,
            uuid: created.uuid,
            evict: evicted.iter().map(|k| k.id.clone()).collect(),
            evict_holders: evicted,
            device_nodes,
        })
    }

    /// Destroys a holder's instance and forgets the holder.
    fn release_holder(&mut self, key: &HolderKey, why: &str) -> Result<(), NodeError> {
        let Some(h) = self.state.holder(key).cloned() else {
            return Ok(());
        };
        if let Some(inst) = &h.instance {
            self.state.intents.push(Intent::Destroy {
                gpu: inst.planned.gpu,
                gi: inst.live.gi,
                holder: key.id.clone(),
                namespace: key.namespace.clone(),
            });
            self.save_intent()?;
            fault::point("after-release-intent");
            self.destroy_hw(inst.planned.gpu, inst.live.gi)?;
            fault::point("after-release-destroy");
            self.state
                .intents
                .retain(|i| !(matches!(i, Intent::Destroy { .. }) && i.is_for(key)));
        }
        self.state.holders.retain(|x| !x.is(key));
        self.save()?;
        self.refresh()?;
        // A victim whose container ends (and is deleted) before its evictor comes back for its
        // instance was preempted all the same: the event log says so, and for whom.
        let mut e = if h.state == HolderState::Preempting {
            Event::new("preempted", format!("evicted for {}", self.evictor_of(key)))
        } else {
            Event::new("released", why)
        }
        .holder(key);
        if let Some(i) = &h.instance {
            e = e.at(
                i.planned.gpu,
                &i.planned.profile,
                i.planned.start,
                Some(&i.live.uuid),
            );
        }
        self.event(e);
        Ok(())
    }

    /// Releases a holder: that namespace's holder of that id, never another namespace's.
    /// `Ok(false)` when it holds nothing (already released): releasing twice is harmless.
    pub fn release(&mut self, key: &HolderKey) -> Result<bool, NodeError> {
        if self.state.holder(key).is_none() {
            return Ok(false);
        }
        self.release_holder(key, "released")?;
        Ok(true)
    }

    /// Records the process whose life is the holder's life (the container's init).
    pub fn set_process(&mut self, key: &HolderKey, process: ProcRef) -> Result<(), NodeError> {
        let h = self
            .state
            .holder_mut(key)
            .ok_or_else(|| NodeError::NoSuchHolder(key.clone()))?;
        h.process = Some(process);
        h.creator = None;
        self.save()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        events::append(&self.dir.events_file(), &self.events);
        crate::metrics::on_close(self, &self.events);
    }
}
