//! The fake driver's knobs: the `FAKE_NVML_*` environment variables the crate doc lists, and
//! the readers of those that change what a call answers (profile memory, offered placements,
//! the product name, persistence mode, the call log). Read on every call, so a test changes
//! them between processes without restarting anything.

use dynamig_core::catalog::Profile;
use dynamig_node::backend::sim::SimGpu;
use std::io::Write;

use crate::errors::{Ret, UNKNOWN};

pub const STATE_ENV: &str = "FAKE_NVML_STATE";
pub const PROC_ROOT_ENV: &str = "FAKE_NVML_PROC_ROOT";
pub const DRIVER_ENV: &str = "FAKE_NVML_DRIVER_VERSION";
pub const PROFILE_MEMORY_ENV: &str = "FAKE_NVML_PROFILE_MEMORY";
pub const PLACEMENTS_ENV: &str = "FAKE_NVML_PLACEMENTS";
pub const GPU_NAME_ENV: &str = "FAKE_NVML_GPU_NAME";
pub const PERSISTENCE_ENV: &str = "FAKE_NVML_PERSISTENCE";
pub const NO_UVM_ENV: &str = "FAKE_NVML_NO_UVM";
pub const CI_DEVICE_ENV: &str = "FAKE_NVML_CI_DEVICE";
pub const CALL_LOG_ENV: &str = "FAKE_NVML_CALL_LOG";
pub const EXTRA_PROFILES_ENV: &str = "FAKE_NVML_EXTRA_PROFILES";
pub(crate) fn profile_memory(p: &Profile) -> u64 {
    if let Ok(v) = std::env::var(PROFILE_MEMORY_ENV) {
        if let Some((id, mib)) = v.split_once(':') {
            if id.trim().parse() == Ok(p.id) {
                if let Ok(m) = mib.trim().parse() {
                    return m;
                }
            }
        }
    }
    p.memory_mib
}

/// The placement starts this fake driver offers for a profile: the catalog's, or the subset
/// `FAKE_NVML_PLACEMENTS` names for its id.
pub(crate) fn offered_starts(p: &Profile) -> Vec<u8> {
    if let Ok(v) = std::env::var(PLACEMENTS_ENV) {
        for entry in v.split(';') {
            let Some((id, starts)) = entry.split_once(':') else {
                continue;
            };
            if id.trim().parse() == Ok(p.id) {
                return starts
                    .split(',')
                    .filter_map(|s| s.trim().parse().ok())
                    .filter(|s| p.starts.contains(s))
                    .collect();
            }
        }
    }
    p.starts.to_vec()
}

/// The product name a GPU reports: its model's, or `FAKE_NVML_GPU_NAME`.
pub(crate) fn gpu_name(g: &SimGpu) -> Result<String, Ret> {
    match std::env::var(GPU_NAME_ENV) {
        Ok(n) if !n.is_empty() => Ok(n),
        _ => Ok(g.model().map_err(|_| UNKNOWN)?.name.to_string()),
    }
}

/// Appends `function` to `FAKE_NVML_CALL_LOG`, when set.
pub(crate) fn log_call(function: &str) {
    if let Some(p) = std::env::var_os(CALL_LOG_ENV).filter(|v| !v.is_empty()) {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            let _ = writeln!(f, "{function}");
        }
    }
}

/// Persistence mode of GPU `gpu` (`FAKE_NVML_PERSISTENCE`).
pub(crate) fn persistence(gpu: u32) -> bool {
    let Ok(v) = std::env::var(PERSISTENCE_ENV) else {
        return true;
    };
    let modes: Vec<bool> = v.split(',').map(|m| m.trim() != "0").collect();
    modes
        .get(gpu as usize)
        .or(modes.last())
        .copied()
        .unwrap_or(true)
}
