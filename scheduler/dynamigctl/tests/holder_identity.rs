//! A holder is (namespace, container id), never the id alone (issue #13): two namespaces may
//! each run a container `c1`, and nothing done to one touches the other's slice.

mod common;
use common::*;
use dynamig_core::ids::GpuIndex;
use dynamig_core::request::{Request, Size};
use dynamig_node::backend::sim::{SimBackend, SimNode};
use dynamig_node::config::NodeConfig;
use dynamig_node::node::{AllocSpec, Node, NodeError};
use dynamig_node::state::{HolderKey, NodeLock, StateDir};
use std::time::Duration;

fn open(dir: &StateDir) -> Node {
    let lock = NodeLock::acquire(&dir.lock_file(), Duration::from_secs(5)).unwrap();
    let b = SimBackend::open(&dir.sim_file()).unwrap().unwrap();
    Node::with_backend(&NodeConfig::at(dir.path()), dir, lock, Box::new(b)).unwrap()
}

fn spec(ns: &str, id: &str, profile: &str) -> AllocSpec {
    AllocSpec {
        id: id.into(),
        namespace: ns.into(),
        request: Request::new(Size::Profile {
            name: profile.into(),
        }),
        process: None,
        creator: None,
    }
}

/// Two simulated A100-40GB: room for four 3g.20gb.
fn two_a100(t: &tempfile::TempDir) -> StateDir {
    let dir = StateDir::open(&t.path().join("s")).unwrap();
    SimNode::new(&["a100-40gb", "a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();
    dir
}

fn uuid_of(node: &Node, key: &HolderKey) -> Option<String> {
    node.state
        .holder(key)
        .and_then(|h| h.instance.as_ref())
        .map(|i| i.live.uuid.clone())
}

#[test]
fn the_same_id_in_two_namespaces_is_two_holders() {
    let t = tempfile::tempdir().unwrap();
    let dir = two_a100(&t);
    let mut node = open(&dir);
    let a = node.allocate(spec("default", "c1", "3g.20gb")).unwrap();
    let b = node.allocate(spec("tenant", "c1", "3g.20gb")).unwrap();
    assert_ne!(a.uuid, b.uuid);
    assert_eq!(
        (a.namespace.as_str(), b.namespace.as_str()),
        ("default", "tenant")
    );
    let (default_c1, tenant_c1) = (
        HolderKey::new("default", "c1"),
        HolderKey::new("tenant", "c1"),
    );

    // "already holds" is per namespace
    let e = node.allocate(spec("default", "c1", "1g.5gb")).unwrap_err();
    assert!(
        matches!(&e, NodeError::AlreadyHeld(k) if *k == default_c1),
        "{e}"
    );
    assert!(e.to_string().contains("default/c1 already holds"), "{e}");

    // releasing one leaves the other's instance, on the hardware and in the state
    assert!(node.release(&tenant_c1).unwrap());
    assert!(!node.release(&tenant_c1).unwrap(), "released once");
    node.close();
    let node = open(&dir);
    assert_eq!(uuid_of(&node, &default_c1), Some(a.uuid.clone()));
    assert!(node.state.holder(&tenant_c1).is_none());
    let on_hw: Vec<String> = (0..2)
        .flat_map(|g| {
            node.hw_instances(GpuIndex(g))
                .iter()
                .map(|i| i.uuid.clone())
        })
        .collect();
    assert_eq!(on_hw, vec![a.uuid.clone()]);

    // the events say whose
    node.close();
    let evs = dynamig_node::events::read(&dir.events_file(), 0);
    let released: Vec<_> = evs.iter().filter(|e| e.kind == "released").collect();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].holder_name().as_deref(), Some("tenant/c1"));
    assert_eq!(released[0].uuid.as_deref(), Some(b.uuid.as_str()));
}

#[test]
fn a_refused_create_in_another_namespace_releases_nothing_and_four_fit_not_five() {
    let t = tempfile::tempdir().unwrap();
    let dir = two_a100(&t);
    let mut node = open(&dir);
    let c1 = node.allocate(spec("default", "c1", "3g.20gb")).unwrap();
    // tenant/c1 asks for more than any GPU has: refused, and default/c1 keeps its instance
    let e = node.allocate(spec("tenant", "c1", "7g.80gb")).unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert_eq!(
        uuid_of(&node, &HolderKey::new("default", "c1")),
        Some(c1.uuid.clone())
    );
    // three more 3g.20gb fit; a fifth does not
    for id in ["c2", "c3", "c4"] {
        node.allocate(spec("default", id, "3g.20gb")).unwrap();
    }
    let e = node.allocate(spec("tenant", "c5", "3g.20gb")).unwrap_err();
    assert!(matches!(e, NodeError::Refused(_)), "{e}");
    assert_eq!(node.state.holders.len(), 4);
    // a refused create under an id that another namespace holds: still four, c1's the same
    let e = node.allocate(spec("tenant", "c1", "3g.20gb")).unwrap_err();
    assert!(matches!(e, NodeError::Refused(_)), "{e}");
    assert_eq!(
        uuid_of(&node, &HolderKey::new("default", "c1")),
        Some(c1.uuid)
    );
    assert_eq!(node.state.holders.len(), 4);
}

