//! The driver's character devices: the majors in `/proc/devices` (nvidia-caps, nvidia-uvm) and
//! the device nodes under `/dev`.

use super::report::{Report, Verdict};
use dynamig_node::backend::nvml::caps::ProcTree;
use std::path::Path;

/// The majors of nvidia-caps and nvidia-uvm in `/proc/devices`.
pub(super) fn check_proc(r: &mut Report, p: &ProcTree) {
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

/// `nvidiactl` (required) and the nodes nvidia-modprobe makes on first use.
pub(super) fn check_dev(r: &mut Report, dev: &Path) {
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
