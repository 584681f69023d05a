//! One node, under its lock: read the state and the hardware, reconcile them, decide, act, write.
//!
//! Every hardware change is bracketed by writes: an [`Intent`](crate::state::Intent) is written before the change and
//! removed, together with the change's outcome, after it. A crash at any point leaves either no
//! intent (nothing happened, or everything was recorded) or an intent that the next entry point
//! finishes or undoes in [`Node::reconcile`]. The hardware is the truth for which instances
//! exist; process liveness (pid plus start time) is the truth for which holders are alive.
//!
//! One file per operation (as youki's `container_*.rs`): [`Node`] and its open here (with the
//! [`NodeConfig`] the entry point read); `allocate.rs`, `admit.rs` (the decision under the wait
//! queue and the policy, and [`Node::dry_run`]), `evict.rs`, `release.rs`, `reconcile.rs`,
//! `wait.rs` ([`allocate_waiting`]), `quota.rs` (what a namespace holds against its quota),
//! `view.rs` (the planner's view of the node), `warm.rs` (warm instances), `close.rs`
//! ([`Node::close`] and [`Node::session`]: events and metrics are written there, never on drop);
//! `spec.rs` and `error.rs` hold the types they take and return.

use crate::backend::{self, Backend, BackendError, BackendKind, GpuInfo, InstanceInfo};
use crate::config::NodeConfig;
use crate::events::Event;
use crate::metrics::decision::Decisions;
use crate::phases::{self, Phases};
use crate::state::file::Durability;
use crate::state::{file, HolderKey, NodeLock, NodeState, StateDir};
use dynamig_core::ids::{GiId, GpuIndex};
use std::cell::RefCell;
use std::time::Duration;

mod admit;
mod allocate;
mod claim;
mod close;
mod error;
mod evict;
mod quota;
mod reconcile;
mod release;
mod spec;
mod view;
mod wait;
mod warm;

pub use claim::{ExactError, Occupant};
pub use error::NodeError;
pub use reconcile::Reconciled;
pub use spec::{valid_id, AllocSpec, Allocation, Placement};
pub use wait::{allocate_waiting, cancel_on_signals};

/// How long a destroy keeps retrying while NVML reports the instance in use.
const DESTROY_RETRY: Duration = Duration::from_secs(5);
/// After SIGKILL, how long to wait for a victim to exit.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Preempted or lost holders whose process is gone are forgotten after this long.
const FORGET_AFTER_MS: u64 = 10 * 60 * 1000;

/// The node, locked: its state, its backend and the hardware as last read.
pub struct Node {
    cfg: NodeConfig,
    dir: StateDir,
    /// `None` only while an eviction waits for its victims outside the lock.
    lock: Option<NodeLock>,
    backend: Box<dyn Backend>,
    pub state: NodeState,
    gpus: Vec<GpuInfo>,
    hw: Vec<Vec<InstanceInfo>>,
    events: Vec<Event>,
    /// The planner decisions this node timed (under `&self`: status and dry runs plan too).
    decisions: RefCell<Decisions>,
    /// Where the current allocation's or release's time went, so far (`phases.rs`).
    phases: Phases,
    pub reconciled: Reconciled,
    /// Warm instances found with processes on them when the node was last reconciled: neither
    /// handed out nor destroyed (docs/warm-instances.md).
    warm_in_use: Vec<(GpuIndex, GiId)>,
    /// Why warm instances are off on this node although the settings turn them on (the driver
    /// does not scrub freed memory), read once at open.
    warm_off: Option<String>,
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
    pub fn open(cfg: &NodeConfig, dir: &StateDir) -> Result<Node, NodeError> {
        let lock = NodeLock::acquire_for(&dir.lock_file(), cfg)?;
        let backend = backend::open_in(
            dir,
            cfg.backend_choice()?,
            cfg.proc_tree(),
            cfg.nvml_session.as_ref(),
        )?;
        Node::with_backend(cfg, dir, lock, backend)
    }

    /// Like [`Node::open`] with a given backend (tests).
    pub fn with_backend(
        cfg: &NodeConfig,
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
            cfg: cfg.clone(),
            dir: dir.clone(),
            lock: Some(lock),
            backend,
            state,
            gpus,
            hw: Vec::new(),
            events: Vec::new(),
            decisions: RefCell::default(),
            phases: Phases::default(),
            reconciled: Reconciled::default(),
            warm_in_use: Vec::new(),
            warm_off: None,
        };
        node.warm_off = node.driver_keeps_memory();
        if let Some(why) = &cfg.warm.invalid {
            tracing::warn!(setting = %why, "warm instances are off");
        }
        // A reconciliation that fails half way still writes the events it made.
        if let Err(e) = node.refresh().and_then(|()| node.reconcile()) {
            node.close();
            return Err(e);
        }
        Ok(node)
    }

    /// The configuration the node was opened with.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
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
        self.flush();
        let waited = self.lock_waited();
        self.lock = None;
        let out = f();
        let mut lock = NodeLock::acquire_for(&self.dir.lock_file(), &self.cfg)?;
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

    /// Destroys an instance, retrying while NVML reports it in use; its time is added to the
    /// current operation's `destroy` phase.
    fn destroy_hw(&mut self, gpu: GpuIndex, gi: GiId) -> Result<(), BackendError> {
        let t = std::time::Instant::now();
        let out = self.destroy_hw_retrying(gpu, gi);
        phases::add(&mut self.phases.destroy_us, t.elapsed());
        out
    }

    fn destroy_hw_retrying(&mut self, gpu: GpuIndex, gi: GiId) -> Result<(), BackendError> {
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

    /// Starts measuring a new operation's phases.
    fn start_phases(&mut self) {
        self.phases = Phases::default();
    }

    /// The current operation's phases, with the node lock's wait so far.
    fn phases_now(&self) -> Phases {
        let mut p = self.phases;
        p.lock_wait_us = Some(dynamig_core::duration::micros(self.lock_waited()));
        p
    }

    /// Records the time the caller spent editing the spec of holder `key`'s container: in the
    /// holder's `allocated` event (still to be written, at close) and in what it returns.
    pub fn note_spec_edit(&mut self, key: &HolderKey, took: Duration) -> Phases {
        let mut out = Phases::default();
        if let Some(e) = self.events.iter_mut().rev().find(|e| {
            e.kind == "allocated"
                && e.holder.as_deref() == Some(&key.id)
                && e.namespace.as_deref() == Some(&key.namespace)
        }) {
            let p = e.phases.get_or_insert_with(Phases::default);
            phases::add(&mut p.spec_edit_us, took);
            out = *p;
        }
        out
    }

    fn hw_has(&self, gpu: GpuIndex, gi: GiId) -> bool {
        self.hw_instances(gpu).iter().any(|i| i.gi == gi)
    }
}
