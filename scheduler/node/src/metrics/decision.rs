//! Planner decision times, recorded per thread until the node that made them is closed.
//!
//! [`dynamig_core::planner::plan`] records every decision here; [`take`] hands them to the metrics
//! when a [`crate::node::Node`] is dropped. Per thread, so that tests running in parallel and a
//! process's own node never mix; fixed size, so a long replay costs no memory.

use super::histogram::Histogram;
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

thread_local! {
    static PENDING: RefCell<Histogram> = RefCell::new(Histogram::default());
    static LAST: Cell<Option<Duration>> = const { Cell::new(None) };
}

/// Runs a decision and records how long it took.
pub fn timed<T>(decide: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = decide();
    let d = t.elapsed();
    PENDING.with(|p| p.borrow_mut().observe(d.as_secs_f64()));
    LAST.with(|l| l.set(Some(d)));
    out
}

/// The decisions recorded on this thread since the last call.
pub fn take() -> Histogram {
    PENDING.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// How long this thread's latest decision took (for log lines).
pub fn last() -> Option<Duration> {
    LAST.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_then_hands_over_once() {
        let _ = take();
        assert_eq!(timed(|| 7), 7);
        timed(|| ());
        assert!(last().is_some());
        let h = take();
        assert_eq!(h.count, 2);
        assert_eq!(take().count, 0);
    }
}
