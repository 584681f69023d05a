//! Eviction outside the node lock (docs/eviction.md).
//!
//! A decision with victims is carried out in three steps:
//!
//! 1. Under the lock: the target placement is reserved for the requester (an
//!    [`Eviction`] in the node state, which [`Node::view`] shows as occupied to everyone else),
//!    the victims are marked `preempting` (so no other decision picks them), and every victim's
//!    container process gets SIGTERM at once. The lock is let go.
//! 2. Outside the lock: the requester waits until every victim is gone, sending SIGKILL to each
//!    one whose grace period is over. Every other request, release, `status` and `gc` proceeds.
//! 3. Under the lock again: the victims' instances are destroyed, the reservation is replaced by
//!    the requester's own instance, and the holder is recorded.
//!
//! The reservation ends with its owner's life: [`Node::reconcile`] drops one whose owner is
//! gone ([`Node::expire_evictions`]); its victims stay preempted, and whoever finds them later
//! SIGKILLs them after their grace and frees their instances once they are gone
//! ([`Node::settle_preempting`]). A retry of the same Kubernetes container (same pod sandbox and
//! container name) takes the reservation over instead of evicting again ([`Node::take_over`]).

use super::{AllocSpec, Allocation, Node, NodeError, KILL_WAIT};
use crate::events::{now_ms, Event};
use crate::fault;
use crate::phases;
use crate::process::ProcRef;
use crate::state::{Eviction, HolderKey, HolderState, Intent};
use dynamig_core::planner::Decision;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// How often the wait outside the lock looks at the victims: first after 1 ms (a victim that
/// exits on SIGTERM, or on SIGKILL at a zero grace, is gone within about that), then twice as
/// long each time, up to 20 ms.
const FIRST_POLL: Duration = Duration::from_millis(1);
const POLL: Duration = Duration::from_millis(20);

/// A victim's process and the Unix time (ms) at which its grace period ends.
#[derive(Debug, Clone, Copy)]
struct Target {
    process: ProcRef,
    kill_at_ms: u64,
}

impl Node {
    /// Carries out a decision whose victims must leave first (the three steps above).
    pub(super) fn evict_then_create(
        &mut self,
        spec: AllocSpec,
        decision: Decision,
        over_quota: bool,
    ) -> Result<Allocation, NodeError> {
        self.reserve(&spec, &decision, over_quota)?;
        self.wait_and_finish(spec)
    }

    /// When `spec` is a retry of a Kubernetes container whose eviction is in flight, takes that
    /// eviction over (this process becomes its owner, `spec.id` its requester) and carries it
    /// to its end. `None` when there is nothing to take over.
    pub(super) fn take_over(&mut self, spec: &AllocSpec) -> Option<Result<Allocation, NodeError>> {
        let key = spec.request.k8s_container.as_deref()?;
        let me = ProcRef::current();
        let ev = self.state.evictions.iter_mut().find(|e| {
            e.retry_key.as_deref() == Some(key) && e.namespace == spec.namespace && e.owner != me
        })?;
        let before = std::mem::replace(&mut ev.holder, spec.id.clone());
        ev.owner = me;
        let message =
            format!("a retry of Kubernetes container {key} took over the eviction for {before}");
        if let Err(e) = self.save() {
            return Some(Err(e));
        }
        self.event(Event::new("taken-over", message).holder(&spec.key()));
        Some(self.wait_and_finish(spec.clone()))
    }

    /// Step 1: reserve, mark, signal, under the lock.
    fn reserve(
        &mut self,
        spec: &AllocSpec,
        d: &Decision,
        over_quota: bool,
    ) -> Result<(), NodeError> {
        let now = now_ms();
        let mut victims: Vec<HolderKey> = Vec::new();
        for v in &d.victims {
            let key = v.key();
            if let Some(h) = self.state.holder_mut(&key) {
                h.state = HolderState::Preempting;
                h.kill_at_ms = Some(now.saturating_add(h.grace_period_ms));
                h.created_ms = now;
                victims.push(key);
            }
        }
        self.state.evictions.push(Eviction {
            holder: spec.id.clone(),
            namespace: spec.namespace.clone(),
            owner: ProcRef::current(),
            retry_key: spec.request.k8s_container.clone(),
            gpu: d.gpu,
            profile_id: d.profile.id,
            profile: d.profile.name.to_string(),
            start: d.start,
            victims: victims.clone(),
            created_ms: now,
            over_quota,
            k8s_namespace: spec.request.k8s_namespace.clone(),
        });
        self.save_intent()?;
        fault::point("after-evict-reserve");
        for v in &victims {
            self.signal(v, Signal::SIGTERM);
        }
        fault::point("after-sigterm");
        for v in &victims {
            let grace = self.state.holder(v).map_or(0, |h| h.grace_period_ms);
            let over = self.state.holder(v).is_some_and(|h| h.over_quota);
            self.event(
                Event::new(
                    "preempting",
                    format!(
                        "evicting for {}{}: SIGTERM, {grace} ms grace",
                        spec.key(),
                        if over {
                            " (taken back: over quota)"
                        } else {
                            ""
                        }
                    ),
                )
                .holder(v),
            );
        }
        Ok(())
    }

