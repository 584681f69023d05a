use super::*;
use std::fs;

/// A host tree with the files a toolkit spec names: `lib/libcuda.so.V`, `lib/libnvidia-ml.so.V`,
/// `bin/nvidia-smi`, `bin/nvidia-cdi-hook`, and a char device `dev/nvidia-modeset` (root only:
/// tests that need it make it themselves).
struct Host {
    dir: tempfile::TempDir,
}

impl Host {
    fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        for d in ["lib", "bin", "etc-cdi", "run-cdi"] {
            fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Host { dir }
    }
    fn p(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }
    fn touch(&self, rel: &str) {
        fs::write(self.p(rel), b"x").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(self.p(rel), fs::Permissions::from_mode(0o755)).unwrap();
    }
    /// A spec in the toolkit's layout for driver `v`, its files created.
    fn yaml(&self, v: &str) -> String {
        for f in [
            format!("lib/libcuda.so.{v}"),
            format!("lib/libnvidia-ml.so.{v}"),
            "bin/nvidia-smi".into(),
            "bin/nvidia-cdi-hook".into(),
        ] {
            self.touch(&f);
        }
        format!(
            r#"---
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
    - name: "0"
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
    - name: all
      containerEdits:
        deviceNodes:
            - path: /dev/nvidia0
containerEdits:
    env:
        - NVIDIA_VISIBLE_DEVICES=void
    deviceNodes:
        - path: /dev/nvidiactl
          type: c
          major: 195
          minor: 255
    hooks:
        - hookName: createContainer
          path: {hook}
          args:
            - nvidia-cdi-hook
            - create-symlinks
            - --link
            - libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so
          env:
            - NVIDIA_CTK_DEBUG=false
        - hookName: createContainer
          path: {hook}
          args:
            - nvidia-cdi-hook
            - update-ldcache
            - --folder
            - /usr/lib/x86_64-linux-gnu
    mounts:
        - hostPath: {cuda}
          containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.{v}
          options:
            - ro
            - nosuid
            - nodev
            - rbind
            - rprivate
        - hostPath: {ml}
          containerPath: /usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{v}
          options: [ro, nosuid, nodev, rbind, rprivate]
        - hostPath: {smi}
          containerPath: /usr/bin/nvidia-smi
          options: [ro, nosuid, nodev, rbind, rprivate]
"#,
            hook = self.p("bin/nvidia-cdi-hook"),
            cuda = self.p(&format!("lib/libcuda.so.{v}")),
            ml = self.p(&format!("lib/libnvidia-ml.so.{v}")),
            smi = self.p("bin/nvidia-smi"),
        )
    }
    fn dirs(&self) -> Vec<PathBuf> {
        vec![
            self.dir.path().join("etc-cdi"),
            self.dir.path().join("run-cdi"),
        ]
    }
    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        fs::write(&p, text).unwrap();
        p
    }
}

/// The spec found, checked against the host as a creation checks it.
fn load(h: &Host) -> Result<NvidiaSpec, CdiError> {
    let mut s = find(&h.dirs())?.expect("a spec");
    s.check_host()?;
    Ok(s)
}

fn bad_why(e: CdiError) -> String {
    match e {
        CdiError::Bad { why, .. } => why,
        other => panic!("want a Bad error, got {other:?}"),
    }
}

#[test]
fn a_toolkit_yaml_spec_is_found_and_read() {
    let h = Host::new();
    let p = h.write("run-cdi/nvidia.yaml", &h.yaml("580.126.09"));
    let s = load(&h).unwrap();
    assert_eq!(s.path, p);
    assert_eq!(s.cdi_version, "0.5.0");
    assert_eq!(s.edits.env, vec!["NVIDIA_VISIBLE_DEVICES=void"]);
    assert_eq!(s.edits.mounts.len(), 3);
    assert_eq!(s.edits.hooks.len(), 2);
    assert_eq!(s.edits.hooks[1].args[1], "update-ldcache");
    assert_eq!(driver_versions(&s.edits), vec!["580.126.09"]);
    // Fully specified and missing on this host: kept as given.
    assert_eq!(s.edits.device_nodes[0].major, Some(195));
}

