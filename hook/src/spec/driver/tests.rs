use super::*;
use dynamig_node::driver_stack::cdi::NvidiaSpec;
use std::path::PathBuf;

const SPEC: &str = r#"{"ociVersion":"1.0.2-dev","process":{"user":{"uid":1000,"gid":1000},"args":["sh"],"env":["PATH=/bin","NVIDIA_VISIBLE_DEVICES=all","KEEP=1"],"cwd":"/"},"root":{"path":"rootfs"},"mounts":[{"destination":"/proc","type":"proc","source":"proc"},{"destination":"/dev","type":"tmpfs","source":"tmpfs"},{"destination":"/dev/pts","type":"devpts","source":"devpts"},{"destination":"/usr/bin/nvidia-smi","type":"bind","source":"/old/nvidia-smi","options":["bind"]},{"destination":"/sys","type":"sysfs","source":"sysfs"}],"hooks":{"createContainer":[{"path":"/usr/bin/engine-hook"}]},"annotations":{"dynamig.io/gpu-memory":"10GB"},"linux":{"resources":{"devices":[{"allow":false,"access":"rwm"}]},"devices":[{"path":"/dev/nvidiactl","type":"c","major":195,"minor":255}],"namespaces":[{"type":"pid"}],"x-unknown-field":{"kept":true}},"x-top":[1,2]}"#;

fn spec() -> Value {
    serde_json::from_str(SPEC).unwrap()
}

fn hook(stage: &str, args: &[&str]) -> Hook {
    Hook {
        hook_name: stage.into(),
        path: "/usr/bin/nvidia-cdi-hook".into(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["NVIDIA_CTK_DEBUG=false".into()],
        timeout: None,
    }
}

fn mount(host: &str, ctr: &str) -> Mount {
    Mount {
        host_path: host.into(),
        container_path: ctr.into(),
        options: vec!["ro".into(), "nosuid".into(), "nodev".into(), "rbind".into()],
        kind: None,
    }
}

fn edits() -> ContainerEdits {
    ContainerEdits {
        env: vec![
            "NVIDIA_VISIBLE_DEVICES=void".into(),
            "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu".into(),
        ],
        device_nodes: vec![
            DeviceNode {
                path: "/dev/nvidiactl".into(),
                kind: Some("c".into()),
                major: Some(195),
                minor: Some(255),
                file_mode: Some(0o666),
                ..Default::default()
            },
            DeviceNode {
                path: "/dev/nvidia-uvm".into(),
                kind: Some("c".into()),
                major: Some(510),
                minor: Some(0),
                permissions: Some("rw".into()),
                ..Default::default()
            },
        ],
        hooks: vec![
            hook(
                "createContainer",
                &["nvidia-cdi-hook", "create-symlinks", "--link", "a::b"],
            ),
            hook("createContainer", &["nvidia-cdi-hook", "update-ldcache"]),
            hook("createRuntime", &["nvidia-cdi-hook", "x"]),
        ],
        mounts: vec![
            mount(
                "/host/lib/libcuda.so.580.126.09",
                "/usr/lib/x86_64-linux-gnu/libcuda.so.580.126.09",
            ),
            mount("/host/bin/nvidia-smi", "/usr/bin/nvidia-smi"),
            mount(
                "/run/nvidia-persistenced/socket",
                "/run/nvidia-persistenced/socket",
            ),
        ],
        additional_gids: vec![0, 44, 44],
        ..Default::default()
    }
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn env_entries_replace_in_place_or_append() {
    let mut s = spec();
    apply_edits(&mut s, &edits()).unwrap();
    assert_eq!(
        strs(&s["process"]["env"]),
        vec![
            "PATH=/bin",
            "NVIDIA_VISIBLE_DEVICES=void",
            "KEEP=1",
            "NVIDIA_CTK_LIBCUDA_DIR=/usr/lib/x86_64-linux-gnu"
        ]
    );
}

#[test]
fn device_nodes_and_rules_are_never_duplicated() {
    let mut s = spec();
    apply_edits(&mut s, &edits()).unwrap();
    apply_edits(&mut s, &edits()).unwrap();
    let devs = s["linux"]["devices"].as_array().unwrap();
    let paths: Vec<&str> = devs.iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["/dev/nvidiactl", "/dev/nvidia-uvm"]);
    // Owned by the container's user, as CDI does for nodes without uid/gid.
    assert_eq!(devs[0]["uid"], 1000);
    assert_eq!(devs[0]["fileMode"], 0o666);
    let rules = s["linux"]["resources"]["devices"].as_array().unwrap();
    assert_eq!(rules.len(), 3, "{rules:?}");
    assert_eq!(rules[2]["access"], "rw");
    assert_eq!(rules[2]["major"], 510);
}

#[test]
fn mounts_replace_by_destination_and_are_ordered_parents_first() {
    let mut s = spec();
    apply_edits(&mut s, &edits()).unwrap();
    let mounts = s["mounts"].as_array().unwrap();
    let dests: Vec<&str> = mounts
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        dests,
        vec![
            "/proc",
            "/dev",
            "/sys",
            "/dev/pts",
            "/usr/bin/nvidia-smi",
            "/run/nvidia-persistenced/socket",
            "/usr/lib/x86_64-linux-gnu/libcuda.so.580.126.09",
        ]
    );
    let smi = mounts
        .iter()
        .find(|m| m["destination"] == "/usr/bin/nvidia-smi")
        .unwrap();
    assert_eq!(smi["source"], "/host/bin/nvidia-smi");
    assert_eq!(
        strs(&smi["options"]),
        vec!["ro", "nosuid", "nodev", "rbind"]
    );
    // The engine's own mount at that destination is gone, not doubled.
    assert_eq!(
        mounts
            .iter()
            .filter(|m| m["destination"] == "/usr/bin/nvidia-smi")
            .count(),
        1
    );
}

