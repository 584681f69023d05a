//! Many `dynamigctl allocate` processes racing on one node never get the same slices.

mod common;
use common::*;
use std::collections::HashSet;

#[test]
fn racing_allocations_never_share_slices() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb", "a100-40gb"]);
    // 24 processes want a 1g.5gb; the node has room for exactly 14.
    let children: Vec<_> = (0..24)
        .map(|i| {
            c.cmd()
                .args([
                    "allocate",
                    &format!("job{i}"),
                    "--mig-profile",
                    "1g.5gb",
                    "--json",
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    let mut ok = 0;
    let mut full = 0;
    for mut ch in children {
        match ch.wait().unwrap().code() {
            Some(0) => ok += 1,
            Some(1) => full += 1,
            other => panic!("unexpected exit {other:?}"),
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
            c.cmd()
                .args(["release", &format!("job{i}")])
                .spawn()
                .unwrap()
        })
        .collect();
    children.extend((100..107).map(|i| {
        c.cmd()
            .args(["allocate", &format!("job{i}"), "--mig-profile", "1g.5gb"])
            .spawn()
            .unwrap()
    }));
    for mut ch in children {
        ch.wait().unwrap();
    }
    let st = c.status();
    assert_no_overlap(&st);
    assert!(instances(&st).len() <= 14);
}
