//! Runs the [`Preparer`] for the claims of a call: each claim on its own blocking thread, all
//! claims of a call at once, each answered by the call's deadline.
//!
//! - **In parallel**: the kubelet sends one pod's claims together; a claim that waits (on the
//!   node lock, on an instance still in use) must not use up the others' time. The node core
//!   serialises what must be serialised under its own lock.
//! - **Deadline**: a claim not done by the deadline gets [`ClaimError::Retryable`]. Its
//!   preparer call cannot be interrupted (it is synchronous, and a half-done prepare is the
//!   node core's to roll back, not ours to abandon), so it goes on in the background; the
//!   kubelet's retry of the same claim and operation joins that run instead of starting a
//!   second one, and gets its result when it ends.
//! - **One claim at a time per claim**: an unprepare that arrives while the claim's prepare
//!   still runs (or the reverse) starts when that one has ended.
//! - **Panics**: a panicking preparer call is that claim's [`ClaimError::Internal`]; the
//!   server goes on.

use dynamig_dra_api::claim::{ClaimError, ClaimRef, PreparedDevice, Preparer};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What is done to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Prepare,
    Unprepare,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Prepare => "prepare",
            Op::Unprepare => "unprepare",
        })
    }
}

/// A finished preparer call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Prepared(Vec<PreparedDevice>),
    Unprepared,
}

pub type Outcome = Result<Done, ClaimError>;

type Run = Shared<BoxFuture<'static, Outcome>>;

struct InFlight {
    op: Op,
    id: u64,
    run: Run,
}

#[derive(Clone)]
pub(crate) struct Runner {
    preparer: Arc<dyn Preparer>,
    in_flight: Arc<Mutex<HashMap<String, InFlight>>>,
    next_id: Arc<AtomicU64>,
}

impl Runner {
    pub(crate) fn new(preparer: Arc<dyn Preparer>) -> Runner {
        Runner {
            preparer,
            in_flight: Arc::default(),
            next_id: Arc::default(),
        }
    }

    /// Runs `op` on every claim; the answers in the claims' order, each by `budget` from now.
    pub(crate) async fn run(
        &self,
        op: Op,
        claims: Vec<ClaimRef>,
        budget: Duration,
    ) -> Vec<(ClaimRef, Outcome)> {
        let deadline = tokio::time::Instant::now() + budget;
        let calls = claims.into_iter().map(|claim| {
            let run = self.run_of(op, &claim);
            async move {
                let start = Instant::now();
                let outcome = match tokio::time::timeout_at(deadline, run).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(ClaimError::Retryable(format!(
                        "the {op} of claim {}/{} is still running after {} ms, past this call's deadline; it goes on, and a retry gets its result",
                        claim.namespace,
                        claim.name,
                        budget.as_millis()
                    ))),
                };
                log(op, &claim, &outcome, start.elapsed());
                (claim, outcome)
            }
        });
        futures_util::future::join_all(calls).await
    }

    /// The run of `op` on `claim`: the one in flight, or a new one (after the claim's other
    /// operation in flight, if any).
    fn run_of(&self, op: Op, claim: &ClaimRef) -> Run {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before = match in_flight.get(&claim.uid) {
            Some(f) if f.op == op => return f.run.clone(),
            Some(f) => Some(f.run.clone()),
            None => None,
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let preparer = Arc::clone(&self.preparer);
        let table = Arc::clone(&self.in_flight);
        let c = claim.clone();
        let task = tokio::spawn(async move {
            if let Some(before) = before {
                let _ = before.await;
            }
            let uid = c.uid.clone();
            let outcome = tokio::task::spawn_blocking(move || match op {
                Op::Prepare => preparer.prepare(&c).map(Done::Prepared),
                Op::Unprepare => preparer.unprepare(&c).map(|()| Done::Unprepared),
            })
            .await
            .unwrap_or_else(|e| Err(join_error(op, e)));
            let mut table = table.lock().unwrap_or_else(PoisonError::into_inner);
            if table.get(&uid).is_some_and(|f| f.id == id) {
                table.remove(&uid);
            }
            outcome
        });
        let run = async move { task.await.unwrap_or_else(|e| Err(join_error(op, e))) }
            .boxed()
            .shared();
        in_flight.insert(
            claim.uid.clone(),
            InFlight {
                op,
                id,
                run: run.clone(),
            },
        );
        run
    }
}

fn join_error(op: Op, e: tokio::task::JoinError) -> ClaimError {
    if e.is_panic() {
        ClaimError::Internal(format!("the {op} panicked: {}", panic_text(e.into_panic())))
    } else {
        ClaimError::Internal(format!("the {op} was cancelled"))
    }
}

fn panic_text(p: Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

fn log(op: Op, claim: &ClaimRef, outcome: &Outcome, took: Duration) {
    let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    let (ns, name, uid) = (&claim.namespace, &claim.name, &claim.uid);
    match outcome {
        Ok(Done::Prepared(devices)) => {
            let names: Vec<&str> = devices.iter().map(|d| d.device.as_str()).collect();
            tracing::info!(%op, claim.uid = %uid, claim.namespace = %ns, claim.name = %name, outcome = "ok", devices = ?names, duration_ms = ms, "claim prepared");
        }
        Ok(Done::Unprepared) => {
            tracing::info!(%op, claim.uid = %uid, claim.namespace = %ns, claim.name = %name, outcome = "ok", duration_ms = ms, "claim unprepared");
        }
        Err(e) => {
            let kind = match e {
                ClaimError::Retryable(_) => "retryable",
                ClaimError::Invalid(_) => "invalid",
                ClaimError::Internal(_) => "internal",
            };
            if matches!(e, ClaimError::Internal(_)) {
                tracing::error!(%op, claim.uid = %uid, claim.namespace = %ns, claim.name = %name, outcome = kind, error = %e, duration_ms = ms, "claim failed");
            } else {
                tracing::warn!(%op, claim.uid = %uid, claim.namespace = %ns, claim.name = %name, outcome = kind, error = %e, duration_ms = ms, "claim failed");
            }
        }
    }
}
