use super::*;
use dynamig_core::ids::{CiId, GiId, GpuIndex};
use dynamig_node::backend::DeviceNode;
use dynamig_node::node::Placement;

const SPEC: &str = r#"{"ociVersion":"1.0.2-dev","process":{"user":{"uid":0,"gid":0},"args":["sh"],"env":["PATH=/bin","NVIDIA_VISIBLE_DEVICES=all"],"cwd":"/"},"root":{"path":"rootfs"},"hooks":{"createRuntime":[{"path":"/usr/bin/other"}]},"annotations":{"dynamig.io/gpu-memory":"10GB","io.example/x":"y"},"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]},"devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}],"namespaces":[{"type":"pid"}],"x-unknown-field":{"kept":true}}}"#;

fn alloc() -> Allocation {
    Allocation {
        id: "c1".into(),
        namespace: "ns1".into(),
        gpu: GpuIndex(0),
        gpu_uuid: "GPU-0".into(),
        profile: "2g.10gb".into(),
        placement: Placement { start: 4, size: 2 },
        gi: GiId(5),
        ci: CiId(0),
        uuid: "MIG-abc".into(),
        evict: vec![],
        evict_holders: vec![],
        device_nodes: vec![
            DeviceNode {
                path: "/dev/nvidia-caps/nvidia-cap48".into(),
                major: 509,
                minor: 48,
            },
            DeviceNode {
                path: "/dev/nvidia0".into(),
                major: 195,
                minor: 0,
            },
        ],
        phases: Default::default(),
    }
}

fn hooks() -> HookConfig {
    HookConfig {
        hook_bin: "/opt/dynamig/bin/dynamig-hook".into(),
        env: vec!["DYNAMIG_STATE_DIR=/run/dynamig".into()],
        poststop: false,
    }
}

