//! Prepare and unprepare on a simulated node, with an in-memory API server: what the kubelet
//! gets back, what the GPUs have, what the CDI directory and the node state hold.

mod common;

use common::{claim, read_json, Sim, NODE};
use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::claim::{ClaimError, Preparer};
use dynamig_node::backend::MigMode;
use dynamig_node::state::dra::ClaimPhase;
use dynamig_node::state::{HolderKey, NodeLock};
use std::time::Duration;

fn invalid(r: Result<impl std::fmt::Debug, ClaimError>) -> String {
    match r {
        Err(ClaimError::Invalid(m)) => m,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn retryable(r: Result<impl std::fmt::Debug, ClaimError>) -> String {
    match r {
        Err(ClaimError::Retryable(m)) => m,
        other => panic!("expected Retryable, got {other:?}"),
    }
}

#[test]
fn prepare_creates_the_exact_placement_and_its_cdi_spec() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("boot-1");
    let c = claim("c1", "uid-1");
    s.source.put(&c, &["gpu-0-mig-2g10gb-4"]);
    let got = p.prepare(&c).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].device, "gpu-0-mig-2g10gb-4");
    assert_eq!(got[0].pool, NODE);
    assert_eq!(got[0].requests, ["r0"]);
    assert_eq!(
        got[0].cdi_device_ids,
        ["mig.dynamig.io/claim=uid-1-gpu-0-mig-2g10gb-4"]
    );
    // Exactly that placement, not where the planner would have put it (0).
    assert_eq!(s.instances(), [(0, "2g.10gb".to_string(), 4)]);
    let hw = s.hardware();
    let mig_uuid = hw.gpus[0].instances[0].uuid.clone();
    // The CDI spec: one device, MIG-<uuid> visible, the instance's device nodes.
    assert_eq!(s.specs(), ["uid-1"]);
    let spec = s.spec("uid-1");
    assert_eq!(spec["kind"], "mig.dynamig.io/claim");
    let dev = &spec["devices"][0];
    assert_eq!(dev["name"], "uid-1-gpu-0-mig-2g10gb-4");
    let env: Vec<&str> = dev["containerEdits"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let visible = if mig_uuid.starts_with("MIG-") {
        mig_uuid.clone()
    } else {
        format!("MIG-{mig_uuid}")
    };
    assert!(
        env.contains(&format!("NVIDIA_VISIBLE_DEVICES={visible}").as_str()),
        "{env:?}"
    );
    let paths: Vec<&str> = dev["containerEdits"]["deviceNodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), 6, "{paths:?}");
    assert!(
        paths
            .iter()
            .filter(|p| p.starts_with("/dev/nvidia-caps/"))
            .count()
            == 2
    );
    assert!(paths.contains(&"/dev/nvidia0") && paths.contains(&"/dev/nvidiactl"));
    // No NVIDIA spec on this simulated node: no common edits.
    assert!(spec.get("containerEdits").is_none());
    // The node state: the claim prepared, its device held by dra:default/<uid>-<device>.
    let st = s.state();
    let dra = st.dra.as_ref().expect("DRA-managed");
    assert_eq!(dra.boot_id, "boot-1");
    assert_eq!(dra.claims[0].phase, ClaimPhase::Prepared);
    let h = st
        .holder(&HolderKey::new("dra:default", "uid-1-gpu-0-mig-2g10gb-4"))
        .expect("holder");
    assert!(!h.preemptible);
    assert_eq!(h.instance.as_ref().unwrap().live.uuid, mig_uuid);
}

#[test]
fn prepare_is_idempotent() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let c = claim("c1", "uid-1");
    s.source.put(&c, &["gpu-0-mig-3g20gb-4"]);
    let first = p.prepare(&c).unwrap();
    let spec = s.spec("uid-1");
    let second = p.prepare(&c).unwrap();
    assert_eq!(first, second);
    assert_eq!(s.instances(), [(0, "3g.20gb".to_string(), 4)]);
    assert_eq!(s.spec("uid-1"), spec);
    // A spec someone removed is written again.
    std::fs::remove_file(dynamig_dra_claims::cdi::spec_path(&s.cdi, "uid-1")).unwrap();
    assert_eq!(p.prepare(&c).unwrap(), first);
    assert_eq!(s.spec("uid-1"), spec);
}

