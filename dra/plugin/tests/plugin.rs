//! The real `dynamig-dra` binary, end to end on one simulated A100-40GB: a mock API server (the
//! one `dra/kube`'s tests use) holds the Node and the claims, the test kubelet (`dra/grpc`)
//! registers the plugin and calls it over its unix sockets, exactly as a kubelet would.
//!
//! What a user would see: the node's devices published as ResourceSlices of one pool; a claim
//! the scheduler allocated `gpu-0-mig-2g10gb-2` prepared as exactly that MIG device with a CDI
//! spec on disk; the same answer again; an overlapping claim refused; after a restart the claim
//! still prepared and one deleted meanwhile unprepared; unprepare freeing everything.

#[path = "../../kube/tests/support/mod.rs"]
mod support;

use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::claim::{ClaimError, ClaimRef};
use dynamig_dra_api::DRIVER_NAME;
use dynamig_dra_grpc::test_kubelet::{TestKubelet, KUBELET_CALL_TIMEOUT};
use dynamig_node::backend::sim::SimNode;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{ClaimReply, MockApi};

const NODE: &str = "node-a";

struct World {
    tmp: tempfile::TempDir,
    api: MockApi,
}

impl World {
    async fn new() -> World {
        let tmp = tempfile::tempdir().expect("tmp");
        for d in ["state", "cdi", "registry", "plugin"] {
            std::fs::create_dir_all(tmp.path().join(d)).expect("mkdir");
        }
        std::fs::set_permissions(
            tmp.path().join("state"),
            std::fs::Permissions::from_mode(0o700),
        )
        .expect("chmod");
        SimNode::new(&["a100-40gb"])
            .expect("sim")
            .save(&tmp.path().join("state/sim.json"))
            .expect("save sim");
        std::fs::write(tmp.path().join("boot_id"), "boot-1\n").expect("boot id");
        let api = MockApi::start().await;
        api.add_node(NODE, "node-uid-1");
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: mock\n\
             clusters:\n- name: mock\n  cluster:\n    server: {}\n\
             users:\n- name: mock\n  user: {{}}\n\
             contexts:\n- name: mock\n  context:\n    cluster: mock\n    user: mock\n",
            api.url
        );
        std::fs::write(tmp.path().join("kubeconfig"), kubeconfig).expect("kubeconfig");
        World { tmp, api }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn plugin(&self) -> Plugin {
        let child = Command::new(env!("CARGO_BIN_EXE_dynamig-dra"))
            .args(["--node-name", NODE, "--resync", "1s"])
            .arg("--registry-dir")
            .arg(self.path("registry"))
            .arg("--plugin-dir")
            .arg(self.path("plugin"))
            .arg("--cdi-dir")
            .arg(self.path("cdi"))
            .arg("--boot-id-file")
            .arg(self.path("boot_id"))
            .env("KUBECONFIG", self.path("kubeconfig"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env("DYNAMIG_STATE_DIR", self.path("state"))
            .env("DYNAMIG_BACKEND", "sim")
            .env("DYNAMIG_DRIVER_STACK", "none")
            .env("DYNAMIG_METRICS_FILE", "off")
            .env("DYNAMIG_POLICY", "none")
            .env("DYNAMIG_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dynamig-dra");
        Plugin(Some(child))
    }

    fn claim(&self, name: &str, uid: &str, devices: &[&str]) -> ClaimRef {
        let results: Vec<Value> = devices
            .iter()
            .map(|d| json!({"request": "mig", "driver": DRIVER_NAME, "pool": NODE, "device": d}))
            .collect();
        self.api.add_claim(
            "team-a",
            name,
            ClaimReply::Object(json!({
                "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                "metadata": {"name": name, "namespace": "team-a", "uid": uid},
                "spec": {"devices": {"requests": [{"name": "mig",
                    "exactly": {"deviceClassName": "mig.dynamig.io"}}]}},
                "status": {"allocation": {"devices": {"results": results}},
                           "reservedFor": [{"resource": "pods", "name": "p", "uid": "pod-1"}]},
            })),
        );
        ClaimRef {
            namespace: "team-a".into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    /// Every device name of every published slice, and the pool generations seen.
    fn published(&self) -> (Vec<String>, Vec<i64>) {
        let mut names = Vec::new();
        let mut gens = Vec::new();
        for s in self.api.slices().values() {
            gens.push(s["spec"]["pool"]["generation"].as_i64().unwrap_or(-1));
            for d in s["spec"]["devices"].as_array().into_iter().flatten() {
                names.push(d["name"].as_str().unwrap_or_default().to_string());
            }
        }
        (names, gens)
    }

    fn cdi_specs(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path("cdi"))
            .expect("cdi dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// (start, memory slices) of every GPU instance on the simulated GPU.
    fn instances(&self) -> Vec<(u8, u8)> {
        let sim = SimNode::load(&self.path("state/sim.json"))
            .expect("sim.json")
            .expect("a simulated node");
        let gpu = sim.gpu(GpuIndex::new(0)).expect("gpu 0");
        let model = gpu.model().expect("model");
        let mut v: Vec<(u8, u8)> = gpu
            .instances
            .iter()
            .map(|i| {
                let p = model.profile_by_id(i.profile_id).expect("profile");
                (i.start, p.memory_slices)
            })
            .collect();
        v.sort();
        v
    }
}

/// The running plugin; killed if the test fails before stopping it.
struct Plugin(Option<Child>);

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stop(mut plugin: Plugin) {
    let mut child = plugin.0.take().expect("running");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "dynamig-dra exited {status} on SIGTERM");
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..200 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn socket_exists(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_publishes_prepares_survives_a_restart_and_unprepares() {
    let w = World::new().await;
    let kubelet = TestKubelet::default();

    // Start: registration, and the A100's 26 devices (the whole GPU and 25 placements).
    let child = w.plugin();
    let plugin = kubelet
        .register(&w.path("registry"), Duration::from_secs(60))
        .await
        .expect("register");
    assert_eq!(plugin.info.name, DRIVER_NAME);
    let (names, gens) = w.published();
    assert_eq!(names.len(), 26, "{names:?}");
    assert!(names.contains(&"gpu-0".to_string()));
    assert!(names.contains(&"gpu-0-mig-2g10gb-2".to_string()));
    assert!(
        gens.iter().all(|g| *g == gens[0]),
        "one generation: {gens:?}"
    );

    // Prepare what the scheduler allocated, exactly there.
    let a = w.claim("a", "uid-a", &["gpu-0-mig-2g10gb-2"]);
    let answers = plugin
        .prepare(std::slice::from_ref(&a), KUBELET_CALL_TIMEOUT)
        .await
        .expect("prepare");
    let devices = answers["uid-a"].clone().expect("claim a prepared");
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device, "gpu-0-mig-2g10gb-2");
    assert_eq!(devices[0].pool, NODE);
    assert_eq!(
        devices[0].cdi_device_ids,
        vec!["mig.dynamig.io/claim=uid-a-gpu-0-mig-2g10gb-2".to_string()]
    );
    assert_eq!(w.instances(), vec![(2, 2)]);
    assert_eq!(w.cdi_specs(), vec!["mig.dynamig.io-claim-uid-a.json"]);
    let spec: Value = serde_json::from_slice(
        &std::fs::read(w.path("cdi/mig.dynamig.io-claim-uid-a.json")).expect("spec"),
    )
    .expect("spec json");
    assert_eq!(spec["kind"], "mig.dynamig.io/claim");
    let env = spec["devices"][0]["containerEdits"]["env"].to_string();
    assert!(env.contains("NVIDIA_VISIBLE_DEVICES=MIG-"), "{env}");

    // The kubelet retries: the same answer, nothing more created.
    let again = plugin
        .prepare(std::slice::from_ref(&a), KUBELET_CALL_TIMEOUT)
        .await
        .expect("prepare again");
    assert_eq!(again["uid-a"].clone().expect("again"), devices);
    assert_eq!(w.instances(), vec![(2, 2)]);

    // A claim overlapping it (3g.20gb at 0 covers slices 0-3) is refused, naming the claim.
    let b = w.claim("b", "uid-b", &["gpu-0-mig-3g20gb-0"]);
    let refused = plugin
        .prepare(std::slice::from_ref(&b), KUBELET_CALL_TIMEOUT)
        .await
        .expect("prepare b");
    match &refused["uid-b"] {
        Err(ClaimError::Invalid(why)) => assert!(why.contains("uid-a"), "{why}"),
        other => panic!("overlap not refused: {other:?}"),
    }
    // A claim on free room: 1g.5gb at 6.
    let c = w.claim("c", "uid-c", &["gpu-0-mig-1g5gb-6"]);
    let ok = plugin
        .prepare(std::slice::from_ref(&c), KUBELET_CALL_TIMEOUT)
        .await
        .expect("prepare c");
    assert!(ok["uid-c"].is_ok(), "{:?}", ok["uid-c"]);
    assert_eq!(w.instances(), vec![(2, 2), (6, 1)]);

    // Restart, with claim c deleted from the API server meanwhile: a stop is not a withdrawal,
    // and the start unprepares what the API server no longer has.
    stop(child);
    assert!(
        !socket_exists(&w.path("registry")),
        "registration socket left"
    );
    w.api.add_claim("team-a", "c", ClaimReply::Status(404));
    let child = w.plugin();
    let plugin = kubelet
        .register(&w.path("registry"), Duration::from_secs(60))
        .await
        .expect("register again");
    assert_eq!(w.instances(), vec![(2, 2)]);
    assert_eq!(w.cdi_specs(), vec!["mig.dynamig.io-claim-uid-a.json"]);
    let (_, gens_after) = w.published();
    assert_eq!(gens_after, gens, "unchanged pool republished");
    let still = plugin
        .prepare(std::slice::from_ref(&a), KUBELET_CALL_TIMEOUT)
        .await
        .expect("prepare after restart");
    assert_eq!(still["uid-a"].clone().expect("still prepared"), devices);

    // Unprepare: the instance and the spec are gone; an unknown claim is success too.
    let gone = ClaimRef {
        namespace: "team-a".into(),
        name: "never".into(),
        uid: "uid-never".into(),
    };
    let un = plugin
        .unprepare(&[a.clone(), gone], KUBELET_CALL_TIMEOUT)
        .await
        .expect("unprepare");
    assert!(un.values().all(|r| r.is_ok()), "{un:?}");
    wait_until("the instance destroyed", || w.instances().is_empty()).await;
    assert!(w.cdi_specs().is_empty(), "{:?}", w.cdi_specs());
    stop(child);
}
