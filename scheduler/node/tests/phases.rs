//! Per-phase times of allocations and releases (issue #17), on a simulated node: which phases
//! an allocation has depends on what it did (an eviction waits for and destroys its victim; a
//! fresh instance does neither), and the event log and the metrics file carry them.

use dynamig_core::priority::Priority;
use dynamig_core::request::{Request, Size};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::config::NodeConfig;
use dynamig_node::events;
use dynamig_node::node::{AllocSpec, Node, NodeError};
use dynamig_node::phases::Phases;
use dynamig_node::process::ProcRef;
use dynamig_node::state::{HolderKey, StateDir};
use std::process::Command;
use std::time::Duration;

fn node_at(tmp: &tempfile::TempDir) -> (NodeConfig, StateDir) {
    let dir = StateDir::open(&tmp.path().join("state")).unwrap();
    SimNode::new(&["a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();
    let mut cfg = NodeConfig::at(dir.path());
    cfg.metrics_file = Some(tmp.path().join("dynamig.prom"));
    (cfg, dir)
}

fn spec(id: &str, profile: &str, priority: i32) -> AllocSpec {
    let mut request = Request::new(Size::Profile {
        name: profile.into(),
    });
    request.priority = Priority(priority);
    request.preemptible = request.priority.default_preemptible();
    request.grace_period = Duration::ZERO;
    AllocSpec {
        id: id.into(),
        namespace: "k8s.io".into(),
        request,
        process: None,
        creator: None,
    }
}

fn allocated_phases(dir: &StateDir, id: &str) -> Phases {
    events::read(&dir.events_file(), 0)
        .into_iter()
        .rev()
        .find(|e| e.kind == "allocated" && e.holder.as_deref() == Some(id))
        .and_then(|e| e.phases)
        .expect("an allocated event with phases")
}

#[test]
fn an_allocation_with_an_eviction_has_every_phase_and_one_without_lacks_the_eviction_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let (cfg, dir) = node_at(&tmp);
    let mut victim = Command::new("sleep").arg("600").spawn().unwrap();
    let vref = ProcRef::of(victim.id()).unwrap();

    // A fresh instance on a free GPU: no eviction, nothing destroyed.
    let mut s = spec("low", "7g.40gb", 10);
    s.process = Some(vref);
    let a = Node::session(&cfg, &dir, |n| {
        let a = n.allocate(s)?;
        n.note_spec_edit(&HolderKey::new("k8s.io", "low"), Duration::from_micros(5));
        Ok::<_, NodeError>(a)
    })
    .unwrap();
    let p = allocated_phases(&dir, "low");
    assert_eq!(p.eviction_wait_us, None, "{p:?}");
    assert_eq!(p.destroy_us, None, "{p:?}");
    for (name, v) in [
        ("lock_wait", p.lock_wait_us),
        ("decision", p.decision_us),
        ("gi_create", p.gi_create_us),
        ("ci_create", p.ci_create_us),
        ("spec_edit", p.spec_edit_us),
    ] {
        assert!(v.is_some(), "{name} missing: {p:?}");
    }
    // What the allocation returns was measured before the spec edit.
    assert_eq!(a.phases.spec_edit_us, None);
    assert_eq!(a.phases.gi_create_us, p.gi_create_us);

    // A higher priority takes the GPU: the victim is evicted with zero grace.
    let b = Node::session(&cfg, &dir, |n| {
        let b = n.allocate(spec("high", "7g.40gb", 125))?;
        n.note_spec_edit(&HolderKey::new("k8s.io", "high"), Duration::from_micros(5));
        Ok::<_, NodeError>(b)
    })
    .unwrap();
    assert_eq!(b.evict, vec!["low".to_string()]);
    let _ = victim.wait();
    let p = allocated_phases(&dir, "high");
    for (name, v) in p.each() {
        assert!(v.is_some(), "{name} missing: {p:?}");
    }

    // A release: its lock wait and its destroy, nothing else.
    Node::session(&cfg, &dir, |n| n.release(&HolderKey::new("k8s.io", "high"))).unwrap();
    let r = events::read(&dir.events_file(), 0)
        .into_iter()
        .rfind(|e| e.kind == "released")
        .and_then(|e| e.phases)
        .expect("a released event with phases");
    assert!(r.destroy_us.is_some() && r.lock_wait_us.is_some(), "{r:?}");
    assert_eq!(
        (r.gi_create_us, r.decision_us, r.eviction_wait_us),
        (None, None, None)
    );

    // The metrics file counts each phase that happened: two GI creations, one eviction wait,
    // two destroys (the victim's and the release's).
    let m = std::fs::read_to_string(tmp.path().join("dynamig.prom")).unwrap();
    for (phase, n) in [
        ("gi_create", 2),
        ("ci_create", 2),
        ("eviction_wait", 1),
        ("destroy", 2),
        ("spec_edit", 2),
        ("lock_wait", 3),
    ] {
        let line = format!("dynamig_phase_seconds_count{{phase=\"{phase}\"}} {n}");
        assert!(m.lines().any(|l| l == line), "no {line:?} in\n{m}");
    }
}
