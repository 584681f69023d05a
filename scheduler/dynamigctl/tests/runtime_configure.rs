//! `dynamigctl runtime configure`: the edits on real engines' sample configs (containerd 1.6.20
//! and 2.1.9 `config default`, a hand-commented 1.6 file, a daemon.json with other keys), and the
//! command's file handling (backup, idempotence, dry run, new file, errors).

use dynamigctl::runtime_config::containerd::{self, ContainerdError};
use dynamigctl::runtime_config::docker::{self, DockerError};
use dynamigctl::runtime_config::{configure, Engine, Options};
use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/runtime-config")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Whether every line of `old` appears in `new`, in order (nothing removed or reordered).
fn keeps_all_lines(old: &str, new: &str) -> bool {
    let mut it = new.lines();
    old.lines().all(|l| it.any(|n| n == l))
}

/// The dynamig runtime table of a parsed containerd config, by plugin id.
fn runtime<'a>(doc: &'a toml_edit::DocumentMut, plugin: &str) -> &'a toml_edit::Item {
    &doc["plugins"][plugin]["containerd"]["runtimes"]["dynamig"]
}

fn annotations(rt: &toml_edit::Item) -> Vec<String> {
    rt["pod_annotations"]
        .as_array()
        .expect("pod_annotations is an array")
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn check_containerd(sample: &str, plugin: &str, version: i64) {
    let old = data(sample);
    let e = containerd::edit(&old, false).unwrap();
    assert!(
        keeps_all_lines(&old, &e.text),
        "{sample}: lines lost:\n{}",
        e.text
    );
    let doc: toml_edit::DocumentMut = e.text.parse().unwrap();
    assert_eq!(doc["version"].as_integer(), Some(version));
    let rt = runtime(&doc, plugin);
    assert_eq!(
        rt["runtime_type"].as_str(),
        Some("io.containerd.dynamig.v2")
    );
    assert_eq!(annotations(rt), ["dynamig.io/*"]);
    // runc is still there, as it was
    let runc = &doc["plugins"][plugin]["containerd"]["runtimes"]["runc"];
    assert_eq!(runc["runtime_type"].as_str(), Some("io.containerd.runc.v2"));
    assert_eq!(e.changes.len(), 3, "{:?}", e.changes);
    // The new table is indented as runc's is, its keys as runc's keys: unindented, it would read
    // as part of the indented table after it.
    let indent_of = |text: &str, starts: &str| -> usize {
        let l = text
            .lines()
            .find(|l| l.trim_start().starts_with(starts))
            .unwrap_or_else(|| panic!("{sample}: no line {starts}:\n{text}"));
        l.len() - l.trim_start().len()
    };
    let header = |name: &str| {
        format!(
            "[plugins.{}.containerd.runtimes.{name}]",
            quoted(&e.text, plugin)
        )
    };
    assert_eq!(
        indent_of(&e.text, &header("dynamig")),
        indent_of(&old, &header("runc")),
        "{sample}:\n{}",
        e.text
    );
    assert!(
        indent_of(&old, &header("runc")) > 0,
        "{sample}: runc not indented"
    );
    // runtime_type, the first key under each header
    let key_indent = |text: &str, name: &str| -> usize {
        let l = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with(&header(name)))
            .find(|l| l.trim_start().starts_with("runtime_type"))
            .unwrap_or_else(|| panic!("{sample}: no runtime_type under {name}:\n{text}"));
        l.len() - l.trim_start().len()
    };
    assert_eq!(
        key_indent(&e.text, "dynamig"),
        key_indent(&old, "runc"),
        "{sample}:\n{}",
        e.text
    );
    // idempotent
    let again = containerd::edit(&e.text, false).unwrap();
    assert!(again.changes.is_empty(), "{:?}", again.changes);
    assert_eq!(again.text, e.text);
}

/// `plugin` as the file quotes it in table headers (`"id"` or `'id'`).
fn quoted(text: &str, plugin: &str) -> String {
    let single = format!("'{plugin}'");
    if text.contains(&single) {
        single
    } else {
        format!("\"{plugin}\"")
    }
}

#[test]
fn containerd_1_6_default_config_gets_the_version_2_runtime() {
    check_containerd(
        "containerd-1.6.20-default.toml",
        "io.containerd.grpc.v1.cri",
        2,
    );
}

