//! Opening the backend: loading `libnvidia-ml.so.1` and initialising NVML through
//! nvml-wrapper (its builder without flags: `nvmlInit_v2`, and `nvmlShutdown` on drop), the
//! settings a caller may change, and the driver and NVML versions.

use super::caps::ProcTree;
use super::ffi::Raw;
use super::{nvml_err, NvmlBackend, OpenError, IN_USE_RETRY, LIB_NAME};
use crate::backend::BackendError;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::sync::Arc;
use std::time::Duration;

impl NvmlBackend {
    /// Loads `libnvidia-ml.so.1` and initialises NVML (for this backend alone: `nvmlShutdown`
    /// when it is dropped).
    pub fn open(proc: ProcTree) -> Result<NvmlBackend, OpenError> {
        Ok(NvmlBackend::on(Arc::new(NvmlBackend::init()?), proc))
    }

    /// Loads the library and initialises NVML.
    pub(super) fn init() -> Result<nvml_wrapper::Nvml, OpenError> {
        use nvml_wrapper::error::NvmlError;
        nvml_wrapper::Nvml::builder()
            .lib_path(OsStr::new(LIB_NAME))
            .init()
            .map_err(|e| match e {
                NvmlError::LibloadingError(e) => OpenError::Load(e.to_string()),
                // The library loaded but lacks `nvmlInit_v2`: still a GPU node, not "no NVML".
                NvmlError::FailedToLoadSymbol(e) => OpenError::Init(e),
                other => OpenError::Init(other.to_string()),
            })
    }

    /// A backend on an initialised NVML (its own, or a [`super::NvmlSession`]'s): the
    /// driver's profiles are read afresh.
    pub(super) fn on(nvml: Arc<nvml_wrapper::Nvml>, proc: ProcTree) -> NvmlBackend {
        NvmlBackend {
            nvml,
            proc,
            profiles: HashMap::new(),
            logged: HashSet::new(),
            in_use_retry: IN_USE_RETRY,
            last_create: None,
        }
    }

    /// Sets how long `destroy` retries an instance NVML calls in use.
    pub fn set_in_use_retry(&mut self, d: Duration) {
        self.in_use_retry = d;
    }

    pub fn proc_tree(&self) -> &ProcTree {
        &self.proc
    }

    pub(super) fn raw(&self) -> Raw<'_> {
        Raw::new(&self.nvml)
    }

    pub fn driver_version(&self) -> Result<String, BackendError> {
        self.raw().driver_version().map_err(|e| nvml_err(None, e))
    }

    pub fn nvml_version(&self) -> Result<String, BackendError> {
        self.raw().nvml_version().map_err(|e| nvml_err(None, e))
    }
}
