//! A `dynamigctl` that finds the node lock busy waits `DYNAMIG_LOCK_TIMEOUT_MS`, then fails with
//! one clear line, changes nothing, and succeeds once the lock is free.

mod common;
use common::*;
use dynamig_node::state::NodeLock;
use std::time::{Duration, Instant};

/// Waits for a child without ever hanging the test suite (a guard, not a timing assertion).
fn wait_bounded(mut ch: std::process::Child) -> std::process::Output {
    let guard = Instant::now() + Duration::from_secs(60);
    loop {
        if ch.try_wait().unwrap().is_some() {
            return ch.wait_with_output().unwrap();
        }
        if Instant::now() > guard {
            let _ = ch.kill();
            panic!("dynamigctl still waits on the lock after 60 s: the timeout did not work");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn busy_lock_gives_a_clear_error_after_the_timeout() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "first", "--gpu-memory", "10GB"]);
    let before = std::fs::read(c.state_file()).unwrap();

    let held = NodeLock::acquire(&c.state_dir().join("lock"), Duration::from_secs(5)).unwrap();
    for args in [
        &["allocate", "second", "--gpu-memory", "10GB"][..],
        &["release", "first"][..],
        &["status"][..],
    ] {
        let ch = c
            .cmd()
            .env("DYNAMIG_LOCK_TIMEOUT_MS", "300")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let o = wait_bounded(ch);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("node lock") && err.contains("still held") && err.contains("lock"),
            "{err}"
        );
        assert_eq!(std::fs::read(c.state_file()).unwrap(), before, "{args:?}");
    }
    drop(held);
    c.ok(&["allocate", "second", "--gpu-memory", "10GB"]);
}