#[test]
fn reads_requests_from_annotations_and_env() {
    let v: Value = serde_json::from_str(SPEC).unwrap();
    let r = read_request(&v).unwrap().unwrap();
    assert_eq!(
        r.size.to_string(),
        dynamig_core::request::Size::Memory {
            bytes: 10_000_000_000,
            text: "10GB".into()
        }
        .to_string()
    );
    let env_only: Value = serde_json::from_str(
        r#"{"process":{"env":["DYNAMIG_MIG_PROFILE=2g.10gb"]},"annotations":{}}"#,
    )
    .unwrap();
    assert!(read_request(&env_only).unwrap().is_some());
    let none: Value = serde_json::from_str(r#"{"process":{"env":["A=b"]}}"#).unwrap();
    assert!(read_request(&none).unwrap().is_none());
}

#[test]
fn bad_annotation_is_one_line_naming_key_and_value() {
    let v: Value =
        serde_json::from_str(r#"{"annotations":{"dynamig.io/gpu-memory":"10XB"}}"#).unwrap();
    let e = read_request(&v).unwrap_err().to_string();
    assert!(!e.contains('\n'), "{e}");
    assert!(e.contains("dynamig.io/gpu-memory"), "{e}");
    assert!(e.contains("10XB"), "{e}");
    assert!(e.contains("accepted"), "{e}");
}

#[test]
fn inject_adds_devices_rules_env_hooks_annotation() {
    let mut v: Value = serde_json::from_str(SPEC).unwrap();
    inject(&mut v, &alloc(), Some(&hooks())).unwrap();
    let env = env(&v);
    assert!(env.contains(&"NVIDIA_VISIBLE_DEVICES=MIG-abc".to_string()));
    assert!(!env.contains(&"NVIDIA_VISIBLE_DEVICES=all".to_string()));
    assert!(env.contains(&"CUDA_VISIBLE_DEVICES=MIG-abc".to_string()));
    assert!(env.contains(&"DYNAMIG_HOLDER=c1".to_string()));
    assert!(env.contains(&"PATH=/bin".to_string()));
    let devs = v.pointer("/linux/devices").unwrap().as_array().unwrap();
    assert_eq!(devs.len(), 3, "fuse kept, two added");
    let cap = &devs[1];
    assert_eq!(cap["path"], "/dev/nvidia-caps/nvidia-cap48");
    assert_eq!(cap["type"], "c");
    assert_eq!(cap["major"], 509);
    assert_eq!(cap["minor"], 48);
    assert_eq!(cap["fileMode"], 0o666);
    assert_eq!(cap["uid"], 0);
    let rules = v
        .pointer("/linux/resources/devices")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(rules.len(), 3, "deny-all kept first, then allows");
    assert_eq!(rules[0]["allow"], false);
    assert_eq!(
        rules[1],
        json!({"allow":true,"type":"c","major":509,"minor":48,"access":"rwm"})
    );
    let cr = v
        .pointer("/hooks/createRuntime")
        .unwrap()
        .as_array()
        .unwrap();
    assert_eq!(cr.len(), 2, "existing hook kept");
    assert_eq!(cr[1]["path"], "/opt/dynamig/bin/dynamig-hook");
    assert_eq!(
        cr[1]["args"],
        json!([
            "dynamig-hook",
            "create-runtime",
            "--namespace",
            "ns1",
            "--id",
            "c1"
        ])
    );
    assert_eq!(cr[1]["env"], json!(["DYNAMIG_STATE_DIR=/run/dynamig"]));
    // `runc create`: released by `dynamig-runc delete`, no poststop hook
    assert!(v.pointer("/hooks/poststop").is_none());
    // `runc run` (no delete call follows): a poststop hook releases
    let mut run: Value = serde_json::from_str(SPEC).unwrap();
    let run_hooks = HookConfig {
        poststop: true,
        ..hooks()
    };
    inject(&mut run, &alloc(), Some(&run_hooks)).unwrap();
    let ps = run.pointer("/hooks/poststop").unwrap().as_array().unwrap();
    assert_eq!(ps.len(), 1);
    assert_eq!(
        ps[0]["args"],
        json!([
            "dynamig-hook",
            "poststop",
            "--namespace",
            "ns1",
            "--id",
            "c1"
        ])
    );
    let ann = v
        .pointer("/annotations/dynamig.io~1injected")
        .unwrap()
        .as_str()
        .unwrap();
    let ann: Value = serde_json::from_str(ann).unwrap();
    assert_eq!(ann["uuid"], "MIG-abc");
    // who was given it: the durable record an entry point releases by
    assert_eq!(
        (&ann["namespace"], &ann["holder"]),
        (&json!("ns1"), &json!("c1"))
    );
    assert_eq!(ann["profile"], "2g.10gb");
    assert_eq!(ann["placement"], json!({"start":4,"size":2}));
    assert_eq!(ann["devices"][0], "/dev/nvidia-caps/nvidia-cap48");
    // unknown fields survive
    assert_eq!(v.pointer("/linux/x-unknown-field/kept"), Some(&json!(true)));
    // the edited spec still reads as the same request (the injected annotation is not a key)
    assert!(read_request(&v).unwrap().is_some());
}

#[test]
fn inject_creates_missing_sections() {
    let mut v = json!({"ociVersion":"1.0.2"});
    inject(&mut v, &alloc(), Some(&hooks())).unwrap();
    assert!(v.pointer("/linux/resources/devices/0").is_some());
    assert!(v.pointer("/process/env/0").is_some());
    let mut bad = json!({"linux": []});
    assert!(matches!(
        inject(&mut bad, &alloc(), Some(&hooks())),
        Err(SpecError::Shape(_))
    ));
}

#[test]
fn config_roundtrip_is_atomic_and_keeps_mode() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("config.json");
    std::fs::write(&p, SPEC).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = Config::load(t.path()).unwrap();
    assert_eq!(c.bytes, SPEC.as_bytes());
    inject(&mut c.spec, &alloc(), Some(&hooks())).unwrap();
    c.save().unwrap();
    let again = Config::load(t.path()).unwrap();
    assert_eq!(again.spec, c.spec);
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read_dir(t.path()).unwrap().count(),
        1,
        "no temp file left"
    );
}