#[test]
fn dynamigctl_release_takes_a_namespace() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&[
        "allocate",
        "c1",
        "--mig-profile",
        "3g.20gb",
        "--namespace",
        "default",
    ]);
    c.ok(&["allocate", "c1", "--mig-profile", "3g.20gb"]);
    let holders = || {
        let mut v: Vec<String> = c.status()["gpus"][0]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                format!(
                    "{}/{}",
                    i["holder"]["namespace"].as_str().unwrap(),
                    i["holder"]["id"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(holders(), ["default/c1", "dynamigctl/c1"]);
    // no --namespace: the one `allocate` gives by default
    assert_eq!(c.ok(&["release", "c1"]).trim(), "released dynamigctl/c1");
    assert_eq!(holders(), ["default/c1"]);
    let out = c.ok(&["release", "c1"]);
    assert!(
        out.contains("dynamigctl/c1 holds nothing") && out.contains("--namespace"),
        "{out}"
    );
    assert_eq!(holders(), ["default/c1"]);
    assert_eq!(
        c.ok(&["release", "c1", "--namespace", "default"]).trim(),
        "released default/c1"
    );
    assert!(holders().is_empty());
}

#[test]
fn plan_and_allocate_name_their_victims_with_namespaces() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&[
        "allocate",
        "low",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "training",
        "--namespace",
        "batch",
    ]);
    let plan = c.json(&[
        "plan",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "interactive",
        "--json",
    ]);
    assert_eq!(plan["evict"], serde_json::json!(["low"]));
    assert_eq!(
        plan["evict_holders"],
        serde_json::json!([{"namespace": "batch", "id": "low"}])
    );
    let text = c.ok(&[
        "plan",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "interactive",
    ]);
    assert!(text.contains("evicts batch/low"), "{text}");
    let a = c.json(&[
        "allocate",
        "high",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "interactive",
        "--json",
    ]);
    assert_eq!(a["namespace"], "dynamigctl");
    assert_eq!(a["evict"], serde_json::json!(["low"]));
    assert_eq!(
        a["evict_holders"],
        serde_json::json!([{"namespace": "batch", "id": "low"}])
    );
    let ended = &c.status()["ended"][0];
    assert_eq!(
        (&ended["holder"]["namespace"], &ended["id"], &ended["state"]),
        (
            &serde_json::json!("batch"),
            &serde_json::json!("low"),
            &serde_json::json!("preempted")
        )
    );
    let evs = c.json(&["events", "--json"]);
    let pre = evs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "preempted")
        .unwrap();
    assert_eq!(
        (&pre["namespace"], &pre["holder"]),
        (&"batch".into(), &"low".into())
    );
    assert!(pre["message"].as_str().unwrap().contains("dynamigctl/high"));
}

/// A state file that a dynamig of the previous release wrote (version 1: holders known by id)
/// is read, with its holders in their namespaces, and written back as version 2.
#[test]
fn a_version_1_state_file_is_migrated() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&[
        "allocate",
        "c1",
        "--mig-profile",
        "3g.20gb",
        "--namespace",
        "default",
    ]);
    // rewrite it as version 1 wrote it: intents without a namespace, header v1
    let text = std::fs::read_to_string(c.state_file()).unwrap();
    let body = text.split_once('\n').unwrap().1;
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let body = serde_json::to_vec(&v).unwrap();
    let mut v1 = format!(
        "dynamig-state v1 crc32={:08x} len={}\n",
        crc32fast::hash(&body),
        body.len()
    )
    .into_bytes();
    v1.extend_from_slice(&body);
    std::fs::write(c.state_file(), v1).unwrap();
    let st = c.status();
    assert_eq!(
        st["gpus"][0]["instances"][0]["holder"]["namespace"],
        "default"
    );
    assert_eq!(st["gpus"][0]["instances"][0]["holder"]["id"], "c1");
    // the next write is version 2, and another namespace's c1 is another holder
    c.ok(&[
        "allocate",
        "c1",
        "--mig-profile",
        "3g.20gb",
        "--namespace",
        "tenant",
    ]);
    assert!(std::fs::read_to_string(c.state_file())
        .unwrap()
        .starts_with("dynamig-state v2 "));
    assert_eq!(
        c.status()["gpus"][0]["instances"].as_array().unwrap().len(),
        2
    );
}
