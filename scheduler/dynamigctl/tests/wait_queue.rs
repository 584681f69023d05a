//! `dynamigctl allocate --wait`: the wait queue, through real processes on one node.

mod common;
use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Starts a waiting `allocate`.
fn waiter(c: &Ctl, id: &str, profile: &str, priority: &str, wait: &str) -> Child {
    c.cmd()
        .args([
            "allocate",
            id,
            "--mig-profile",
            profile,
            "--priority",
            priority,
            "--wait",
            wait,
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dynamigctl")
}

/// The ids in the queue, in serving order.
fn queue(c: &Ctl) -> Vec<String> {
    let st = c.status();
    let q = st["queue"].as_array().cloned().unwrap_or_default();
    for (n, t) in q.iter().enumerate() {
        assert_eq!(t["position"].as_u64(), Some(n as u64 + 1));
    }
    q.iter()
        .map(|t| t["id"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Polls until `id` holds a ticket.
fn until_queued(c: &Ctl, id: &str) {
    let end = Instant::now() + Duration::from_secs(30);
    while !queue(c).iter().any(|q| q == id) {
        assert!(Instant::now() < end, "{id} never queued");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a waiter to end; returns (exit code, stdout, stderr).
fn finish(ch: Child) -> (i32, String, String) {
    let o = ch.wait_with_output().expect("wait");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn served(ch: Child, profile: &str) {
    let (code, out, err) = finish(ch);
    assert_eq!(code, 0, "{out}{err}");
    let a: serde_json::Value = serde_json::from_str(&out).expect("allocation json");
    assert_eq!(a["profile"], profile);
}

/// A GPU full of seven 1g.5gb holders of `priority`, f0..f6.
fn full_node(c: &Ctl, priority: &str) {
    c.ok(&["sim", "init", "a100-40gb"]);
    for i in 0..7 {
        c.ok(&[
            "allocate",
            &format!("f{i}"),
            "--mig-profile",
            "1g.5gb",
            "--priority",
            priority,
        ]);
    }
}

fn event_kinds(c: &Ctl, id: &str) -> Vec<String> {
    let evs = c.json(&["events", "--json"]);
    evs.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["holder"] == id)
        .map(|e| e["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn served_by_priority_then_first_come() {
    let c = Ctl::new();
    // Holders that nobody here may evict.
    full_node(&c, "inference");
    let lo1 = waiter(&c, "lo1", "1g.5gb", "training", "60s");
    until_queued(&c, "lo1");
    let hi = waiter(&c, "hi", "1g.5gb", "interactive", "60s");
    until_queued(&c, "hi");
    let lo2 = waiter(&c, "lo2", "1g.5gb", "training", "60s");
    until_queued(&c, "lo2");
    assert_eq!(queue(&c), ["hi", "lo1", "lo2"]);
    let text = c.ok(&["status"]);
    assert!(text.contains("Waiting:") && text.contains("lo2"), "{text}");

    c.ok(&["release", "f0"]);
    served(hi, "1g.5gb");
    assert_eq!(queue(&c), ["lo1", "lo2"]);
    c.ok(&["release", "f1"]);
    served(lo1, "1g.5gb");
    assert_eq!(queue(&c), ["lo2"]);
    c.ok(&["release", "f2"]);
    served(lo2, "1g.5gb");
    assert!(queue(&c).is_empty());
    for id in ["hi", "lo1", "lo2"] {
        assert_eq!(
            event_kinds(&c, id),
            ["queued", "served", "allocated"],
            "{id}"
        );
    }
}

#[test]
fn a_large_request_is_not_starved_by_small_ones() {
    let c = Ctl::new();
    full_node(&c, "training");
    let big = waiter(&c, "big", "7g.40gb", "training", "60s");
    until_queued(&c, "big");
    let mut small = None;
    for i in 0..6 {
        c.ok(&["release", &format!("f{i}")]);
        // A slice is free, but it is part of the room the big request waits for.
        assert_eq!(instances(&c.status()).len(), 6 - i);
        let o = c.run(&["plan", "--mig-profile", "1g.5gb"]);
        assert_eq!(o.status.code(), Some(1), "plan agrees with allocate");
        let o = c.run(&["allocate", &format!("n{i}"), "--mig-profile", "1g.5gb"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.contains("reserved") && err.contains("big"), "{err}");
        if i == 0 {
            // A small request that waits queues behind the large one.
            let s = waiter(&c, "patient", "1g.5gb", "training", "60s");
            until_queued(&c, "patient");
            assert_eq!(queue(&c), ["big", "patient"]);
            small = Some(s);
        }
    }
    // The last small holder leaves: the large request is served.
    c.ok(&["release", "f6"]);
    served(big, "7g.40gb");
    assert_eq!(queue(&c), ["patient"]);
    c.ok(&["release", "big"]);
    served(small.expect("the small waiter"), "1g.5gb");
    assert!(queue(&c).is_empty());
}

#[test]
fn a_crashed_waiters_ticket_expires() {
    let c = Ctl::new();
    full_node(&c, "training");
    let mut w = waiter(&c, "w", "1g.5gb", "training", "60s");
    until_queued(&c, "w");
    kill(Pid::from_raw(w.id() as i32), Signal::SIGKILL).unwrap();
    let _ = w.wait();
    // The next operation drops the ticket, and the room is not held for a dead waiter.
    assert!(queue(&c).is_empty());
    assert_eq!(event_kinds(&c, "w"), ["queued", "expired"]);
    c.ok(&["release", "f3"]);
    c.ok(&["allocate", "next", "--mig-profile", "1g.5gb"]);
    assert!(c.status()["ended"].as_array().unwrap().is_empty());
}

#[test]
fn a_waiter_that_times_out_leaves_the_state_as_it_was() {
    let c = Ctl::new();
    full_node(&c, "training");
    let before = c.status();
    let state_before = std::fs::read(c.state_file()).unwrap();
    let o = c.run(&[
        "allocate",
        "late",
        "--mig-profile",
        "1g.5gb",
        "--wait",
        "700ms",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("gave up after waiting"), "{err}");
    let after = c.status();
    assert_eq!(before["gpus"], after["gpus"]);
    assert_eq!(before["ended"], after["ended"]);
    assert_eq!(after["queue"], serde_json::json!([]));
    // Byte for byte but the ticket counter.
    let st: serde_json::Value = state_json(&std::fs::read(c.state_file()).unwrap());
    let mut st0: serde_json::Value = state_json(&state_before);
    st0["next_ticket"] = st["next_ticket"].clone();
    st0["queue"] = serde_json::json!([]);
    assert_eq!(st0, st);
    assert_eq!(event_kinds(&c, "late"), ["queued", "expired"]);
}

#[test]
fn an_interrupted_waiter_withdraws_and_ids_are_not_queued_twice() {
    let c = Ctl::new();
    full_node(&c, "training");
    let w = waiter(&c, "w", "1g.5gb", "training", "60s");
    until_queued(&c, "w");
    let o = c.run(&["allocate", "w", "--mig-profile", "1g.5gb", "--wait", "5s"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("already waiting"), "{err}");
    kill(Pid::from_raw(w.id() as i32), Signal::SIGTERM).unwrap();
    let (code, _, err) = finish(w);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(queue(&c).is_empty());
    assert_eq!(event_kinds(&c, "w"), ["queued", "withdrawn"]);
    assert_eq!(instances(&c.status()).len(), 7);
}

/// The JSON body of a state file.
fn state_json(bytes: &[u8]) -> serde_json::Value {
    let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
    serde_json::from_slice(&bytes[nl + 1..]).unwrap()
}

#[test]
fn small_requests_backfill_room_the_waiting_one_does_not_need() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb", "a100-40gb"]);
    for i in 0..7 {
        c.ok(&["allocate", &format!("f{i}"), "--mig-profile", "1g.5gb"]);
    }
    c.ok(&["allocate", "g1", "--mig-profile", "1g.5gb"]);
    let on_gpu = |gpu: u64| {
        instances(&c.status())
            .into_iter()
            .filter(|i| i.0 == gpu)
            .map(|i| i.4.unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(on_gpu(0).len(), 7, "the planner packs GPU 0 first");
    assert_eq!(on_gpu(1), ["g1"]);
    c.ok(&["release", "f0"]);
    // GPU 1 needs one holder to leave for a full-GPU request, GPU 0 six: it waits for GPU 1.
    let big = waiter(&c, "big", "7g.40gb", "training", "60s");
    until_queued(&c, "big");
    let st = c.status();
    assert_eq!(st["queue"][0]["reserved"], "GPU 1 7g.40gb@0");
    // A small request goes to GPU 0's free slice, not next to g1.
    let a = c.json(&["allocate", "small", "--mig-profile", "1g.5gb", "--json"]);
    assert_eq!(a["gpu"], 0);
    c.ok(&["release", "g1"]);
    served(big, "7g.40gb");
    assert_eq!(on_gpu(1), ["big"]);
}
