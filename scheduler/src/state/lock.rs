//! The node-wide lock: an exclusive `flock` on `<state dir>/lock`, taken with a deadline so a
//! caller waiting on a busy node fails with a clear error instead of hanging.

use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

pub const TIMEOUT_ENV: &str = "DYNAMIG_LOCK_TIMEOUT_MS";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

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
    _lock: Flock<File>,
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
                        _lock: l,
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
