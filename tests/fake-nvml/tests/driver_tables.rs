//! The driver's MIG tables, not the catalog, are what dynamig plans with on the `nvml` backend:
//! the fake library reports a placement table, a memory size or a product name that differs
//! from the catalog, and `dynamigctl` follows the driver and logs the difference.

mod common;

use common::{ctl_json, ctl_output, dynamigctl, hardware_instances, Fake};
use dynamig_core::ids::{GpuIndex, ProfileId};
use std::path::Path;

const THREE_G: u32 = 9; // 3g.20gb on A100-40GB

fn fake(env: &[(&str, &str)]) -> Fake {
    let mut f = Fake::new(&["a100-40gb"], true);
    f.set_env("DYNAMIG_BACKEND", "nvml");
    f.set_env("DYNAMIG_LOG_FORMAT", "json");
    for (k, v) in env {
        f.set_env(k, v);
    }
    f
}

/// The JSON log events on stderr whose message contains `what`.
fn logged(stderr: &[u8], what: &str) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| {
            e["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(what))
        })
        .collect()
}

/// What the catalog alone (a simulated node) would decide for the same request.
fn catalog_plan(ctl: &Path, args: &[&str]) -> serde_json::Value {
    let t = tempfile::tempdir().unwrap();
    let run = |a: &[&str]| {
        let o = std::process::Command::new(ctl)
            .env("DYNAMIG_STATE_DIR", t.path().join("state"))
            .env("DYNAMIG_BACKEND", "sim")
            .args(a)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    run(&["sim", "init", "a100-40gb"]);
    let mut a = vec!["plan"];
    a.extend_from_slice(args);
    a.push("--json");
    serde_json::from_slice(&run(&a)).unwrap()
}

#[test]
fn a_placement_the_driver_does_not_offer_is_never_chosen() {
    let ctl = dynamigctl();
    // The catalog puts the first 3g.20gb of an empty A100 at 4 (keeping 4g.20gb possible at 0).
    let cat = catalog_plan(&ctl, &["--mig-profile", "3g.20gb"]);
    assert_eq!(cat["placement"]["start"], 4, "{cat}");

    // This driver offers 3g.20gb only at 0.
    let f = fake(&[("FAKE_NVML_PLACEMENTS", "9:0")]);
    let o = ctl_output(
        &f,
        &ctl,
        &["allocate", "a", "--mig-profile", "3g.20gb", "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["placement"]["start"], 0, "{a}");
    assert_eq!(
        hardware_instances(&f),
        vec![(GpuIndex(0), ProfileId(THREE_G), 0)]
    );
    // The difference is logged at warn, with structured fields.
    let w = logged(&o.stderr, "differ from the catalog");
    assert_eq!(w.len(), 1, "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(w[0]["level"], "WARN");
    let fl = &w[0]["fields"];
    assert_eq!(fl["gpu"], 0);
    assert_eq!(fl["profile"], "3g.20gb");
    assert_eq!(fl["profile_id"], THREE_G);
    assert_eq!(fl["field"], "placements");
    assert_eq!(fl["catalog"], "[(0, 4), (4, 4)]");
    assert_eq!(fl["driver"], "[(0, 4)]");

    // A second 3g.20gb (same priority, so no eviction): the catalog's 4 is free, but the
    // driver does not offer it, so the planner does not try it: a clean "no room" (exit 1),
    // nothing created, no NVML error.
    let o = ctl_output(&f, &ctl, &["allocate", "b", "--mig-profile", "3g.20gb"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no room for 3g.20gb"), "{err}");
    assert!(!err.contains("NVML"), "{err}");
    assert_eq!(
        hardware_instances(&f),
        vec![(GpuIndex(0), ProfileId(THREE_G), 0)]
    );
    let ev = ctl_json(&f, &ctl, &["events", "--json"]);
    let kinds: Vec<&str> = ev
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert!(!kinds.contains(&"error"), "{ev}");

    let st = ctl_json(&f, &ctl, &["status", "--json"]);
    assert_eq!(st["gpus"][0]["model"], "a100-40gb");
    assert_eq!(st["gpus"][0]["instances"][0]["placement"]["start"], 0);
}

#[test]
fn the_drivers_memory_size_decides_the_profile() {
    let ctl = dynamigctl();
    let cat = catalog_plan(&ctl, &["--gpu-memory", "25GB"]);
    assert_eq!(cat["profile"], "7g.40gb", "{cat}");

    let f = fake(&[("FAKE_NVML_PROFILE_MEMORY", "9:30000")]);
    let o = ctl_output(
        &f,
        &ctl,
        &["allocate", "a", "--gpu-memory", "25GB", "--json"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["profile"], "3g.20gb", "{a}");
    let w = logged(&o.stderr, "differ from the catalog");
    assert_eq!(w.len(), 1);
    assert_eq!(w[0]["fields"]["field"], "memory_mib");
    assert_eq!(w[0]["fields"]["catalog"], "20096");
    assert_eq!(w[0]["fields"]["driver"], "30000");
    let st = ctl_json(&f, &ctl, &["status", "--json"]);
    assert_eq!(st["gpus"][0]["instances"][0]["memory_mib"], 30000);
}

#[test]
fn a_gpu_not_in_the_catalog_runs_the_seed_walkthrough_from_the_drivers_tables() {
    let ctl = dynamigctl();
    let f = fake(&[("FAKE_NVML_GPU_NAME", "NVIDIA A100X-SXM4-40GB")]);
    let mut stderr = Vec::new();
    for (id, flag, value) in [
        ("mig1", "--gpu-memory", "10GB"),
        ("mig2", "--mig-profile", "2g.10gb"),
        ("mig3", "--mig-profile", "2g.10gb"),
    ] {
        let o = ctl_output(&f, &ctl, &["allocate", id, flag, value, "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        stderr.extend_from_slice(&o.stderr);
    }
    let w = logged(&stderr, "not in dynamig's catalog");
    assert_eq!(w.len(), 3, "once per process");
    assert_eq!(w[0]["fields"]["gpu_name"], "NVIDIA A100X-SXM4-40GB");
    assert_eq!(w[0]["fields"]["model"], "a100x-sxm4-40gb");
    let a = ctl_json(
        &f,
        &ctl,
        &[
            "allocate",
            "mig1-int",
            "--gpu-memory",
            "20G",
            "--priority",
            "interactive",
            "--json",
        ],
    );
    assert_eq!(a["profile"], "3g.20gb", "{a}");
    assert_eq!(a["evict"].as_array().unwrap().len(), 1, "{a}");
    let st = ctl_json(&f, &ctl, &["status", "--json"]);
    assert_eq!(st["gpus"][0]["model"], "a100x-sxm4-40gb");
    assert_eq!(st["gpus"][0]["usable"], true);
    let mut profiles: Vec<String> = st["gpus"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["profile"].as_str().unwrap().to_string())
        .collect();
    profiles.sort();
    assert_eq!(profiles.len(), 3, "{st}");
    assert_eq!(profiles[2], "3g.20gb");
    assert_eq!(hardware_instances(&f).len(), 3);
    let o = ctl_output(&f, &ctl, &["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("[warn] GPU 0: model \"NVIDIA A100X-SXM4-40GB\" is not in dynamig's catalog: planned with the driver's 7 profiles and placements (as a100x-sxm4-40gb)"),
        "{text}"
    );
}

#[test]
fn unsound_driver_tables_refuse_the_gpu_with_the_reason() {
    let ctl = dynamigctl();
    let f = fake(&[
        ("FAKE_NVML_GPU_NAME", "NVIDIA Z100"),
        ("FAKE_NVML_PROFILE_MEMORY", "19:0"),
    ]);
    let o = ctl_output(&f, &ctl, &["allocate", "a", "--gpu-memory", "5GB"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("no MIG-capable GPU that dynamig can use"),
        "{err}"
    );
    let w = logged(&o.stderr, "GPU not used");
    assert_eq!(w.len(), 1, "{err}");
    let reason = w[0]["fields"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("cannot be used")
            && reason.contains("profile id 19 (index 0) has no memory"),
        "{reason}"
    );
    assert!(hardware_instances(&f).is_empty());
    let st = ctl_json(&f, &ctl, &["status", "--json"]);
    assert_eq!(st["gpus"][0]["usable"], false);
    assert_eq!(st["gpus"][0]["model"], "unknown");
    // doctor names the reason too.
    let o = ctl_output(&f, &ctl, &["doctor"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("[warn] GPU 0: not used: the driver's MIG tables cannot be used"),
        "{text}"
    );
    assert_eq!(o.status.code(), Some(1), "{text}");
}
