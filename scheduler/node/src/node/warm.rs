//! Warm instances (docs/warm-instances.md): a released holder's instance kept for the next
//! request of its profile ([`Node::keep_warm`], from `release.rs`), taken as it is
//! ([`Node::take_warm`]), destroyed when a reshape needs its room ([`Node::reclaim_warm`]) or
//! when it has been kept too long or one too many (reconcile's [`Node::settle_warm`]).
//!
//! Every move in or out of the warm list is one state write: a holder becomes warm, or warm
//! becomes a holder, in the same write, so a crash leaves an instance warm or held, never both
//! and never neither. A destroy is not bracketed by an intent: a warm entry whose instance is
//! gone from the hardware is forgotten by the next reconcile, which is what the intent would
//! have done.

use super::{AllocSpec, Allocation, Node, NodeError, Placement};
use crate::events::{now_ms, Event};
use crate::fault;
use crate::state::{Holder, HolderKey, HolderState, Warm};
use dynamig_core::catalog::Profile;
use dynamig_core::ids::{GiId, GpuIndex};
use dynamig_core::planner::Reclaim;

impl Node {
    /// Whether releasing `h` keeps its instance warm: warm instances are on, `h` held its
    /// instance normally (not an eviction's victim, whose room someone waits for), and its GPU
    /// is still the one it was created on and may take instances.
    pub(super) fn may_keep_warm(&self, h: &Holder) -> bool {
        let Some(i) = &h.instance else { return false };
        self.warm_enabled()
            && h.state == HolderState::Active
            && self
                .gpus
                .get(i.planned.gpu.slot())
                .is_some_and(|g| g.uuid == i.planned.gpu_uuid && g.mig.usable())
            && self.hw_has(i.planned.gpu, i.live.gi)
    }

    /// Moves `h`'s instance to the warm list (the caller drops `h` and writes the state, in the
    /// same write).
    pub(super) fn keep_warm(&mut self, h: &Holder) {
        if let Some(i) = &h.instance {
            self.state.warm.push(Warm {
                instance: i.clone(),
                since_ms: now_ms(),
                last_holder: h.key(),
            });
        }
    }

    /// After a release kept an instance warm: the event, then the warm instances beyond the
    /// limit go, oldest first.
    pub(super) fn kept_warm(&mut self, key: &HolderKey) -> Result<(), NodeError> {
        fault::point("after-warm-keep");
        if let Some(w) = self.state.warm.last().cloned() {
            let i = &w.instance;
            self.event(
                Event::new(
                    "warm",
                    format!(
                        "kept for the next request of its profile, at most {}",
                        dynamig_core::duration::format_duration(self.cfg.warm.ttl)
                    ),
                )
                .holder(key)
                .at(
                    i.planned.gpu,
                    &i.planned.profile,
                    i.planned.start,
                    Some(&i.live.uuid),
                ),
            );
        }
        if self.expire_warm(now_ms())? {
            self.save()?;
        }
        Ok(())
    }