#[test]
fn hooks_are_appended_in_the_specs_order_after_the_engines() {
    let mut s = spec();
    apply_edits(&mut s, &edits()).unwrap();
    let cc = s["hooks"]["createContainer"].as_array().unwrap();
    assert_eq!(cc.len(), 3);
    assert_eq!(cc[0]["path"], "/usr/bin/engine-hook");
    assert_eq!(cc[1]["args"][1], "create-symlinks");
    assert_eq!(cc[2]["args"][1], "update-ldcache");
    assert_eq!(strs(&cc[1]["env"]), vec!["NVIDIA_CTK_DEBUG=false"]);
    assert!(cc[1].get("timeout").is_none());
    assert_eq!(s["hooks"]["createRuntime"][0]["args"][1], "x");
}

#[test]
fn a_spec_applied_twice_runs_each_hook_once() {
    // An engine that applied the same CDI spec itself (podman --device nvidia.com/gpu=all).
    let mut once = spec();
    apply_edits(&mut once, &edits()).unwrap();
    let mut twice = once.clone();
    apply_edits(&mut twice, &edits()).unwrap();
    assert_eq!(twice, once);
}

#[test]
fn unknown_fields_survive() {
    let mut s = spec();
    apply_edits(&mut s, &edits()).unwrap();
    assert_eq!(s["linux"]["x-unknown-field"]["kept"], true);
    assert_eq!(s["x-top"], serde_json::json!([1, 2]));
    assert_eq!(s["root"]["path"], "rootfs");
    assert_eq!(s["linux"]["namespaces"][0]["type"], "pid");
}

#[test]
fn additional_gids_are_added_once_and_zero_is_ignored() {
    let mut s = spec();
    apply_edits(&mut s, &edits()).unwrap();
    assert_eq!(
        s["process"]["user"]["additionalGids"],
        serde_json::json!([44])
    );
}

#[test]
fn bind_mounts_into_a_user_namespace_are_id_mapped() {
    let mut s = spec();
    s["linux"]["namespaces"] = serde_json::json!([{"type": "user"}]);
    let e = ContainerEdits {
        mounts: vec![mount("/a", "/b")],
        ..Default::default()
    };
    apply_edits(&mut s, &e).unwrap();
    let m = s["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/b")
        .unwrap()
        .clone();
    assert_eq!(strs(&m["options"]).last().unwrap(), "ridmap");
}

#[test]
fn the_legacy_hook_is_a_prestart_hook_added_once() {
    let mut s = spec();
    let p = PathBuf::from("/usr/bin/nvidia-container-runtime-hook");
    let stack = Stack::LegacyHook(p.clone());
    apply(&mut s, &stack).unwrap();
    apply(&mut s, &stack).unwrap();
    let pre = s["hooks"]["prestart"].as_array().unwrap();
    assert_eq!(pre.len(), 1);
    assert_eq!(pre[0]["path"], "/usr/bin/nvidia-container-runtime-hook");
    assert_eq!(
        strs(&pre[0]["args"]),
        vec!["nvidia-container-runtime-hook", "prestart"]
    );
    assert_eq!(
        s["annotations"][ANNOTATION],
        "legacy-hook /usr/bin/nvidia-container-runtime-hook"
    );
}

#[test]
fn a_cdi_stack_is_applied_and_named_and_nothing_changes_nothing() {
    let mut s = spec();
    let stack = Stack::Cdi(Box::new(NvidiaSpec {
        path: "/var/run/cdi/nvidia.yaml".into(),
        cdi_version: "0.5.0".into(),
        edits: edits(),
    }));
    apply(&mut s, &stack).unwrap();
    assert_eq!(s["annotations"][ANNOTATION], "cdi /var/run/cdi/nvidia.yaml");
    assert_eq!(s["hooks"]["createContainer"].as_array().unwrap().len(), 3);
    let mut t = spec();
    apply(
        &mut t,
        &Stack::Nothing {
            opted_out: false,
            dirs: String::new(),
        },
    )
    .unwrap();
    assert_eq!(t, spec());
}

#[test]
fn depth_counts_like_go_clean() {
    assert_eq!(depth("/"), 1);
    assert_eq!(depth("/a"), 1);
    assert_eq!(depth("/a//b/"), 2);
    assert_eq!(depth("/a/../b/./c"), 2);
    assert_eq!(depth("a/b"), 1);
    assert_eq!(depth(""), 0);
}
