//! The proc tree the driver keeps under `/proc`, kept by the fake under `FAKE_NVML_PROC_ROOT`:
//! `devices` with the character majors, and one capability `access` file per GPU and compute
//! instance, rewritten from the node after every change.

use dynamig_node::backend::sim::{cap_minor, SimNode};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::{NO_UVM_ENV, PROC_ROOT_ENV};

/// Majors the fake proc tree publishes (deliberately not the `sim` backend's).
pub const NVIDIA_MAJOR: u32 = 195;
pub const CAPS_MAJOR: u32 = 237;
pub const UVM_MAJOR: u32 = 508;
/// Rewrites the fake proc tree from the node (when `FAKE_NVML_PROC_ROOT` is set).
pub fn write_proc_tree(n: &SimNode) {
    let Some(root) = std::env::var_os(PROC_ROOT_ENV).filter(|v| !v.is_empty()) else {
        return;
    };
    let root = PathBuf::from(root);
    let _ = std::fs::create_dir_all(&root);
    let uvm = if std::env::var(NO_UVM_ENV).is_ok_and(|v| v == "1") {
        String::new()
    } else {
        format!("{UVM_MAJOR} nvidia-uvm\n")
    };
    let devices = format!(
        "Character devices:\n  1 mem\n  4 tty\n{NVIDIA_MAJOR} nvidia-frontend\n\
         {CAPS_MAJOR} nvidia-caps\n{uvm}\nBlock devices:\n  8 sd\n"
    );
    let _ = std::fs::write(root.join("devices"), devices);
    let caps = root.join("driver/nvidia/capabilities");
    let _ = std::fs::remove_dir_all(&caps);
    for g in &n.gpus {
        let mig = caps.join(format!("gpu{}/mig", g.minor));
        let _ = std::fs::create_dir_all(&mig);
        for i in &g.instances {
            let gi_dir = mig.join(format!("gi{}", i.gi));
            let _ = write_access(&gi_dir, cap_minor(g.minor, i.gi, None));
            if let Some(c) = i.ci {
                let _ = write_access(
                    &gi_dir.join(format!("ci{c}")),
                    cap_minor(g.minor, i.gi, Some(c)),
                );
            }
        }
    }
}

fn write_access(dir: &Path, minor: u32) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::File::create(dir.join("access"))?;
    write!(
        f,
        "DeviceFileMinor: {minor}\nDeviceFileMode: 292\nDeviceFileModify: 1\n"
    )
}
