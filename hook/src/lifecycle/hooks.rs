//! The OCI hooks the wrapper adds to the specs it edits: which `dynamig-hook` binary, and the
//! environment it runs with (runc runs hooks with the spec's hook env only).

use super::LifecycleError;
use crate::spec::HookConfig;
use dynamig_node::state::StateDir;
use std::path::PathBuf;

/// Env entries handed through to the hooks (runc runs hooks with the spec's hook env only).
/// `LD_LIBRARY_PATH` and `DYNAMIG_PROC_ROOT` make the hooks find `libnvidia-ml.so.1` and the
/// capability files where the runtime found them.
pub const PASS_ENV: &[&str] = &[
    "DYNAMIG_BACKEND",
    "DYNAMIG_LOG",
    "DYNAMIG_LOG_FILE",
    "DYNAMIG_LOCK_TIMEOUT_MS",
    "DYNAMIG_PROC_ROOT",
    "LD_LIBRARY_PATH",
    HOOK_ENV,
    "DYNAMIG_METRICS_FILE",
];

/// A comma-separated list of further variable names to hand through to the hooks, for an NVML
/// library that needs its own environment (the tests' fake `libnvidia-ml.so.1` reads
/// `FAKE_NVML_STATE` and `FAKE_NVML_PROC_ROOT`).
pub const HOOK_ENV: &str = "DYNAMIG_HOOK_ENV";

/// The names of the variables handed to the hooks: [`PASS_ENV`] and those `DYNAMIG_HOOK_ENV`
/// lists (names only: letters, digits and `_`).
pub fn pass_env_names() -> Vec<String> {
    let mut names: Vec<String> = PASS_ENV.iter().map(|s| s.to_string()).collect();
    if let Ok(extra) = std::env::var(HOOK_ENV) {
        for n in extra.split(',').map(str::trim) {
            let valid = !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid && !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
    }
    names
}

/// The `dynamig-hook` binary: `$DYNAMIG_HOOK`, else next to the running executable.
pub fn hook_bin() -> Result<PathBuf, LifecycleError> {
    if let Some(p) = std::env::var_os("DYNAMIG_HOOK").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| LifecycleError::NoHook(e.to_string()))?;
    let dir = exe
        .parent()
        .ok_or_else(|| LifecycleError::NoHook(exe.display().to_string()))?;
    let hook = dir.join("dynamig-hook");
    if hook.is_file() {
        Ok(hook)
    } else {
        Err(LifecycleError::NoHook(exe.display().to_string()))
    }
}

/// The hooks' configuration for a state directory; `poststop` for `runc run`.
pub fn hook_config(dir: &StateDir, poststop: bool) -> Result<HookConfig, LifecycleError> {
    let state = std::fs::canonicalize(dir.path()).unwrap_or_else(|_| dir.path().to_path_buf());
    let mut env = vec![format!(
        "{}={}",
        dynamig_node::state::dir::ENV,
        state.display()
    )];
    for k in pass_env_names() {
        if let Some(v) = std::env::var(&k).ok().filter(|v| !v.is_empty()) {
            env.push(format!("{k}={v}"));
        }
    }
    Ok(HookConfig {
        hook_bin: hook_bin()?,
        env,
        poststop,
    })
}
