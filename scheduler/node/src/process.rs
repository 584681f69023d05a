//! Process identity and liveness. A pid alone is reused by the kernel; a pid together with its
//! start time (field 22 of `/proc/<pid>/stat`, in clock ticks since boot) names one process.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcRef {
    pub pid: u32,
    pub start_time: u64,
}

/// What `/proc/<pid>/stat` says of a process: its start time and whether it has already exited
/// (a zombie waiting for its parent).
fn stat(pid: u32) -> Option<(u64, bool)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces or parentheses: split after the last ')'.
    let rest = &s[s.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); start time is field 22.
    let state = fields.first()?;
    let start: u64 = fields.get(19)?.parse().ok()?;
    Some((start, *state == "Z" || *state == "X"))
}

impl ProcRef {
    /// The identity of a running process, if it exists.
    pub fn of(pid: u32) -> Option<ProcRef> {
        let (start_time, _) = stat(pid)?;
        Some(ProcRef { pid, start_time })
    }

    pub fn current() -> ProcRef {
        let pid = std::process::id();
        ProcRef::of(pid).unwrap_or(ProcRef { pid, start_time: 0 })
    }

    /// True while this very process runs (not a zombie, not a later process with its pid).
    pub fn is_alive(&self) -> bool {
        match stat(self.pid) {
            Some((start, exited)) => start == self.start_time && !exited,
            None => false,
        }
    }

    /// Sends `sig` if this very process still runs (never to a later process with its pid).
    pub fn signal(&self, sig: Signal) {
        if self.is_alive() {
            let _ = kill(Pid::from_raw(self.pid as i32), sig);
        }
    }

    /// SIGTERM, then SIGKILL after `grace`, then wait up to `kill_wait` for the exit. Returns
    /// whether the process is gone.
    pub fn terminate(&self, grace: Duration, kill_wait: Duration) -> bool {
        self.signal(Signal::SIGTERM);
        if self.wait_exit(grace) {
            return true;
        }
        tracing::warn!(pid = self.pid, "grace period over; sending SIGKILL");
        self.signal(Signal::SIGKILL);
        self.wait_exit(kill_wait)
    }

    /// Polls until the process is gone or `timeout` passes.
    pub fn wait_exit(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut nap = Duration::from_millis(1);
        loop {
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(nap);
            nap = (nap * 2).min(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_termination() {
        let me = ProcRef::current();
        assert!(me.is_alive());
        let reused = ProcRef {
            pid: me.pid,
            start_time: me.start_time + 1,
        };
        assert!(
            !reused.is_alive(),
            "same pid, other start time is another process"
        );
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let r = ProcRef::of(child.id()).unwrap();
        assert!(r.is_alive());
        // The child becomes a zombie until waited; a zombie counts as exited.
        assert!(r.terminate(Duration::from_secs(5), Duration::from_secs(5)));
        let _ = child.wait();
        assert!(!r.is_alive());
    }

    #[test]
    fn sigkill_after_grace_when_sigterm_is_ignored() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; sleep 30"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let r = ProcRef::of(child.id()).unwrap();
        let t = Instant::now();
        assert!(r.terminate(Duration::from_millis(300), Duration::from_secs(5)));
        assert!(t.elapsed() >= Duration::from_millis(300));
        let _ = child.wait();
    }
}
