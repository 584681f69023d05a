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
        .filter_map(|i| i["holder"]["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn shim_delete_kills_with_runc_and_releases_once() {
    let shim = env!("CARGO_BIN_EXE_containerd-shim-dynamig-v2");
    if !Path::new(shim).with_file_name("dynamigctl").exists() {
        panic!("dynamigctl is not built next to the shim; run `cargo build --workspace` first");
    }
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let bundle = t.path().join("bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    assert!(dynamigctl(&state)
        .args(["sim", "init", "a100-40gb"])
        .status()
        .unwrap()
        .success());
    // The container's process: alive while the shim is gone.
    let mut container = Command::new("sleep").arg("60").spawn().unwrap();
    assert!(dynamigctl(&state)
        .args([
            "allocate",
            "c1",
            "--mig-profile",
            "1g.5gb",
            "--namespace",
            "ns1"
        ])
        .args(["--pid", &container.id().to_string()])
        .status()
        .unwrap()
        .success());
    assert_eq!(holders(&state), vec!["c1".to_string()]);
    // A stand-in runc that records its arguments.
    let runc = t.path().join("runc");
    let calls = t.path().join("calls");
    std::fs::write(
        &runc,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", calls.display()),
    )
    .unwrap();
    std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();

    let delete = || {
        Command::new(shim)
            .args(["-namespace", "ns1", "-id", "c1", "delete"])
            .current_dir(&bundle)
            .env("DYNAMIG_STATE_DIR", &state)
            .env("DYNAMIG_LOG_FILE", t.path().join("runtime.log"))
            .env("DYNAMIG_RUNC", &runc)
            .env("TTRPC_ADDRESS", t.path().join("none.sock"))
            .output()
            .unwrap()
    };
    let out = delete();
    assert!(
        out.status.success(),
        "shim delete failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = DeleteResponse::parse_from_bytes(&out.stdout).unwrap();
    assert_eq!(resp.exit_status, 137);
    assert!(resp.exited_at.is_some());
    let called = std::fs::read_to_string(&calls).unwrap();
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
    assert!(delete().status.success());
    let events = std::fs::read_to_string(state.join("events.jsonl")).unwrap();
    assert_eq!(released(&events), 1, "{events}");
    container.kill().unwrap();
    let _ = container.wait();
}
