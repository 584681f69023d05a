//! `containerd-shim-dynamig-v2 delete`: what containerd runs after a shim died (a crash, a kill,
//! containerd's clean-up at restart). It must `runc delete --force` the container, release its
//! holder exactly once, and answer containerd's DeleteResponse (exit status 137).

use containerd_shim::protos::protobuf::Message;
use containerd_shim::protos::shim::shim::DeleteResponse;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn dynamigctl(state: &Path) -> Command {
    // dynamigctl is built with the workspace, next to this crate's binary.
    let shim = Path::new(env!("CARGO_BIN_EXE_containerd-shim-dynamig-v2"));
    let mut c = Command::new(shim.with_file_name("dynamigctl"));
    c.env("DYNAMIG_STATE_DIR", state);
    c
}

/// `namespace/id` of every holder with an instance.
fn holders(state: &Path) -> Vec<String> {
    let out = dynamigctl(state)
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["instances"].as_array().unwrap().clone())
        .filter_map(|i| {
            let h = &i["holder"];
            Some(format!(
                "{}/{}",
                h["namespace"].as_str()?,
                h["id"].as_str()?
            ))
        })
        .collect()
}

/// A bundle whose `config.json` carries `annotations`.
fn bundle(dir: &Path, annotations: serde_json::Value) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let spec = serde_json::json!({"ociVersion": "1.0.2", "annotations": annotations});
    std::fs::write(dir.join("config.json"), spec.to_string()).unwrap();
    dir.to_path_buf()
}

/// The record a Create that gave `namespace/id` a slice leaves in its bundle.
fn injected(namespace: &str, id: &str) -> serde_json::Value {
    let record = serde_json::json!({"holder": id, "namespace": namespace, "uuid": "MIG-x"});
    serde_json::json!({"dynamig.io/injected": record.to_string()})
}

/// `containerd-shim-dynamig-v2 -namespace NS -id ID delete` in `bundle`, with a stand-in runc.
fn shim_delete(t: &Path, state: &Path, bundle: &Path, ns: &str, id: &str) -> std::process::Output {
    let runc = t.join("runc");
    if !runc.exists() {
        std::fs::write(
            &runc,
            format!("#!/bin/sh\necho \"$@\" >> {}\n", t.join("calls").display()),
        )
        .unwrap();
        std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_containerd-shim-dynamig-v2"))
        .args(["-namespace", ns, "-id", id, "delete"])
        .current_dir(bundle)
        .env("DYNAMIG_STATE_DIR", state)
        .env("DYNAMIG_LOG_FILE", t.join("runtime.log"))
        .env("DYNAMIG_RUNC", &runc)
        .env("TTRPC_ADDRESS", t.join("none.sock"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shim delete failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn sim_node(state: &Path) {
    let shim = env!("CARGO_BIN_EXE_containerd-shim-dynamig-v2");
    if !Path::new(shim).with_file_name("dynamigctl").exists() {
        panic!("dynamigctl is not built next to the shim; run `cargo build --workspace` first");
    }
    let out = dynamigctl(state)
        .args(["sim", "init", "a100-40gb"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn allocate(state: &Path, ns: &str, id: &str, profile: &str, pid: u32) {
    let out = dynamigctl(state)
        .args(["allocate", id, "--mig-profile", profile, "--namespace", ns])
        .args(["--pid", &pid.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shim_delete_kills_with_runc_and_releases_once() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    sim_node(&state);
    // The container's process: alive while the shim is gone.
    let mut container = Command::new("sleep").arg("60").spawn().unwrap();
    allocate(&state, "ns1", "c1", "1g.5gb", container.id());
    assert_eq!(holders(&state), vec!["ns1/c1".to_string()]);
    // The bundle as the shim's Create left it: its spec records that ns1/c1 was given a slice.
    let b = bundle(&t.path().join("bundle"), injected("ns1", "c1"));

    let out = shim_delete(t.path(), &state, &b, "ns1", "c1");
    let resp = DeleteResponse::parse_from_bytes(&out.stdout).unwrap();
    assert_eq!(resp.exit_status, 137);
    assert!(resp.exited_at.is_some());
    let called = std::fs::read_to_string(t.path().join("calls")).unwrap();
    assert!(
        called.contains("--root /run/containerd/runc/ns1")
            && called.trim_end().ends_with("delete --force c1"),
        "runc was called with: {called}"
    );
    assert!(holders(&state).is_empty(), "c1 still holds its instance");
    let events = std::fs::read_to_string(state.join("events.jsonl")).unwrap();
    let released = |e: &str| {
        e.lines()
            .filter(|l| l.contains("\"released\"") && l.contains("\"c1\""))
            .count()
    };
    assert_eq!(released(&events), 1, "{events}");

    // A second clean-up (containerd may run it again after a restart) releases nothing more.
    shim_delete(t.path(), &state, &b, "ns1", "c1");
    let events = std::fs::read_to_string(state.join("events.jsonl")).unwrap();
    assert_eq!(released(&events), 1, "{events}");
    container.kill().unwrap();
    let _ = container.wait();
}

/// The bug of issue #13: `tenant/c1`, which asked for nothing (or whose create was refused),
/// is cleaned up by `shim delete`; `default/c1`, a running container that holds a slice, must
/// keep it.
#[test]
fn shim_delete_of_a_container_never_given_a_slice_releases_nothing() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    sim_node(&state);
    let mut container = Command::new("sleep").arg("60").spawn().unwrap();
    allocate(&state, "default", "c1", "3g.20gb", container.id());
    let held = || holders(&state);
    assert_eq!(held(), vec!["default/c1".to_string()]);

    // asked for nothing: a plain spec
    let plain = bundle(
        &t.path().join("plain"),
        serde_json::json!({"io.example": "x"}),
    );
    shim_delete(t.path(), &state, &plain, "tenant", "c1");
    assert_eq!(
        held(),
        vec!["default/c1".to_string()],
        "after tenant/c1 (no request)"
    );
    // refused: the request is in the spec, but no record that it was given anything
    let refused = bundle(
        &t.path().join("refused"),
        serde_json::json!({"dynamig.io/gpu-memory": "10XB"}),
    );
    shim_delete(t.path(), &state, &refused, "tenant", "c1");
    assert_eq!(
        held(),
        vec!["default/c1".to_string()],
        "after a refused tenant/c1"
    );
    // no bundle spec at all (containerd removed it, or never wrote one)
    let empty = t.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    shim_delete(t.path(), &state, &empty, "tenant", "c1");
    // a record naming another namespace's holder is not this container's
    let other = bundle(&t.path().join("other"), injected("default", "c1"));
    shim_delete(t.path(), &state, &other, "tenant", "c1");
    assert_eq!(
        held(),
        vec!["default/c1".to_string()],
        "after tenant/c1 (default's record)"
    );
    let events = std::fs::read_to_string(state.join("events.jsonl")).unwrap();
    assert!(!events.contains("\"released\""), "{events}");

    // and default/c1's own clean-up does release it
    let own = bundle(&t.path().join("own"), injected("default", "c1"));
    shim_delete(t.path(), &state, &own, "default", "c1");
    assert!(held().is_empty());
    container.kill().unwrap();
    let _ = container.wait();
}
