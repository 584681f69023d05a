//! What real NVIDIA drivers do that a model alone does not, through the fake library: an
//! instance held by a foreign NVML client, processes read per MIG device handle, the MIG device
//! found from the compute instance, profile indices of NVML 13 and past it, a node without
//! `nvidia-uvm`, and persistence mode. Each seen through the backend and through `dynamigctl`.

mod common;

use common::{child_state, ctl_json, ctl_output, dynamigctl, hardware_instances, run, Fake};
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use dynamig_node::backend::nvml::NvmlBackend;
use dynamig_node::backend::{Backend, BackendError};
use dynamig_node::config::NodeConfig;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TWO_G: ProfileId = ProfileId(14); // 2g.10gb on A100-40GB
const ONE_G: ProfileId = ProfileId(19); // 1g.5gb
const SEVEN_G: ProfileId = ProfileId(0); // 7g.40gb
const WALK: &str = "nvmlDeviceGetMigDeviceHandleByIndex";

fn open() -> NvmlBackend {
    match NvmlBackend::open(NodeConfig::from_env().proc_tree()) {
        Ok(b) => b,
        Err(e) => panic!("the fake NVML did not open: {e}"),
    }
}

fn held_file(state: &Path) -> PathBuf {
    PathBuf::from(format!("{}.held", state.display()))
}

/// The fake's environment for `dynamigctl`, on the nvml backend.
fn nvml_fake(models: &[&str], env: &[(&str, &str)]) -> Fake {
    let mut f = Fake::new(models, true);
    f.set_env("DYNAMIG_BACKEND", "nvml");
    for (k, v) in env {
        f.set_env(k, v);
    }
    f
}

/// How many walk calls the fake logged to `log` so far.
fn walks(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| *l == WALK)
        .count()
}

#[test]
fn an_instance_held_by_a_foreign_nvml_client_is_one_clear_error() {
    run(
        "an_instance_held_by_a_foreign_nvml_client_is_one_clear_error",
        || Fake::new(&["a100-40gb"], true),
        || {
            let state = child_state();
            let mut b = open();
            b.set_in_use_retry(Duration::from_millis(300));
            let i = b.create(GpuIndex(0), TWO_G, 0).unwrap();
            std::fs::write(held_file(&state), format!("0:{}\n", i.gi)).unwrap();
            let e = b.destroy(GpuIndex(0), i.gi).unwrap_err();
            assert_eq!(
                e,
                BackendError::InUse {
                    gpu: GpuIndex(0),
                    gi: i.gi,
                    pids: vec![]
                }
            );
            let msg = e.to_string();
            for holder in [
                "another NVML client",
                "DCGM (nv-hostengine)",
                "dcgm-exporter",
                "another NVML monitor",
            ] {
                assert!(msg.contains(holder), "{msg}");
            }
            assert!(!msg.contains('\n'), "{msg}");
            // Nothing was half-destroyed: the instance is whole, its MIG device intact.
            assert_eq!(b.instances(GpuIndex(0)).unwrap(), vec![i.clone()]);
            // The holder lets go: destroy works.
            std::fs::remove_file(held_file(&state)).unwrap();
            b.destroy(GpuIndex(0), i.gi).unwrap();
            assert!(b.instances(GpuIndex(0)).unwrap().is_empty());
        },
    );
}

