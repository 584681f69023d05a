//! Logs of the runtime entry points: JSON lines (one object per line: `timestamp`, `level`,
//! `target`, `fields` with `message` and the event's fields, and `span` naming the `component`
//! and its `pid`), appended to `$DYNAMIG_LOG_FILE`, else to `<state dir>/runtime.log` (default
//! `/run/dynamig/runtime.log`). Level from `DYNAMIG_LOG` (`info` by default). Only processes
//! that do dynamig work log; a pass-through runc call never opens the file. Scheduling events
//! also go to `<state dir>/events.jsonl` (`dynamigctl events`). See `docs/observability.md`.

use std::path::PathBuf;
use std::sync::Once;

static INIT: Once = Once::new();

/// `$DYNAMIG_LOG_FILE`, else `<state dir>/runtime.log`.
pub fn log_path() -> PathBuf {
    if let Some(p) = std::env::var_os("DYNAMIG_LOG_FILE").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    dynamig_node::config::state_dir_from_env().join("runtime.log")
}

/// Starts logging (once per process). Logging never fails the caller: when the file cannot be
/// opened, logs go to stderr.
pub fn init(component: &'static str) {
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("DYNAMIG_LOG")
            // The shim's libraries (ttrpc, containerd-shim) log each connection at info.
            .unwrap_or_else(|_| "info,ttrpc=warn,containerd_shim=warn".into());
        let path = log_path();
        // Never through a symbolic link, never a FIFO (as the state file and the event log).
        let file = dynamig_node::state::regular::open_append(&path);
        let b = tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false);
        let r = match file {
            Ok(f) => b.with_writer(std::sync::Mutex::new(f)).try_init(),
            Err(e) => {
                // A refused link or FIFO is worth a word; a state directory not made yet is not.
                if e.kind() != std::io::ErrorKind::NotFound {
                    eprintln!("dynamig: cannot open the runtime log: {e}; logging to stderr");
                }
                b.with_writer(std::io::stderr).try_init()
            }
        };
        if r.is_ok() {
            // Every line of this process names it: the span stays entered on this (the
            // main) thread for the life of the process.
            let span = tracing::info_span!("process", component, pid = std::process::id());
            std::mem::forget(span.entered());
        }
        tracing::debug!("started");
    });
}