    /// Steps 2 and 3 for the eviction this process owns for `spec.id`.
    fn wait_and_finish(&mut self, spec: AllocSpec) -> Result<Allocation, NodeError> {
        let targets = self.targets(&spec.key());
        let waited = self.unlocked(|| {
            fault::point("after-evict-unlock");
            let t = Instant::now();
            wait_gone(&targets);
            t.elapsed()
        })?;
        phases::add(&mut self.phases.eviction_wait_us, waited);
        self.finish(spec)
    }

    /// The processes of the victims of the eviction for `id`.
    fn targets(&self, key: &HolderKey) -> Vec<Target> {
        let Some(ev) = self.state.eviction_for(key) else {
            return Vec::new();
        };
        ev.victims
            .iter()
            .filter_map(|v| self.state.holder(v))
            .filter(|h| h.state == HolderState::Preempting)
            .filter_map(|h| {
                Some(Target {
                    process: *h.signallable()?,
                    kill_at_ms: h.kill_at_ms.unwrap_or(0),
                })
            })
            .collect()
    }

    /// Step 3, under the lock again.
    fn finish(&mut self, spec: AllocSpec) -> Result<Allocation, NodeError> {
        let me = ProcRef::current();
        let key = spec.key();
        let Some(at) = self
            .state
            .evictions
            .iter()
            .position(|e| e.is(&key) && e.owner == me)
        else {
            let e = NodeError::EvictionTakenOver(key.clone());
            self.event(Event::new("refused", e.to_string()).holder(&key));
            return Err(e);
        };
        let ev = self.state.evictions[at].clone();
        let alive: Vec<(String, u32)> = ev
            .victims
            .iter()
            .filter_map(|v| self.state.holder(v))
            .filter(|h| h.state == HolderState::Preempting)
            .filter_map(|h| {
                h.signallable()
                    .filter(|p| p.is_alive())
                    .map(|p| (h.key().to_string(), p.pid))
            })
            .collect();
        if let Some((victim, pid)) = alive.into_iter().next() {
            // The victims stay preempting; whoever comes next SIGKILLs them again.
            self.state.evictions.remove(at);
            self.save()?;
            return Err(NodeError::VictimAlive { victim, pid });
        }
        for v in &ev.victims {
            self.destroy_victim(v, &key.to_string())?;
        }
        self.state.evictions.remove(at);
        let profile = self
            .gpus
            .get(ev.gpu.slot())
            .and_then(|g| g.model)
            .and_then(|m| m.profile_by_id(ev.profile_id))
            .ok_or(NodeError::Backend(
                crate::backend::BackendError::UnknownProfile {
                    gpu: ev.gpu,
                    profile_id: ev.profile_id,
                },
            ))?;
        self.create_for(spec, ev.gpu, profile, ev.start, ev.victims, ev.over_quota)
    }

