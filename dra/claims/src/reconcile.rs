//! What [`ClaimsPreparer::start`] does before the plugin serves, in this order:
//!
//! 1. the node becomes DRA-managed and records this boot's id (the node core's own
//!    reconciliation has already finished or undone the intents a crash left, on open);
//! 2. after a reboot (another boot id), every claim's instances went with it: their holders
//!    are forgotten (an instance that is still there, as on a simulated node, is destroyed),
//!    their CDI specs removed, their records dropped; the kubelet prepares its pods' claims
//!    again;
//! 3. in the same boot: a claim left `preparing` by a crash is rolled back (its instances
//!    destroyed, its CDI spec removed), one left `unpreparing` is finished;
//! 4. a holder of a claim namespace that no record names is released (nothing leaks) and a
//!    CDI spec of this driver that no record names is removed;
//! 5. outside the lock, every prepared claim is checked against the API server: one that no
//!    longer exists, or exists under another uid, is unprepared.
//!
//! A step that fails for one claim (an instance still in use) is reported and left for the
//! kubelet's next call; the plugin serves all the same.

use crate::cdi;
use crate::prepare::teardown;
use crate::preparer::{node_err, ClaimsPreparer};
use dynamig_dra_api::claim::{ClaimError, ClaimRef};
use dynamig_node::node::Node;
use dynamig_node::state::dra::{is_claim_namespace, ClaimPhase, ClaimRecord};
use dynamig_node::state::HolderKey;

/// What the start did, claim by claim (uids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Started {
    /// The boot id recorded before; `None` when the node was standalone.
    pub previous_boot: Option<String>,
    /// The node rebooted since the plugin last ran: `dropped` are the claims it had.
    pub rebooted: bool,
    pub dropped: Vec<String>,
    /// Prepares interrupted by a crash, rolled back.
    pub rolled_back: Vec<String>,
    /// Unprepares interrupted by a crash, finished.
    pub finished: Vec<String>,
    /// Claim holders no record named, released.
    pub orphan_holders: Vec<HolderKey>,
    /// CDI specs no record named, removed.
    pub stale_specs: Vec<String>,
    /// Prepared claims the API server no longer has (or has under another uid), unprepared.
    pub stale_claims: Vec<String>,
    /// Prepared claims kept.
    pub kept: Vec<String>,
    /// What could not be done now (left for the kubelet's next call), one line each.
    pub failed: Vec<String>,
}

impl ClaimsPreparer {
    pub(crate) fn reconcile(&self) -> Result<Started, ClaimError> {
        let mut s = Started::default();
        let prepared = self.with_node(|node| self.reconcile_locked(node, &mut s))?;
        let mut stale = Vec::new();
        for rec in prepared {
            let r = ClaimRef {
                namespace: rec.namespace.clone(),
                name: rec.name.clone(),
                uid: rec.uid.clone(),
            };
            match self.source.allocation(&r) {
                Ok(Some(a)) if a.uid == rec.uid => s.kept.push(rec.uid),
                Ok(_) => stale.push(rec),
                Err(e) => {
                    tracing::warn!(claim = %rec.uid, error = %e, "cannot check a prepared claim against the API server; kept");
                    s.kept.push(rec.uid);
                }
            }
        }
        if !stale.is_empty() {
            self.with_node(|node| {
                for rec in &stale {
                    let Some(now) = node
                        .state
                        .dra
                        .as_ref()
                        .and_then(|d| d.claim(&rec.uid))
                        .cloned()
                    else {
                        continue;
                    };
                    match teardown(self, node, &now, "the API server no longer has the claim") {
                        Ok(()) => s.stale_claims.push(rec.uid.clone()),
                        Err(e) => s.failed.push(format!("stale claim {}: {e}", rec.uid)),
                    }
                }
                Ok(())
            })?;
        }
        tracing::info!(?s, "DRA claims reconciled at start");
        Ok(s)
    }

    /// Steps 1 to 4; returns the prepared claims, for step 5.
    fn reconcile_locked(
        &self,
        node: &mut Node,
        s: &mut Started,
    ) -> Result<Vec<ClaimRecord>, ClaimError> {
        let boot = &self.opts.boot_id;
        s.previous_boot = node.set_dra_managed(boot).map_err(node_err)?;
        s.rebooted = s
            .previous_boot
            .as_deref()
            .is_some_and(|b| !b.is_empty() && b != boot);
        let claims: Vec<ClaimRecord> = node
            .state
            .dra
            .as_ref()
            .map(|d| d.claims.clone())
            .unwrap_or_default();
        for rec in &claims {
            let (why, list) = if s.rebooted {
                ("the node rebooted", &mut s.dropped)
            } else {
                match rec.phase {
                    ClaimPhase::Prepared => continue,
                    ClaimPhase::Preparing => (
                        "rolled back a prepare interrupted by a crash",
                        &mut s.rolled_back,
                    ),
                    ClaimPhase::Unpreparing => (
                        "finished an unprepare interrupted by a crash",
                        &mut s.finished,
                    ),
                }
            };
            match teardown(self, node, rec, why) {
                Ok(()) => list.push(rec.uid.clone()),
                Err(e) => s.failed.push(format!("claim {}: {e}", rec.uid)),
            }
        }
        let named = |node: &Node, key: &HolderKey| {
            node.state.dra.as_ref().is_some_and(|d| {
                d.claims.iter().any(|c| {
                    dynamig_node::state::dra::holder_namespace(&c.namespace) == key.namespace
                        && c.devices
                            .iter()
                            .any(|x| x.holder.as_deref() == Some(&key.id))
                })
            })
        };
        let orphans: Vec<HolderKey> = node
            .state
            .holders
            .iter()
            .filter(|h| is_claim_namespace(&h.namespace))
            .map(|h| h.key())
            .filter(|k| !named(node, k))
            .collect();
        for key in orphans {
            match node.release_claim_holder(&key, "a claim holder no claim record names") {
                Ok(()) => s.orphan_holders.push(key),
                Err(e) => s.failed.push(format!("holder {key}: {e}")),
            }
        }
        let dir = &self.opts.cdi_dir;
        let specs = cdi::list(dir).map_err(|e| {
            ClaimError::Internal(format!("cannot read CDI directory {}: {e}", dir.display()))
        })?;
        for uid in specs {
            let known = node
                .state
                .dra
                .as_ref()
                .is_some_and(|d| d.claim(&uid).is_some());
            if !known {
                match cdi::remove(dir, &uid) {
                    Ok(()) => s.stale_specs.push(uid),
                    Err(e) => s.failed.push(format!("CDI spec of {uid}: {e}")),
                }
            }
        }
        Ok(node
            .state
            .dra
            .as_ref()
            .map(|d| {
                d.claims
                    .iter()
                    .filter(|c| c.phase == ClaimPhase::Prepared)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }
}
