//! The harness that runs a test body in a child process loading the fake `libnvidia-ml.so.1`
//! through the normal dynamic-loader path (`LD_LIBRARY_PATH` is read at process start, so the
//! body cannot run in the test process itself).
//!
//! `run(name, models, setup, body)`: in the test process, makes a temp dir with a simulated node
//! (`state/sim.json`, the fake's `FAKE_NVML_STATE`), a proc tree the fake maintains
//! (`proc/`, also `DYNAMIG_PROC_ROOT`), an empty dynamig state dir and `lib/libnvidia-ml.so.1`
//! (a link to the built fake); runs `setup` on it; then re-runs this test binary filtered to
//! `name` with that environment and `FAKE_NVML_CHILD=name`, where `body` runs.

#![allow(dead_code)]

use dynamig_core::ids::{GpuIndex, ProfileId};
use dynamig_node::backend::sim::SimNode;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `dynamigctl`, built by this test (cargo does not build another package's binaries for it).
pub fn dynamigctl() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let target = profile_dir.parent().expect("target dir");
    let mut c = Command::new(env!("CARGO"));
    c.args([
        "build",
        "--quiet",
        "-p",
        "dynamigctl",
        "--bin",
        "dynamigctl",
    ])
    .arg("--target-dir")
    .arg(target);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        c.arg("--release");
    }
    let st = c.status().expect("run cargo build");
    assert!(st.success(), "cargo build of dynamigctl failed");
    profile_dir.join("dynamigctl")
}

pub const CHILD_ENV: &str = "FAKE_NVML_CHILD";

/// The fake library cargo built for this test run.
pub fn fake_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps dir");
    for c in [
        deps.join("libnvidia_ml.so"),
        deps.join("../libnvidia_ml.so"),
    ] {
        if c.exists() {
            return c;
        }
    }
    panic!(
        "libnvidia_ml.so not found next to {}; build it with `cargo build -p fake-nvml`",
        exe.display()
    );
}

pub struct Fake {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Fake {
    /// A fake node with one GPU per model; `with_lib` false leaves the library out.
    pub fn new(models: &[&str], with_lib: bool) -> Fake {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in ["fake", "proc", "lib", "state"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::set_permissions(root.join("state"), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        if !models.is_empty() {
            SimNode::new(models)
                .expect("models")
                .save(&root.join("fake/sim.json"))
                .expect("save");
        }
        if with_lib {
            let lib = fake_lib();
            for name in ["libnvidia-ml.so.1", "libnvidia-ml.so"] {
                std::os::unix::fs::symlink(&lib, root.join("lib").join(name)).expect("symlink");
            }
        }
        let s = |p: &str| root.join(p).display().to_string();
        let env = vec![
            ("LD_LIBRARY_PATH".into(), s("lib")),
            ("FAKE_NVML_STATE".into(), s("fake/sim.json")),
            ("FAKE_NVML_PROC_ROOT".into(), s("proc")),
            ("DYNAMIG_PROC_ROOT".into(), s("proc")),
            ("DYNAMIG_STATE_DIR".into(), s("state")),
            ("DYNAMIG_BACKEND".into(), String::new()),
        ];
        Fake { dir, env }
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("fake/sim.json")
    }

    pub fn set_env(&mut self, k: &str, v: &str) {
        self.env.retain(|(a, _)| a != k);
        self.env.push((k.into(), v.into()));
    }

    /// Edits the fake node's file directly (what "someone else" or the hardware does).
    pub fn edit(&self, f: impl FnOnce(&mut SimNode)) {
        edit(&self.state(), f)
    }

    /// A command with the fake's environment.
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

pub fn edit(state: &Path, f: impl FnOnce(&mut SimNode)) {
    let mut n = SimNode::load(state).expect("load").expect("a node");
    f(&mut n);
    n.save(state).expect("save");
}

/// In the child: the fake node file.
pub fn child_state() -> PathBuf {
    PathBuf::from(std::env::var("FAKE_NVML_STATE").expect("FAKE_NVML_STATE"))
}

/// Runs `body` in a child process set up as described in the module doc.
pub fn run(name: &str, fake: impl FnOnce() -> Fake, body: impl FnOnce()) {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        body();
        return;
    }
    let fake = fake();
    let exe = std::env::current_exe().expect("current exe");
    let out = fake
        .command(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("spawn the child test");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var_os("FAKE_NVML_SHOW").is_some() {
        eprintln!("{text}");
    }
    assert!(out.status.success(), "child test {name} failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "child test {name} did not run:\n{text}"
    );
}

/// Runs `dynamigctl args` with the fake's environment.
pub fn ctl_output(f: &Fake, ctl: &Path, args: &[&str]) -> std::process::Output {
    f.command(ctl).args(args).output().expect("run dynamigctl")
}

/// Runs `dynamigctl args --json`-style commands that must succeed; returns the parsed stdout.
pub fn ctl_json(f: &Fake, ctl: &Path, args: &[&str]) -> serde_json::Value {
    let o = ctl_output(f, ctl, args);
    assert!(
        o.status.success(),
        "dynamigctl {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json")
}

/// (gpu, profile id, start) of every instance on the fake hardware.
pub fn hardware_instances(f: &Fake) -> Vec<(GpuIndex, ProfileId, u8)> {
    let n = SimNode::load(&f.state()).expect("load").expect("a node");
    let mut v: Vec<_> = n
        .gpus
        .iter()
        .flat_map(|g| {
            g.instances
                .iter()
                .map(move |i| (g.index, i.profile_id, i.start))
        })
        .collect();
    v.sort();
    v
}

/// A CDI spec of kind `nvidia.com/gpu` for driver `version` (mounting a `libcuda.so.<version>`
/// made in the temp dir) in `cdi/`, with `DYNAMIG_CDI_SPEC_DIRS` pointing there.
pub fn cdi_spec(f: &mut Fake, version: &str) {
    let root = f.dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("cdi")).expect("mkdir");
    let lib = root.join("lib").join(format!("libcuda.so.{version}"));
    std::fs::write(&lib, b"").expect("lib");
    std::fs::write(
        root.join("cdi/nvidia.yaml"),
        format!(
            "cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices: [{{name: all}}]\ncontainerEdits:\n  mounts:\n    - hostPath: {}\n      containerPath: /usr/lib/x86_64-linux-gnu/libcuda.so.{version}\n",
            lib.display()
        ),
    )
    .expect("spec");
    f.set_env(
        "DYNAMIG_CDI_SPEC_DIRS",
        &root.join("cdi").display().to_string(),
    );
}
