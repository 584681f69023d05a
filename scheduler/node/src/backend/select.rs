//! Which backend a process uses. `DYNAMIG_BACKEND=sim|nvml` forces one. Otherwise: where
//! `libnvidia-ml.so.1` loads, the node is a GPU node and the backend is `nvml`: a failed
//! `nvmlInit` (no kernel driver, a library that does not match the driver) is an error, even when
//! a simulated node exists in the state directory. Only when no NVML library loads at all is a
//! simulated node (`dynamigctl sim init`) used; with neither, a clear error. A GPU node never
//! silently becomes a simulator.

use super::nvml::caps::ProcTree;
use super::nvml::{NvmlBackend, NvmlSession, OpenError, LIB_NAME};
use super::sim::SimBackend;
use super::{Backend, BackendError};
use crate::state::StateDir;
use thiserror::Error;

pub const BACKEND_ENV: &str = "DYNAMIG_BACKEND";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    Auto,
    Sim,
    Nvml,
}

#[derive(Debug, Error)]
pub enum SelectError {
    #[error("{BACKEND_ENV}={0:?} is not a backend; use sim or nvml")]
    BadChoice(String),
    #[error("no simulated node in {dir}; create one with `dynamigctl sim init a100-40gb`")]
    NoSim { dir: String },
    #[error("NVML could not be used ({nvml}) and no simulated node exists in {dir}. On a GPU node, install the NVIDIA driver (libnvidia-ml.so.1); to try dynamig without a GPU, run `dynamigctl sim init a100-40gb`")]
    Nothing { nvml: String, dir: String },
    #[error("NVML: {0}")]
    Nvml(String),
    #[error("{nvml}; this is a GPU node ({lib} loads), so dynamig does not fall back to the simulated node in {dir}: load the NVIDIA kernel driver (a library that matches it), or set {BACKEND_ENV}=sim to use the simulator")]
    NvmlInit {
        nvml: String,
        lib: &'static str,
        dir: String,
    },
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl BackendChoice {
    /// A `DYNAMIG_BACKEND` value (unset: `auto`); a value that is none of them is returned as
    /// the error.
    pub fn parse(value: Option<&str>) -> Result<BackendChoice, String> {
        match value {
            None | Some("") | Some("auto") => Ok(BackendChoice::Auto),
            Some("sim") => Ok(BackendChoice::Sim),
            Some("nvml") => Ok(BackendChoice::Nvml),
            Some(other) => Err(other.to_string()),
        }
    }
}

/// Opens the backend for this node (`proc`: where the NVML backend finds the capability files).
pub fn open(
    dir: &StateDir,
    choice: BackendChoice,
    proc: ProcTree,
) -> Result<Box<dyn Backend>, SelectError> {
    open_in(dir, choice, proc, None)
}

/// [`open`], with the NVML backend on `session`'s initialisation when one is given (a
/// long-lived process), else on one of its own.
pub fn open_in(
    dir: &StateDir,
    choice: BackendChoice,
    proc: ProcTree,
    session: Option<&NvmlSession>,
) -> Result<Box<dyn Backend>, SelectError> {
    let open_nvml = |proc| open_nvml(proc, session);
    let sim = || SimBackend::open(&dir.sim_file());
    let dir_s = || dir.path().display().to_string();
    match choice {
        BackendChoice::Sim => match sim()? {
            Some(s) => Ok(Box::new(s)),
            None => Err(SelectError::NoSim { dir: dir_s() }),
        },
        BackendChoice::Nvml => open_nvml(proc).map_err(|e| SelectError::Nvml(e.to_string())),
        BackendChoice::Auto => match open_nvml(proc) {
            Ok(b) => Ok(b),
            // The library loaded: a GPU node whose driver does not answer. Never the simulator.
            Err(e @ OpenError::Init(_)) => Err(SelectError::NvmlInit {
                nvml: e.to_string(),
                lib: LIB_NAME,
                dir: dir_s(),
            }),
            Err(e @ OpenError::Load(_)) => match sim()? {
                Some(s) => Ok(Box::new(s)),
                None => Err(SelectError::Nothing {
                    nvml: e.to_string(),
                    dir: dir_s(),
                }),
            },
        },
    }
}

/// The NVML backend, when the library loads and NVML initialises.
fn open_nvml(proc: ProcTree, session: Option<&NvmlSession>) -> Result<Box<dyn Backend>, OpenError> {
    let b = match session {
        Some(s) => s.backend(proc),
        None => NvmlBackend::open(proc),
    };
    match b {
        Ok(b) => Ok(Box::new(b)),
        Err(e) => {
            tracing::debug!("nvml backend unavailable: {e}");
            Err(e)
        }
    }
}
