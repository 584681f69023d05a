//! One NVML initialisation for a long-lived process (the shim): [`NvmlSession`] keeps the
//! library loaded and initialised between node operations, so that each container creation
//! does not pay `nvmlInit` (tens of milliseconds on a real driver, seconds per GPU without
//! persistence mode) and `nvmlShutdown`. docs/architecture.md ("One NVML session per shim")
//! says why sharing it is safe: only the library handle is shared; the node lock is still taken
//! per operation and every [`NvmlBackend`] made from the session reads the hardware afresh.
//!
//! A session whose driver went away (unloaded, reloaded, a GPU lost) answers its health check
//! with an error; it is then shut down and initialised again before the operation, so a
//! reloaded driver is picked up by the next operation without restarting the shim.

use super::caps::ProcTree;
use super::ffi::{self, Raw};
use super::{NvmlBackend, OpenError};
use std::sync::{Arc, Mutex};

/// NVML return codes after which a session is initialised again: uninitialised, the driver
/// not loaded, a GPU lost or needing a reset, the library no longer matching the kernel
/// module, an unknown error.
const STALE: [u32; 6] = [1, 9, 15, 16, 18, 999];

/// A shared NVML initialisation, opened at first use and kept until the last clone is dropped
/// (then `nvmlShutdown`). Clones share it.
#[derive(Clone, Default)]
pub struct NvmlSession {
    shared: Arc<Mutex<Option<Arc<nvml_wrapper::Nvml>>>>,
}

impl std::fmt::Debug for NvmlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.shared.lock().map(|n| n.is_some()).unwrap_or(false);
        f.debug_struct("NvmlSession").field("open", &open).finish()
    }
}

impl NvmlSession {
    pub fn new() -> NvmlSession {
        NvmlSession::default()
    }

    /// A backend on this session's NVML: initialised now if it is not yet, or again if the
    /// driver says the old initialisation is stale.
    pub fn backend(&self, proc: ProcTree) -> Result<NvmlBackend, OpenError> {
        let mut slot = self
            .shared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = slot.as_ref() {
            match Raw::new(n).device_count() {
                Err(e) if STALE.contains(&e.code) => {
                    tracing::info!(
                        error = ffi::code_name(e.code),
                        "the NVML session is stale; initialising NVML again"
                    );
                    *slot = None;
                }
                _ => {}
            }
        }
        let nvml = match slot.as_ref() {
            Some(n) => Arc::clone(n),
            None => {
                let n = Arc::new(NvmlBackend::init()?);
                *slot = Some(Arc::clone(&n));
                n
            }
        };
        Ok(NvmlBackend::on(nvml, proc))
    }

    /// Whether NVML is initialised in this session now.
    pub fn is_open(&self) -> bool {
        self.shared.lock().map(|n| n.is_some()).unwrap_or(false)
    }
}