#[test]
fn pod_sandbox_makes_no_request_but_its_app_containers_do() {
    // What containerd CRI writes with pod_annotations = ["dynamig.io/*"]: the pod annotation on
    // the sandbox and on each app container, told apart by the container-type annotation.
    let spec = |kind: &str| -> Value {
        serde_json::from_str(&format!(
            r#"{{"annotations":{{"dynamig.io/gpu-memory":"10GB","io.kubernetes.cri.container-type":"{kind}"}}}}"#
        ))
        .unwrap()
    };
    assert!(read_request(&spec("sandbox")).unwrap().is_none());
    assert!(read_request(&spec("container")).unwrap().is_some());
    // a malformed pod annotation fails the app container, not the sandbox
    let bad_sandbox: Value = serde_json::from_str(
        r#"{"annotations":{"dynamig.io/gpu-memory":"10XB","io.kubernetes.cri-o.ContainerType":"sandbox"}}"#,
    )
    .unwrap();
    assert!(read_request(&bad_sandbox).unwrap().is_none());
}

#[test]
fn specs_that_cannot_ask_are_not_parsed() {
    // what containerd writes for a container without a request
    let plain = br#"{"ociVersion":"1.0.2-dev","process":{"env":["PATH=/bin","NVIDIA_VISIBLE_DEVICES=all"]},"annotations":{"io.example/x":"y"}}"#;
    assert!(!may_request(plain));
    assert!(may_request(SPEC.as_bytes()), "annotation");
    assert!(may_request(
        br#"{"process":{"env":["DYNAMIG_GPU_MEMORY=10GB"]}}"#
    ));
    // an escaped key could spell dynamig.io/...: parse it
    assert!(may_request(
        br#"{"annotations":{"\u0064ynamig.io/gpu-memory":"10GB"}}"#
    ));
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("config.json"), plain).unwrap();
    assert!(Config::load_if_request(t.path()).unwrap().is_none());
    std::fs::write(t.path().join("config.json"), SPEC).unwrap();
    let c = Config::load_if_request(t.path()).unwrap().unwrap();
    assert!(c.request().unwrap().is_some());
}

#[test]
fn driver_stack_then_inject_dynamigs_selection_wins_and_nothing_is_doubled() {
    use dynamig_node::driver_stack::cdi::{ContainerEdits, DeviceNode as CdiNode, NvidiaSpec};
    let mut v: Value = serde_json::from_str(SPEC).unwrap();
    let edits = ContainerEdits {
        env: vec![
            "NVIDIA_VISIBLE_DEVICES=void".into(),
            "CUDA_VISIBLE_DEVICES=0".into(),
            "NVIDIA_DRIVER_CAPABILITIES=compute,utility".into(),
        ],
        device_nodes: vec![CdiNode {
            path: "/dev/nvidia0".into(),
            kind: Some("c".into()),
            major: Some(195),
            minor: Some(0),
            ..Default::default()
        }],
        ..Default::default()
    };
    let stack = dynamig_node::driver_stack::Stack::Cdi(Box::new(NvidiaSpec {
        path: "/var/run/cdi/nvidia.yaml".into(),
        cdi_version: "0.5.0".into(),
        edits,
    }));
    driver::apply(&mut v, &stack).unwrap();
    inject(&mut v, &alloc(), None).unwrap();
    let env = env(&v);
    let count = |k: &str| env.iter().filter(|e| e.starts_with(k)).count();
    assert!(env.contains(&"NVIDIA_VISIBLE_DEVICES=MIG-abc".to_string()));
    assert!(env.contains(&"CUDA_VISIBLE_DEVICES=MIG-abc".to_string()));
    assert!(env.contains(&"NVIDIA_DRIVER_CAPABILITIES=compute,utility".to_string()));
    assert_eq!(count("NVIDIA_VISIBLE_DEVICES="), 1);
    assert_eq!(count("CUDA_VISIBLE_DEVICES="), 1);
    let nvidia0 = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .filter(|d| d["major"] == 195 && d["minor"] == 0)
            .count()
    };
    assert_eq!(nvidia0(&v["linux"]["devices"]), 1);
    assert_eq!(nvidia0(&v["linux"]["resources"]["devices"]), 1);
    assert_eq!(v["linux"]["x-unknown-field"]["kept"], true);
}
