//! `dynamigctl doctor`: a read-only check of a node, one line per finding with a verdict.
//!
//! It loads NVML and only reads: versions, GPUs, MIG modes, the driver's profiles and
//! placements, `/proc/devices`, the capability files, device nodes, the state directory's
//! permissions and the runtimes' configuration files. It never creates or destroys an instance
//! and never changes a MIG mode, so it is safe on any machine, a shared one included.
//!
//! Verdicts: `ok`, `warn` (works, but look at it), `FAIL` (dynamig cannot work here), `info`.
//! The node is ready when nothing failed and at least one GPU has MIG usable.
//!
//! Paths can be moved for tests: `DYNAMIG_PROC_ROOT` (default `/proc`), `DYNAMIG_DEV_ROOT`
//! (`/dev`), `DYNAMIG_ETC_ROOT` (`/etc`, for `containerd/config.toml` and `docker/daemon.json`);
//! the driver stack is looked for as container creations look for it (`DYNAMIG_CDI_SPEC_DIRS`,
//! `DYNAMIG_DRIVER_STACK`, `PATH`).

use dynamig_node::backend::nvml::{NvmlBackend, OpenError, LIB_NAME};
use dynamig_node::backend::{BackendError, BackendKind};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const DEV_ROOT_ENV: &str = "DYNAMIG_DEV_ROOT";
pub const ETC_ROOT_ENV: &str = "DYNAMIG_ETC_ROOT";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Warn,
    Fail,
    Info,
}

struct Report<'a> {
    out: &'a mut dyn Write,
    failed: bool,
}

impl Report<'_> {
    fn line(&mut self, v: Verdict, what: &str, text: &str) {
        let tag = match v {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "warn",
            Verdict::Fail => "FAIL",
            Verdict::Info => "info",
        };
        if v == Verdict::Fail {
            self.failed = true;
        }
        let _ = writeln!(self.out, "[{tag}] {what}: {text}");
    }

    fn detail(&mut self, text: &str) {
        let _ = writeln!(self.out, "         - {text}");
    }
}