#[test]
fn a_device_overlapping_another_claims_is_refused_naming_both() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let a = claim("a", "uid-a");
    let b = claim("b", "uid-b");
    s.source.put(&a, &["gpu-0-mig-2g10gb-4"]);
    s.source.put(&b, &["gpu-0-mig-1g5gb-5"]);
    p.prepare(&a).unwrap();
    let m = invalid(p.prepare(&b));
    assert!(m.contains("uid-a") && m.contains("uid-b"), "{m}");
    assert!(
        m.contains("gpu-0-mig-2g10gb-4") && m.contains("gpu-0-mig-1g5gb-5"),
        "{m}"
    );
    assert_eq!(s.instances(), [(0, "2g.10gb".to_string(), 4)]);
    assert_eq!(s.specs(), ["uid-a"]);
    // A neighbour that does not overlap is fine.
    s.source.put(&b, &["gpu-0-mig-1g5gb-6"]);
    p.prepare(&b).unwrap();
    assert_eq!(s.instances().len(), 2);
}

#[test]
fn foreign_pools_bad_names_and_wrong_uids_are_invalid_and_create_nothing() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let c = claim("c", "uid-c");
    s.source.put_pool(&c, &["gpu-0-mig-2g10gb-4"], "node-b");
    let m = invalid(p.prepare(&c));
    assert!(m.contains("node-b") && m.contains(NODE), "{m}");
    for bad in [
        "gpu-0-mig-2g10gb-1", // 2g.10gb cannot start at 1
        "gpu-0-mig-1g24gb-0", // not an A100 40GB profile
        "gpu-3-mig-1g5gb-0",  // no GPU 3
        "nvidia-gpu-0",
    ] {
        s.source.put(&c, &[bad]);
        let m = invalid(p.prepare(&c));
        assert!(m.contains(bad), "{bad}: {m}");
    }
    // The kubelet's uid is not the API server's: the claim was deleted and recreated.
    s.source.put(&c, &["gpu-0-mig-2g10gb-4"]);
    let m = invalid(p.prepare(&claim("c", "uid-old")));
    assert!(m.contains("uid-old") && m.contains("uid-c"), "{m}");
    // No such claim.
    let m = invalid(p.prepare(&claim("gone", "uid-g")));
    assert!(m.contains("default/gone"), "{m}");
    assert!(s.instances().is_empty());
    assert!(s.specs().is_empty());
    assert!(s.state().dra.unwrap().claims.is_empty());
}

#[test]
fn unprepare_destroys_removes_and_forgets_and_an_unknown_claim_is_success() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    p.unprepare(&claim("never", "uid-never")).unwrap();
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-4g20gb-0"]);
    p.prepare(&c).unwrap();
    assert_eq!(s.instances().len(), 1);
    p.unprepare(&c).unwrap();
    assert!(s.instances().is_empty());
    assert!(s.specs().is_empty());
    let st = s.state();
    assert!(st.dra.unwrap().claims.is_empty());
    assert!(st.holders.is_empty());
    // Twice is harmless.
    p.unprepare(&c).unwrap();
}