#[test]
fn dynamigctl_release_names_the_likely_holders_of_a_held_instance() {
    let ctl = dynamigctl();
    let f = nvml_fake(&["a100-40gb"], &[]);
    let a = ctl_json(
        &f,
        &ctl,
        &["allocate", "a", "--mig-profile", "2g.10gb", "--json"],
    );
    let gi = a["gi"].as_u64().expect("gi in allocate --json");
    let start = u8::try_from(a["placement"]["start"].as_u64().unwrap()).unwrap();
    std::fs::write(held_file(&f.state()), format!("0:{gi}\n")).unwrap();
    let o = ctl_output(&f, &ctl, &["release", "a"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("held by another NVML client")
            && err.contains("DCGM (nv-hostengine)")
            && err.contains("dcgm-exporter"),
        "{err}"
    );
    assert_eq!(hardware_instances(&f), vec![(GpuIndex(0), TWO_G, start)]);
    std::fs::remove_file(held_file(&f.state())).unwrap();
    let o = ctl_output(&f, &ctl, &["release", "a"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(hardware_instances(&f).is_empty());
}

#[test]
fn processes_are_read_per_mig_device_not_from_the_parent() {
    run(
        "processes_are_read_per_mig_device_not_from_the_parent",
        || Fake::new(&["a100-40gb"], true),
        || {
            let state = child_state();
            let mut b = open();
            let a = b.create(GpuIndex(0), TWO_G, 0).unwrap();
            let c = b.create(GpuIndex(0), TWO_G, 2).unwrap();
            let me = std::process::id();
            // The fake's parent handle lists this pid without instance ids (0xFFFFFFFF), as an
            // unprivileged caller sees it: only the MIG device handle attributes it.
            common::edit(&state, |n| {
                let i = n.gpus[0].instances.iter_mut().find(|i| i.gi == a.gi);
                i.unwrap().pids = vec![me];
            });
            assert_eq!(b.processes(GpuIndex(0), a.gi).unwrap(), vec![me]);
            assert_eq!(b.processes(GpuIndex(0), c.gi).unwrap(), Vec::<u32>::new());
            assert!(matches!(
                b.destroy(GpuIndex(0), a.gi),
                Err(BackendError::InUse { pids, .. }) if pids == vec![me]
            ));
            b.destroy(GpuIndex(0), c.gi).unwrap();
        },
    );
}

#[test]
fn dynamigctl_release_names_the_processes_on_that_mig_device_only() {
    let ctl = dynamigctl();
    let f = nvml_fake(&["a100-40gb"], &[]);
    let mut gi = Vec::new();
    for id in ["a", "b"] {
        let a = ctl_json(
            &f,
            &ctl,
            &["allocate", id, "--mig-profile", "2g.10gb", "--json"],
        );
        gi.push(u32::try_from(a["gi"].as_u64().unwrap()).unwrap());
    }
    // A process of this test runs on a's MIG device (the parent lists it unattributed).
    let me = std::process::id();
    f.edit(|n| {
        let i = n.gpus[0].instances.iter_mut().find(|i| i.gi == GiId(gi[0]));
        i.unwrap().pids = vec![me];
    });
    // b's MIG device runs nothing: it goes.
    let o = ctl_output(&f, &ctl, &["release", "b"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = ctl_output(&f, &ctl, &["release", "a"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "GPU instance {} is in use by processes [{me}]",
            gi[0]
        )),
        "{err}"
    );
    assert_eq!(hardware_instances(&f).len(), 1);
}

#[test]
fn the_mig_uuid_comes_from_the_compute_instance_without_a_walk() {
    run(
        "the_mig_uuid_comes_from_the_compute_instance_without_a_walk",
        || {
            let mut f = Fake::new(&["a100-40gb"], true);
            let log = f.dir.path().join("calls.log");
            f.set_env("FAKE_NVML_CI_DEVICE", "mig");
            f.set_env("FAKE_NVML_CALL_LOG", &log.display().to_string());
            f
        },
        || {
            let log = PathBuf::from(std::env::var("FAKE_NVML_CALL_LOG").unwrap());
            let mut b = open();
            let made: Vec<_> = [0, 2, 4]
                .iter()
                .map(|s| b.create(GpuIndex(0), TWO_G, *s).unwrap())
                .collect();
            let node = dynamig_node::backend::sim::SimNode::load(&child_state())
                .unwrap()
                .unwrap();
            for m in &made {
                let hw = node.gpus[0]
                    .instances
                    .iter()
                    .find(|i| i.gi == m.gi)
                    .unwrap();
                assert_eq!(m.uuid, hw.uuid);
                assert!(m.uuid.starts_with("MIG-"), "{m:?}");
            }
            assert_eq!(b.instances(GpuIndex(0)).unwrap(), made);
            b.processes(GpuIndex(0), made[0].gi).unwrap();
            b.destroy(GpuIndex(0), made[1].gi).unwrap();
            assert_eq!(walks(&log), 0, "a walk over the MIG indices was made");
        },
    );
}

#[test]
fn where_the_driver_gives_the_parent_device_one_walk_serves_a_listing() {
    run(
        "where_the_driver_gives_the_parent_device_one_walk_serves_a_listing",
        || {
            let mut f = Fake::new(&["a100-40gb"], true);
            let log = f.dir.path().join("calls.log");
            f.set_env("FAKE_NVML_CALL_LOG", &log.display().to_string());
            f
        },
        || {
            let log = PathBuf::from(std::env::var("FAKE_NVML_CALL_LOG").unwrap());
            let mut b = open();
            let gpu_uuid = b.gpus().unwrap()[0].uuid.clone();
            let made: Vec<_> = (0..7)
                .map(|s| b.create(GpuIndex(0), ONE_G, s).unwrap())
                .collect();
            for m in &made {
                // Never the parent's UUID, which the CI info's `device` would give here.
                assert!(m.uuid.starts_with("MIG-") && m.uuid != gpu_uuid, "{m:?}");
            }
            let before = walks(&log);
            assert_eq!(b.instances(GpuIndex(0)).unwrap(), made);
            // One walk over the 7 MIG indices for 7 instances, not one per instance (28).
            assert_eq!(walks(&log) - before, 7);
        },
    );
}

#[test]
fn dynamigctl_allocate_reports_the_uuid_without_walking_the_mig_devices() {
    let ctl = dynamigctl();
    let log = tempfile::NamedTempFile::new().unwrap();
    let logp = log.path().display().to_string();
    let f = nvml_fake(
        &["a100-40gb"],
        &[
            ("FAKE_NVML_CI_DEVICE", "mig"),
            ("FAKE_NVML_CALL_LOG", &logp),
        ],
    );
    let a = ctl_json(
        &f,
        &ctl,
        &["allocate", "a", "--gpu-memory", "10GB", "--json"],
    );
    let node = dynamig_node::backend::sim::SimNode::load(&f.state())
        .unwrap()
        .unwrap();
    assert_eq!(a["uuid"], node.gpus[0].instances[0].uuid.as_str(), "{a}");
    let st = ctl_json(&f, &ctl, &["status", "--json"]);
    assert_eq!(st["gpus"][0]["instances"][0]["uuid"], a["uuid"]);
    assert_eq!(walks(log.path()), 0);
}

#[test]
fn profiles_of_nvml_13_and_past_it_are_listed_holes_skipped() {
    run(
        "profiles_of_nvml_13_and_past_it_are_listed_holes_skipped",
        || {
            let mut f = Fake::new(&["a100-40gb"], true);
            // 0x0D 1_SLICE_NO_ME, 0x0F 1_SLICE_ALL_ME, 0x11 3_SLICE_GFX, and 0x13: an index
            // past NVML 13's count (0x12) that a newer GPU may have. 0x12 is a hole.
            f.set_env(
                "FAKE_NVML_EXTRA_PROFILES",
                "13:67:1g.5gb-me;15:65:1g.5gb+me.all;17:70:3g.20gb+gfx;19:71:2g.10gb+gfx",
            );
            f
        },
        || {
            let mut b = open();
            let prof = b.driver_profiles(GpuIndex(0)).unwrap();
            let idx: Vec<u32> = prof.iter().map(|p| p.index).collect();
            assert_eq!(idx, vec![0, 1, 2, 3, 4, 7, 9, 13, 15, 17, 19]);
            let by = |i: u32| prof.iter().find(|p| p.index == i).unwrap();
            assert_eq!(by(13).id, ProfileId(67));
            assert_eq!(by(13).name.as_deref(), Some("MIG 1g.5gb-me"));
            assert_eq!(&by(13).engines[1..], &[0, 0, 0, 0]);
            assert_eq!(by(15).instance_count, 1);
            assert_eq!(by(19).placements, vec![(0, 2), (2, 2), (4, 2)]);
            // Planned with: the driver's tables, with the new profiles by the driver's names.
            let t = b.tables(GpuIndex(0)).unwrap();
            let m = t.model.unwrap();
            for name in ["1g.5gb-me", "1g.5gb+me.all", "3g.20gb+gfx", "2g.10gb+gfx"] {
                assert!(m.profile(name).is_some(), "{name} in {:?}", m.profiles);
            }
            // Compute-instance profiles too: NVML 13's 7_SLICE_NVL (0x08) inside a 7g.
            let full = b.create(GpuIndex(0), SEVEN_G, 0).unwrap();
            let ci = b.compute_profiles(GpuIndex(0), full.gi).unwrap();
            let seven: Vec<u32> = ci
                .iter()
                .filter(|p| p.compute_slices == 7)
                .map(|p| p.index)
                .collect();
            assert_eq!(seven, vec![4, 8]);
            assert_eq!(full.ci, Some(CiId(0)));
        },
    );
}

#[test]
fn a_node_without_nvidia_uvm_refuses_before_creating_anything() {
    run(
        "a_node_without_nvidia_uvm_refuses_before_creating_anything",
        || {
            let mut f = Fake::new(&["a100-40gb"], true);
            f.set_env("FAKE_NVML_NO_UVM", "1");
            f
        },
        || {
            let mut b = open();
            match b.create(GpuIndex(0), TWO_G, 0) {
                Err(BackendError::Io(msg)) => {
                    assert!(msg.contains("nvidia-uvm") && !msg.contains('\n'), "{msg}")
                }
                other => panic!("wanted an Io error naming nvidia-uvm, got {other:?}"),
            }
            assert!(b.instances(GpuIndex(0)).unwrap().is_empty());
        },
    );
    let ctl = dynamigctl();
    let f = nvml_fake(&["a100-40gb"], &[("FAKE_NVML_NO_UVM", "1")]);
    let o = ctl_output(&f, &ctl, &["allocate", "a", "--gpu-memory", "10GB"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("nvidia-uvm")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(hardware_instances(&f).is_empty());
    let st = ctl_json(&f, &ctl, &["status", "--json"]);
    assert!(st["gpus"][0]["instances"].as_array().unwrap().is_empty());
}

#[test]
fn persistence_mode_is_read_and_reported() {
    run(
        "persistence_mode_is_read_and_reported",
        || {
            let mut f = Fake::new(&["a100-40gb", "h100-80gb"], true);
            f.set_env("FAKE_NVML_PERSISTENCE", "1,0");
            f
        },
        || {
            let mut b = open();
            let g = b.gpus().unwrap();
            assert_eq!(
                (g[0].persistence_mode, g[1].persistence_mode),
                (Some(true), Some(false))
            );
        },
    );
    let ctl = dynamigctl();
    let f = nvml_fake(
        &["a100-40gb", "h100-80gb"],
        &[("FAKE_NVML_PERSISTENCE", "1,0")],
    );
    let st = ctl_json(&f, &ctl, &["status", "--json"]);
    assert_eq!(st["gpus"][0]["persistence_mode"], true, "{st}");
    assert_eq!(st["gpus"][1]["persistence_mode"], false, "{st}");
    let o = ctl_output(&f, &ctl, &["status"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Persistence mode is off on GPU 1:") && text.contains("nvidia-smi -pm 1"),
        "{text}"
    );
    // The simulator does not report it.
    let t = tempfile::tempdir().unwrap();
    let sim = |args: &[&str]| {
        let o = std::process::Command::new(&ctl)
            .env("DYNAMIG_STATE_DIR", t.path().join("state"))
            .env("DYNAMIG_BACKEND", "sim")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    sim(&["sim", "init", "a100-40gb"]);
    let st: serde_json::Value = serde_json::from_slice(&sim(&["status", "--json"])).unwrap();
    assert!(st["gpus"][0]["persistence_mode"].is_null(), "{st}");
}
