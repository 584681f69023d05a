//! The node-wide lock: an exclusive `flock` on `<state dir>/lock`, taken with a deadline so a
//! caller waiting on a busy node fails with a clear error instead of hanging.
//!
//! Instrumented: on release, the time it was held and the time spent waiting for it are logged
//! (`tracing` debug) and, when `DYNAMIG_LOCK_STATS` names a file, appended to it as one line
//! `held_us=<N> waited_us=<N> pid=<N>` (the stress test reads these).

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

pub const TIMEOUT_ENV: &str = "DYNAMIG_LOCK_TIMEOUT_MS";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const STATS_ENV: &str = "DYNAMIG_LOCK_STATS";

#[derive(Debug, Error)]
pub enum LockError {
    #[error("cannot open lock file {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the node lock {path} is still held by another dynamig process after {waited:?}; try again, or look for a stuck process with `fuser {path}`")]
    Timeout { path: PathBuf, waited: Duration },
    #[error("flock {path}: {source}")]
    Flock { path: PathBuf, source: nix::Error },
}

/// The held lock; dropping it lets go.
#[derive(Debug)]
pub struct NodeLock {
    lock: Option<Flock<File>>,
    pub acquired_at: Instant,
    pub waited: Duration,
}

impl NodeLock {
    /// The timeout from `DYNAMIG_LOCK_TIMEOUT_MS`, else 60 s.
    pub fn timeout_from_env() -> Duration {
        std::env::var(TIMEOUT_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_TIMEOUT)
    }

    pub fn acquire(path: &Path, timeout: Duration) -> Result<NodeLock, LockError> {
        let start = Instant::now();
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|source| LockError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let mut sleep = Duration::from_micros(200);
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(l) => {
                    return Ok(NodeLock {
                        lock: Some(l),
                        acquired_at: Instant::now(),
                        waited: start.elapsed(),
                    })
                }
                Err((f, nix::Error::EWOULDBLOCK)) | Err((f, nix::Error::EINTR)) => {
                    if start.elapsed() >= timeout {
                        return Err(LockError::Timeout {
                            path: path.to_path_buf(),
                            waited: start.elapsed(),
                        });
                    }
                    file = f;
                    std::thread::sleep(sleep);
                    sleep = (sleep * 2).min(Duration::from_millis(20));
                }
                Err((_, e)) => {
                    return Err(LockError::Flock {
                        path: path.to_path_buf(),
                        source: e,
                    })
                }
            }
        }
    }
}

impl Drop for NodeLock {
    fn drop(&mut self) {
        // Unlock first, so that recording the figures is not counted as holding the lock.
        drop(self.lock.take());
        let held = self.acquired_at.elapsed();
        tracing::debug!(
            held_us = held.as_micros() as u64,
            waited_us = self.waited.as_micros() as u64,
            "node lock released"
        );
        if let Some(path) = std::env::var_os(STATS_ENV).filter(|v| !v.is_empty()) {
            record(Path::new(&path), held, self.waited);
        }
    }
}

/// Appends one line of lock figures; best effort (instrumentation never fails an operation).
fn record(path: &Path, held: Duration, waited: Duration) {
    use std::io::Write;
    let line = format!(
        "held_us={} waited_us={} pid={}\n",
        held.as_micros(),
        waited.as_micros(),
        std::process::id()
    );
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path);
    if let Ok(mut f) = f {
        let _ = f.write_all(line.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_taker_times_out_then_gets_it_after_release() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("lock");
        let held = NodeLock::acquire(&p, Duration::from_secs(5)).unwrap();
        let e = NodeLock::acquire(&p, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, LockError::Timeout { .. }), "{e}");
        let line = e.to_string();
        assert!(
            line.contains("still held") && !line.contains('\n'),
            "{line}"
        );
        drop(held);
        NodeLock::acquire(&p, Duration::from_millis(50)).unwrap();
    }

    #[test]
    fn refuses_a_symlinked_lock_file() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("elsewhere");
        std::fs::write(&target, b"keep").unwrap();
        let p = t.path().join("lock");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        assert!(matches!(
            NodeLock::acquire(&p, Duration::from_millis(50)),
            Err(LockError::Open { .. })
        ));
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