#[test]
fn a_claim_with_several_devices_is_all_or_nothing() {
    let s = Sim::new(&["a100-40gb", "a100-40gb"]);
    // GPU 1 has an instance an administrator made at slices 4-7.
    s.edit_hardware(|n| {
        let m = dynamig_core::catalog::model_by_key("a100-40gb").unwrap();
        let id = m.profile("3g.20gb").unwrap().id;
        let gi = n.create_gi(GpuIndex::new(1), id, 4).unwrap();
        n.create_ci(GpuIndex::new(1), gi).unwrap();
    });
    let p = s.started("b");
    let c = claim("multi", "uid-m");
    s.source.put(
        &c,
        &[
            "gpu-0-mig-3g20gb-0",
            "gpu-0-mig-2g10gb-4",
            "gpu-1-mig-3g20gb-4",
        ],
    );
    let m = invalid(p.prepare(&c));
    assert!(
        m.contains("gpu-1-mig-3g20gb-4") && m.contains("did not make"),
        "{m}"
    );
    // GPU 0's two instances were created, then rolled back; the administrator's is untouched.
    assert_eq!(s.instances(), [(1, "3g.20gb".to_string(), 4)]);
    assert!(s.specs().is_empty());
    let st = s.state();
    assert!(st.dra.unwrap().claims.is_empty());
    assert!(st.holders.is_empty(), "{:?}", st.holders);
    // The same claim on free room prepares all three devices at once.
    s.source.put(
        &c,
        &[
            "gpu-0-mig-3g20gb-0",
            "gpu-0-mig-2g10gb-4",
            "gpu-1-mig-3g20gb-0",
        ],
    );
    let got = p.prepare(&c).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(s.instances().len(), 4);
    assert_eq!(s.spec("uid-m")["devices"].as_array().unwrap().len(), 3);
    // Two devices of one claim that overlap each other: refused before anything is made.
    let d = claim("dup", "uid-d");
    s.source
        .put(&d, &["gpu-0-mig-1g5gb-6", "gpu-0-mig-1g10gb-6"]);
    let m = invalid(p.prepare(&d));
    assert!(m.contains("overlap"), "{m}");
    assert_eq!(s.instances().len(), 4);
}

#[test]
fn the_whole_gpu_is_the_full_profile_with_mig_and_the_gpu_itself_without() {
    let s = Sim::new(&["a100-40gb", "a100-40gb"]);
    s.edit_hardware(|n| {
        n.set_mig_mode(
            GpuIndex::new(1),
            MigMode {
                current: false,
                pending: false,
            },
        )
        .unwrap()
    });
    let p = s.started("b");
    let a = claim("whole0", "uid-w0");
    s.source.put(&a, &["gpu-0"]);
    p.prepare(&a).unwrap();
    assert_eq!(s.instances(), [(0, "7g.40gb".to_string(), 0)]);
    // It takes the whole GPU: any MIG device of it overlaps.
    let b = claim("small", "uid-s");
    s.source.put(&b, &["gpu-0-mig-1g5gb-6"]);
    assert!(invalid(p.prepare(&b)).contains("uid-w0"));
    // GPU 1 has MIG off: its whole GPU is the GPU itself, no instance.
    let w1 = claim("whole1", "uid-w1");
    s.source.put(&w1, &["gpu-1"]);
    p.prepare(&w1).unwrap();
    assert_eq!(s.instances().len(), 1);
    let spec = s.spec("uid-w1");
    let edits = &spec["devices"][0]["containerEdits"];
    let uuid = s.gpu_uuid(1);
    assert!(edits["env"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(format!("NVIDIA_VISIBLE_DEVICES={uuid}"))));
    let paths: Vec<&str> = edits["deviceNodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/dev/nvidia1",
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia-uvm-tools"
        ]
    );
    // A MIG device of a MIG-disabled GPU is refused.
    s.source.put(&b, &["gpu-1-mig-1g5gb-6"]);
    assert!(invalid(p.prepare(&b)).contains("MIG disabled"));
    p.unprepare(&w1).unwrap();
    assert!(!s.specs().contains(&"uid-w1".to_string()));
}

