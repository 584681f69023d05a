//! Reconciliation: every entry point, on taking the lock, brings the state in line with the
//! hardware and with process liveness, in this order:
//!
//! 1. [`Node::finish_intents`]: finish or undo what a crashed process left half done;
//! 2. [`Node::mark_lost`]: holders whose instance is gone from the hardware become `lost`;
//! 3. evictions whose requester is gone, and preempting holders nobody waits for (`evict.rs`);
//! 4. [`Node::release_dead`]: holders whose process is gone are released (or forgotten);
//! 5. tickets whose waiter is gone or whose deadline passed (`wait.rs`);
//! 6. warm instances: gone from the hardware (forgotten), in use (left alone), kept too long or
//!    one too many (destroyed) (`warm.rs`);
//! 7. temporary files of state writes whose writer died before its rename.
//!
//! The state is written once at the end, if any step changed it.

use super::{Node, NodeError, FORGET_AFTER_MS};
use crate::events::{now_ms, Event};
use crate::process::ProcRef;
use crate::state::{file, Holder, HolderKey, HolderState, Intent};
use serde::Serialize;

/// What reconciliation did, holder by holder.
#[derive(Debug, Clone, Default)]
pub struct Reconciled {
    pub released: Vec<HolderKey>,
    pub reclaimed: Vec<HolderKey>,
    pub lost: Vec<HolderKey>,
    pub forgotten: Vec<HolderKey>,
    /// Temporary files of state writes whose writer is gone, removed.
    pub temp_files: Vec<String>,
    /// MIG UUIDs of the warm instances destroyed (kept too long, one too many) or forgotten
    /// (gone from the hardware) (docs/warm-instances.md).
    pub warm_expired: Vec<String>,
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
        let mut m = s.serialize_map(Some(2 * lists.len() + 2))?;
        for (name, keys) in lists {
            let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
            m.serialize_entry(name, &ids)?;
        }
        for (name, keys) in lists {
            m.serialize_entry(&format!("{name}_holders"), keys)?;
        }
        m.serialize_entry("temp_files", &self.temp_files)?;
        m.serialize_entry("warm_expired", &self.warm_expired)?;
        m.end()
    }
}

impl Node {
    /// Brings the state in line with the hardware and with process liveness (the steps above).
    pub fn reconcile(&mut self) -> Result<(), NodeError> {
        let mut changed = self.finish_intents();
        self.refresh()?;
        let now = now_ms();
        changed |= self.mark_lost(now);
        changed |= self.expire_evictions();
        changed |= self.settle_preempting(now)?;
        changed |= self.release_dead(now)?;
        changed |= self.expire_tickets(now);
        changed |= self.settle_warm(now)?;
        self.remove_stale_temps();
        if changed {
            self.save()?;
        }
        Ok(())
    }

    /// Step 1: every intent is finished or undone; one that cannot be yet stays for the next
    /// entry point. True if there was any.
    fn finish_intents(&mut self) -> bool {
        let intents = std::mem::take(&mut self.state.intents);
        let changed = !intents.is_empty();
        for intent in intents {
            let done = match &intent {
                Intent::Create { .. } => self.undo_create(&intent),
                Intent::Destroy { .. } => self.finish_destroy(&intent),
            };
            if !done {
                self.state.intents.push(intent);
            }
        }
        changed
    }

    /// An allocation interrupted by a crash: its orphan instance (same place and profile, no
    /// holder, not warm) is destroyed and its holder forgotten. False when the destroy failed.
    fn undo_create(&mut self, intent: &Intent) -> bool {
        let Intent::Create {
            gpu,
            profile_id,
            start,
            ..
        } = intent
        else {
            return true;
        };
        let holder = intent.key();
        let orphan = self
            .hw_instances(*gpu)
            .iter()
            .find(|i| {
                i.start == *start
                    && i.profile_id == *profile_id
                    && self.state.holder_of(*gpu, i.gi).is_none()
                    && self.state.warm_at(*gpu, i.gi).is_none()
            })
            .map(|i| i.gi);
        if let Some(gi) = orphan {
            if let Err(e) = self.destroy_hw(*gpu, gi) {
                tracing::error!(error = %e, "cannot undo an interrupted create; will retry");
                return false;
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
            Event::new("reclaimed", "undid an allocation interrupted by a crash").holder(&holder),
        );
        self.reconciled.reclaimed.push(holder);
        true
    }

    /// A destroy interrupted by a crash: an eviction whose victim still runs is undone; else
    /// the instance is destroyed and the holder forgotten (released) or left preempted. False
    /// when the destroy failed.
    fn finish_destroy(&mut self, intent: &Intent) -> bool {
        let Intent::Destroy { gpu, gi, .. } = intent else {
            return true;
        };
        let holder = &intent.key();
        // An eviction interrupted before its victim was gone: the request that wanted the room
        // died with it, so undo the eviction rather than pull a device from under a running
        // container.
        let victim_alive = self.state.holder(holder).is_some_and(|h| {
            h.state == HolderState::Preempted
                && h.instance.is_some()
                && h.watched().is_some_and(ProcRef::is_alive)
        });
        if victim_alive && self.hw_has(*gpu, *gi) {
            if let Some(h) = self.state.holder_mut(holder) {
                h.state = HolderState::Active;
            }
            self.event(Event::new("restored", "an interrupted eviction was undone").holder(holder));
            return true;
        }
        if self.hw_has(*gpu, *gi) {
            if let Err(e) = self.destroy_hw(*gpu, *gi) {
                tracing::error!(error = %e, "cannot finish an interrupted destroy; will retry");
                return false;
            }
        }
        let preempted = self
            .state
            .holder(holder)
            .is_some_and(|h| matches!(h.state, HolderState::Preempted | HolderState::Preempting));
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
                Event::new("released", "finished a release interrupted by a crash").holder(holder),
            );
        }
        true
    }

    /// Step 2: holders whose instance the hardware lacks (or whose GPU changed) become `lost`.
    fn mark_lost(&mut self, now: u64) -> bool {
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
        let changed = !lost.is_empty();
        for (key, i) in lost {
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
        changed
    }

    /// Step 4: holders whose process is gone. An active one is released (its instance
    /// destroyed); a preempted or lost one is forgotten after [`FORGET_AFTER_MS`]; a preempting
    /// one is left to its eviction.
    fn release_dead(&mut self, now: u64) -> Result<bool, NodeError> {
        let dead: Vec<Holder> = self
            .state
            .holders
            .iter()
            .filter(|h| h.watched().is_some_and(|p| !p.is_alive()))
            .cloned()
            .collect();
        let mut changed = false;
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
        Ok(changed)
    }

    /// Step 7: temp files of writes whose writer died before its rename (under the lock: no
    /// write of this directory is in progress but a live process's, which is kept).
    fn remove_stale_temps(&mut self) {
        for name in file::remove_stale_temps(self.dir.path()) {
            tracing::info!(file = %name, "removed a stale temp file");
            self.reconciled.temp_files.push(name);
        }
    }
}
