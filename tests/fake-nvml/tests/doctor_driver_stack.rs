//! `dynamigctl doctor`'s driver-stack line against the fake NVML: the CDI spec and its driver
//! version, a stale spec, the legacy hook, nothing, and the opt-out.

mod common;

use common::{run, Fake};
use dynamig_node::config::NodeConfig;
use std::path::PathBuf;

fn node() -> Fake {
    let mut f = Fake::new(&["a100-40gb"], true);
    let empty = f.dir.path().join("no-cdi");
    std::fs::create_dir_all(&empty).unwrap();
    f.set_env("DYNAMIG_CDI_SPEC_DIRS", &empty.display().to_string());
    // No legacy hook on this PATH (nor, on a machine without NVIDIA's toolkit, in /usr/bin).
    f.set_env("PATH", &f.dir.path().join("bin").display().to_string());
    f
}

fn stack_line() -> String {
    let state = PathBuf::from(std::env::var("DYNAMIG_STATE_DIR").unwrap());
    let mut out = Vec::new();
    dynamigctl::doctor::run(&NodeConfig::from_env(), Some(&state), &mut out);
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .find(|l| l.contains("] driver stack:"))
        .unwrap_or_else(|| panic!("no driver stack line in:\n{text}"))
        .to_string()
}

#[test]
fn a_matching_spec_is_ok_with_its_path_and_version() {
    run(
        "a_matching_spec_is_ok_with_its_path_and_version",
        || {
            let mut f = node();
            common::cdi_spec(&mut f, "580.126.09");
            f
        },
        || {
            let l = stack_line();
            assert!(l.starts_with("[ok  ]"), "{l}");
            assert!(
                l.contains("cdi/nvidia.yaml") && l.contains("driver 580.126.09"),
                "{l}"
            );
        },
    );
}

#[test]
fn a_stale_spec_fails_with_the_regenerate_command() {
    run(
        "a_stale_spec_fails_with_the_regenerate_command",
        || {
            let mut f = node();
            common::cdi_spec(&mut f, "535.183.01");
            f
        },
        || {
            let l = stack_line();
            assert!(l.starts_with("[FAIL]"), "{l}");
            assert!(l.contains("535.183.01") && l.contains("580.126.09"), "{l}");
            assert!(l.contains("nvidia-ctk cdi generate --output="), "{l}");
        },
    );
}

#[test]
fn the_legacy_hook_is_named() {
    run(
        "the_legacy_hook_is_named",
        || {
            let f = node();
            let bin = f.dir.path().join("bin");
            std::fs::create_dir_all(&bin).unwrap();
            let hook = bin.join("nvidia-container-runtime-hook");
            std::fs::write(&hook, "#!/bin/sh\n").unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
            f
        },
        || {
            let l = stack_line();
            assert!(l.starts_with("[ok  ]"), "{l}");
            assert!(l.contains("legacy nvidia-container-runtime-hook at"), "{l}");
        },
    );
}

#[test]
fn nothing_fails_and_the_opt_out_warns() {
    run("nothing_fails_and_the_opt_out_warns", node, || {
        let l = stack_line();
        assert!(l.starts_with("[FAIL]"), "{l}");
        assert!(l.contains("DYNAMIG_DRIVER_STACK=none"), "{l}");
        std::env::set_var("DYNAMIG_DRIVER_STACK", "none");
        let l = stack_line();
        assert!(l.starts_with("[warn]"), "{l}");
        assert!(l.contains("device nodes only"), "{l}");
    });
}