    /// Gives `spec` the warm instance `profile@start` on `gpu` as it is (no destroy, no
    /// create) and records the holder, in one write.
    pub(super) fn take_warm(
        &mut self,
        spec: AllocSpec,
        gpu: GpuIndex,
        profile: &'static Profile,
        start: u8,
        over_quota: bool,
    ) -> Result<Allocation, NodeError> {
        let key = spec.key();
        let Some(at) = self.state.warm.iter().position(|w| {
            let p = &w.instance.planned;
            p.gpu == gpu && p.start == start && p.profile_id == profile.id
        }) else {
            // The planner's view is built from this list under the same lock: not reached.
            return self.create_for(spec, gpu, profile, start, Vec::new(), over_quota);
        };
        let instance = self.state.warm[at].instance.clone();
        let device_nodes = self
            .backend
            .device_nodes(gpu, instance.live.gi, instance.live.ci)?;
        let mut holder = self.new_holder(&spec, over_quota);
        holder.instance = Some(instance.clone());
        self.state.warm.remove(at);
        self.state.holders.retain(|h| !h.is(&key));
        self.state.holders.push(holder);
        self.save()?;
        fault::point("after-warm-take");
        let uuid = instance.live.uuid.clone();
        // Lock wait and decision as measured; no destroy, no create.
        let phases = self.phases_now();
        self.event(
            Event::new(
                "warm-hit",
                "took a warm instance as it is: no destroy, no create",
            )
            .holder(&key)
            .at(gpu, profile.name, start, Some(&uuid)),
        );
        self.event(
            Event::new(
                "allocated",
                format!(
                    "asked for {}{}, a warm instance",
                    spec.request.size,
                    if over_quota { ", over quota" } else { "" }
                ),
            )
            .holder(&key)
            .at(gpu, profile.name, start, Some(&uuid))
            .phases(phases),
        );
        Ok(Allocation {
            id: spec.id,
            namespace: spec.namespace,
            gpu,
            gpu_uuid: instance.planned.gpu_uuid,
            profile: profile.name.to_string(),
            placement: Placement {
                start,
                size: instance.planned.size,
            },
            gi: instance.live.gi,
            ci: instance.live.ci,
            uuid,
            evict: Vec::new(),
            evict_holders: Vec::new(),
            device_nodes,
            phases,
        })
    }

    /// Destroys the warm instances a decision reshapes on `gpu` (free room: one destroy each),
    /// for `key`.
    pub(super) fn reclaim_warm(
        &mut self,
        gpu: GpuIndex,
        reclaim: &[Reclaim],
        key: &HolderKey,
    ) -> Result<(), NodeError> {
        for r in reclaim {
            let Some(w) = self
                .state
                .warm
                .iter()
                .find(|w| w.instance.planned.gpu == gpu && w.instance.planned.start == r.start)
                .cloned()
            else {
                continue;
            };
            self.destroy_warm(&w, &format!("destroyed to make room for {key}"))?;
            fault::point("after-warm-reclaim");
        }
        if !reclaim.is_empty() {
            self.refresh()?;
        }
        Ok(())
    }

    /// Destroys warm instance `w` and drops it from the list, written at once.
    fn destroy_warm(&mut self, w: &Warm, why: &str) -> Result<(), NodeError> {
        let i = &w.instance;
        self.destroy_hw(i.planned.gpu, i.live.gi)?;
        self.state
            .warm
            .retain(|x| x.instance.live.uuid != i.live.uuid);
        self.save()?;
        self.event(Event::new("warm-expired", why).holder(&w.last_holder).at(
            i.planned.gpu,
            &i.planned.profile,
            i.planned.start,
            Some(&i.live.uuid),
        ));
        Ok(())
    }

    /// Reconcile's warm step: warm instances gone from the hardware are forgotten, those with
    /// processes on them are marked in use (never handed out nor destroyed while so), those
    /// kept longer than `DYNAMIG_WARM_TTL` or beyond `DYNAMIG_WARM_MAX` are destroyed. True if
    /// the state changed.
    pub(super) fn settle_warm(&mut self, now: u64) -> Result<bool, NodeError> {
        if self.state.warm.is_empty() {
            return Ok(false);
        }
        let mut changed = false;
        let gone: Vec<Warm> = self
            .state
            .warm
            .iter()
            .filter(|w| {
                let i = &w.instance;
                self.gpus
                    .get(i.planned.gpu.slot())
                    .is_none_or(|g| g.uuid != i.planned.gpu_uuid)
                    || !self
                        .hw_instances(i.planned.gpu)
                        .iter()
                        .any(|x| x.gi == i.live.gi && x.uuid == i.live.uuid)
            })
            .cloned()
            .collect();
        for w in gone {
            changed = true;
            self.reconciled
                .warm_expired
                .push(w.instance.live.uuid.clone());
            self.state
                .warm
                .retain(|x| x.instance.live.uuid != w.instance.live.uuid);
            let i = &w.instance;
            self.event(
                Event::new(
                    "warm-expired",
                    "its MIG instance is gone from the hardware: forgotten",
                )
                .holder(&w.last_holder)
                .at(
                    i.planned.gpu,
                    &i.planned.profile,
                    i.planned.start,
                    Some(&i.live.uuid),
                ),
            );
        }
        self.warm_in_use.clear();
        for w in self.state.warm.clone() {
            let (gpu, gi) = (w.instance.planned.gpu, w.instance.live.gi);
            let pids = self.backend.processes_on(gpu, gi)?;
            if !pids.is_empty() {
                tracing::warn!(
                    gpu = gpu.get(),
                    gi = gi.get(),
                    ?pids,
                    "a warm instance has processes on it: left alone"
                );
                self.warm_in_use.push((gpu, gi));
            }
        }
        changed |= self.expire_warm(now)?;
        Ok(changed)
    }