#[test]
fn debian_12_packaged_config_gets_the_version_2_runtime() {
    // /etc/containerd/config.toml as Debian 12's containerd package ships it
    let old = data("containerd-debian12-etc.toml");
    let e = containerd::edit(&old, false).unwrap();
    assert!(keeps_all_lines(&old, &e.text), "{}", e.text);
    let doc: toml_edit::DocumentMut = e.text.parse().unwrap();
    let rt = runtime(&doc, "io.containerd.grpc.v1.cri");
    assert_eq!(
        rt["runtime_type"].as_str(),
        Some("io.containerd.dynamig.v2")
    );
    assert_eq!(annotations(rt), ["dynamig.io/*"]);
    assert_eq!(
        doc["plugins"]["io.containerd.grpc.v1.cri"]["cni"]["bin_dir"].as_str(),
        Some("/usr/lib/cni")
    );
    assert!(containerd::edit(&e.text, false).unwrap().changes.is_empty());
}

#[test]
fn containerd_2_1_default_config_gets_the_version_3_runtime() {
    check_containerd(
        "containerd-2.1.9-default.toml",
        "io.containerd.cri.v1.runtime",
        3,
    );
    // and nothing lands in the 1.x plugin (2.x still has a grpc.v1.cri for streaming)
    let e = containerd::edit(&data("containerd-2.1.9-default.toml"), false).unwrap();
    let doc: toml_edit::DocumentMut = e.text.parse().unwrap();
    assert!(doc["plugins"]["io.containerd.grpc.v1.cri"]
        .get("containerd")
        .is_none());
}

