//! What `ClaimsPreparer::start` does with what an earlier run left: a reboot, claims the API
//! server no longer has, holders and CDI specs no claim names; and the DRA-managed mode it
//! records, which turns the standalone paths off.

mod common;

use common::{claim, Sim};
use dynamig_core::request::{Request, Size};
use dynamig_dra_api::claim::Preparer;
use dynamig_node::node::{AllocSpec, Node, NodeError};
use dynamig_node::state::dra::{ClaimPhase, ClaimRecord};

#[test]
fn after_a_reboot_every_claim_is_dropped_and_its_spec_removed() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("boot-1");
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-3g20gb-0"]);
    p.prepare(&c).unwrap();
    drop(p);
    // Another boot: the instances went with it (on the simulator they are still there, and
    // are destroyed), the spec and the record go.
    let p = s.preparer("boot-2");
    let st = p.start().unwrap();
    assert!(st.rebooted);
    assert_eq!(st.previous_boot.as_deref(), Some("boot-1"));
    assert_eq!(st.dropped, ["uid-c"]);
    assert!(s.instances().is_empty());
    assert!(s.specs().is_empty());
    let state = s.state();
    assert_eq!(state.dra.as_ref().unwrap().boot_id, "boot-2");
    assert!(state.dra.unwrap().claims.is_empty());
    assert!(state.holders.is_empty());
    // The kubelet prepares it again.
    p.prepare(&c).unwrap();
    assert_eq!(s.instances().len(), 1);
}

#[test]
fn the_same_boot_keeps_prepared_claims_the_api_server_still_has() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("boot-1");
    let keep = claim("keep", "uid-k");
    let gone = claim("gone", "uid-g");
    let recreated = claim("re", "uid-r");
    s.source.put(&keep, &["gpu-0-mig-1g5gb-0"]);
    s.source.put(&gone, &["gpu-0-mig-1g5gb-1"]);
    s.source.put(&recreated, &["gpu-0-mig-1g5gb-2"]);
    for c in [&keep, &gone, &recreated] {
        p.prepare(c).unwrap();
    }
    drop(p);
    s.source.delete(&gone);
    s.source.put(&claim("re", "uid-r2"), &["gpu-0-mig-1g5gb-3"]);
    let st = s.preparer("boot-1").start().unwrap();
    assert!(!st.rebooted);
    assert_eq!(st.kept, ["uid-k"]);
    let mut stale = st.stale_claims.clone();
    stale.sort();
    assert_eq!(stale, ["uid-g", "uid-r"]);
    assert_eq!(s.instances(), [(0, "1g.5gb".to_string(), 0)]);
    assert_eq!(s.specs(), ["uid-k"]);
}

#[test]
fn an_api_server_that_does_not_answer_keeps_the_claims() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-1g5gb-0"]);
    p.prepare(&c).unwrap();
    *s.source.down.lock().unwrap() = true;
    let st = s.preparer("b").start().unwrap();
    assert_eq!(st.kept, ["uid-c"]);
    assert_eq!(s.instances().len(), 1);
}

#[test]
fn interrupted_prepares_are_rolled_back_and_unprepares_finished() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let a = claim("a", "uid-a");
    let b = claim("b", "uid-b");
    s.source.put(&a, &["gpu-0-mig-2g10gb-0"]);
    s.source.put(&b, &["gpu-0-mig-2g10gb-2"]);
    p.prepare(&a).unwrap();
    p.prepare(&b).unwrap();
    drop(p);
    // As a crash would leave them: a's prepare had made its instance but not its spec,
    // b's unprepare had begun.
    let mut st = s.state();
    let dra = st.dra.as_mut().unwrap();
    dra.claims[0].phase = ClaimPhase::Preparing;
    dra.claims[1].phase = ClaimPhase::Unpreparing;
    dynamig_node::state::file::write(&s.dir.state_file(), &st).unwrap();
    std::fs::remove_file(dynamig_dra_claims::cdi::spec_path(&s.cdi, "uid-a")).unwrap();
    let got = s.preparer("b").start().unwrap();
    assert_eq!(got.rolled_back, ["uid-a"]);
    assert_eq!(got.finished, ["uid-b"]);
    assert!(s.instances().is_empty());
    assert!(s.specs().is_empty());
    assert!(s.state().holders.is_empty());
}

#[test]
fn holders_and_specs_no_claim_names_are_released_and_removed() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let a = claim("a", "uid-a");
    s.source.put(&a, &["gpu-0-mig-2g10gb-0"]);
    p.prepare(&a).unwrap();
    drop(p);
    // The record is lost (as if an older state file were restored), and a spec of a claim
    // this node never had is in the directory.
    let mut st = s.state();
    st.dra.as_mut().unwrap().claims.clear();
    dynamig_node::state::file::write(&s.dir.state_file(), &st).unwrap();
    std::fs::write(
        dynamig_dra_claims::cdi::spec_path(&s.cdi, "uid-stray"),
        "{}",
    )
    .unwrap();
    let got = s.preparer("b").start().unwrap();
    assert_eq!(got.orphan_holders.len(), 1);
    let mut specs = got.stale_specs.clone();
    specs.sort();
    assert_eq!(specs, ["uid-a", "uid-stray"]);
    assert!(s.instances().is_empty());
    assert!(s.specs().is_empty());
}

fn standalone(s: &Sim) -> Result<(), NodeError> {
    Node::session(&s.cfg, &s.dir, |n| {
        n.allocate(AllocSpec {
            id: "c1".into(),
            namespace: "default".into(),
            request: Request::new(Size::Profile {
                name: "1g.5gb".into(),
            }),
            process: None,
            creator: None,
        })
        .map(|_| ())
    })
}

#[test]
fn a_dra_managed_node_refuses_standalone_allocation_until_made_standalone() {
    let s = Sim::new(&["a100-40gb"]);
    // Standalone before the plugin ever ran.
    standalone(&s).unwrap();
    Node::session(&s.cfg, &s.dir, |n| {
        n.release(&dynamig_node::state::HolderKey::new("default", "c1"))
    })
    .unwrap();
    let p = s.started("b");
    let e = standalone(&s).unwrap_err();
    assert!(matches!(e, NodeError::DraManaged), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("DRA-managed") && text.contains("dynamigctl dra standalone"),
        "{text}"
    );
    assert!(
        s.instances().is_empty(),
        "refused: nothing allocated, nobody evicted"
    );
    // Made standalone: refused while a claim is prepared.
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-1g5gb-0"]);
    p.prepare(&c).unwrap();
    let e = Node::session(&s.cfg, &s.dir, |n| n.set_standalone()).unwrap_err();
    assert!(matches!(e, NodeError::ClaimsPrepared { claims: 1 }), "{e}");
    p.unprepare(&c).unwrap();
    assert!(Node::session(&s.cfg, &s.dir, |n| n.set_standalone()).unwrap());
    assert!(s.state().dra.is_none());
    standalone(&s).unwrap();
}

#[test]
fn claim_records_are_read_back_as_written() {
    let rec = ClaimRecord {
        namespace: "default".into(),
        name: "c".into(),
        uid: "u".into(),
        phase: ClaimPhase::Prepared,
        devices: Vec::new(),
    };
    let text = serde_json::to_string(&rec).unwrap();
    assert!(text.contains(r#""phase":"prepared""#), "{text}");
    assert_eq!(serde_json::from_str::<ClaimRecord>(&text).unwrap(), rec);
}
