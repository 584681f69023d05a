//! The launcher's logs: JSON lines in the runtime log that `dynamig-runc` and `dynamig-hook`
//! write (`$DYNAMIG_LOG_FILE`, else `<state dir>/runtime.log`; the same rule as
//! `dynamig_hook::logging`). The launcher runs for every container of the runtime, with or
//! without a request, so it opens the log only to report a failure, or when `DYNAMIG_LOG` is
//! set (then it also logs what it launches, at `debug`).

use std::ffi::OsString;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// `$DYNAMIG_LOG_FILE`, else `<state dir>/runtime.log`.
pub fn log_path(env: &dyn Fn(&str) -> Option<OsString>) -> PathBuf {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = var("DYNAMIG_LOG_FILE") {
        return PathBuf::from(p);
    }
    var("DYNAMIG_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/dynamig"))
        .join("runtime.log")
}

/// Starts JSON logging to the runtime log (stderr if it cannot be opened). `always`: even
/// when `DYNAMIG_LOG` is not set (to report a failure). Returns whether logging is on.
pub fn init(always: bool) -> bool {
    let env = |k: &str| std::env::var_os(k);
    let configured = env("DYNAMIG_LOG").is_some_and(|v| !v.is_empty());
    if !always && !configured {
        return false;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("DYNAMIG_LOG")
        .unwrap_or_else(|_| "info".into());
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log_path(&env));
    let b = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false);
    let r = match file {
        Ok(f) => b.with_writer(std::sync::Mutex::new(f)).try_init(),
        Err(_) => b.with_writer(std::io::stderr).try_init(),
    };
    if r.is_ok() {
        let span = tracing::info_span!(
            "process",
            component = "containerd-shim-dynamig-v2",
            pid = std::process::id()
        );
        std::mem::forget(span.entered());
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_file_then_state_dir_then_default() {
        let none = |_: &str| None;
        assert_eq!(log_path(&none), PathBuf::from("/run/dynamig/runtime.log"));
        let state = |k: &str| (k == "DYNAMIG_STATE_DIR").then(|| OsString::from("/s"));
        assert_eq!(log_path(&state), PathBuf::from("/s/runtime.log"));
        let both = |k: &str| match k {
            "DYNAMIG_STATE_DIR" => Some(OsString::from("/s")),
            "DYNAMIG_LOG_FILE" => Some(OsString::from("/l/x.log")),
            _ => None,
        };
        assert_eq!(log_path(&both), PathBuf::from("/l/x.log"));
    }
}