    /// Destroys a `preempting` victim's instance once its process is gone; it stays, as
    /// `preempted`. Anything else (released or lost meanwhile) is left as it is.
    pub(super) fn destroy_victim(&mut self, victim: &HolderKey, by: &str) -> Result<(), NodeError> {
        let Some(h) = self
            .state
            .holder(victim)
            .filter(|h| h.state == HolderState::Preempting)
            .cloned()
        else {
            return Ok(());
        };
        if let Some(inst) = h.instance.clone() {
            self.state.intents.push(Intent::Destroy {
                gpu: inst.planned.gpu,
                gi: inst.live.gi,
                holder: victim.id.clone(),
                namespace: victim.namespace.clone(),
            });
            self.save_intent()?;
            fault::point("after-evict-intent");
            self.destroy_hw(inst.planned.gpu, inst.live.gi)?;
            fault::point("after-evict-destroy");
            self.state
                .intents
                .retain(|i| !(matches!(i, Intent::Destroy { .. }) && i.is_for(victim)));
            self.event(
                Event::new("preempted", format!("evicted for {by}"))
                    .holder(victim)
                    .at(
                        inst.planned.gpu,
                        &inst.planned.profile,
                        inst.planned.start,
                        Some(&inst.live.uuid),
                    ),
            );
        }
        if let Some(x) = self.state.holder_mut(victim) {
            if x.state == HolderState::Preempting {
                x.state = HolderState::Preempted;
            }
            x.instance = None;
            x.kill_at_ms = None;
        }
        self.save()?;
        self.refresh()?;
        Ok(())
    }

    /// Who a `preempting` holder is being evicted for, as events name it.
    pub(super) fn evictor_of(&self, victim: &HolderKey) -> String {
        self.state
            .evictions
            .iter()
            .find(|e| e.victims.contains(victim))
            .map_or_else(
                || "a request that is gone".to_string(),
                |e| e.key().to_string(),
            )
    }

    /// Sends `sig` to a holder's container process (never to its creator).
    fn signal(&self, key: &HolderKey, sig: Signal) {
        if let Some(p) = self.state.holder(key).and_then(|h| h.signallable()) {
            p.signal(sig);
        }
    }

    /// Drops the evictions whose owner is gone (true if any was). Their victims stay
    /// preempting, and get SIGTERM (again: the owner may have died before it sent one).
    pub(super) fn expire_evictions(&mut self) -> bool {
        let (gone, kept): (Vec<Eviction>, Vec<Eviction>) =
            std::mem::take(&mut self.state.evictions)
                .into_iter()
                .partition(|e| !e.owner.is_alive());
        self.state.evictions = kept;
        for e in &gone {
            for v in &e.victims {
                self.signal(v, Signal::SIGTERM);
            }
            self.event(
                Event::new(
                    "expired",
                    format!(
                        "the room reserved on GPU {} ({}@{}) is free again: its requester (pid {}) is gone; its victims stay preempted",
                        e.gpu, e.profile, e.start, e.owner.pid
                    ),
                )
                .holder(&e.key()),
            );
        }
        !gone.is_empty()
    }

    /// Preempting holders that no eviction in flight waits for: SIGKILL once their grace is
    /// over, and once their process is gone, their instance is destroyed. True if the state
    /// changed.
    pub(super) fn settle_preempting(&mut self, now: u64) -> Result<bool, NodeError> {
        let orphans: Vec<HolderKey> = self
            .state
            .holders
            .iter()
            .filter(|h| h.state == HolderState::Preempting)
            .filter(|h| self.state.eviction_of_victim(&h.key()).is_none())
            .map(|h| h.key())
            .collect();
        let mut changed = false;
        for id in orphans {
            let Some(h) = self.state.holder(&id) else {
                continue;
            };
            match h.signallable() {
                Some(p) if p.is_alive() => {
                    if now >= h.kill_at_ms.unwrap_or(0) {
                        tracing::warn!(holder = %id, pid = p.pid, "grace period over; sending SIGKILL");
                        p.signal(Signal::SIGKILL);
                    }
                }
                _ => {
                    self.destroy_victim(&id, "a request that is gone")?;
                    changed = true;
                }
            }
        }
        Ok(changed)
    }
}

/// Waits until every target is gone: SIGKILL to each whose grace is over, and up to
/// [`KILL_WAIT`] after that for it to exit. Sleeps without the lock.
fn wait_gone(targets: &[Target]) {
    let mut killed: Vec<Option<Instant>> = vec![None; targets.len()];
    let mut nap = FIRST_POLL;
    loop {
        let now = now_ms();
        let mut waiting = false;
        for (t, k) in targets.iter().zip(killed.iter_mut()) {
            if !t.process.is_alive() {
                continue;
            }
            match k {
                None if now >= t.kill_at_ms => {
                    tracing::warn!(pid = t.process.pid, "grace period over; sending SIGKILL");
                    t.process.signal(Signal::SIGKILL);
                    *k = Some(Instant::now());
                    waiting = true;
                }
                Some(at) if at.elapsed() >= KILL_WAIT => {}
                _ => waiting = true,
            }
        }
        if !waiting {
            return;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(POLL);
    }
}