#[test]
fn comments_and_other_runtimes_survive() {
    let old = data("containerd-1.6-commented.toml");
    let e = containerd::edit(&old, true).unwrap();
    let without_default: String = old
        .lines()
        .filter(|l| !l.contains("default_runtime_name"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(keeps_all_lines(&without_default, &e.text), "{}", e.text);
    for c in [
        "# keep images on the big disk",
        "# systemd is the cgroup driver here",
        "# trailing comment stays",
        "BinaryName = \"/usr/bin/nvidia-container-runtime\"",
    ] {
        assert!(e.text.contains(c), "lost {c:?}:\n{}", e.text);
    }
    let doc: toml_edit::DocumentMut = e.text.parse().unwrap();
    let ctd = &doc["plugins"]["io.containerd.grpc.v1.cri"]["containerd"];
    assert_eq!(ctd["default_runtime_name"].as_str(), Some("dynamig"));
    assert_eq!(
        ctd["runtimes"]["runc"]["options"]["SystemdCgroup"].as_bool(),
        Some(true)
    );
    // the new table sits after the existing runtimes, before the trailing comment
    let dyn_at = e.text.find("runtimes.dynamig]").unwrap();
    assert!(dyn_at > e.text.find("runtimes.nvidia.options]").unwrap());
    assert!(dyn_at < e.text.find("# trailing comment stays").unwrap());
    assert!(containerd::edit(&e.text, true).unwrap().changes.is_empty());
}

#[test]
fn an_existing_dynamig_runtime_is_completed_not_replaced() {
    let old = r#"version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.dynamig]
  runtime_type = "io.containerd.runc.v2"
  pod_annotations = ["example.com/x"]
  privileged_without_host_devices = false
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.dynamig.options]
    BinaryName = "/usr/bin/dynamig-runc"
    SystemdCgroup = true
"#;
    let e = containerd::edit(old, false).unwrap();
    let doc: toml_edit::DocumentMut = e.text.parse().unwrap();
    let rt = runtime(&doc, "io.containerd.grpc.v1.cri");
    assert_eq!(
        rt["runtime_type"].as_str(),
        Some("io.containerd.dynamig.v2")
    );
    assert_eq!(annotations(rt), ["example.com/x", "dynamig.io/*"]);
    assert_eq!(rt["privileged_without_host_devices"].as_bool(), Some(false));
    assert!(rt["options"].get("BinaryName").is_none());
    assert_eq!(rt["options"]["SystemdCgroup"].as_bool(), Some(true));
    assert_eq!(e.changes.len(), 3, "{:?}", e.changes);
}

#[test]
fn a_file_without_version_gets_version_2_when_it_is_safe() {
    let e = containerd::edit("", false).unwrap();
    let doc: toml_edit::DocumentMut = e.text.parse().unwrap();
    assert_eq!(doc["version"].as_integer(), Some(2));
    assert!(e.text.starts_with("version = 2\n"), "{}", e.text);
    assert!(e
        .text
        .contains("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.dynamig]"));
    // only the runtime's own header: the parents stay implicit
    assert_eq!(e.text.matches('[').count(), 2, "{}", e.text);

    let e = containerd::edit("# mine\nroot = \"/data/containerd\"\n", false).unwrap();
    assert!(e.text.starts_with("version = 2\n"), "{}", e.text);
    assert!(e.text.contains("# mine\nroot = \"/data/containerd\""));

    // plugin sections of the version 1 layout: refused
    let v1 = "[plugins.cri.containerd]\n  snapshotter = \"overlayfs\"\n";
    assert_eq!(containerd::edit(v1, false), Err(ContainerdError::Version1));
    // Docker's containerd.io package ships `disabled_plugins = ["cri"]` without a version
    let err = containerd::edit("disabled_plugins = [\"cri\"]\n", false).unwrap_err();
    assert!(
        matches!(&err, ContainerdError::ShortPluginName { name, .. } if name == "cri"),
        "{err:?}"
    );
    assert!(err.to_string().contains("io.containerd.grpc.v1.cri"));
}

#[test]
fn bad_containerd_configs_are_refused_clearly() {
    let e = containerd::edit("version = 4\n", false).unwrap_err();
    assert_eq!(e, ContainerdError::UnknownVersion("4".into()));
    match containerd::edit("version = 2\n[plugins\n", false) {
        Err(ContainerdError::Parse(m)) => {
            assert!(m.starts_with("line 2, column "), "{m}");
            assert!(!m.contains('\n'), "{m}");
        }
        other => panic!("{other:?}"),
    }
    let e = containerd::edit(
        "version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\" = 1\n",
        false,
    )
    .unwrap_err();
    assert_eq!(
        e,
        ContainerdError::NotATable("plugins.\"io.containerd.grpc.v1.cri\"".into())
    );
    let disabled = "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n";
    let e = containerd::edit(disabled, false).unwrap();
    assert_eq!(e.warnings.len(), 1, "{:?}", e.warnings);
}

/// Top-level keys of a JSON object text, in order.
fn keys(text: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn daemon_json_keeps_every_other_key_in_place() {
    let old = data("daemon.json");
    let e = docker::edit(&old, Path::new("/usr/bin/dynamig-runc"), false).unwrap();
    assert_eq!(keys(&old), keys(&e.text));
    let before: serde_json::Value = serde_json::from_str(&old).unwrap();
    let after: serde_json::Value = serde_json::from_str(&e.text).unwrap();
    for (k, v) in before.as_object().unwrap() {
        if k != "runtimes" {
            assert_eq!(&after[k], v, "{k} changed");
        }
    }
    assert_eq!(after["runtimes"]["nvidia"], before["runtimes"]["nvidia"]);
    assert_eq!(
        after["runtimes"]["dynamig"],
        serde_json::json!({"path": "/usr/bin/dynamig-runc"})
    );
    assert_eq!(after["default-runtime"], "runc");
    assert!(
        e.text.contains("\n    \"log-driver\""),
        "indentation: {}",
        e.text
    );
    let again = docker::edit(&e.text, Path::new("/usr/bin/dynamig-runc"), false).unwrap();
    assert!(again.changes.is_empty());
    assert_eq!(again.text, e.text);
    // --set-as-default
    let d = docker::edit(&e.text, Path::new("/usr/bin/dynamig-runc"), true).unwrap();
    let v: serde_json::Value = serde_json::from_str(&d.text).unwrap();
    assert_eq!(v["default-runtime"], "dynamig");
    assert_eq!(d.changes.len(), 1);
}

#[test]
fn daemon_json_errors_and_new_files() {
    let w = Path::new("/opt/dynamig/bin/dynamig-runc");
    let e = docker::edit("", w, false).unwrap();
    let v: serde_json::Value = serde_json::from_str(&e.text).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"runtimes": {"dynamig": {"path": "/opt/dynamig/bin/dynamig-runc"}}})
    );
    assert!(matches!(
        docker::edit("{\"a\": ", w, false),
        Err(DockerError::Parse(_))
    ));
    assert_eq!(
        docker::edit("[]", w, false),
        Err(DockerError::NotAnObject("an array"))
    );
    assert_eq!(
        docker::edit("{\"runtimes\": []}", w, false),
        Err(DockerError::KeyNotAnObject("runtimes".into()))
    );
    assert!(matches!(
        docker::edit("{}", Path::new("dynamig-runc"), false),
        Err(DockerError::RelativePath(_))
    ));
    // a wrong path is corrected, other runtime settings kept
    let old =
        r#"{"runtimes": {"dynamig": {"path": "/old/dynamig-runc", "runtimeArgs": ["--debug"]}}}"#;
    let e = docker::edit(old, w, false).unwrap();
    let v: serde_json::Value = serde_json::from_str(&e.text).unwrap();
    assert_eq!(
        v["runtimes"]["dynamig"]["path"],
        "/opt/dynamig/bin/dynamig-runc"
    );
    assert_eq!(
        v["runtimes"]["dynamig"]["runtimeArgs"],
        serde_json::json!(["--debug"])
    );
}

