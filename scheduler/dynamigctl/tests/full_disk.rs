//! A state write that fails half way (a full disk) leaves no temp file behind, and a temp file
//! that a dead writer left (killed mid-write) is removed by the next reconcile (`gc`).
//!
//! Two ways to make the write fail: a real tmpfs of 128 KiB filled up (ENOSPC), when the test
//! runs as root (it mounts, so it needs root; CI runs as root); and, as any user, a file-size
//! limit on the `dynamigctl` process (`RLIMIT_FSIZE`: the write fails with EFBIG exactly where
//! a full disk fails it). Without root only the second runs; with DYNAMIG_E2E=1 (CI) not being
//! root is a failure.

mod common;
use common::*;
use std::os::unix::process::CommandExt;
use std::path::Path;

fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp."))
        .collect()
}

/// `allocate` on a node whose state write fails: exit 1, the state file as it was, no temp
/// file; then a dead writer's temp file is removed by `gc`, a live one's kept.
fn check_failed_write(c: &Ctl, limit: impl Fn(&mut std::process::Command), what: &str) {
    let before = std::fs::read(c.state_file()).unwrap();
    let mut cmd = c.cmd();
    cmd.args(["allocate", "big", "--gpu-memory", "5GB"]);
    limit(&mut cmd);
    let o = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{what}: {err}");
    assert!(err.contains("state.json"), "{what}: {err}");
    assert_eq!(std::fs::read(c.state_file()).unwrap(), before, "{what}");
    assert!(
        temps(&c.state_dir()).is_empty(),
        "{what}: {:?}",
        temps(&c.state_dir())
    );
}

fn stale_temps_are_gc_ed(c: &Ctl) {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let mut alive = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let stale = format!(".state.json.tmp.{dead}");
    let busy = format!(".state.json.tmp.{}", alive.id());
    std::fs::write(c.state_dir().join(&stale), b"").unwrap();
    std::fs::write(c.state_dir().join(&busy), b"").unwrap();
    let gc = c.json(&["gc", "--json"]);
    assert_eq!(gc["temp_files"], serde_json::json!([stale]));
    assert_eq!(temps(&c.state_dir()), vec![busy.clone()]);
    alive.kill().unwrap();
    alive.wait().unwrap();
    assert!(c.ok(&["gc"]).contains("1 stale temp files removed"));
    assert!(temps(&c.state_dir()).is_empty());
}

#[test]
fn a_failed_write_leaves_no_temp_file_under_a_file_size_limit() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "a", "--gpu-memory", "5GB"]);
    let size = std::fs::metadata(c.state_file()).unwrap().len();
    let limit = move |cmd: &mut std::process::Command| {
        // SAFETY: only async-signal-safe calls (signal, setrlimit) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                let r = libc::rlimit {
                    rlim_cur: size / 2,
                    rlim_max: size / 2,
                };
                if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    };
    check_failed_write(&c, limit, "RLIMIT_FSIZE");
    stale_temps_are_gc_ed(&c);
}

/// Unmounts the tmpfs, even when the test fails.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_tmpfs_leaves_no_temp_file() {
    // SAFETY: geteuid(2) has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        assert_ne!(
            std::env::var("DYNAMIG_E2E").as_deref(),
            Ok("1"),
            "DYNAMIG_E2E=1 but not root: the tmpfs ENOSPC test cannot mount"
        );
        return;
    }
    let c = Ctl::new();
    let dir = c.state_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=128k,mode=0700", "dynamig-test"])
        .arg(&dir)
        .status()
        .expect("mount");
    assert!(
        st.success(),
        "mount -t tmpfs failed (root, but no mount permission?)"
    );
    let _m = Mounted(dir.clone());
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "a", "--gpu-memory", "5GB"]);
    // fill the tmpfs to the last byte
    {
        use std::io::Write;
        let mut f = std::fs::File::create(dir.join("filler")).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
    }
    check_failed_write(&c, |_| {}, "tmpfs ENOSPC");
    let o = c.run(&["allocate", "big", "--gpu-memory", "5GB"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("No space left on device"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_file(dir.join("filler")).unwrap();
    stale_temps_are_gc_ed(&c);
    c.ok(&["allocate", "big", "--gpu-memory", "5GB"]);
}
