//! The simulated node shared by every process that loads the fake: the `sim.json` file named by
//! `FAKE_NVML_STATE`, read on each call and rewritten under an exclusive `flock` of
//! `<state>.lock`, and the side files tests write (`<state>.busy`: "in use" answers left,
//! `<state>.held`: instances a foreign NVML client holds).

use dynamig_node::backend::sim::SimNode;
use std::path::{Path, PathBuf};

use crate::config::STATE_ENV;
use crate::errors::{Ret, DRIVER_NOT_LOADED, UNKNOWN};
use crate::proc_tree::write_proc_tree;

pub(crate) fn state_path() -> Result<PathBuf, Ret> {
    std::env::var_os(STATE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or(DRIVER_NOT_LOADED)
}

/// Serialises read-modify-write of the state file between processes.
pub(crate) struct FileLock(std::fs::File);

impl FileLock {
    fn take(state: &Path) -> Result<FileLock, Ret> {
        let mut p = state.as_os_str().to_owned();
        p.push(".lock");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(PathBuf::from(p))
            .map_err(|_| UNKNOWN)?;
        use std::os::fd::AsRawFd;
        // SAFETY: `f` is an open file this function owns, so its descriptor is valid for the call;
        // flock reads no memory of ours.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(UNKNOWN);
        }
        Ok(FileLock(f))
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: `self.0` is the open file `take` locked, kept open until after this call; flock
        // reads no memory of ours.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

pub(crate) fn load() -> Result<SimNode, Ret> {
    let p = state_path()?;
    match SimNode::load(&p) {
        Ok(Some(n)) => Ok(n),
        _ => Err(DRIVER_NOT_LOADED),
    }
}

/// Runs `f` on the node under the lock, saving it (and the proc tree) afterwards.
pub(crate) fn modify<T>(f: impl FnOnce(&mut SimNode) -> Result<T, Ret>) -> Result<T, Ret> {
    let p = state_path()?;
    let _l = FileLock::take(&p)?;
    let mut n = load()?;
    let out = f(&mut n)?;
    n.save(&p).map_err(|_| UNKNOWN)?;
    write_proc_tree(&n);
    Ok(out)
}

pub(crate) fn busy_path() -> Option<PathBuf> {
    let mut p = state_path().ok()?.into_os_string();
    p.push(".busy");
    Some(PathBuf::from(p))
}

/// Consumes one "in use" answer from `<state>.busy`, if any are left.
pub(crate) fn take_busy() -> bool {
    let Some(p) = busy_path() else { return false };
    let n: u32 = std::fs::read_to_string(&p)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if n == 0 {
        return false;
    }
    let _ = std::fs::write(&p, format!("{}\n", n - 1));
    true
}

/// Whether a foreign NVML client holds GPU instance `gi` of `gpu` (`<state>.held`).
pub(crate) fn held(gpu: u32, gi: u32) -> bool {
    let Some(p) = state_path().ok().map(|p| {
        let mut s = p.into_os_string();
        s.push(".held");
        PathBuf::from(s)
    }) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(p) else {
        return false;
    };
    text.lines().any(|l| {
        let Some((g, i)) = l.trim().split_once(':') else {
            return false;
        };
        g.trim().parse() == Ok(gpu) && (i.trim() == "*" || i.trim().parse() == Ok(gi))
    })
}
