//! Admission: where a request goes now, under the wait queue's reservations (the rule is
//! [`dynamig_core::queue`]'s) and the node policy's limits (docs/policy.md). An allocation and
//! `dynamigctl plan` ([`Node::dry_run`]) go through the same steps: the namespace's allowance
//! admits the request, the planner decides under the queue's reservations, the allowance admits
//! the decision's victims. The policy file is read once per allocation and handed down.

use super::{AllocSpec, Node, NodeError};
use crate::process::ProcRef;
use dynamig_core::planner::{Decision, PlanRequest, Victim};
use dynamig_core::policy::{Allowance, Policy, Standing};
use dynamig_core::queue::{self, Admission};
use dynamig_core::request::Request;

/// A decision and where its request stands against its namespace's quota.
#[derive(Debug, Clone)]
pub(super) struct Admitted {
    pub decision: Decision,
    /// Admitted beyond its quota: the holder is marked so (docs/policy.md).
    pub over_quota: bool,
}

impl Node {
    /// Where a new request of `namespace` would go now, admitted as an allocation would be,
    /// changing nothing (`dynamigctl plan`). Reads the policy file.
    pub fn dry_run(&self, namespace: &str, request: &Request) -> Result<Decision, NodeError> {
        let allowance = self
            .cfg
            .policy
            .load()?
            .allowance(namespace, request.k8s_namespace.as_deref());
        allowance.admit(request)?;
        let a = self.decide_within(request, &allowance, None)?;
        // `plan` has always named the victims by id alone in its refusal.
        admit_victims(&allowance, &a.decision, |v| v.id.clone())?;
        Ok(a.decision)
    }

    /// Plans `spec` under the reservations of the tickets ahead of it, within `allowance` (its
    /// priority, its quota, whether it may evict).
    pub(super) fn decide(
        &self,
        spec: &AllocSpec,
        allowance: &Allowance,
    ) -> Result<Admitted, NodeError> {
        let holder = spec.key();
        let ticket = match self.state.queue.iter().find(|t| t.is(&holder)) {
            Some(t) if t.waiter != ProcRef::current() => {
                return Err(NodeError::AlreadyQueued(holder))
            }
            Some(t) => Some(queue::key(t)),
            None => None,
        };
        let a = self.decide_within(&spec.request, allowance, ticket)?;
        admit_victims(allowance, &a.decision, |v| v.key().to_string())?;
        Ok(a)
    }

    /// The quota's standing (estimated, then checked against the profile and GPU decided:
    /// planned again in the rare case they differ), and the decision under the queue's
    /// reservations at `ticket`'s key or, without one, at the request's arrival.
    fn decide_within(
        &self,
        request: &Request,
        allowance: &Allowance,
        ticket: Option<queue::OrderKey>,
    ) -> Result<Admitted, NodeError> {
        let mut standing = self.quota_standing(allowance, request, None)?;
        for _ in 0..2 {
            let over = standing == Standing::Over;
            let key = ticket.unwrap_or_else(|| queue::arrival_key_at(request.priority, over));
            let decision = self.decide_at(request, key, !over)?;
            let actual = self.quota_standing(
                allowance,
                request,
                self.ask_on(decision.gpu, decision.profile),
            )?;
            if actual == standing {
                return Ok(Admitted {
                    decision,
                    over_quota: over,
                });
            }
            standing = actual;
        }
        // The estimate and the decision disagree both ways (a node of mixed models): the
        // stricter standing.
        let decision = self.decide_at(
            request,
            ticket.unwrap_or_else(|| queue::arrival_key_at(request.priority, true)),
            false,
        )?;
        Ok(Admitted {
            decision,
            over_quota: true,
        })
    }

    fn decide_at(
        &self,
        request: &Request,
        key: queue::OrderKey,
        within_quota: bool,
    ) -> Result<Decision, NodeError> {
        let req = PlanRequest {
            size: request.size.clone(),
            priority: request.priority,
            within_quota,
        };
        let mut timed = |v: &_, r: &_| self.timed_plan(v, r);
        match queue::admit_with(&self.view(), &self.state.queue, &req, key, &mut timed) {
            Admission::Admit(d) => Ok(d),
            Admission::NoRoom(r) => Err(NodeError::Refused(r)),
            Admission::Reserved(held) => Err(NodeError::Reserved {
                request: request.size.to_string(),
                ahead: held
                    .iter()
                    .map(|r| format!("{} ({} on GPU {} at {})", r.id, r.profile, r.gpu, r.start))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// The node policy: a namespace that may not evict waits for free room. `name` is how the
/// refusal names each victim.
fn admit_victims(
    allowance: &Allowance,
    d: &Decision,
    name: impl Fn(&Victim) -> String,
) -> Result<(), NodeError> {
    let victims: Vec<String> = d.victims.iter().map(name).collect();
    Ok(allowance.admit_victims(&victims)?)
}

/// The policy, read the first time it is needed and kept for the rest of one allocation
/// (every retry of a wait included).
pub(super) fn policy_once<'a>(
    slot: &'a mut Option<Policy>,
    node: &Node,
) -> Result<&'a Policy, NodeError> {
    let policy = match slot.take() {
        Some(p) => p,
        None => node.cfg.policy.load()?,
    };
    Ok(slot.insert(policy))
}
