//! `lifecycle::create` with the host's CDI spec, against a simulated node claiming driver
//! 580.126.09 (one test function: the settings are process-global env): a stale or bad spec,
//! on the plain and on the waiting path, allocates nothing and leaves the bundle as it was; a
//! good one is applied with dynamig's own edits.

use dynamig_hook::lifecycle::{self, Prepared};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::state::StateDir;
use serde_json::Value;
use std::path::Path;

fn instances(dir: &StateDir) -> usize {
    SimNode::load(&dir.sim_file()).unwrap().unwrap().gpus[0]
        .instances
        .len()
}

fn write_spec(cdi: &Path, lib: &Path, version: &str) {
    std::fs::write(
        cdi.join("nvidia.yaml"),
        format!(
            "---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n    - name: all\n      containerEdits:\n        deviceNodes:\n            - path: /dev/nvidia0\ncontainerEdits:\n    env:\n        - NVIDIA_VISIBLE_DEVICES=void\n    hooks:\n        - hookName: createContainer\n          path: /bin/true\n          args: [nvidia-cdi-hook, update-ldcache]\n    mounts:\n        - hostPath: {}\n          containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.{version}\n          options: [ro, nosuid, nodev, rbind, rprivate]\n",
            lib.display()
        ),
    )
    .unwrap();
}

#[test]
fn the_driver_stack_is_checked_before_allocating_and_applied_after() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    let cdi = t.path().join("cdi");
    std::fs::create_dir_all(&cdi).unwrap();
    std::env::set_var("DYNAMIG_STATE_DIR", &state);
    std::env::set_var("DYNAMIG_LOG_FILE", t.path().join("runtime.log"));
    std::env::set_var("DYNAMIG_CDI_SPEC_DIRS", &cdi);
    std::env::set_var("PATH", t.path().join("no-bin"));
    std::env::remove_var("DYNAMIG_DRIVER_STACK");
    let hook = t.path().join("dynamig-hook");
    std::fs::write(&hook, "").unwrap();
    std::env::set_var("DYNAMIG_HOOK", &hook);
    let dir = StateDir::open(&state).unwrap();
    SimNode::new(&["a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();

    // 1. a spec for another driver: refused with the regenerate line, on both paths.
    let old = t.path().join("libcuda.so.535.183.01");
    std::fs::write(&old, "").unwrap();
    write_spec(&cdi, &old, "535.183.01");
    for (id, wait) in [("stale", ""), ("stale-wait", r#","dynamig.io/wait":"5s""#)] {
        let cfg = format!(
            r#"{{"annotations":{{"dynamig.io/gpu-memory":"10GB"{wait}}},"process":{{"env":[]}}}}"#
        );
        let b = t.path().join(id);
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(b.join("config.json"), &cfg).unwrap();
        let e = lifecycle::create_for_runc(&b, id, "ns")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("535.183.01")
                && e.contains("580.126.09")
                && e.contains("nvidia-ctk cdi generate --output=")
                && !e.contains('\n'),
            "{id}: {e}"
        );
        assert_eq!(instances(&dir), 0, "{id} allocated");
        assert_eq!(std::fs::read_to_string(b.join("config.json")).unwrap(), cfg);
    }

    // 2. a spec that does not parse: refused, nothing allocated.
    std::fs::write(
        cdi.join("nvidia.yaml"),
        "kind: nvidia.com/gpu\ncdiVersion: [\n",
    )
    .unwrap();
    let b = t.path().join("bad");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("config.json"),
        r#"{"annotations":{"dynamig.io/gpu-memory":"10GB"},"process":{"env":[]}}"#,
    )
    .unwrap();
    let e = lifecycle::create_for_runc(&b, "bad", "ns")
        .unwrap_err()
        .to_string();
    assert!(e.contains("nvidia.yaml") && !e.contains('\n'), "{e}");
    assert_eq!(instances(&dir), 0);

    // 3. a setting that is not one: refused.
    std::env::set_var("DYNAMIG_DRIVER_STACK", "cdi");
    let e = lifecycle::create_for_runc(&b, "bad", "ns")
        .unwrap_err()
        .to_string();
    assert!(e.contains("DYNAMIG_DRIVER_STACK=\"cdi\""), "{e}");
    std::env::remove_var("DYNAMIG_DRIVER_STACK");

    // 4. the running driver's spec: applied, with dynamig's selection on top.
    let lib = t.path().join("libcuda.so.580.126.09");
    std::fs::write(&lib, "").unwrap();
    write_spec(&cdi, &lib, "580.126.09");
    let good = t.path().join("good");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::write(
        good.join("config.json"),
        r#"{"annotations":{"dynamig.io/gpu-memory":"10GB"},"process":{"env":["PATH=/bin"]},"x-engine":{"kept":1}}"#,
    )
    .unwrap();
    let Prepared::Injected(a) = lifecycle::create_for_runc(&good, "good", "ns").unwrap() else {
        panic!("expected an allocation")
    };
    assert_eq!(instances(&dir), 1);
    let v: Value =
        serde_json::from_slice(&std::fs::read(good.join("config.json")).unwrap()).unwrap();
    let env: Vec<&str> = v["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(env.contains(&format!("NVIDIA_VISIBLE_DEVICES={}", a.uuid).as_str()));
    assert!(!env.contains(&"NVIDIA_VISIBLE_DEVICES=void"));
    assert_eq!(
        v["mounts"][0]["destination"],
        "/usr/lib/x86_64-linux-gnu/libcuda.so.580.126.09"
    );
    assert_eq!(
        v["hooks"]["createContainer"][0]["args"][1],
        "update-ldcache"
    );
    // dynamig's own createRuntime hook is there too.
    assert_eq!(v["hooks"]["createRuntime"].as_array().unwrap().len(), 1);
    assert_eq!(
        v["annotations"]["dynamig.io/driver-stack"],
        format!("cdi {}", cdi.join("nvidia.yaml").display())
    );
    assert_eq!(v["x-engine"]["kept"], 1);
    assert!(lifecycle::release(&dynamig_hook::HolderKey::new("ns", "good")).unwrap());
}
