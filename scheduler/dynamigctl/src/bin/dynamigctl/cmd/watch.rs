//! `dynamigctl status --watch [SECS]`: redraw the status every SECS seconds (default 2), like
//! `watch`, until SIGINT or SIGTERM (or `--count N` refreshes). Each refresh holds the node lock
//! only to read and reconcile (as a plain `status` does) and renders after letting it go.

use crate::render::{self, Form};
use crate::{bad_input, with_node, Failure};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn catch_signals() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let act = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        if let Err(e) = unsafe { sigaction(s, &act) } {
            tracing::warn!(signal = %s, error = %e, "cannot catch the signal");
        }
    }
}

/// `HH:MM:SS` UTC of now.
fn clock() -> String {
    let s = dynamig_node::events::now_ms() / 1000 % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s % 3600 / 60, s % 60)
}

/// Sleeps `d`, waking early when a signal asks to stop. True when stopping.
fn pause(d: Duration) -> bool {
    let end = Instant::now() + d;
    while !STOP.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            return false;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
    true
}

pub fn run(every: f64, count: Option<u64>, json: bool, form: Form) -> Result<(), Failure> {
    if !(every.is_finite() && (0.1..=86_400.0).contains(&every)) {
        return Err(bad_input(anyhow::anyhow!(
            "--watch {every}: use a number of seconds from 0.1 to 86400"
        )));
    }
    catch_signals();
    let tty = std::io::stdout().is_terminal();
    let mut last: Result<(), Failure> = Ok(());
    let mut n = 0u64;
    while !STOP.load(Ordering::SeqCst) {
        n += 1;
        // The lock is held from open to close: read and reconcile, nothing else.
        let st = with_node(|node| Ok(dynamig_node::status::status(node)));
        if STOP.load(Ordering::SeqCst) {
            // Interrupted while waiting for the lock: no frame after Ctrl-C.
            break;
        }
        let mut out = std::io::stdout().lock();
        let frame = match &st {
            Ok(st) if json => serde_json::to_string(st).unwrap_or_default(),
            Ok(st) => render::status(st, form),
            Err(f) => format!("dynamigctl: {:#}", f.err),
        };
        let wide = if form == Form::Wide { " --wide" } else { "" };
        let header = format!("Every {every}s: dynamigctl status{wide}    {}", clock());
        let w = if json {
            writeln!(out, "{frame}")
        } else if tty {
            write!(out, "\x1b[H\x1b[2J{header}\n\n{frame}\n")
        } else {
            writeln!(out, "{header}\n\n{frame}\n")
        };
        if w.and_then(|()| out.flush()).is_err() {
            // The reader went away (a closed pipe): stop quietly.
            return Ok(());
        }
        drop(out);
        last = st.map(|_| ());
        if count.is_some_and(|c| n >= c) || pause(Duration::from_secs_f64(every)) {
            break;
        }
    }
    last
}
