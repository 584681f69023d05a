//! `dynamigctl doctor` (the library's `doctor::run`) against the fake NVML.

mod common;

use common::{run, Fake};
use dynamig_node::backend::MigMode;
use dynamig_node::config::NodeConfig;
use std::path::PathBuf;

/// A ready node: the fake NVML, a dev tree with the nodes, containerd configured.
fn ready_node(models: &[&str]) -> Fake {
    let mut f = Fake::new(models, true);
    let root = f.dir.path().to_path_buf();
    let dev = root.join("dev");
    std::fs::create_dir_all(dev.join("nvidia-caps")).unwrap();
    for n in [
        "nvidiactl",
        "nvidia-uvm",
        "nvidia-uvm-tools",
        "nvidia0",
        "nvidia1",
    ] {
        std::fs::write(dev.join(n), "").unwrap();
    }
    let etc = root.join("etc");
    std::fs::create_dir_all(etc.join("containerd")).unwrap();
    std::fs::write(
        etc.join("containerd/config.toml"),
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.dynamig]\n  runtime_type = \"io.containerd.dynamig.v2\"\n",
    )
    .unwrap();
    f.set_env("DYNAMIG_DEV_ROOT", &dev.display().to_string());
    f.set_env("DYNAMIG_ETC_ROOT", &etc.display().to_string());
    common::cdi_spec(&mut f, "580.126.09");
    f
}

fn doctor() -> (bool, String) {
    let state = PathBuf::from(std::env::var("DYNAMIG_STATE_DIR").unwrap());
    let mut out = Vec::new();
    let ready = dynamigctl::doctor::run(&NodeConfig::from_env(), Some(&state), &mut out);
    let text = String::from_utf8(out).unwrap();
    eprintln!("{text}");
    (ready, text)
}

fn line<'a>(text: &'a str, starts: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no line {starts:?} in:\n{text}"))
}

#[test]
fn a_ready_node_passes() {
    run(
        "a_ready_node_passes",
        || ready_node(&["a100-40gb", "h100-80gb"]),
        || {
            let before = std::fs::read(common::child_state()).unwrap();
            let (ready, text) = doctor();
            assert!(ready, "{text}");
            assert!(!text.contains("[FAIL]"), "{text}");
            assert!(line(&text, "[ok  ] NVML:").contains("libnvidia-ml.so.1 loaded"));
            assert!(line(&text, "[ok  ] driver:").contains("580.126.09"));
            assert!(line(&text, "[ok  ] GPU 0:").contains("MIG enabled"));
            assert!(text.contains("profiles and their placements match the catalog (a100-40gb)"));
            assert!(text.contains("match the catalog (h100-80gb)"));
            assert!(line(&text, "[ok  ] nvidia-caps:").contains("major 237"));
            assert!(line(&text, "[ok  ] state directory:").contains("mode 0700"));
            assert!(line(&text, "[ok  ] containerd:").contains("configured"));
            assert!(line(&text, "[info] Docker:").contains("not configured"));
            assert!(line(&text, "[ok  ] driver stack:").contains("driver 580.126.09"));
            assert!(
                text.ends_with("node: ready (2 GPU(s) with MIG usable)\n"),
                "{text}"
            );
            // Read-only: the node is exactly as before.
            assert_eq!(std::fs::read(common::child_state()).unwrap(), before);
        },
    );
}

#[test]
fn mig_disabled_means_not_ready() {
    run(
        "mig_disabled_means_not_ready",
        || {
            let f = ready_node(&["a100-40gb"]);
            f.edit(|n| {
                n.gpus[0].mig = MigMode {
                    current: false,
                    pending: false,
                }
            });
            f
        },
        || {
            let (ready, text) = doctor();
            assert!(!ready, "{text}");
            assert!(line(&text, "[warn] GPU 0:").contains("MIG disabled"));
            assert!(line(&text, "[FAIL] GPUs:").contains("no GPU has MIG enabled"));
            assert!(text.ends_with("node: NOT ready (see the FAIL lines above)\n"));
        },
    );
}

#[test]
fn pending_mode_and_catalog_differences_are_reported() {
    run(
        "pending_mode_and_catalog_differences_are_reported",
        || {
            let mut f = ready_node(&["a100-40gb", "a100-40gb"]);
            f.edit(|n| {
                n.gpus[1].mig = MigMode {
                    current: false,
                    pending: true,
                }
            });
            f.set_env("FAKE_NVML_PROFILE_MEMORY", "14:9856");
            f
        },
        || {
            let (ready, text) = doctor();
            // A difference from the catalog is a warning: the driver's values are used.
            assert!(ready, "{text}");
            assert!(line(&text, "[warn] GPU 0:").contains("differs from the catalog"));
            assert!(text.contains("9856"));
            assert!(line(&text, "[warn] GPU 1:").contains("pending a GPU reset"));
        },
    );
}

#[test]
fn no_library_a_loose_state_dir_and_no_caps_are_failures() {
    run(
        "no_library_a_loose_state_dir_and_no_caps_are_failures",
        || {
            let mut f = Fake::new(&["a100-40gb"], false);
            let loose = f.dir.path().join("loose");
            std::fs::create_dir(&loose).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o777)).unwrap();
            f.set_env("DYNAMIG_STATE_DIR", &loose.display().to_string());
            f.set_env(
                "DYNAMIG_DEV_ROOT",
                &f.dir.path().join("nodev").display().to_string(),
            );
            f.set_env(
                "DYNAMIG_ETC_ROOT",
                &f.dir.path().join("noetc").display().to_string(),
            );
            f
        },
        || {
            let (ready, text) = doctor();
            assert!(!ready);
            if text.contains("[ok  ] NVML:") {
                eprintln!("skipped the NVML line: a real libnvidia-ml.so.1 is installed here");
            } else {
                assert!(line(&text, "[FAIL] NVML:").contains("libnvidia-ml.so.1"));
            }
            assert!(line(&text, "[FAIL] state directory:").contains("0777"));
            assert!(line(&text, "[FAIL] nvidia-caps:").contains("devices"));
            assert!(line(&text, "[FAIL] device nodes:").contains("nvidiactl"));
            assert!(line(&text, "[warn] runtimes:").contains("no container runtime"));
        },
    );
}

#[test]
fn persistence_mode_is_a_line_per_gpu_and_a_missing_uvm_fails() {
    run(
        "persistence_mode_is_a_line_per_gpu_and_a_missing_uvm_fails",
        || {
            let mut f = ready_node(&["a100-40gb", "h100-80gb"]);
            f.set_env("FAKE_NVML_PERSISTENCE", "1,0");
            f.set_env("FAKE_NVML_NO_UVM", "1");
            f
        },
        || {
            let (ready, text) = doctor();
            let on: Vec<&str> = text
                .lines()
                .filter(|l| l.contains("persistence mode"))
                .collect();
            assert_eq!(on.len(), 2, "{text}");
            assert_eq!(on[0], "[ok  ] GPU 0: persistence mode on");
            assert!(
                on[1].starts_with("[warn] GPU 1: persistence mode off"),
                "{text}"
            );
            assert!(
                on[1].contains("seconds per GPU")
                    && on[1].contains("`nvidia-smi -i 1 -pm 1`")
                    && on[1].contains("nvidia-persistenced"),
                "{text}"
            );
            // Allocations refuse without nvidia-uvm, so the node is not ready.
            assert!(line(&text, "[FAIL] nvidia-uvm:").contains("modprobe"));
            assert!(!ready, "{text}");
        },
    );
}