#[test]
fn configure_backs_up_writes_once_and_dry_run_writes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("config.toml");
    let original = data("containerd-1.6.20-default.toml");
    std::fs::write(&cfg, &original).unwrap();
    let mut opts = Options::new(Engine::Containerd);
    opts.config = cfg.clone();

    let dry = configure(&opts, true).unwrap();
    assert!(!dry.written && dry.backup.is_none());
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), original);
    assert!(!dry.edit.changes.is_empty());

    let first = configure(&opts, false).unwrap();
    assert!(first.written);
    let bak = first.backup.clone().expect("a backup");
    assert_eq!(bak, t.path().join("config.toml.bak"));
    assert_eq!(std::fs::read_to_string(&bak).unwrap(), original);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), first.edit.text);

    let second = configure(&opts, false).unwrap();
    assert!(!second.written && second.backup.is_none() && second.edit.changes.is_empty());
    assert!(!t.path().join("config.toml.bak.1").exists());

    // a missing file is created, without a backup
    let mut d = Options::new(Engine::Docker);
    d.config = t.path().join("docker/daemon.json");
    let made = configure(&d, false).unwrap();
    assert!(made.written && !made.existed && made.backup.is_none());
    assert!(d.config.exists());
    // a dry run on a missing file does not create it
    let mut d2 = Options::new(Engine::Docker);
    d2.config = t.path().join("other/daemon.json");
    configure(&d2, true).unwrap();
    assert!(!d2.config.exists());
}

fn ctl() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_dynamigctl"))
}

#[test]
fn the_command_line() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("daemon.json");
    std::fs::write(&cfg, data("daemon.json")).unwrap();
    let run = |args: &[&str]| {
        let mut a = vec!["runtime", "configure"];
        a.extend_from_slice(args);
        Command::new(ctl()).args(&a).output().unwrap()
    };
    let c = cfg.to_str().unwrap();

    let o = run(&[
        "--runtime",
        "docker",
        "--config",
        c,
        "--dry-run",
        "--runc-wrapper",
        "/opt/dynamig/bin/dynamig-runc",
    ]);
    assert!(o.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        printed["runtimes"]["dynamig"]["path"],
        "/opt/dynamig/bin/dynamig-runc"
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("dry run: would change"));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), data("daemon.json"));

    let o = run(&["--runtime", "docker", "--config", c]);
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("updated") && out.contains("daemon.json.bak"),
        "{out}"
    );
    assert!(out.contains("restart dockerd"), "{out}");

    let o = run(&["--runtime", "docker", "--config", c]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing changed"));

    // a config that cannot be edited: exit 2, one line naming the file
    let bad = t.path().join("config.toml");
    std::fs::write(&bad, "[plugins.cri]\n").unwrap();
    let o = run(&["--runtime", "containerd", "--config", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("config.toml") && err.contains("version"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&bad).unwrap(), "[plugins.cri]\n");
}
