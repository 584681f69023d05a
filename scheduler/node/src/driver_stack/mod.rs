//! The NVIDIA driver's user space (`libcuda.so.1`, `libnvidia-ml.so.1`, `nvidia-smi`, ...) that
//! a container with a MIG slice needs, and where it comes from (docs/driver-stack.md):
//!
//! 1. the host's CDI spec of kind `nvidia.com/gpu` ([`cdi`]): its spec-level `containerEdits`
//!    are applied with dynamig's own device edits;
//! 2. else NVIDIA's legacy `nvidia-container-runtime-hook`, added as a `prestart` hook (it
//!    injects the libraries itself, from `NVIDIA_VISIBLE_DEVICES=MIG-<uuid>`);
//! 3. else nothing: on the `nvml` backend a creation fails, unless the operator opted out with
//!    `DYNAMIG_DRIVER_STACK=none` (device nodes only); on `sim`, device nodes only (the
//!    simulator never takes the legacy hook: it would look for a real device).
//!
//! [`Settings`] are read once, at the entry point, and only for a container that asks for a
//! slice: a container without a request never costs a directory scan.

pub mod cdi;

use crate::backend::BackendKind;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use cdi::{CdiError, NvidiaSpec, KIND, REGENERATE};

/// Colon-separated CDI spec directories, in increasing priority.
pub const CDI_DIRS_ENV: &str = "DYNAMIG_CDI_SPEC_DIRS";
/// The CDI project's default directories, in increasing priority.
pub const DEFAULT_CDI_DIRS: &[&str] = &["/etc/cdi", "/var/run/cdi"];
/// `auto` (default) or `none` (device nodes only, never a driver stack).
pub const MODE_ENV: &str = "DYNAMIG_DRIVER_STACK";
/// NVIDIA's legacy OCI hook.
pub const LEGACY_HOOK: &str = "nvidia-container-runtime-hook";
/// Searched for [`LEGACY_HOOK`] after `PATH`.
pub const LEGACY_HOOK_DIRS: &[&str] = &["/usr/bin", "/usr/local/bin"];

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DriverStackError {
    #[error(transparent)]
    Cdi(#[from] CdiError),
    #[error("{MODE_ENV}={0:?} is not a setting; use auto (the default) or none")]
    BadMode(String),
    #[error("CDI spec {} is for NVIDIA driver {spec}, but the driver is {driver}; regenerate it: nvidia-ctk cdi generate --output={}", path.display(), path.display())]
    Stale {
        path: PathBuf,
        spec: String,
        driver: String,
    },
    #[error("no NVIDIA driver stack for containers: no CDI spec of kind {KIND} in {dirs} and no {LEGACY_HOOK}; install NVIDIA's container toolkit and run `{REGENERATE}` (or install its legacy {LEGACY_HOOK}), or set {MODE_ENV}=none for device nodes only")]
    Missing { dirs: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Auto,
    /// Device nodes only (`DYNAMIG_DRIVER_STACK=none`).
    None,
}

/// Where to look, read once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub cdi_dirs: Vec<PathBuf>,
    /// Directories searched for [`LEGACY_HOOK`], in order.
    pub hook_dirs: Vec<PathBuf>,
}

impl Settings {
    /// From the values of `DYNAMIG_DRIVER_STACK`, `DYNAMIG_CDI_SPEC_DIRS` (unset or empty:
    /// `None`) and `PATH` (read by [`crate::config::NodeConfig::from_env`]).
    pub fn parse(
        mode: Option<&str>,
        cdi_dirs: Option<std::ffi::OsString>,
        path: Option<std::ffi::OsString>,
    ) -> Result<Settings, DriverStackError> {
        let mode = match mode {
            None | Some("") | Some("auto") => Mode::Auto,
            Some("none") => Mode::None,
            Some(other) => return Err(DriverStackError::BadMode(other.to_string())),
        };
        let cdi_dirs = match cdi_dirs {
            Some(v) => std::env::split_paths(&v)
                .filter(|p| !p.as_os_str().is_empty())
                .collect(),
            None => DEFAULT_CDI_DIRS.iter().map(PathBuf::from).collect(),
        };
        let mut hook_dirs: Vec<PathBuf> = path
            .map(|p| {
                std::env::split_paths(&p)
                    .filter(|d| d.is_absolute())
                    .collect()
            })
            .unwrap_or_default();
        hook_dirs.extend(LEGACY_HOOK_DIRS.iter().map(PathBuf::from));
        Ok(Settings {
            mode,
            cdi_dirs,
            hook_dirs,
        })
    }

    fn dirs_text(&self) -> String {
        self.cdi_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// What containers get besides their device nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stack {
    Cdi(Box<NvidiaSpec>),
    /// The path of `nvidia-container-runtime-hook`.
    LegacyHook(PathBuf),
    /// Neither was found (`opted_out`: `DYNAMIG_DRIVER_STACK=none`, nothing was looked for).
    Nothing {
        opted_out: bool,
        dirs: String,
    },
}

/// Finds the driver stack: the CDI spec, else the legacy hook, else nothing. A broken spec is
/// an error, never a reason to fall back.
pub fn discover(settings: &Settings) -> Result<Stack, DriverStackError> {
    if settings.mode == Mode::None {
        return Ok(Stack::Nothing {
            opted_out: true,
            dirs: settings.dirs_text(),
        });
    }
    if let Some(spec) = cdi::find(&settings.cdi_dirs)? {
        return Ok(Stack::Cdi(Box::new(spec)));
    }
    if let Some(hook) = find_executable(&settings.hook_dirs, LEGACY_HOOK) {
        return Ok(Stack::LegacyHook(hook));
    }
    Ok(Stack::Nothing {
        opted_out: false,
        dirs: settings.dirs_text(),
    })
}

fn find_executable(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    dirs.iter().map(|d| d.join(name)).find(|p| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    })
}

impl Stack {
    /// Whether a container may be created with this stack on a backend (`sim` or `nvml`) whose
    /// driver reports `driver` (checked before anything is allocated): a spec for another
    /// driver version is stale, then what it names must exist on the host (its device nodes
    /// are completed from the host's); no stack at all is an error on `nvml` unless opted out.
    pub fn check(
        &mut self,
        backend: BackendKind,
        driver: Option<&str>,
    ) -> Result<(), DriverStackError> {
        match self {
            Stack::Cdi(spec) => {
                if let Some(driver) = driver {
                    let versions = cdi::driver_versions(&spec.edits);
                    if let Some(v) = versions.iter().find(|v| v.as_str() != driver) {
                        return Err(DriverStackError::Stale {
                            path: spec.path.clone(),
                            spec: v.clone(),
                            driver: driver.to_string(),
                        });
                    }
                }
                Ok(spec.check_host()?)
            }
            // The legacy hook injects the real driver's files for the MIG UUID it is handed,
            // which on `sim` names no real device: the simulator takes a CDI spec only.
            Stack::LegacyHook(_) if backend == BackendKind::Sim => {
                *self = Stack::Nothing {
                    opted_out: false,
                    dirs: String::new(),
                };
                Ok(())
            }
            Stack::LegacyHook(_) => Ok(()),
            Stack::Nothing {
                opted_out: false,
                dirs,
            } if backend == BackendKind::Nvml => {
                Err(DriverStackError::Missing { dirs: dirs.clone() })
            }
            Stack::Nothing { .. } => Ok(()),
        }
    }

    /// One line for logs and `dynamigctl doctor`.
    pub fn describe(&self) -> String {
        match self {
            Stack::Cdi(s) => {
                let v = cdi::driver_versions(&s.edits);
                let v = if v.is_empty() {
                    "driver version not named in it".to_string()
                } else {
                    format!("driver {}", v.join(", "))
                };
                format!(
                    "CDI spec {} (kind {KIND}, cdiVersion {}, {v})",
                    s.path.display(),
                    s.cdi_version
                )
            }
            Stack::LegacyHook(p) => format!("legacy {LEGACY_HOOK} at {}", p.display()),
            Stack::Nothing {
                opted_out: true, ..
            } => format!("none ({MODE_ENV}=none: device nodes only)"),
            Stack::Nothing { dirs, .. } if dirs.is_empty() => {
                "none (the sim backend takes a CDI spec only: device nodes only)".to_string()
            }
            Stack::Nothing { dirs, .. } => {
                format!("none (no CDI spec of kind {KIND} in {dirs}, no {LEGACY_HOOK})")
            }
        }
    }

    pub fn path(&self) -> Option<&Path> {
        match self {
            Stack::Cdi(s) => Some(&s.path),
            Stack::LegacyHook(p) => Some(p),
            Stack::Nothing { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests;