#[test]
fn nvidias_common_edits_go_into_the_claim_spec() {
    let s = Sim::new(&["a100-40gb"]);
    let lib = s.tmp.path().join("libcuda.so.580.126.09");
    std::fs::write(&lib, b"").unwrap();
    std::fs::write(
        s.nvidia_cdi.join("nvidia.yaml"),
        format!(
            "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices: [{{name: all}}]\ncontainerEdits:\n  env: [NVIDIA_CTK_LIBCUDA_DIR=/usr/lib]\n  mounts:\n    - hostPath: {}\n      containerPath: /usr/lib/libcuda.so.580.126.09\n      options: [ro, nosuid, nodev, bind]\n",
            lib.display()
        ),
    )
    .unwrap();
    let p = s.started("b");
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-1g5gb-0"]);
    p.prepare(&c).unwrap();
    let spec = s.spec("uid-c");
    assert_eq!(spec["cdiVersion"], "0.6.0");
    let common = &spec["containerEdits"];
    assert_eq!(common["env"][0], "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib");
    assert_eq!(common["mounts"][0]["hostPath"], lib.display().to_string());
    assert_eq!(common["mounts"][0]["options"][0], "ro");
    // A valid CDI spec, as the CDI project's rules (the node's own reader) have it.
    let parsed: dynamig_node::driver_stack::cdi::SpecFile =
        serde_json::from_value(spec.clone()).expect("a CDI spec");
    let path = dynamig_dra_claims::cdi::spec_path(&s.cdi, "uid-c");
    dynamig_node::driver_stack::cdi::validate(path, parsed).expect("valid");
    // A stale NVIDIA spec (another driver version) fails the prepare, creating nothing.
    std::fs::rename(&lib, s.tmp.path().join("libcuda.so.570.1.1")).unwrap();
    let text = std::fs::read_to_string(s.nvidia_cdi.join("nvidia.yaml"))
        .unwrap()
        .replace("580.126.09", "570.1.1");
    std::fs::write(s.nvidia_cdi.join("nvidia.yaml"), text).unwrap();
    let d = claim("d", "uid-d");
    s.source.put(&d, &["gpu-0-mig-1g5gb-1"]);
    match p.prepare(&d) {
        Err(ClaimError::Internal(m)) => assert!(m.contains("570.1.1"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.instances().len(), 1);
}

#[test]
fn a_held_node_lock_is_retryable_and_so_is_serving_before_start() {
    let s = Sim::new(&["a100-40gb"]);
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-1g5gb-0"]);
    let mut o = s.options("b");
    o.lock_wait = Duration::from_millis(200);
    let p = dynamig_dra_claims::ClaimsPreparer::new(&s.cfg, s.dir.clone(), o, s.source.clone());
    assert!(retryable(p.prepare(&c)).contains("reconciling"));
    p.start().unwrap();
    let lock = NodeLock::acquire(&s.dir.lock_file(), Duration::from_secs(5)).unwrap();
    assert!(retryable(p.prepare(&c)).contains("lock"));
    drop(lock);
    p.prepare(&c).unwrap();
}

#[test]
fn an_instance_still_in_use_makes_unprepare_retryable_and_its_room_retryable() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let a = claim("a", "uid-a");
    s.source.put(&a, &["gpu-0-mig-2g10gb-0"]);
    p.prepare(&a).unwrap();
    // A process (this test) still runs on the instance: the driver answers "in use".
    let me = std::process::id();
    s.edit_hardware(|n| n.gpus[0].instances[0].pids = vec![me]);
    let m = retryable(p.unprepare(&a));
    assert!(m.contains("in use"), "{m}");
    assert_eq!(s.instances().len(), 1);
    assert_eq!(
        s.state().dra.unwrap().claims[0].phase,
        ClaimPhase::Unpreparing
    );
    // Its room is leaving: a claim for it is told to retry, not refused.
    let b = claim("b", "uid-b");
    s.source.put(&b, &["gpu-0-mig-1g5gb-1"]);
    assert!(retryable(p.prepare(&b)).contains("being unprepared"));
    // The process ends: the kubelet's retry finishes the unprepare; the room is free.
    s.edit_hardware(|n| n.gpus[0].instances[0].pids.clear());
    p.unprepare(&a).unwrap();
    assert!(s.specs().is_empty());
    p.prepare(&b).unwrap();
    assert_eq!(s.instances(), [(0, "1g.5gb".to_string(), 1)]);
}

#[test]
fn a_spec_file_is_never_seen_half_written() {
    // The spec is written to a dot-file the CDI cache ignores and renamed: after a prepare the
    // directory holds exactly the spec, which parses.
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-1g5gb-0"]);
    p.prepare(&c).unwrap();
    let names: Vec<String> = std::fs::read_dir(&s.cdi)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["mig.dynamig.io-claim-uid-c.json"]);
    read_json(&dynamig_dra_claims::cdi::spec_path(&s.cdi, "uid-c"));
}

