//! Waiting for room (`dynamig.io/wait`): a request that cannot be served takes a ticket in the
//! node state, lets go of the lock, naps, and tries again under the lock until it is served or
//! its wait is over. The fairness rule is in [`dynamig_core::queue`]; the design in
//! `docs/wait-queue.md`.

use super::admit::policy_once;
use super::{AllocSpec, Allocation, Node, NodeError};
use crate::config::NodeConfig;
use crate::events::{now_ms, Event};
use crate::process::ProcRef;
use crate::state::{HolderKey, StateDir, Ticket};
use dynamig_core::duration::format_duration;
use dynamig_core::planner::Refusal;
use dynamig_core::policy::Policy;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The first nap between tries; it doubles up to [`NAP_MAX`].
const NAP_MIN: Duration = Duration::from_millis(10);
const NAP_MAX: Duration = Duration::from_millis(200);
/// How often a nap looks at the cancel flag.
const NAP_STEP: Duration = Duration::from_millis(10);
/// A live waiter removes its own ticket at its deadline; anyone else drops it this long after.
const EXPIRY_SLACK_MS: u64 = 5_000;

impl Node {
    /// Drops the tickets whose waiter is gone or whose deadline passed; true if any was.
    pub(super) fn expire_tickets(&mut self, now: u64) -> bool {
        let mut dropped = Vec::new();
        self.state.queue.retain(|t| {
            let why = if !t.waiter.is_alive() {
                format!("its waiter (pid {}) is gone", t.waiter.pid)
            } else if now > t.deadline_ms.saturating_add(EXPIRY_SLACK_MS) {
                format!("its deadline passed {} ms ago", now - t.deadline_ms)
            } else {
                return true;
            };
            dropped.push((t.key(), why));
            false
        });
        let changed = !dropped.is_empty();
        for (key, why) in dropped {
            self.event(Event::new("expired", format!("ticket dropped: {why}")).holder(&key));
        }
        changed
    }

    /// Removes this process's ticket for `key` (never another waiter's), saves, and records why.
    fn withdraw(&mut self, key: &HolderKey, kind: &str, why: String) -> Result<(), NodeError> {
        let before = self.state.queue.len();
        let me = ProcRef::current();
        self.state.queue.retain(|t| !t.is(key) || t.waiter != me);
        if self.state.queue.len() != before {
            self.save()?;
            self.event(Event::new(kind, why).holder(key));
        }
        Ok(())
    }
}

/// Whether a refusal may change by itself as holders come and go.
fn waitable(e: &NodeError) -> bool {
    match e {
        NodeError::Reserved { .. } => true,
        NodeError::Policy(
            dynamig_core::policy::PolicyError::MayNotEvict { .. }
            | dynamig_core::policy::PolicyError::BeyondQuota(_),
        ) => true,
        NodeError::Refused(r) => !r.is_bad_input() && !matches!(r, Refusal::NoGpus),
        _ => false,
    }
}

/// Sleeps `d`, waking early when `cancel` is set.
fn nap(d: Duration, cancel: &AtomicBool) {
    let end = Instant::now() + d;
    while !cancel.load(Ordering::Relaxed) {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(NAP_STEP));
    }
}

/// Allocates for `spec`, waiting up to `spec.request.wait` for room (no wait: exactly
/// [`Node::allocate`]). While it waits, its ticket is in the node state; it leaves none behind
/// when it returns, whether served, out of time, or stopped by `cancel`. Returns the node, still
/// locked, with the allocation (the caller closes it); every node it opens and does not return
/// is closed, so each try's events are written.
pub fn allocate_waiting(
    cfg: &NodeConfig,
    dir: &StateDir,
    spec: AllocSpec,
    cancel: &AtomicBool,
) -> Result<(Node, Allocation), NodeError> {
    let mut w = Waiter {
        spec: &spec,
        cancel,
        started: Instant::now(),
        me: ProcRef::current(),
        mine: None,
        policy: None,
    };
    let mut next_nap = NAP_MIN;
    loop {
        let mut node = Node::open(cfg, dir)?;
        match w.try_once(&mut node) {
            Ok(Try::Served(a)) => return Ok((node, *a)),
            Ok(Try::Wait { left }) => {
                node.close();
                nap(next_nap.min(left), cancel);
                next_nap = (next_nap * 2).min(NAP_MAX);
            }
            Err(e) => {
                node.close();
                return Err(e);
            }
        }
    }
}

/// One waiting allocation, across its tries.
struct Waiter<'a> {
    spec: &'a AllocSpec,
    cancel: &'a AtomicBool,
    started: Instant,
    me: ProcRef,
    /// This waiter's ticket, once it took one.
    mine: Option<Ticket>,
    /// The node policy, read on the first try.
    policy: Option<Policy>,
}

/// What one try came to, when it did not fail.
enum Try {
    Served(Box<Allocation>),
    /// No room yet: nap (at most `left`, the rest of the wait) and try again.
    Wait {
        left: Duration,
    },
}

