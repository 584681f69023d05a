use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn settings(dir: &Path) -> Settings {
    Settings {
        mode: Mode::Auto,
        cdi_dirs: vec![dir.join("etc-cdi"), dir.join("run-cdi")],
        hook_dirs: vec![dir.join("bin")],
    }
}

fn executable(p: &Path) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, "#!/bin/sh\n").unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}

fn spec_for(dir: &Path, version: &str) {
    let lib = dir.join(format!("libcuda.so.{version}"));
    fs::write(&lib, b"").unwrap();
    fs::create_dir_all(dir.join("run-cdi")).unwrap();
    fs::write(
        dir.join("run-cdi/nvidia.yaml"),
        format!(
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: [{{name: all}}]\ncontainerEdits:\n  mounts:\n    - hostPath: {}\n      containerPath: /usr/lib/libcuda.so.{version}\n",
            lib.display()
        ),
    )
    .unwrap();
}

#[test]
fn cdi_first_then_the_legacy_hook_then_nothing() {
    let t = tempfile::tempdir().unwrap();
    let s = settings(t.path());
    assert!(matches!(
        discover(&s).unwrap(),
        Stack::Nothing {
            opted_out: false,
            ..
        }
    ));
    let hook = t.path().join("bin").join(LEGACY_HOOK);
    executable(&hook);
    assert_eq!(discover(&s).unwrap(), Stack::LegacyHook(hook.clone()));
    // Not executable: not the hook.
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(discover(&s).unwrap(), Stack::Nothing { .. }));
    fs::set_permissions(&hook, fs::Permissions::from_mode(0o755)).unwrap();
    spec_for(t.path(), "580.126.09");
    assert!(matches!(discover(&s).unwrap(), Stack::Cdi(_)));
}

#[test]
fn a_broken_spec_never_falls_back_to_the_legacy_hook() {
    let t = tempfile::tempdir().unwrap();
    let s = settings(t.path());
    executable(&t.path().join("bin").join(LEGACY_HOOK));
    fs::create_dir_all(t.path().join("run-cdi")).unwrap();
    fs::write(
        t.path().join("run-cdi/nvidia.yaml"),
        "kind: nvidia.com/gpu\ncdiVersion: [",
    )
    .unwrap();
    assert!(matches!(
        discover(&s),
        Err(DriverStackError::Cdi(CdiError::Bad { .. }))
    ));
}

#[test]
fn opting_out_looks_for_nothing_and_passes_on_nvml() {
    let t = tempfile::tempdir().unwrap();
    let mut s = settings(t.path());
    spec_for(t.path(), "580.126.09");
    s.mode = Mode::None;
    let mut stack = discover(&s).unwrap();
    assert!(matches!(
        stack,
        Stack::Nothing {
            opted_out: true,
            ..
        }
    ));
    stack.check(BackendKind::Nvml, Some("580.126.09")).unwrap();
}

#[test]
fn nothing_fails_on_nvml_only_with_both_fixes_named() {
    let t = tempfile::tempdir().unwrap();
    let mut stack = discover(&settings(t.path())).unwrap();
    stack.check(BackendKind::Sim, Some("580.126.09")).unwrap();
    let e = stack
        .check(BackendKind::Nvml, Some("580.126.09"))
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\n'));
    for want in [REGENERATE, LEGACY_HOOK, "DYNAMIG_DRIVER_STACK=none"] {
        assert!(e.contains(want), "{e} lacks {want}");
    }
}

#[test]
fn a_spec_for_another_driver_is_stale() {
    let t = tempfile::tempdir().unwrap();
    spec_for(t.path(), "535.183.01");
    let mut stack = discover(&settings(t.path())).unwrap();
    stack.check(BackendKind::Sim, Some("535.183.01")).unwrap();
    let e = stack
        .check(BackendKind::Nvml, Some("580.126.09"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("535.183.01") && e.contains("580.126.09"), "{e}");
    assert!(e.contains("nvidia-ctk cdi generate --output="), "{e}");
    // A driver that cannot tell its version is not refused for it.
    stack.check(BackendKind::Nvml, None).unwrap();
}

#[test]
fn describe_names_the_source() {
    let t = tempfile::tempdir().unwrap();
    spec_for(t.path(), "580.126.09");
    let d = discover(&settings(t.path())).unwrap().describe();
    assert!(
        d.contains("run-cdi/nvidia.yaml") && d.contains("driver 580.126.09"),
        "{d}"
    );
}

#[test]
fn stale_is_told_before_the_old_libraries_are_found_missing() {
    // A driver upgrade removes the old version's libraries: the answer is "regenerate".
    let t = tempfile::tempdir().unwrap();
    spec_for(t.path(), "535.183.01");
    fs::remove_file(t.path().join("libcuda.so.535.183.01")).unwrap();
    let mut stack = discover(&settings(t.path())).unwrap();
    assert!(matches!(
        stack.check(BackendKind::Nvml, Some("580.126.09")),
        Err(DriverStackError::Stale { .. })
    ));
    assert!(matches!(
        stack.check(BackendKind::Nvml, Some("535.183.01")),
        Err(DriverStackError::Cdi(CdiError::Bad { .. }))
    ));
}

#[test]
fn the_legacy_hook_is_taken_on_nvml_and_never_on_sim() {
    let t = tempfile::tempdir().unwrap();
    let hook = t.path().join("bin").join(LEGACY_HOOK);
    executable(&hook);
    let s = settings(t.path());
    let mut on_nvml = discover(&s).unwrap();
    on_nvml
        .check(BackendKind::Nvml, Some("580.126.09"))
        .unwrap();
    assert_eq!(on_nvml, Stack::LegacyHook(hook));
    let mut on_sim = discover(&s).unwrap();
    on_sim.check(BackendKind::Sim, Some("580.126.09")).unwrap();
    assert!(on_sim.path().is_none(), "{on_sim:?}");
    assert!(
        on_sim.describe().contains("device nodes only"),
        "{}",
        on_sim.describe()
    );
}