#[test]
fn a_placement_a_standalone_holder_has_is_invalid_naming_it() {
    use dynamig_core::request::{Request, Size};
    use dynamig_node::node::{AllocSpec, Node};
    let s = Sim::new(&["a100-40gb"]);
    // Allocated by the shim's path before the node became DRA-managed.
    Node::session(&s.cfg, &s.dir, |n| {
        n.allocate(AllocSpec {
            id: "c1".into(),
            namespace: "k8s.io".into(),
            request: Request::new(Size::Profile {
                name: "3g.20gb".into(),
            }),
            process: None,
            creator: None,
        })
    })
    .unwrap();
    let placed = s.instances();
    let p = s.started("b");
    let c = claim("c", "uid-c");
    let start = placed[0].2;
    s.source.put(&c, &[&format!("gpu-0-mig-1g5gb-{start}")]);
    let m = invalid(p.prepare(&c));
    assert!(m.contains("standalone holder k8s.io/c1"), "{m}");
    assert_eq!(
        s.instances(),
        placed,
        "the standalone holder keeps its instance"
    );
}

#[test]
fn an_api_server_that_does_not_answer_is_retryable() {
    let s = Sim::new(&["a100-40gb"]);
    let p = s.started("b");
    let c = claim("c", "uid-c");
    s.source.put(&c, &["gpu-0-mig-1g5gb-0"]);
    *s.source.down.lock().unwrap() = true;
    assert!(retryable(p.prepare(&c)).contains("does not answer"));
    assert!(s.instances().is_empty());
}

#[test]
fn concurrent_prepares_bind_each_claim_once() {
    let s = Sim::new(&["a100-40gb"]);
    let p = std::sync::Arc::new(s.started("b"));
    let claims: Vec<_> = (0..4u8)
        .map(|i| {
            let c = claim(&format!("c{i}"), &format!("uid-{i}"));
            s.source.put(&c, &[&format!("gpu-0-mig-1g10gb-{}", 2 * i)]);
            c
        })
        .collect();
    // Every claim twice at once, as a kubelet retrying while the first call runs.
    let threads: Vec<_> = claims
        .iter()
        .chain(claims.iter())
        .cloned()
        .map(|c| {
            let p = p.clone();
            std::thread::spawn(move || p.prepare(&c))
        })
        .collect();
    let mut ids = Vec::new();
    for t in threads {
        let got = t.join().unwrap().unwrap();
        ids.push(got[0].cdi_device_ids[0].clone());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4);
    let starts: Vec<u8> = s.instances().iter().map(|i| i.2).collect();
    assert_eq!(starts, [0, 2, 4, 6]);
    assert_eq!(s.state().holders.len(), 4);
    assert_eq!(s.specs().len(), 4);
}

#[test]
fn a_dra_managed_node_keeps_no_warm_instance_even_when_the_settings_ask() {
    let mut s = Sim::new(&["a100-40gb"]);
    s.cfg.warm.max = 4;
    s.cfg.warm.ttl = Duration::from_secs(300);
    let p = s.started("boot-1");
    let c = claim("c1", "uid-1");
    s.source.put(&c, &["gpu-0-mig-2g10gb-4"]);
    p.prepare(&c).unwrap();
    assert_eq!(s.instances(), [(0, "2g.10gb".to_string(), 4)]);
    p.unprepare(&c).unwrap();
    // Destroyed, not kept: the scheduler's counters count that room free again.
    assert!(s.instances().is_empty(), "{:?}", s.instances());
}
