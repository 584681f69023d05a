//! The `nvml` backend: the real GPUs, through `libnvidia-ml.so.1`.
//!
//! Loading and initialisation go through `nvml-wrapper`; every MIG call is a raw call in
//! [`ffi`] (the only `unsafe` code here). On a real node the driver is the truth: the GPU-instance
//! profiles and placements are read from NVML, and where they differ from the built-in catalog
//! the difference is logged (and shown by `dynamigctl doctor`). Device nodes come from the
//! capability files under `/proc` ([`caps`], root overridable with `DYNAMIG_PROC_ROOT`).
//!
//! By concern: [`NvmlBackend`] and its [`Backend`] implementation here; `open` (loading,
//! initialisation, versions), `discovery` (GPUs, MIG mode, the driver's profiles and tables),
//! `instances` (compute instances, instance info, creation's compute instance, the in-use
//! retry), `mig_devices` (a compute instance's MIG device and its UUID), `processes`; [`ffi`]
//! holds the raw calls.

pub mod caps;
mod discovery;
mod ffi;
mod instances;
mod mig_devices;
mod open;
mod processes;
mod session;

pub use super::tables::{catalog_differences, DriverProfile};
pub use discovery::CiProfile;
pub use session::NvmlSession;

use super::tables;
use super::{Backend, BackendError, BackendKind, CreateTimes, DeviceNode, GpuInfo, InstanceInfo};
use caps::ProcTree;
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use ffi::{CallError, Ci, CiInfoRaw, Dev};
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use thiserror::Error;

/// The library the `nvml` backend loads, through the normal dynamic-loader search path.
pub const LIB_NAME: &str = "libnvidia-ml.so.1";

/// How long `destroy` retries a compute or GPU instance that NVML calls "in use" (a
/// just-destroyed compute instance can be reported busy for a few tenths of a second).
pub const IN_USE_RETRY: Duration = Duration::from_millis(1500);
const IN_USE_POLL: Duration = Duration::from_millis(100);

/// Why NVML could not be opened.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("{LIB_NAME} could not be loaded ({0})")]
    Load(String),
    #[error("NVML failed to initialise: {0}")]
    Init(String),
}

/// The `nvml` backend.
pub struct NvmlBackend {
    /// Shared with a [`NvmlSession`] in a long-lived process; this backend's own otherwise.
    nvml: std::sync::Arc<nvml_wrapper::Nvml>,
    proc: ProcTree,
    /// The driver's profiles per GPU index, read once.
    profiles: HashMap<GpuIndex, Vec<DriverProfile>>,
    /// GPUs whose tables were logged (once per process).
    logged: HashSet<GpuIndex>,
    in_use_retry: Duration,
    last_create: Option<CreateTimes>,
}

fn nvml_err(gpu: Option<GpuIndex>, e: CallError) -> BackendError {
    BackendError::Nvml {
        function: e.function,
        gpu,
        code: i32::try_from(e.code).unwrap_or(i32::MAX),
        message: ffi::code_name(e.code).to_string(),
    }
}

/// Errors that mean "there is nothing at this index / for this profile here".
fn absent(e: &CallError) -> bool {
    matches!(
        e.code,
        ffi::ERROR_NOT_SUPPORTED | ffi::ERROR_INVALID_ARGUMENT | ffi::ERROR_NOT_FOUND
    )
}

/// A compute instance as NVML lists it.
#[derive(Clone, Copy)]
struct CiEntry {
    id: CiId,
    handle: Ci,
    info: CiInfoRaw,
}

/// The MIG devices of one GPU found by one walk over its MIG indices, made at most once per
/// listing and only when a compute instance's info does not lead to its MIG device.
type MigWalk = Option<Vec<(GiId, CiId, Dev)>>;