impl Waiter<'_> {
    /// One try under the lock: served, refused, out of time, cancelled, or queued to wait.
    fn try_once(&mut self, node: &mut Node) -> Result<Try, NodeError> {
        let spec = self.spec;
        let wait = spec.request.wait;
        let waited_ms = dynamig_core::duration::millis(self.started.elapsed());
        node.start_phases();
        let checked = node
            .check_ids(spec)
            .and_then(|()| policy_once(&mut self.policy, node))
            .and_then(|p| node.check_spec(spec, p));
        if checked.is_ok() {
            if self.mine.is_some()
                && node
                    .state
                    .evictions
                    .iter()
                    .any(|e| e.retry_key.is_some() && e.retry_key == spec.request.k8s_container)
            {
                node.withdraw(
                    &spec.key(),
                    "served",
                    "takes over an eviction in flight".into(),
                )?;
            }
            if let Some(done) = node.take_over(spec) {
                return done.map(|a| Try::Served(Box::new(a)));
            }
        }
        // Where it stands against its quota, for its place in the queue if it waits.
        let over_quota = checked.as_ref().is_ok_and(|a| {
            node.quota_standing(a, &spec.request, None)
                .is_ok_and(|s| s == dynamig_core::policy::Standing::Over)
        });
        let attempt = checked.and_then(|allowance| {
            node.check_not_evicting(spec)?;
            let t = std::time::Instant::now();
            let d = node.decide(spec, &allowance);
            crate::phases::add(&mut node.phases.decision_us, t.elapsed());
            d
        });
        let e = match attempt {
            Ok(d) => {
                if self.mine.is_some() {
                    let key = spec.key();
                    let me = self.me;
                    node.state.queue.retain(|t| !t.is(&key) || t.waiter != me);
                    node.event(
                        Event::new("served", format!("after waiting {waited_ms} ms")).holder(&key),
                    );
                }
                return node
                    .carry_out(spec.clone(), d)
                    .map(|a| Try::Served(Box::new(a)));
            }
            Err(e) => e,
        };
        let key = spec.key();
        if !waitable(&e) || wait.is_zero() {
            if self.mine.is_some() {
                node.withdraw(&key, "withdrawn", format!("stopped waiting: {e}"))?;
            }
            if matches!(
                e,
                NodeError::Refused(_) | NodeError::Reserved { .. } | NodeError::Policy(_)
            ) {
                node.event(Event::new("refused", e.to_string()).holder(&key));
            }
            return Err(e);
        }
        if self.cancel.load(Ordering::Relaxed) {
            node.withdraw(
                &key,
                "withdrawn",
                format!("interrupted after {waited_ms} ms"),
            )?;
            return Err(NodeError::Cancelled { waited_ms });
        }
        let elapsed = self.started.elapsed();
        if elapsed >= wait {
            node.withdraw(
                &key,
                "expired",
                format!("gave up after waiting {waited_ms} ms: {e}"),
            )?;
            return Err(NodeError::WaitExpired {
                waited_ms,
                last: Box::new(e),
            });
        }
        if !node.state.queue.iter().any(|t| t.is(&key)) {
            self.queue(node, &e, over_quota)?;
        }
        Ok(Try::Wait {
            left: wait - elapsed,
        })
    }

    /// Puts this waiter's ticket in the queue: a new one, or its old one in its old place
    /// (someone rewrote the state without it).
    fn queue(
        &mut self,
        node: &mut Node,
        why: &NodeError,
        over_quota: bool,
    ) -> Result<(), NodeError> {
        let spec = self.spec;
        let wait = spec.request.wait;
        let t = match &self.mine {
            Some(t) => t.clone(),
            None => {
                let seq = node.state.next_ticket;
                node.state.next_ticket += 1;
                let now = now_ms();
                Ticket {
                    id: spec.id.clone(),
                    namespace: spec.namespace.clone(),
                    request: spec.request.clone(),
                    asked: spec.request.size.to_string(),
                    waiter: self.me,
                    seq,
                    enqueued_ms: now,
                    deadline_ms: now + dynamig_core::duration::millis(wait),
                    over_quota,
                }
            }
        };
        node.state.queue.push(t.clone());
        node.save()?;
        node.event(
            Event::new(
                "queued",
                format!("waits up to {} for room: {why}", format_duration(wait)),
            )
            .holder(&spec.key()),
        );
        self.mine = Some(t);
        Ok(())
    }
}

static CANCEL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    CANCEL.store(true, Ordering::Relaxed);
}

/// Turns SIGINT and SIGTERM into a flag that [`allocate_waiting`] watches, so a waiter that is
/// told to stop removes its ticket before it exits. Call it only when a request will wait: the
/// signals no longer end the process by themselves.
pub fn cancel_on_signals() -> &'static AtomicBool {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            tracing::warn!(signal = %sig, error = %e, "cannot catch the signal");
        }
    }
    &CANCEL
}