#[test]
fn json_specs_are_read_too_and_other_kinds_are_ignored() {
    let h = Host::new();
    h.touch("lib/libcuda.so.550.54.15");
    let cuda = h.p("lib/libcuda.so.550.54.15");
    h.write(
        "etc-cdi/other.yaml",
        "cdiVersion: 0.6.0\nkind: vendor.com/fpga\ndevices: [{name: a}]\n",
    );
    h.write("etc-cdi/notes.txt", "kind: nvidia.com/gpu\n: : broken");
    let p = h.write(
        "etc-cdi/nvidia.json",
        &format!(
            r#"{{"cdiVersion":"0.6.0","kind":"nvidia.com/gpu","devices":[{{"name":"all"}}],
            "containerEdits":{{"mounts":[{{"hostPath":"{cuda}","containerPath":"/usr/lib/libcuda.so.550.54.15"}}]}}}}"#
        ),
    );
    let s = find(&h.dirs()).unwrap().expect("the json spec");
    assert_eq!(s.path, p);
    assert_eq!(driver_versions(&s.edits), vec!["550.54.15"]);
}

#[test]
fn the_later_directory_wins_and_two_in_one_directory_conflict() {
    let h = Host::new();
    h.write("etc-cdi/nvidia.yaml", &h.yaml("535.183.01"));
    let run = h.write("run-cdi/nvidia.yaml", &h.yaml("580.126.09"));
    let s = find(&h.dirs()).unwrap().unwrap();
    assert_eq!(s.path, run, "/var/run/cdi (later) outranks /etc/cdi");
    // A broken spec in the lower-priority directory is overridden, not read.
    h.write("etc-cdi/nvidia.yaml", "kind: nvidia.com/gpu\n  - : [");
    assert_eq!(find(&h.dirs()).unwrap().unwrap().path, run);
    h.write("run-cdi/nvidia-2.yaml", &h.yaml("580.126.09"));
    assert!(matches!(find(&h.dirs()), Err(CdiError::Conflict { .. })));
}

#[test]
fn no_spec_and_missing_directories_are_none() {
    let h = Host::new();
    assert_eq!(find(&h.dirs()).unwrap(), None);
    assert_eq!(find(&[h.dir.path().join("absent")]).unwrap(), None);
}

#[test]
fn malformed_yaml_fails_with_one_line_naming_the_file_and_the_fix() {
    let h = Host::new();
    h.write(
        "run-cdi/nvidia.yaml",
        "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ncontainerEdits:\n  mounts: [\n",
    );
    let e = find(&h.dirs()).unwrap_err();
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("run-cdi/nvidia.yaml"), "{text}");
    assert!(text.contains(REGENERATE), "{text}");
}

#[test]
fn unknown_fields_and_versions_are_refused() {
    let h = Host::new();
    let spec = h.yaml("580.126.09");
    h.write(
        "run-cdi/nvidia.yaml",
        &spec.replace("    env:\n", "    envs:\n"),
    );
    assert!(bad_why(find(&h.dirs()).unwrap_err()).contains("envs"));
    h.write(
        "run-cdi/nvidia.yaml",
        &spec.replace("cdiVersion: 0.5.0", "cdiVersion: 9.9.9"),
    );
    assert!(bad_why(find(&h.dirs()).unwrap_err()).contains("unknown cdiVersion \"9.9.9\""));
    // hostPath on a device node needs 0.5.0.
    h.write(
        "run-cdi/nvidia.yaml",
        &spec
            .replace("cdiVersion: 0.5.0", "cdiVersion: 0.4.0")
            .replace(
                "devices:\n    - name: \"0\"",
                "devices:\n    - name: \"x0\"",
            )
            .replace(
                "        - path: /dev/nvidiactl\n",
                "        - path: /dev/nvidiactl\n          hostPath: /dev/nvidiactl\n",
            ),
    );
    assert!(bad_why(find(&h.dirs()).unwrap_err()).contains("need 0.5.0"));
}

#[test]
fn every_version_the_toolkit_writes_is_accepted() {
    let h = Host::new();
    let spec = h.yaml("580.126.09");
    for v in [
        "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0", "v0.8.0",
    ] {
        h.write(
            "run-cdi/nvidia.yaml",
            &spec.replace("cdiVersion: 0.5.0", &format!("cdiVersion: {v}")),
        );
        let s = find(&h.dirs()).unwrap_or_else(|e| panic!("{v}: {e}"));
        assert!(s.is_some(), "{v}");
    }
    for v in ["0.2.0", "2.0.0", "0.5"] {
        h.write(
            "run-cdi/nvidia.yaml",
            &spec.replace("cdiVersion: 0.5.0", &format!("cdiVersion: \"{v}\"")),
        );
        assert!(find(&h.dirs()).is_err(), "{v} accepted");
    }
}

