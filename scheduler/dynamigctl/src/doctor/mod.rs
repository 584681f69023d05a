//! `dynamigctl doctor`: a read-only check of a node, one line per finding with a verdict.
//!
//! It loads NVML and only reads: versions, GPUs, MIG modes, the driver's profiles and
//! placements, `/proc/devices`, the capability files, device nodes, the state directory's
//! permissions and the runtimes' configuration files. It never creates or destroys an instance
//! and never changes a MIG mode, so it is safe on any machine, a shared one included. Where the
//! entry points would use the simulated node (`DYNAMIG_BACKEND=sim`, or no NVIDIA library and a
//! `sim init` node), it checks that node instead of NVML and the host's NVIDIA devices.
//!
//! Verdicts: `ok`, `warn` (works, but look at it), `FAIL` (dynamig cannot work here), `info`.
//! The node is ready when nothing failed and at least one GPU has MIG usable.
//!
//! Paths can be moved for tests: `DYNAMIG_PROC_ROOT` (default `/proc`), `DYNAMIG_DEV_ROOT`
//! (`/dev`), `DYNAMIG_ETC_ROOT` (`/etc`, for `containerd/config.toml` and `docker/daemon.json`);
//! the driver stack is looked for as container creations look for it (`DYNAMIG_CDI_SPEC_DIRS`,
//! `DYNAMIG_DRIVER_STACK`, `PATH`).

mod devices;
mod dra_mode;
mod driver_stack;
mod nvml;
mod report;
mod runtimes;
mod sim;
mod state_dir;

use dynamig_node::backend::nvml::{NvmlBackend, OpenError, LIB_NAME};
use dynamig_node::backend::{BackendChoice, BackendKind, BACKEND_ENV};
use dynamig_node::config::NodeConfig;
use report::{Report, Verdict};
use std::io::Write;
use std::path::{Path, PathBuf};

const DEV_ROOT_ENV: &str = "DYNAMIG_DEV_ROOT";
const ETC_ROOT_ENV: &str = "DYNAMIG_ETC_ROOT";

/// The path in `env`, or `default` when it is unset or empty.
fn root_from_env(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The backend the node's entry points would use, as `backend::select` chooses it.
enum Chosen {
    /// The simulated node, and why.
    Sim(String),
    /// NVML, as it opened (boxed: the backend is large).
    Nvml(Box<Result<NvmlBackend, OpenError>>),
}

fn backend(r: &mut Report, cfg: &NodeConfig, sim_file: &Path) -> Chosen {
    let open = || Box::new(NvmlBackend::open(cfg.proc_tree()));
    match cfg.backend_choice() {
        Ok(BackendChoice::Sim) => Chosen::Sim(format!("{BACKEND_ENV}=sim")),
        Ok(BackendChoice::Nvml) => Chosen::Nvml(open()),
        Ok(BackendChoice::Auto) => match NvmlBackend::open(cfg.proc_tree()) {
            // No library at all: the entry points use the simulated node when there is one.
            Err(OpenError::Load(e)) if sim_file.is_file() => {
                r.line(
                    Verdict::Info,
                    "NVML",
                    &format!("{LIB_NAME} could not be loaded ({e}): not a GPU node"),
                );
                Chosen::Sim(format!("no {LIB_NAME} here"))
            }
            opened => Chosen::Nvml(Box::new(opened)),
        },
        Err(e) => {
            r.line(Verdict::Fail, "backend", &e.to_string());
            Chosen::Nvml(open())
        }
    }
}

/// Runs every check, writing one line each to `out`. True when the node is ready.
pub fn run(cfg: &NodeConfig, state_dir: Option<&Path>, out: &mut dyn Write) -> bool {
    let mut r = Report { out, failed: false };
    let proc_tree = cfg.proc_tree();
    let dev = root_from_env(DEV_ROOT_ENV, "/dev");
    let etc = root_from_env(ETC_ROOT_ENV, "/etc");

    let sim_file = state_dir
        .map_or_else(|| cfg.state_dir.clone(), Path::to_path_buf)
        .join("sim.json");
    let (usable, kind, sim_driver) = match backend(&mut r, cfg, &sim_file) {
        Chosen::Sim(why) => {
            let (usable, driver) = sim::check(&mut r, &sim_file, &why);
            (usable, BackendKind::Sim, driver)
        }
        Chosen::Nvml(opened) => (nvml::check(&mut r, *opened, &dev), BackendKind::Nvml, None),
    };
    if kind == BackendKind::Sim {
        // The simulated node's devices are made up: the host's are not the point.
        r.line(
            Verdict::Info,
            "devices",
            "nvidia-caps, nvidia-uvm and /dev not checked: the simulated node needs no NVIDIA kernel driver",
        );
    } else {
        devices::check_proc(&mut r, &proc_tree);
        devices::check_dev(&mut r, &dev);
    }
    state_dir::check(&mut r, cfg, state_dir);
    dra_mode::check(&mut r, cfg, state_dir);
    runtimes::check(&mut r, &etc);
    let driver = match kind {
        BackendKind::Sim => sim_driver,
        BackendKind::Nvml => NvmlBackend::open(proc_tree)
            .ok()
            .and_then(|b| b.driver_version().ok()),
    };
    driver_stack::check(&mut r, cfg, kind, driver.as_deref());

    let ready = !r.failed && usable > 0;
    let verdict = if ready {
        format!("ready ({usable} GPU(s) with MIG usable)")
    } else {
        "NOT ready (see the FAIL lines above)".to_string()
    };
    let _ = writeln!(r.out, "node: {verdict}");
    ready
}