fn root_from_env(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// Runs every check, writing one line each to `out`. True when the node is ready.
pub fn run(state_dir: Option<&Path>, out: &mut dyn Write) -> bool {
    let mut r = Report { out, failed: false };
    let proc_tree = dynamig_node::backend::nvml::caps::ProcTree::from_env();
    let dev = root_from_env(DEV_ROOT_ENV, "/dev");
    let etc = root_from_env(ETC_ROOT_ENV, "/etc");

    let usable = check_nvml(&mut r, &dev);
    check_proc(&mut r, &proc_tree);
    check_dev(&mut r, &dev);
    check_state_dir(&mut r, state_dir);
    check_runtimes(&mut r, &etc);
    check_driver_stack(&mut r);

    let ready = !r.failed && usable > 0;
    let verdict = if ready {
        format!("ready ({usable} GPU(s) with MIG usable)")
    } else {
        "NOT ready (see the FAIL lines above)".to_string()
    };
    let _ = writeln!(r.out, "node: {verdict}");
    ready
}

/// NVML, the driver and each GPU. Returns how many GPUs dynamig can use.
fn check_nvml(r: &mut Report, dev: &Path) -> usize {
    let mut b = match NvmlBackend::open() {
        Ok(b) => b,
        Err(e) => {
            r.line(Verdict::Fail, "NVML", &e.to_string());
            let hint = match e {
                // The library loads: a GPU node, which never falls back to a simulated node.
                OpenError::Init(_) => "the NVIDIA library loads, so this is a GPU node: load the kernel driver that matches it (`nvidia-smi` says why it cannot); dynamig uses a simulated node here only with DYNAMIG_BACKEND=sim",
                OpenError::Load(_) => "on a GPU node install the NVIDIA driver; without a GPU, `dynamigctl sim init a100-40gb` makes a simulated node",
            };
            r.line(Verdict::Info, "NVML", hint);
            return 0;
        }
    };
    match b.nvml_version() {
        Ok(v) => r.line(
            Verdict::Ok,
            "NVML",
            &format!("{LIB_NAME} loaded, NVML version {v}"),
        ),
        Err(e) => r.line(
            Verdict::Warn,
            "NVML",
            &format!("{LIB_NAME} loaded; version unknown ({e})"),
        ),
    }
    match b.driver_version() {
        Ok(v) => r.line(Verdict::Ok, "driver", &format!("version {v}")),
        Err(e) => r.line(Verdict::Fail, "driver", &e.to_string()),
    }
    let gpus = match b.gpu_infos() {
        Ok(g) => g,
        Err(e) => {
            r.line(Verdict::Fail, "GPUs", &e.to_string());
            return 0;
        }
    };
    if gpus.is_empty() {
        r.line(Verdict::Fail, "GPUs", "NVML sees no GPU");
        return 0;
    }
    let mut usable = 0;
    for g in &gpus {
        let what = format!("GPU {}", g.index);
        let id = format!("{} {} (/dev/nvidia{})", g.name, g.uuid, g.minor);
        let mode = match (g.mig.current, g.mig.pending) {
            (true, true) => None,
            (false, false) => Some(format!(
                "MIG disabled: not used (enable with `nvidia-smi -i {} -mig 1` on an idle GPU)",
                g.index
            )),
            (true, false) => {
                Some("MIG enabled, but disabling is pending a GPU reset: not used".into())
            }
            (false, true) => Some(format!(
                "MIG enabling is pending a GPU reset (`nvidia-smi -i {} -r`): not used until then",
                g.index
            )),
        };
        if let Some(m) = mode {
            r.line(Verdict::Warn, &what, &format!("{id}: {m}"));
            persistence_line(r, &what, g);
            continue;
        }
        r.line(Verdict::Ok, &what, &format!("{id}: MIG enabled"));
        persistence_line(r, &what, g);
        match b.tables(g.index) {
            Ok(t) => {
                let n = t.model.as_ref().map(|m| m.profiles.len()).unwrap_or(0);
                match (g.model, &t.model) {
                    (_, Err(why)) => r.line(Verdict::Warn, &what, &format!("not used: {why}")),
                    (Some(model), Ok(_)) if t.diffs.is_empty() => r.line(
                        Verdict::Ok,
                        &what,
                        &format!(
                            "{n} profiles and their placements match the catalog ({})",
                            model.key
                        ),
                    ),
                    (Some(model), Ok(_)) => r.line(
                        Verdict::Warn,
                        &what,
                        &format!(
                            "the driver differs from the catalog ({}) in {} way(s); NVML's values are the truth here and are planned with",
                            model.key,
                            t.diffs.len()
                        ),
                    ),
                    (None, Ok(m)) => r.line(
                        Verdict::Warn,
                        &what,
                        &format!(
                            "model {:?} is not in dynamig's catalog: planned with the driver's {n} profiles and placements (as {})",
                            g.name, m.key
                        ),
                    ),
                }
                for d in &t.diffs {
                    r.detail(&d.to_string());
                }
                if t.model.is_ok() {
                    usable += 1;
                }
            }
            Err(e) => {
                let hint = match &e {
                    BackendError::Nvml { code: 4, .. } => " (run doctor as root)",
                    _ => "",
                };
                r.line(
                    Verdict::Fail,
                    &what,
                    &format!("cannot read the MIG profiles and placements: {e}{hint}"),
                );
            }
        }
        let node = dev.join(format!("nvidia{}", g.minor));
        if !node.exists() {
            r.line(
                Verdict::Fail,
                &what,
                &format!("device node {} is missing", node.display()),
            );
        }
    }
    if usable == 0 {
        r.line(Verdict::Fail, "GPUs", "no GPU has MIG enabled and usable");
    }
    usable
}

/// One line on a GPU's persistence mode: without it the driver tears the GPU down when the last
/// NVML client exits, and every short NVML session (each dynamig entry point opens one) can pay
/// its initialisation again, seconds per GPU.
fn persistence_line(r: &mut Report, what: &str, g: &dynamig_node::backend::GpuInfo) {
    match g.persistence_mode {
        Some(true) => r.line(Verdict::Ok, what, "persistence mode on"),
        Some(false) => r.line(
            Verdict::Warn,
            what,
            &format!(
                "persistence mode off: each short NVML session (every dynamig call opens one) can \
                 pay the GPU's initialisation, seconds per GPU; enable it with \
                 `nvidia-smi -i {} -pm 1` or run nvidia-persistenced",
                g.index
            ),
        ),
        None => r.line(Verdict::Info, what, "persistence mode not reported by NVML"),
    }
}

fn check_proc(r: &mut Report, p: &dynamig_node::backend::nvml::caps::ProcTree) {
    match p.majors() {
        Ok(m) => {
            match m.caps {
                Some(c) => r.line(Verdict::Ok, "nvidia-caps", &format!("major {c}")),
                None => r.line(
                    Verdict::Fail,
                    "nvidia-caps",
                    &format!(
                        "no nvidia-caps in {}/devices: the driver has no MIG capability device",
                        p.root().display()
                    ),
                ),
            }
            match m.uvm {
                Some(u) => r.line(Verdict::Ok, "nvidia-uvm", &format!("major {u}")),
                None => r.line(
                    Verdict::Fail,
                    "nvidia-uvm",
                    "module not loaded: CUDA in a container needs /dev/nvidia-uvm, so allocations \
                     are refused until it is (`nvidia-modprobe -u -c=0` or `modprobe nvidia-uvm`)",
                ),
            }
        }
        Err(e) => r.line(Verdict::Fail, "nvidia-caps", &e.to_string()),
    }
}

fn check_dev(r: &mut Report, dev: &Path) {
    let required = ["nvidiactl"];
    let optional = ["nvidia-uvm", "nvidia-uvm-tools", "nvidia-caps"];
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|n| !dev.join(n).exists())
        .collect();
    if missing.is_empty() {
        r.line(
            Verdict::Ok,
            "device nodes",
            &format!("{}/nvidiactl present", dev.display()),
        );
    } else {
        r.line(
            Verdict::Fail,
            "device nodes",
            &format!("missing in {}: {}", dev.display(), missing.join(" ")),
        );
    }
    let missing: Vec<&str> = optional
        .iter()
        .copied()
        .filter(|n| !dev.join(n).exists())
        .collect();
    if !missing.is_empty() {
        r.line(
            Verdict::Warn,
            "device nodes",
            &format!(
                "not yet in {}: {} (nvidia-modprobe creates them on first use)",
                dev.display(),
                missing.join(" ")
            ),
        );
    }
}

