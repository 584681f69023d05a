//! OOM kills in a container's memory cgroup, told to containerd as `/tasks/oom` (Kubernetes
//! shows such a container as `OOMKilled`).
//!
//! - cgroup v1: an eventfd registered on `memory.oom_control` through `cgroup.event_control`
//!   (the kernel signals it at each OOM, and when the cgroup goes away);
//! - cgroup v2: inotify on `memory.events`, whose `oom_kill` count grows at each kill.

use crate::error::{Result, ShimError};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where a process's memory cgroup is, per `/proc/<pid>/cgroup`.
#[derive(Debug, PartialEq, Eq)]
pub enum MemoryCgroup {
    V1(PathBuf),
    V2(PathBuf),
}

/// Reads `/proc/<pid>/cgroup` (under `proc_root`) and finds the memory cgroup's directory
/// under `cgroup_root` (normally `/sys/fs/cgroup`).
pub fn memory_cgroup(proc_root: &Path, cgroup_root: &Path, pid: u32) -> Option<MemoryCgroup> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            let dir = cgroup_root.join("memory").join(rel);
            if dir.join("memory.oom_control").exists() {
                return Some(MemoryCgroup::V1(dir));
            }
        }
        if controllers.is_empty() {
            unified = Some(cgroup_root.join(rel));
        }
    }
    unified
        .filter(|d| d.join("memory.events").exists())
        .map(MemoryCgroup::V2)
}

/// Calls `on_oom` from a thread at each OOM kill in the memory cgroup of `pid`, until the
/// cgroup is gone. Nothing is watched (and `Ok` returned) where no memory cgroup is found.
pub fn watch(pid: u32, on_oom: impl Fn() + Send + 'static) -> Result<()> {
    match memory_cgroup(Path::new("/proc"), Path::new("/sys/fs/cgroup"), pid) {
        Some(MemoryCgroup::V1(dir)) => watch_v1(&dir, on_oom),
        Some(MemoryCgroup::V2(dir)) => watch_v2(dir, on_oom),
        None => Ok(()),
    }
}

fn watch_v1(dir: &Path, on_oom: impl Fn() + Send + 'static) -> Result<()> {
    let control = File::open(dir.join("memory.oom_control")).map_err(ShimError::io(format!(
        "cannot open {}/memory.oom_control",
        dir.display()
    )))?;
    // SAFETY: eventfd has no memory arguments; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(ShimError::io("eventfd")(std::io::Error::last_os_error()));
    }
    // SAFETY: fd was just created by eventfd and is owned by nothing else.
    let mut efd = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    std::fs::write(
        dir.join("cgroup.event_control"),
        format!("{} {}", efd.as_raw_fd(), control.as_raw_fd()),
    )
    .map_err(ShimError::io(format!(
        "cannot register with {}/cgroup.event_control",
        dir.display()
    )))?;
    let oom_control = dir.join("memory.oom_control");
    std::thread::spawn(move || {
        let _control = control;
        let mut buf = [0u8; 8];
        while efd.read_exact(&mut buf).is_ok() {
            // The eventfd also fires when the cgroup is removed.
            if !oom_control.exists() {
                break;
            }
            on_oom();
        }
    });
    Ok(())
}

fn oom_kills(events: &Path) -> Option<u64> {
    std::fs::read_to_string(events).ok()?.lines().find_map(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|n| n.trim().parse().ok())
    })
}

fn watch_v2(dir: PathBuf, on_oom: impl Fn() + Send + 'static) -> Result<()> {
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    let events = dir.join("memory.events");
    let ino = Inotify::init(InitFlags::IN_CLOEXEC)
        .map_err(|e| ShimError::Other(format!("inotify: {e}")))?;
    ino.add_watch(&events, AddWatchFlags::IN_MODIFY)
        .map_err(|e| ShimError::Other(format!("inotify on {}: {e}", events.display())))?;
    let mut seen = oom_kills(&events).unwrap_or(0);
    std::thread::spawn(move || {
        while let Ok(evs) = ino.read_events() {
            if evs
                .iter()
                .any(|e| e.mask.contains(AddWatchFlags::IN_IGNORED))
            {
                break;
            }
            let Some(n) = oom_kills(&events) else { break };
            for _ in seen..n {
                on_oom();
            }
            seen = seen.max(n);
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_then_v2_memory_cgroups() {
        let t = tempfile::tempdir().unwrap();
        let proc_ = t.path().join("proc");
        let cg = t.path().join("cg");
        std::fs::create_dir_all(proc_.join("7")).unwrap();
        std::fs::write(
            proc_.join("7/cgroup"),
            "5:devices:/x\n4:memory:/default/c1\n0::/\n",
        )
        .unwrap();
        assert_eq!(memory_cgroup(&proc_, &cg, 7), None);
        std::fs::create_dir_all(cg.join("memory/default/c1")).unwrap();
        std::fs::write(cg.join("memory/default/c1/memory.oom_control"), "").unwrap();
        assert_eq!(
            memory_cgroup(&proc_, &cg, 7),
            Some(MemoryCgroup::V1(cg.join("memory/default/c1")))
        );
        std::fs::write(proc_.join("7/cgroup"), "0::/k8s/pod1/c2\n").unwrap();
        std::fs::create_dir_all(cg.join("k8s/pod1/c2")).unwrap();
        std::fs::write(cg.join("k8s/pod1/c2/memory.events"), "low 0\noom_kill 2\n").unwrap();
        assert_eq!(
            memory_cgroup(&proc_, &cg, 7),
            Some(MemoryCgroup::V2(cg.join("k8s/pod1/c2")))
        );
        assert_eq!(oom_kills(&cg.join("k8s/pod1/c2/memory.events")), Some(2));
    }
}
