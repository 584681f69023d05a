//! Admission: where a request goes now, under the wait queue's reservations (the rule is
//! [`dynamig_core::queue`]'s) and the node policy's limits (docs/policy.md). An allocation and
//! `dynamigctl plan` ([`Node::dry_run`]) go through the same steps: the namespace's allowance
//! admits the request, the planner decides under the queue's reservations, the allowance admits
//! the decision's victims. The policy file is read once per allocation and handed down.

use super::{AllocSpec, Node, NodeError};
use crate::process::ProcRef;
use dynamig_core::planner::{Decision, PlanRequest, Victim};
use dynamig_core::policy::{Allowance, Policy};
use dynamig_core::queue::{self, Admission};
use dynamig_core::request::Request;

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
        let d = self.plan_queued(request)?;
        // `plan` has always named the victims by id alone in its refusal.
        admit_victims(&allowance, &d, |v| v.id.clone())?;
        Ok(d)
    }

    /// Plans `spec` under the reservations of the tickets ahead of it, within `allowance`.
    pub(super) fn decide(
        &self,
        spec: &AllocSpec,
        allowance: &Allowance,
    ) -> Result<Decision, NodeError> {
        let holder = spec.key();
        let key = match self.state.queue.iter().find(|t| t.is(&holder)) {
            Some(t) if t.waiter != ProcRef::current() => {
                return Err(NodeError::AlreadyQueued(holder))
            }
            Some(t) => queue::key(t),
            None => queue::arrival_key(spec.request.priority),
        };
        let d = self.decide_at(&spec.request, key)?;
        admit_victims(allowance, &d, |v| v.key().to_string())?;
        Ok(d)
    }

    /// Where a new request would go now, under the queue's reservations (a dry run, without
    /// the policy).
    pub fn plan_queued(&self, request: &Request) -> Result<Decision, NodeError> {
        self.decide_at(request, queue::arrival_key(request.priority))
    }

    fn decide_at(&self, request: &Request, key: queue::OrderKey) -> Result<Decision, NodeError> {
        let req = PlanRequest {
            size: request.size.clone(),
            priority: request.priority,
            within_quota: true,
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