    /// Destroys the warm instances kept too long, then the oldest beyond the limit (never one
    /// in use). True if any went.
    fn expire_warm(&mut self, now: u64) -> Result<bool, NodeError> {
        let ttl = self.cfg.warm.ttl_ms();
        // Settings turned off, or a driver that does not scrub: none may stay.
        let max = if self.warm_enabled() {
            self.cfg.warm.max
        } else {
            0
        };
        let mut changed = false;
        let old: Vec<Warm> = self
            .state
            .warm
            .iter()
            .filter(|w| !self.warm_is_in_use(w) && now.saturating_sub(w.since_ms) >= ttl)
            .cloned()
            .collect();
        for w in old {
            changed = true;
            self.reconciled
                .warm_expired
                .push(w.instance.live.uuid.clone());
            let why = format!(
                "kept {} (DYNAMIG_WARM_TTL) and not taken",
                dynamig_core::duration::format_duration(self.cfg.warm.ttl)
            );
            self.destroy_warm(&w, &why)?;
        }
        loop {
            let idle: Vec<Warm> = self
                .state
                .warm
                .iter()
                .filter(|w| !self.warm_is_in_use(w))
                .cloned()
                .collect();
            if self.state.warm.len() <= max || idle.is_empty() {
                break;
            }
            changed = true;
            // Oldest first: the list is in the order they were kept.
            let why = format!("one more than DYNAMIG_WARM_MAX={max}");
            self.reconciled
                .warm_expired
                .push(idle[0].instance.live.uuid.clone());
            self.destroy_warm(&idle[0], &why)?;
        }
        Ok(changed)
    }

    fn warm_is_in_use(&self, w: &Warm) -> bool {
        self.warm_in_use(w.instance.planned.gpu, w.instance.live.gi)
    }

    /// Whether releases keep their instances warm: the settings say so, and the driver scrubs
    /// freed GPU memory.
    /// Warm instances are kept only when the settings ask for them, the driver scrubs freed
    /// memory, and the node is standalone: on a DRA-managed node the scheduler's counters own
    /// the room, and a warm instance would be room they think free (docs/warm-instances.md).
    fn warm_enabled(&self) -> bool {
        self.cfg.warm.enabled() && self.warm_off.is_none() && !self.dra_managed()
    }

    /// When warm instances are on: why they must be off anyway, if the NVIDIA module's
    /// parameters (`/proc/driver/nvidia/params` under `DYNAMIG_PROC_ROOT`) turn off its scrubbing
    /// of freed memory (docs/warm-instances.md). Logged once per entry point.
    pub(super) fn driver_keeps_memory(&self) -> Option<String> {
        if !self.cfg.warm.enabled() {
            return None;
        }
        let path = self.cfg.proc_root.join(crate::warm::DRIVER_PARAMS);
        let text = std::fs::read_to_string(&path).ok()?;
        if !crate::warm::scrub_on_free_disabled(&text) {
            return None;
        }
        let why = format!(
            "{} sets RMDisableScrubOnFree: the driver does not clear freed GPU memory, so \
             released instances are destroyed, not kept warm",
            path.display()
        );
        tracing::warn!(reason = %why, "warm instances are off");
        Some(why)
    }

    /// Whether the warm instance `gi` on `gpu` had processes on it when the node was opened.
    pub fn warm_in_use(&self, gpu: GpuIndex, gi: GiId) -> bool {
        self.warm_in_use.contains(&(gpu, gi))
    }
}