impl Backend for NvmlBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Nvml
    }

    /// `nvmlSystemGetDriverVersion`.
    fn driver_version(&self) -> Option<String> {
        NvmlBackend::driver_version(self)
            .map_err(|e| tracing::warn!("cannot read the driver version: {e}"))
            .ok()
    }

    /// The GPUs, each with the model to plan with: the driver's tables where they differ from
    /// the catalog or the catalog lacks the GPU, `None` when they cannot be used (logged once).
    fn gpus(&mut self) -> Result<Vec<GpuInfo>, BackendError> {
        let n = self.raw().device_count().map_err(|e| nvml_err(None, e))?;
        let mut out = Vec::new();
        for i in (0..n).map(GpuIndex) {
            let mut info = self.gpu_info(i)?;
            let r = self.tables_of(&info)?;
            if self.logged.insert(i) {
                tables::log(i, &info.name, &r);
            }
            info.model = r.model.ok();
            out.push(info);
        }
        Ok(out)
    }

    fn instances(&mut self, gpu: GpuIndex) -> Result<Vec<InstanceInfo>, BackendError> {
        let d = self.device(gpu)?;
        if !self.mig_mode(gpu, d)?.current {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut walk = None;
        for p in self.driver_profiles(gpu)? {
            let gis = self
                .raw()
                .gpu_instances(d, p.id.get(), p.instance_count.max(1))
                .map_err(|e| nvml_err(Some(gpu), e))?;
            for gi in gis {
                out.push(self.instance_info(gpu, d, gi, &mut walk)?);
            }
        }
        out.sort_by_key(|i| (i.start, i.gi));
        Ok(out)
    }

    fn placements(
        &mut self,
        gpu: GpuIndex,
        profile_id: ProfileId,
    ) -> Result<Vec<u8>, BackendError> {
        Ok(self.driver_profile(gpu, profile_id)?.starts())
    }

    fn create(
        &mut self,
        gpu: GpuIndex,
        profile_id: ProfileId,
        start: u8,
    ) -> Result<InstanceInfo, BackendError> {
        let d = self.device(gpu)?;
        if !self.mig_mode(gpu, d)?.usable() {
            return Err(BackendError::MigDisabled { gpu });
        }
        let p = self.driver_profile(gpu, profile_id)?;
        // The device nodes' majors first: a node that cannot hand the MIG device to a container
        // (no nvidia-caps or nvidia-uvm) refuses before anything is created.
        self.proc.mig_majors()?;
        // Every placement of a profile has the profile's size.
        let size = p.placements.first().map(|(_, s)| *s).unwrap_or(0);
        let size8 = u8::try_from(size).unwrap_or(u8::MAX);
        let t = std::time::Instant::now();
        let raw = self.raw();
        let gi = match raw.create_gi_with_placement(d, profile_id.get(), u32::from(start), size) {
            Ok(gi) => gi,
            Err(e) if e.code == ffi::ERROR_INVALID_ARGUMENT => {
                return Err(BackendError::InvalidPlacement {
                    gpu,
                    profile_id,
                    start,
                    size: size8,
                })
            }
            Err(e) if e.code == ffi::ERROR_INSUFFICIENT_RESOURCES => {
                return Err(BackendError::InsufficientResources {
                    gpu,
                    profile_id,
                    start,
                    why: "the driver refused (NVML_ERROR_INSUFFICIENT_RESOURCES: slices taken, \
                          too few compute slices or engines, or the profile's instance limit)"
                        .into(),
                })
            }
            Err(e) => return Err(nvml_err(Some(gpu), e)),
        };
        crate::fault::point("after-gi-create");
        let gi_id = GiId(raw.gi_info(gi).map_err(|e| nvml_err(Some(gpu), e))?.id);
        let gi_took = t.elapsed();
        let t = std::time::Instant::now();
        if let Err(err) = self.create_full_ci(gpu, gi, p.compute_slices) {
            // Leave nothing half-made behind.
            if let Err(e) = raw.destroy_gi(gi) {
                tracing::warn!(
                    gpu = gpu.get(),
                    gi = gi_id.get(),
                    "could not remove the GPU instance after a failed compute instance: {}",
                    nvml_err(Some(gpu), e)
                );
            }
            return Err(err);
        }
        let info = self.instance_info(gpu, d, gi, &mut None)?;
        self.last_create = Some(CreateTimes {
            gi: gi_took,
            ci: t.elapsed(),
        });
        Ok(info)
    }

    fn last_create(&self) -> Option<CreateTimes> {
        self.last_create
    }

    fn processes_on(&mut self, gpu: GpuIndex, gi: GiId) -> Result<Vec<u32>, BackendError> {
        self.processes(gpu, gi)
    }

    fn destroy(&mut self, gpu: GpuIndex, gi: GiId) -> Result<(), BackendError> {
        let d = self.device(gpu)?;
        let raw = self.raw();
        let handle = match raw.gpu_instance_by_id(d, gi.get()) {
            Ok(h) => h,
            Err(e) if absent(&e) => return Err(BackendError::NoSuchInstance { gpu, gi }),
            Err(e) => return Err(nvml_err(Some(gpu), e)),
        };
        let pids = self.processes(gpu, gi)?;
        if !pids.is_empty() {
            return Err(BackendError::InUse { gpu, gi, pids });
        }
        for ci in self.compute_instances(gpu, handle)? {
            self.retry_in_use(gpu, gi, || raw.destroy_ci(ci.handle))?;
        }
        self.retry_in_use(gpu, gi, || raw.destroy_gi(handle))
    }

    fn device_nodes(
        &mut self,
        gpu: GpuIndex,
        gi: GiId,
        ci: CiId,
    ) -> Result<Vec<DeviceNode>, BackendError> {
        let d = self.device(gpu)?;
        let minor = self
            .raw()
            .minor_number(d)
            .map_err(|e| nvml_err(Some(gpu), e))?;
        self.proc.mig_device_nodes(minor, gi, ci)
    }
}
