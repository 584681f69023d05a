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

mod devices;
mod driver_stack;
mod nvml;
mod report;
mod runtimes;
mod state_dir;

use report::Report;
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

/// Runs every check, writing one line each to `out`. True when the node is ready.
pub fn run(state_dir: Option<&Path>, out: &mut dyn Write) -> bool {
    let mut r = Report { out, failed: false };
    let proc_tree = dynamig_node::backend::nvml::caps::ProcTree::from_env();
    let dev = root_from_env(DEV_ROOT_ENV, "/dev");
    let etc = root_from_env(ETC_ROOT_ENV, "/etc");

    let usable = nvml::check(&mut r, &dev);
    devices::check_proc(&mut r, &proc_tree);
    devices::check_dev(&mut r, &dev);
    state_dir::check(&mut r, state_dir);
    runtimes::check(&mut r, &etc);
    driver_stack::check(&mut r);

    let ready = !r.failed && usable > 0;
    let verdict = if ready {
        format!("ready ({usable} GPU(s) with MIG usable)")
    } else {
        "NOT ready (see the FAIL lines above)".to_string()
    };
    let _ = writeln!(r.out, "node: {verdict}");
    ready
}