fn check_state_dir(r: &mut Report, state_dir: Option<&Path>) {
    let path = state_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        root_from_env(
            dynamig_node::state::dir::ENV,
            dynamig_node::state::dir::DEFAULT,
        )
    });
    let what = "state directory";
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => r.line(
            Verdict::Ok,
            what,
            &format!(
                "{} does not exist yet; the first dynamig command creates it with mode 0700",
                path.display()
            ),
        ),
        Err(e) => r.line(Verdict::Fail, what, &format!("{}: {e}", path.display())),
        Ok(md) if !md.file_type().is_dir() => r.line(
            Verdict::Fail,
            what,
            &format!("{} is not a directory", path.display()),
        ),
        Ok(md) => {
            let mode = md.mode() & 0o7777;
            let me = nix::unistd::Uid::effective().as_raw();
            if mode & 0o022 != 0 {
                r.line(
                    Verdict::Fail,
                    what,
                    &format!(
                        "{} has mode {mode:04o}: writable by others (want 0700)",
                        path.display()
                    ),
                );
            } else if md.uid() != me {
                r.line(
                    Verdict::Fail,
                    what,
                    &format!(
                        "{} is owned by uid {}, not by this user (uid {me})",
                        path.display(),
                        md.uid()
                    ),
                );
            } else {
                r.line(
                    Verdict::Ok,
                    what,
                    &format!("{} mode {mode:04o}, owner uid {me}", path.display()),
                );
            }
        }
    }
}

/// Which driver user space containers will get (docs/driver-stack.md), judged as a creation on
/// the `nvml` backend judges it.
fn check_driver_stack(r: &mut Report) {
    use dynamig_node::driver_stack::{discover, Settings, Stack};
    let what = "driver stack";
    let mut stack = match Settings::from_env().and_then(|s| discover(&s)) {
        Ok(s) => s,
        Err(e) => return r.line(Verdict::Fail, what, &e.to_string()),
    };
    let driver = NvmlBackend::open()
        .ok()
        .and_then(|b| b.driver_version().ok());
    match (stack.check(BackendKind::Nvml, driver.as_deref()), &stack) {
        (Err(e), _) => r.line(Verdict::Fail, what, &e.to_string()),
        (Ok(()), Stack::Nothing { .. }) => r.line(
            Verdict::Warn,
            what,
            &format!(
                "{}: containers get device nodes only, no driver libraries",
                stack.describe()
            ),
        ),
        (Ok(()), _) => r.line(
            Verdict::Ok,
            what,
            &format!("containers get {}", stack.describe()),
        ),
    }
}

fn check_runtimes(r: &mut Report, etc: &Path) {
    let mut configured = 0;
    for (what, rel, marker) in [
        (
            "containerd",
            "containerd/config.toml",
            "io.containerd.dynamig.v2",
        ),
        ("Docker", "docker/daemon.json", "dynamig"),
    ] {
        let path = etc.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) if text.contains(marker) || text.contains("dynamig-runc") => {
                configured += 1;
                r.line(
                    Verdict::Ok,
                    what,
                    &format!("configured for dynamig ({})", path.display()),
                );
            }
            Ok(_) => r.line(
                Verdict::Info,
                what,
                &format!(
                    "{} has no dynamig runtime (see packaging/ for the snippet)",
                    path.display()
                ),
            ),
            Err(_) => r.line(
                Verdict::Info,
                what,
                &format!("not configured ({} not found)", path.display()),
            ),
        }
    }
    if configured == 0 {
        r.line(
            Verdict::Warn,
            "runtimes",
            "no container runtime is configured for dynamig yet; `dynamigctl` works, containers will not get slices",
        );
    }
}
