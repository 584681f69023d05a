//! Allocation: check the request, decide (`admit.rs`), then create the instance at once or
//! through an eviction (`evict.rs`), and record the holder.

use super::admit::{policy_once, Admitted};
use super::{valid_id, AllocSpec, Allocation, Node, NodeError, Placement};
use crate::events::{now_ms, Event};
use crate::fault;
use crate::phases;
use crate::process::ProcRef;
use crate::state::{Holder, HolderKey, HolderState, InstanceRef, Intent, Planned};
use dynamig_core::ids::GpuIndex;
use dynamig_core::policy::{Allowance, Policy};

impl Node {
    /// Plans (under the wait queue's reservations), evicts if it must, creates the instance, and
    /// records the holder. Never waits: see [`super::allocate_waiting`].
    pub fn allocate(&mut self, spec: AllocSpec) -> Result<Allocation, NodeError> {
        self.start_phases();
        self.check_ids(&spec)?;
        let mut policy = None;
        let allowance = self.check_spec(&spec, policy_once(&mut policy, self)?)?;
        if let Some(done) = self.take_over(&spec) {
            return done;
        }
        self.check_not_evicting(&spec)?;
        let t = std::time::Instant::now();
        let decided = self.decide(&spec, &allowance);
        phases::add(&mut self.phases.decision_us, t.elapsed());
        let decision = match decided {
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

    /// The holder id and namespace are names, never paths or commands.
    pub(super) fn check_ids(&self, spec: &AllocSpec) -> Result<(), NodeError> {
        if !valid_id(&spec.id) {
            return Err(NodeError::BadId(spec.id.clone()));
        }
        if !valid_id(&spec.namespace) {
            return Err(NodeError::BadId(spec.namespace.clone()));
        }
        Ok(())
    }

    /// The namespace's allowance under `policy` admits the request (a refusal is an event),
    /// and the holder holds nothing yet. Returns the allowance, for the decision's victims.
    pub(super) fn check_spec(
        &mut self,
        spec: &AllocSpec,
        policy: &Policy,
    ) -> Result<Allowance, NodeError> {
        self.refuse_if_dra_managed()?;
        // The node's admission policy: what this namespace may claim (docs/policy.md).
        let allowance = policy.allowance(&spec.namespace, spec.request.k8s_namespace.as_deref());
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
        Ok(allowance)
    }

    /// Refuses a request whose id has an eviction in flight (unless it takes it over, which
    /// [`Node::take_over`] does first).
    pub(super) fn check_not_evicting(&self, spec: &AllocSpec) -> Result<(), NodeError> {
        match self.state.eviction_for(&spec.key()) {
            Some(_) => Err(NodeError::BeingAllocated(spec.key())),
            None => Ok(()),
        }
    }

    /// Carries out a decision for `spec`: at once when it evicts nobody, else through an
    /// eviction outside the lock (`node/evict.rs`).
    pub(super) fn carry_out(
        &mut self,
        spec: AllocSpec,
        admitted: Admitted,
    ) -> Result<Allocation, NodeError> {
        let Admitted {
            decision,
            over_quota,
        } = admitted;
        if decision.reuse {
            return self.take_warm(
                spec,
                decision.gpu,
                decision.profile,
                decision.start,
                over_quota,
            );
        }
        self.reclaim_warm(decision.gpu, &decision.reclaim, &spec.key())?;
        if decision.victims.is_empty() {
            return self.create_for(
                spec,
                decision.gpu,
                decision.profile,
                decision.start,
                Vec::new(),
                over_quota,
            );
        }
        self.evict_then_create(spec, decision, over_quota)
    }

    /// Creates `profile` at `start` on `gpu` for `spec` and records the holder (marked
    /// `over_quota` when it was admitted beyond its namespace's quota).
    pub(super) fn create_for(
        &mut self,
        spec: AllocSpec,
        gpu: GpuIndex,
        profile: &'static dynamig_core::catalog::Profile,
        start: u8,
        evicted: Vec<HolderKey>,
        over_quota: bool,
    ) -> Result<Allocation, NodeError> {
        let key = spec.key();
        let holder = self.new_holder(&spec, over_quota);
        // A preempted or lost record of the same holder is replaced.
        self.state.holders.retain(|h| !h.is(&key));
        self.state.holders.push(holder);
        self.state.intents.push(Intent::Create {
            gpu,
            profile_id: profile.id,
            start,
            holder: spec.id.clone(),
            namespace: spec.namespace.clone(),
        });
        self.save_intent()?;
        fault::point("after-intent-create");
        let created = match self.backend.create(gpu, profile.id, start) {
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
        if let Some(t) = self.backend.last_create() {
            phases::add(&mut self.phases.gi_create_us, t.gi);
            phases::add(&mut self.phases.ci_create_us, t.ci);
        }
        let live = created.live();
        let ci = live.ci;
        let device_nodes = self.backend.device_nodes(gpu, live.gi, ci)?;
        let gpu_uuid = self
            .gpus
            .get(gpu.slot())
            .map(|g| g.uuid.clone())
            .unwrap_or_default();
        let iref = InstanceRef {
            planned: Planned::of(gpu, gpu_uuid.clone(), profile, start),
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
        let phases = self.phases_now();
        self.event(
            Event::new(
                "allocated",
                // The profile and placement are the event's own fields: the message says what
                // was asked for, not the profile again.
                format!(
                    "asked for {}{}",
                    spec.request.size,
                    if over_quota { ", over quota" } else { "" }
                ),
            )
            .holder(&key)
            .at(gpu, profile.name, created.start, Some(&created.uuid))
            .phases(phases),
        );
        Ok(Allocation {
            id: spec.id,
            namespace: spec.namespace,
            gpu,
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
            phases,
        })
    }

    /// A new active holder for `spec` (marked `over_quota` when admitted beyond its quota),
    /// holding nothing yet; takes the next allocation sequence number.
    pub(super) fn new_holder(&mut self, spec: &AllocSpec, over_quota: bool) -> Holder {
        let seq = self.state.next_seq;
        self.state.next_seq += 1;
        Holder {
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
            k8s_namespace: spec.request.k8s_namespace.clone(),
            over_quota,
            checkpoint_interval_ms: spec
                .request
                .checkpoint_interval
                .map(dynamig_core::duration::millis),
        }
    }

    /// Records the process whose life is the holder's life (the container's init).
    pub fn set_process(&mut self, key: &HolderKey, process: ProcRef) -> Result<(), NodeError> {
        if !self.state.set_process(key, process) {
            return Err(NodeError::NoSuchHolder(key.clone()));
        }
        self.save()
    }
}
