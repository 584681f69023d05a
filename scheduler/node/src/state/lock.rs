//! The node-wide lock: an exclusive `flock` on `<state dir>/lock`, taken with a deadline so a
//! caller waiting on a busy node fails with a clear error instead of hanging.
//!
//! A free lock is taken with one non-blocking `flock`. A busy one is waited for with a blocking
//! `flock` in a helper thread, so the waiter gets the lock the moment it is let go (no polling
//! interval); the caller waits on that thread with the deadline. A waiter that gives up leaves
//! the thread behind: should it get the lock later, it lets it go at once.
//!
//! Instrumented: on release, the time it was held and the time spent waiting for it are logged
//! (`tracing` debug) and, when `DYNAMIG_LOCK_STATS` names a file ([`NodeLock::acquire_for`]), appended to it as one line
//! `held_us=<N> waited_us=<N> pid=<N>` (the stress test reads these).

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
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
    /// Where the figures are appended on release, if anywhere.
    stats: Option<PathBuf>,
    pub acquired_at: Instant,
    pub waited: Duration,
}

impl NodeLock {
    /// Takes the lock as `cfg` says: its timeout (`DYNAMIG_LOCK_TIMEOUT_MS`) and the file its
    /// figures go to (`DYNAMIG_LOCK_STATS`).
    pub fn acquire_for(
        path: &Path,
        cfg: &crate::config::NodeConfig,
    ) -> Result<NodeLock, LockError> {
        let mut lock = NodeLock::acquire(path, cfg.lock_timeout)?;
        lock.stats = cfg.lock_stats.clone();
        Ok(lock)
    }

    pub fn acquire(path: &Path, timeout: Duration) -> Result<NodeLock, LockError> {
        let start = Instant::now();
        let file = OpenOptions::new()
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
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => return Ok(NodeLock::held(l, start)),
            Err((f, nix::Error::EWOULDBLOCK)) | Err((f, nix::Error::EINTR)) => f,
            Err((_, e)) => {
                return Err(LockError::Flock {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("dynamig-lock".into())
            .spawn(move || {
                let mut file = file;
                let r = loop {
                    match Flock::lock(file, FlockArg::LockExclusive) {
                        Ok(l) => break Ok(l),
                        Err((f, nix::Error::EINTR)) => file = f,
                        Err((_, e)) => break Err(e),
                    }
                };
                // When the waiter has given up, the send fails and the lock is let go here.
                let _ = tx.send(r);
            })
            .map_err(|e| LockError::Open {
                path: path.to_path_buf(),
                source: e,
            })?;
        match rx.recv_timeout(timeout.saturating_sub(start.elapsed())) {
            Ok(Ok(l)) => Ok(NodeLock::held(l, start)),
            Ok(Err(e)) => Err(LockError::Flock {
                path: path.to_path_buf(),
                source: e,
            }),
            Err(_) => Err(LockError::Timeout {
                path: path.to_path_buf(),
                waited: start.elapsed(),
            }),
        }
    }

    fn held(lock: Flock<File>, start: Instant) -> NodeLock {
        NodeLock {
            lock: Some(lock),
            stats: None,
            acquired_at: Instant::now(),
            waited: start.elapsed(),
        }
    }
}

impl Drop for NodeLock {
    fn drop(&mut self) {
        // Unlock first, so that recording the figures is not counted as holding the lock.
        drop(self.lock.take());
        let held = self.acquired_at.elapsed();
        tracing::debug!(
            held_us = dynamig_core::duration::micros(held),
            waited_us = dynamig_core::duration::micros(self.waited),
            "node lock released"
        );
        if let Some(path) = &self.stats {
            record(path, held, self.waited);
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
    fn a_busy_lock_times_out_and_an_abandoned_wait_lets_go() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("lock");
        let held = NodeLock::acquire(&p, Duration::from_secs(10)).unwrap();
        let e = NodeLock::acquire(&p, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(e, LockError::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("still held"), "{e}");
        drop(held);
        // The waiter that gave up must not keep the lock once it gets it.
        let again = NodeLock::acquire(&p, Duration::from_secs(30)).unwrap();
        drop(again);
    }

    #[test]
    fn a_waiter_gets_the_lock_when_it_is_let_go() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("lock");
        let held = NodeLock::acquire(&p, Duration::from_secs(10)).unwrap();
        let p2 = p.clone();
        let waiter = std::thread::spawn(move || NodeLock::acquire(&p2, Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(100));
        assert!(!waiter.is_finished(), "got the lock while it was held");
        drop(held);
        waiter.join().unwrap().unwrap();
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