#[test]
fn a_missing_host_path_is_refused() {
    let h = Host::new();
    let spec = h.yaml("580.126.09");
    fs::remove_file(h.p("bin/nvidia-smi")).unwrap();
    h.write("run-cdi/nvidia.yaml", &spec);
    let why = bad_why(load(&h).unwrap_err());
    assert!(
        why.contains("nvidia-smi") && why.contains("does not exist"),
        "{why}"
    );
    h.touch("bin/nvidia-smi");
    fs::remove_file(h.p("bin/nvidia-cdi-hook")).unwrap();
    let why = bad_why(load(&h).unwrap_err());
    assert!(why.contains("nvidia-cdi-hook"), "{why}");
    // A device node given by path only must exist on the host.
    h.touch("bin/nvidia-cdi-hook");
    h.write(
        "run-cdi/nvidia.yaml",
        &spec.replace(
            "        - path: /dev/nvidiactl\n          type: c\n          major: 195\n          minor: 255\n",
            "        - path: /dev/nvidia-absent-node\n",
        ),
    );
    let why = bad_why(load(&h).unwrap_err());
    assert!(why.contains("/dev/nvidia-absent-node"), "{why}");
}

#[test]
fn a_device_given_by_path_is_completed_from_the_host() {
    let h = Host::new();
    let spec = h.yaml("580.126.09").replace(
        "        - path: /dev/nvidiactl\n          type: c\n          major: 195\n          minor: 255\n",
        "        - path: /dev/null-in-container\n          hostPath: /dev/null\n",
    );
    h.write("run-cdi/nvidia.yaml", &spec);
    let s = load(&h).unwrap();
    let d = &s.edits.device_nodes[0];
    assert_eq!(
        (d.kind.as_deref(), d.major, d.minor),
        (Some("c"), Some(1), Some(3))
    );
    assert!(d.file_mode.is_some());
    // A regular file is not a device node.
    h.write(
        "run-cdi/nvidia.yaml",
        &spec.replace(
            "hostPath: /dev/null",
            &format!("hostPath: {}", h.p("bin/nvidia-smi")),
        ),
    );
    assert!(bad_why(load(&h).unwrap_err()).contains("not a device node"));
}

#[test]
fn bad_edits_are_refused() {
    let h = Host::new();
    let spec = h.yaml("580.126.09");
    for (from, to, want) in [
        (
            "hookName: createContainer",
            "hookName: beforeEverything",
            "unknown hookName",
        ),
        ("NVIDIA_VISIBLE_DEVICES=void", "=void", "not NAME=VALUE"),
        ("          type: c\n", "          type: x\n", "unknown type"),
    ] {
        h.write("run-cdi/nvidia.yaml", &spec.replacen(from, to, 1));
        let why = bad_why(find(&h.dirs()).unwrap_err());
        assert!(why.contains(want), "{from} -> {to}: {why}");
    }
}

#[test]
fn driver_versions_come_from_libcuda_libnvidia_ml_and_the_compat_hook() {
    let e = ContainerEdits {
        mounts: vec![
            Mount {
                host_path: "/usr/lib/x86_64-linux-gnu/libnvidia-egl-wayland.so.1.1.13".into(),
                ..Default::default()
            },
            Mount {
                host_path: "/usr/lib/x86_64-linux-gnu/libcuda.so.1".into(),
                ..Default::default()
            },
            Mount {
                host_path: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.535.183.01".into(),
                ..Default::default()
            },
        ],
        hooks: vec![Hook {
            args: vec![
                "nvidia-cdi-hook".into(),
                "enable-cuda-compat".into(),
                "--host-driver-version=535.183.01".into(),
            ],
            ..Default::default()
        }],
        ..Default::default()
    };
    assert_eq!(driver_versions(&e), vec!["535.183.01"]);
    assert!(driver_versions(&ContainerEdits::default()).is_empty());
}

#[test]
fn device_numbers_are_split_like_glibc() {
    assert_eq!(major_minor(0x0103), (1, 3));
    // major 509, minor 300: minor's high bits sit above the major's low 12 bits.
    let dev = ((509u64 & 0xfff) << 8) | (300 & 0xff) | ((300u64 & !0xff) << 12);
    assert_eq!(major_minor(dev), (509, 300));
}

#[test]
fn a_dangling_link_is_a_missing_host_path() {
    let h = Host::new();
    let spec = h.yaml("580.126.09");
    fs::remove_file(h.p("bin/nvidia-smi")).unwrap();
    std::os::unix::fs::symlink(h.p("bin/gone"), h.p("bin/nvidia-smi")).unwrap();
    h.write("run-cdi/nvidia.yaml", &spec);
    assert!(bad_why(load(&h).unwrap_err()).contains("nvidia-smi does not exist"));
}
