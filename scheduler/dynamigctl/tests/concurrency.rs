//! Many `dynamigctl allocate` processes racing on one node never get the same slices.

mod common;
use common::*;
use std::collections::HashSet;
use std::process::{Child, Command, Output, Stdio};

/// Starts a `dynamigctl` with its stdout and stderr captured: they are shown only when the test
/// fails.
fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A finished child's stdout and stderr, for a failure message.
fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn racing_allocations_never_share_slices() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb", "a100-40gb"]);
    // 24 processes want a 1g.5gb; the node has room for exactly 14.
    let children: Vec<_> = (0..24)
        .map(|i| {
            let mut cmd = c.cmd();
            cmd.args([
                "allocate",
                &format!("job{i}"),
                "--mig-profile",
                "1g.5gb",
                "--json",
            ]);
            spawn(cmd)
        })
        .collect();
    let mut ok = 0;
    let mut full = 0;
    for ch in children {
        let o = ch.wait_with_output().unwrap();
        match o.status.code() {
            Some(0) => ok += 1,
            Some(1) => full += 1,
            other => panic!("unexpected exit {other:?}: {}", text(&o)),
        }
    }
    assert_eq!((ok, full), (14, 10));
    let st = c.status();
    assert_no_overlap(&st);
    let inst = instances(&st);
    assert_eq!(inst.len(), 14);
    let holders: HashSet<_> = inst.iter().map(|i| i.4.clone().unwrap()).collect();
    assert_eq!(holders.len(), 14, "no holder bound twice");
    let uuids: HashSet<_> = inst.iter().map(|i| i.3.clone()).collect();
    assert_eq!(uuids.len(), 14);
    // Racing releases and allocations: still consistent.
    let mut children: Vec<_> = (0..7)
        .map(|i| {
            let mut cmd = c.cmd();
            cmd.args(["release", &format!("job{i}")]);
            spawn(cmd)
        })
        .collect();
    children.extend((100..107).map(|i| {
        let mut cmd = c.cmd();
        cmd.args(["allocate", &format!("job{i}"), "--mig-profile", "1g.5gb"]);
        spawn(cmd)
    }));
    let outputs: Vec<String> = children
        .into_iter()
        .map(|ch| text(&ch.wait_with_output().unwrap()))
        .collect();
    let st = c.status();
    assert_no_overlap(&st);
    assert!(instances(&st).len() <= 14, "{}", outputs.concat());
}
