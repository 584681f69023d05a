//! The wait queue's fairness rule, as pure functions of the node view and the tickets
//! (`docs/wait-queue.md`).
//!
//! # Order
//!
//! Tickets are served by priority, highest first, then within their namespace's quota before
//! over it (docs/policy.md), then first come first served (the ticket's `seq`). A request that
//! arrives without a ticket stands behind every ticket of its own or a higher priority and
//! standing, and ahead of every other.
//!
//! # Reservation with backfill
//!
//! Every ticket ahead of a request *reserves* its target: the placement that the planner would
//! choose for it if every dynamig holder could be evicted (foreign instances still cannot), that
//! is the place that needs the fewest holders to leave. Reservations stack in queue order: the
//! second ticket's target is planned with the first one's already in place. A request is planned
//! on the node as it would look with every reservation ahead of it in place (the holders in a
//! target gone, an immovable instance of the ticket's profile there instead). What it gets there
//! it also gets on the real node, provided the placement is valid there too; so a small request
//! may backfill room that no ticket ahead of it needs, and never takes room that one does. A large
//! waiting request is therefore not starved by a stream of small ones: as holders in its target
//! leave, nobody behind it may move in, and it is served once its target is free (or once what is
//! left there is evictable by it). A ticket whose request could not be placed even with every
//! holder gone (foreign instances in the way) reserves nothing.

use crate::catalog::Profile;
use crate::ids::GpuIndex;
use crate::planner::{self, Decision, NodeView, Owner, PlacedInstance, PlanRequest, Victim};
use crate::priority::Priority;
use crate::request::Request;
use serde::Serialize;
use std::cmp::Reverse;

/// A waiting request as the queue's rule sees it (the node's state file keeps more: the
/// waiter's process, deadlines).
pub trait Queued {
    /// The holder id the request will have once served.
    fn id(&self) -> &str;
    fn namespace(&self) -> &str;
    fn request(&self) -> &Request;
    /// Arrival order among tickets; smaller is older.
    fn seq(&self) -> u64;
    /// Beyond its namespace's quota when it was queued: served after every request of its
    /// priority that is within quota.
    fn over_quota(&self) -> bool {
        false
    }
}

/// Plans one request on one view: [`planner::plan`], or the same timed by the caller.
pub type PlanFn<'a> = dyn FnMut(&NodeView, &PlanRequest) -> Result<Decision, planner::Refusal> + 'a;

/// Where a request stands in the serving order: (priority, over quota, arrival). Smaller keys
/// are served first.
pub type OrderKey = (Reverse<Priority>, bool, u64);

/// The key of a ticket.
pub fn key<T: Queued>(t: &T) -> OrderKey {
    (Reverse(t.request().priority), t.over_quota(), t.seq())
}

/// The key of a request within its quota that holds no ticket: behind every ticket of its
/// priority within quota, ahead of those over it.
pub fn arrival_key(priority: Priority) -> OrderKey {
    arrival_key_at(priority, false)
}

/// The key of a request that holds no ticket, within its quota or `over_quota`.
pub fn arrival_key_at(priority: Priority, over_quota: bool) -> OrderKey {
    (Reverse(priority), over_quota, u64::MAX)
}

/// The tickets in serving order.
pub fn ordered<T: Queued>(queue: &[T]) -> Vec<&T> {
    let mut v: Vec<&T> = queue.iter().collect();
    v.sort_by_key(|t| key(*t));
    v
}

/// A ticket's target, held for it against everyone behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reservation {
    pub id: String,
    pub namespace: String,
    pub gpu: GpuIndex,
    pub profile: &'static str,
    pub start: u8,
    /// Holders that must leave before the ticket fits there.
    pub blockers: Vec<String>,
}

/// The view with every dynamig holder evictable by anyone: what a target is planned on.
fn relaxed(view: &NodeView) -> NodeView {
    let mut v = view.clone();
    for g in &mut v.gpus {
        for i in &mut g.instances {
            if let Owner::Holder(h) = &mut i.owner {
                h.priority = Priority(i32::MIN);
                h.preemptible = true;
            }
        }
    }
    v
}

fn is_victim(victims: &[Victim], gpu: GpuIndex, i: &PlacedInstance) -> bool {
    victims.iter().any(|v| v.gpu == gpu && v.start == i.start)
}

/// Puts an immovable instance of `profile` at `start` on `gpu` in place of `victims`.
fn occupy(
    view: &mut NodeView,
    gpu: GpuIndex,
    profile: &'static Profile,
    start: u8,
    victims: &[Victim],
) {
    if let Some(g) = view.gpus.iter_mut().find(|g| g.index == gpu) {
        // A warm instance in the reserved room is counted there (the ticket destroys it or
        // takes it when served).
        let room = profile.mask_at(start);
        let warm_in_room =
            |i: &PlacedInstance| i.owner == Owner::Warm && i.profile.mask_at(i.start) & room != 0;
        g.instances
            .retain(|i| !is_victim(victims, gpu, i) && !warm_in_room(i));
        g.instances.push(PlacedInstance {
            profile,
            start,
            owner: Owner::Foreign,
        });
    }
}

