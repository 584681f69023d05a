//! Admission: where a request goes now, under the wait queue's reservations (the rule is
//! [`dynamig_core::queue`]'s) and the node policy's limits on evicting.

use super::{AllocSpec, Node, NodeError};
use crate::process::ProcRef;
use dynamig_core::planner::{self, Decision, PlanRequest};
use dynamig_core::queue::{self, Admission};
use dynamig_core::request::Request;

impl Node {
    /// Plans `spec` under the reservations of the tickets ahead of it.
    pub(super) fn decide(&self, spec: &AllocSpec) -> Result<Decision, NodeError> {
        let holder = spec.key();
        let key = match self.state.queue.iter().find(|t| t.is(&holder)) {
            Some(t) if t.waiter != ProcRef::current() => {
                return Err(NodeError::AlreadyQueued(holder))
            }
            Some(t) => queue::key(t),
            None => queue::arrival_key(spec.request.priority),
        };
        let d = self.decide_at(&spec.request, key)?;
        // The node policy (docs/policy.md): a namespace that may not evict waits for free room.
        let victims: Vec<String> = d.victims.iter().map(|v| v.key().to_string()).collect();
        crate::policy_file::from_env()?
            .allowance(&spec.namespace, spec.request.k8s_namespace.as_deref())
            .admit_victims(&victims)?;
        Ok(d)
    }

    /// Where a new request would go now, under the queue's reservations (a dry run).
    pub fn plan_queued(&self, request: &Request) -> Result<Decision, NodeError> {
        self.decide_at(request, queue::arrival_key(request.priority))
    }

    fn decide_at(&self, request: &Request, key: queue::OrderKey) -> Result<Decision, NodeError> {
        let req = PlanRequest {
            size: request.size.clone(),
            priority: request.priority,
        };
        let mut timed = |v: &_, r: &_| crate::metrics::decision::timed(|| planner::plan(v, r));
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
