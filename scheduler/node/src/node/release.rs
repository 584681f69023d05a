//! Release: a holder's instance is destroyed (bracketed by a `Destroy` intent), or kept warm
//! (`warm.rs`: moved to the warm list in the same write that drops the holder), and the holder
//! forgotten.

use super::{Node, NodeError};
use crate::events::Event;
use crate::fault;
use crate::state::{HolderKey, HolderState, Intent};

impl Node {
    /// Destroys a holder's instance, or keeps it warm, and forgets the holder.
    pub(super) fn release_holder(&mut self, key: &HolderKey, why: &str) -> Result<(), NodeError> {
        let Some(h) = self.state.holder(key).cloned() else {
            return Ok(());
        };
        // Its own phases: an allocation that releases a dead holder on the way keeps its own.
        let outer = std::mem::take(&mut self.phases);
        let warm = self.may_keep_warm(&h);
        if warm {
            self.keep_warm(&h);
        } else if let Some(inst) = &h.instance {
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
        .holder(key)
        .phases(self.phases_now());
        self.phases = outer;
        if let Some(i) = &h.instance {
            e = e.at(
                i.planned.gpu,
                &i.planned.profile,
                i.planned.start,
                Some(&i.live.uuid),
            );
        }
        self.event(e);
        if warm {
            self.kept_warm(key)?;
        }
        Ok(())
    }

    /// Releases a holder: that namespace's holder of that id, never another namespace's.
    /// `Ok(false)` when it holds nothing (already released): releasing twice is harmless.
    pub fn release(&mut self, key: &HolderKey) -> Result<bool, NodeError> {
        if self.state.holder(key).is_none() {
            return Ok(false);
        }
        // The kind says `released`: the message says why, as reconcile's "its process is gone".
        self.release_holder(key, "on request")?;
        Ok(true)
    }
}
