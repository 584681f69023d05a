//! `dynamig-hook create-runtime` records the container's process without opening the backend:
//! with `DYNAMIG_BACKEND=nvml` and no `libnvidia-ml.so.1` to load (so that opening the node
//! fails, as the poststop below shows), the process is still recorded, and nothing but the
//! state file changes (no event, no metrics file).

use dynamig_hook::lifecycle::{self, Caller, Prepared};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::state::{HolderKey, NodeState, StateDir};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn hook(state: &Path, stage: &str, pid: u32, no_nvml: &Path) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dynamig-hook"))
        .args([stage, "--namespace", "ns", "--id", "c"])
        .env("DYNAMIG_STATE_DIR", state)
        .env("DYNAMIG_BACKEND", "nvml")
        .env("LD_LIBRARY_PATH", no_nvml)
        .env("DYNAMIG_LOG_FILE", state.with_file_name("hook.log"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let oci = serde_json::json!({"ociVersion": "1.0.2", "id": "c", "pid": pid});
    child
        .stdin
        .take()
        .unwrap()
        .write_all(oci.to_string().as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "state.json")
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn create_runtime_records_without_the_backend() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    std::env::set_var("DYNAMIG_STATE_DIR", &state);
    std::env::set_var("DYNAMIG_BACKEND", "sim");
    std::env::set_var("DYNAMIG_LOG_FILE", t.path().join("runtime.log"));
    let dir = StateDir::open(&state).unwrap();
    SimNode::new(&["a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();
    let b = t.path().join("b");
    std::fs::create_dir_all(&b).unwrap();
    let spec = r#"{"ociVersion":"1.0.2","process":{"env":[]},"annotations":{"dynamig.io/gpu-memory":"5GB"},"linux":{}}"#;
    std::fs::write(b.join("config.json"), spec).unwrap();
    let created = lifecycle::create(&b, "c", "ns", Caller::Shim).unwrap();
    assert!(matches!(created, Prepared::Injected(_)));
    let before = files(&state);
    let no_nvml = t.path().join("no-nvml");
    std::fs::create_dir_all(&no_nvml).unwrap();
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();

    let out = hook(&state, "create-runtime", child.id(), &no_nvml);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = HolderKey::new("ns", "c");
    let after: NodeState = dynamig_node::state::file::read(&dir.state_file())
        .unwrap()
        .unwrap();
    let h = after.holder(&key).unwrap();
    assert_eq!(h.process.map(|p| p.pid), Some(child.id()));
    assert_eq!(h.creator, None);
    assert_eq!(files(&state), before);

    // the full path (poststop's release) cannot open this backend: the holder stays
    let out = hook(&state, "poststop", child.id(), &no_nvml);
    assert!(out.status.success());
    assert!(dynamig_node::node::may_hold(&state, &key));
    let log = std::fs::read_to_string(t.path().join("hook.log")).unwrap_or_default();
    assert!(log.contains("release failed"), "{log}");
    let _ = child.kill();
    let _ = child.wait();
}