/// The node as a request with `key` must see it: every ticket ahead of it in its target. Also
/// returns those targets, in serving order.
pub fn reserved_view<T: Queued>(
    view: &NodeView,
    queue: &[T],
    key_of_request: OrderKey,
) -> (NodeView, Vec<Reservation>) {
    reserved_view_with(view, queue, key_of_request, &mut planner::plan)
}

/// [`reserved_view`], planning with `plan`.
pub fn reserved_view_with<T: Queued>(
    view: &NodeView,
    queue: &[T],
    key_of_request: OrderKey,
    plan: &mut PlanFn<'_>,
) -> (NodeView, Vec<Reservation>) {
    let mut hyp = view.clone();
    let mut held = Vec::new();
    for t in ordered(queue) {
        if key(t) >= key_of_request {
            break;
        }
        let target = plan(
            &relaxed(&hyp),
            &PlanRequest {
                size: t.request().size.clone(),
                priority: Priority(i32::MAX),
                within_quota: true,
            },
        );
        let Ok(d) = target else { continue };
        occupy(&mut hyp, d.gpu, d.profile, d.start, &d.victims);
        held.push(Reservation {
            id: t.id().to_string(),
            namespace: t.namespace().to_string(),
            gpu: d.gpu,
            profile: d.profile.name,
            start: d.start,
            blockers: d.victims.iter().map(|v| v.id.clone()).collect(),
        });
    }
    (hyp, held)
}

/// Whether `d`, planned on a reserved view, is also valid on the real node.
pub fn valid_on(view: &NodeView, d: &Decision) -> bool {
    let Some(g) = view.gpus.iter().find(|g| g.index == d.gpu) else {
        return false;
    };
    let usage = crate::layout::Usage::of(
        g.model,
        g.instances
            .iter()
            .filter(|i| !is_victim(&d.victims, d.gpu, i))
            .map(|i| (i.profile, i.start)),
    );
    g.usable && usage.fits(g.model, d.profile, d.start)
}

/// What the reservation rule says of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead with this decision.
    Admit(Decision),
    /// There would be room, but it is reserved for these tickets ahead.
    Reserved(Vec<Reservation>),
    /// No room even without the queue.
    NoRoom(planner::Refusal),
}

/// Plans `req` (whose place in the order is `key`) under the reservations of the tickets ahead.
pub fn admit<T: Queued>(
    view: &NodeView,
    queue: &[T],
    req: &PlanRequest,
    key: OrderKey,
) -> Admission {
    admit_with(view, queue, req, key, &mut planner::plan)
}

/// [`admit`], planning with `plan` (every decision goes through it, so a caller can time each).
pub fn admit_with<T: Queued>(
    view: &NodeView,
    queue: &[T],
    req: &PlanRequest,
    key: OrderKey,
    plan: &mut PlanFn<'_>,
) -> Admission {
    let real = plan(view, req);
    let (hyp, held) = reserved_view_with(view, queue, key, plan);
    if held.is_empty() {
        return match real {
            Ok(d) => Admission::Admit(d),
            Err(r) => Admission::NoRoom(r),
        };
    }
    match (plan(&hyp, req), real) {
        (Ok(d), _) if valid_on(view, &d) => Admission::Admit(d),
        (_, Err(r)) => Admission::NoRoom(r),
        (_, Ok(_)) => Admission::Reserved(held),
    }
}

/// The first ticket, in serving order, that [`admit_with`] would admit now, with its decision:
/// what serving the queue comes to after the node changed (a holder left, a ticket joined).
/// The same as calling [`admit_with`] for each ticket in serving order and taking the first
/// [`Admission::Admit`], but each ticket's target is planned once, not once per ticket behind it.
pub fn first_admitted<'q, T: Queued>(
    view: &NodeView,
    queue: &'q [T],
    plan: &mut PlanFn<'_>,
) -> Option<(&'q T, Decision)> {
    first_admitted_reserving(view, queue, plan, usize::MAX)
}

/// [`first_admitted`] with at most `max_reservations` tickets holding a target (the first ones
/// in serving order that have one); the tickets behind them reserve nothing. `usize::MAX` is
/// the node's rule; `1` is EASY backfilling (only the head is protected), which the replay
/// measures as an alternative.
pub fn first_admitted_reserving<'q, T: Queued>(
    view: &NodeView,
    queue: &'q [T],
    plan: &mut PlanFn<'_>,
    max_reservations: usize,
) -> Option<(&'q T, Decision)> {
    let mut hyp = view.clone();
    let mut held = false;
    let mut reserved = 0usize;
    for t in ordered(queue) {
        let req = PlanRequest {
            size: t.request().size.clone(),
            priority: t.request().priority,
            within_quota: !t.over_quota(),
        };
        let admitted = if held {
            plan(&hyp, &req).ok().filter(|d| valid_on(view, d))
        } else {
            plan(view, &req).ok()
        };
        if let Some(d) = admitted {
            return Some((t, d));
        }
        if reserved >= max_reservations {
            continue;
        }
        let target = plan(
            &relaxed(&hyp),
            &PlanRequest {
                size: req.size,
                priority: Priority(i32::MAX),
                within_quota: true,
            },
        );
        if let Ok(d) = target {
            occupy(&mut hyp, d.gpu, d.profile, d.start, &d.victims);
            held = true;
            reserved += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests;
