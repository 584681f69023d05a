//! The `nvml` backend: the real GPUs, through `libnvidia-ml.so.1`.
//!
//! Loading and initialisation go through `nvml-wrapper`; every MIG call is a raw call in
//! [`ffi`] (the only `unsafe` code here). On a real node the driver is the truth: the GPU-instance
//! profiles and placements are read from NVML, and where they differ from the built-in catalog
//! the difference is logged (and shown by `dynamigctl doctor`). Device nodes come from the
//! capability files under `/proc` ([`caps`], root overridable with `DYNAMIG_PROC_ROOT`).

pub mod caps;
mod ffi;

pub use super::tables::{catalog_differences, DriverProfile};

use super::tables::{self, Resolved};
use super::{Backend, BackendError, DeviceNode, GpuInfo, InstanceInfo, MigMode};
use crate::catalog;
use caps::ProcTree;
use ffi::{CallError, Ci, Dev, Gi, Raw};
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::time::{Duration, Instant};
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
    nvml: nvml_wrapper::Nvml,
    proc: ProcTree,
    /// The driver's profiles per GPU index, read once.
    profiles: HashMap<u32, Vec<DriverProfile>>,
    /// GPUs whose tables were logged (once per process).
    logged: HashSet<u32>,
    in_use_retry: Duration,
}

fn nvml_err(gpu: Option<u32>, e: CallError) -> BackendError {
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

impl NvmlBackend {
    /// Loads `libnvidia-ml.so.1` and initialises NVML.
    pub fn open() -> Result<NvmlBackend, OpenError> {
        use nvml_wrapper::error::NvmlError;
        let nvml = nvml_wrapper::Nvml::builder()
            .lib_path(OsStr::new(LIB_NAME))
            .init()
            .map_err(|e| match e {
                NvmlError::LibloadingError(e) => OpenError::Load(e.to_string()),
                // The library loaded but lacks `nvmlInit_v2`: still a GPU node, not "no NVML".
                NvmlError::FailedToLoadSymbol(e) => OpenError::Init(e),
                other => OpenError::Init(other.to_string()),
            })?;
        Ok(NvmlBackend {
            nvml,
            proc: ProcTree::from_env(),
            profiles: HashMap::new(),
            logged: HashSet::new(),
            in_use_retry: IN_USE_RETRY,
        })
    }

    /// Sets how long `destroy` retries an instance NVML calls in use.
    pub fn set_in_use_retry(&mut self, d: Duration) {
        self.in_use_retry = d;
    }

    pub fn proc_tree(&self) -> &ProcTree {
        &self.proc
    }

    fn raw(&self) -> Raw<'_> {
        Raw::new(&self.nvml)
    }

    pub fn driver_version(&self) -> Result<String, BackendError> {
        self.raw().driver_version().map_err(|e| nvml_err(None, e))
    }

    pub fn nvml_version(&self) -> Result<String, BackendError> {
        self.raw().nvml_version().map_err(|e| nvml_err(None, e))
    }

    fn device(&self, gpu: u32) -> Result<Dev, BackendError> {
        let raw = self.raw();
        let n = raw.device_count().map_err(|e| nvml_err(None, e))?;
        if gpu >= n {
            return Err(BackendError::NoSuchGpu(gpu));
        }
        raw.device(gpu).map_err(|e| nvml_err(Some(gpu), e))
    }

    fn mig_mode(&self, gpu: u32, d: Dev) -> Result<MigMode, BackendError> {
        match self.raw().mig_mode(d) {
            Ok((cur, pend)) => Ok(MigMode {
                current: cur == 1,
                pending: pend == 1,
            }),
            // Not MIG-capable.
            Err(e) if e.code == ffi::ERROR_NOT_SUPPORTED => Ok(MigMode {
                current: false,
                pending: false,
            }),
            Err(e) => Err(nvml_err(Some(gpu), e)),
        }
    }

    /// A GPU as NVML describes it, with its catalog model (`None` when the catalog lacks it).
    /// [`Backend::gpus`] replaces the model with the one [`NvmlBackend::tables`] resolves.
    pub fn gpu_info(&self, gpu: u32) -> Result<GpuInfo, BackendError> {
        let raw = self.raw();
        let d = self.device(gpu)?;
        let e = |e| nvml_err(Some(gpu), e);
        let name = raw.name(d).map_err(e)?;
        Ok(GpuInfo {
            index: gpu,
            uuid: raw.uuid(d).map_err(e)?,
            model: catalog::model_by_name(&name),
            name,
            minor: raw.minor_number(d).map_err(e)?,
            mig: self.mig_mode(gpu, d)?,
        })
    }

    /// Every GPU as NVML describes it, with its catalog model (no driver tables read).
    pub fn gpu_infos(&self) -> Result<Vec<GpuInfo>, BackendError> {
        let n = self.raw().device_count().map_err(|e| nvml_err(None, e))?;
        (0..n).map(|i| self.gpu_info(i)).collect()
    }

    /// The GPU-instance profiles the driver offers on `gpu`, with their placements (read once).
    /// Empty while MIG is off.
    pub fn driver_profiles(&mut self, gpu: u32) -> Result<Vec<DriverProfile>, BackendError> {
        if let Some(p) = self.profiles.get(&gpu) {
            return Ok(p.clone());
        }
        let d = self.device(gpu)?;
        let raw = self.raw();
        let mut out = Vec::new();
        for index in 0..ffi::GI_PROFILE_COUNT {
            let (p, name) = match raw.gi_profile_info_named(d, index) {
                Ok(p) => p,
                Err(e) if absent(&e) => continue,
                Err(e) => return Err(nvml_err(Some(gpu), e)),
            };
            let placements = raw
                .gi_possible_placements(d, p.id)
                .map_err(|e| nvml_err(Some(gpu), e))?
                .into_iter()
                .map(|pl| (pl.start, pl.size))
                .collect();
            out.push(DriverProfile {
                index,
                id: p.id,
                name,
                compute_slices: p.sliceCount,
                instance_count: p.instanceCount,
                memory_mib: p.memorySizeMB,
                sms: p.multiprocessorCount,
                engines: [
                    p.copyEngineCount,
                    p.decoderCount,
                    p.encoderCount,
                    p.jpegCount,
                    p.ofaCount,
                ],
                placements,
            });
        }
        if !out.is_empty() {
            self.profiles.insert(gpu, out.clone());
        }
        Ok(out)
    }

    /// The tables GPU `gpu` is planned with: the driver's profiles and placements, merged with
    /// the catalog ([`tables::resolve`]).
    pub fn tables(&mut self, gpu: u32) -> Result<Resolved, BackendError> {
        let info = self.gpu_info(gpu)?;
        self.tables_of(&info)
    }

    fn tables_of(&mut self, info: &GpuInfo) -> Result<Resolved, BackendError> {
        let gpu = info.index;
        let driver = if info.mig.current {
            self.driver_profiles(gpu)?
        } else {
            Vec::new()
        };
        let version = if driver.is_empty() {
            String::new()
        } else {
            self.driver_version()?
        };
        Ok(tables::resolve(&info.name, info.model, &driver, &version))
    }

    fn driver_profile(&mut self, gpu: u32, profile_id: u32) -> Result<DriverProfile, BackendError> {
        self.driver_profiles(gpu)?
            .into_iter()
            .find(|p| p.id == profile_id)
            .ok_or(BackendError::UnknownProfile { gpu, profile_id })
    }

    /// Compute instances of a GPU instance: (id, handle), by id.
    fn compute_instances(&self, gpu: u32, gi: Gi) -> Result<Vec<(u32, Ci)>, BackendError> {
        let raw = self.raw();
        let mut out = Vec::new();
        for index in 0..ffi::CI_PROFILE_COUNT {
            let p = match raw.ci_profile_info(gi, index) {
                Ok(p) => p,
                Err(e) if absent(&e) => continue,
                Err(e) => return Err(nvml_err(Some(gpu), e)),
            };
            let cis = raw
                .compute_instances(gi, p.id, p.instanceCount.max(1))
                .map_err(|e| nvml_err(Some(gpu), e))?;
            for ci in cis {
                let info = raw.ci_info(ci).map_err(|e| nvml_err(Some(gpu), e))?;
                out.push((info.id, ci));
            }
        }
        out.sort_by_key(|(id, _)| *id);
        out.dedup_by_key(|(id, _)| *id);
        Ok(out)
    }

    /// The `MIG-…` UUID of MIG device gi/ci, or empty when NVML lists no such MIG device.
    fn mig_uuid(&self, gpu: u32, d: Dev, gi: u32, ci: u32) -> Result<String, BackendError> {
        let raw = self.raw();
        let e = |e| nvml_err(Some(gpu), e);
        let max = raw.max_mig_device_count(d).map_err(e)?;
        for i in 0..max {
            let m = match raw.mig_device(d, i) {
                Ok(m) => m,
                Err(err) if absent(&err) => continue,
                Err(err) => return Err(e(err)),
            };
            if raw.mig_gi_id(m).map_err(e)? == gi && raw.mig_ci_id(m).map_err(e)? == ci {
                return raw.uuid(m).map_err(e);
            }
        }
        tracing::warn!(gpu, gi, ci, "NVML lists no MIG device for this instance");
        Ok(String::new())
    }

    /// Pids of compute processes running on GPU instance `gi`.
    pub fn processes(&self, gpu: u32, gi: u32) -> Result<Vec<u32>, BackendError> {
        let d = self.device(gpu)?;
        let procs = self
            .raw()
            .compute_processes(d)
            .map_err(|e| nvml_err(Some(gpu), e))?;
        let mut pids: Vec<u32> = procs
            .iter()
            .filter(|p| p.gpuInstanceId == gi)
            .map(|p| p.pid)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Runs `op` until it stops answering IN_USE or the retry time is over.
    fn retry_in_use(
        &self,
        gpu: u32,
        gi: u32,
        mut op: impl FnMut() -> Result<(), CallError>,
    ) -> Result<(), BackendError> {
        let deadline = Instant::now() + self.in_use_retry;
        loop {
            match op() {
                Ok(()) => return Ok(()),
                Err(e) if e.code == ffi::ERROR_IN_USE => {
                    if Instant::now() >= deadline {
                        let pids = self.processes(gpu, gi).unwrap_or_default();
                        return Err(BackendError::InUse { gpu, gi, pids });
                    }
                    tracing::debug!(gpu, gi, function = e.function, "in use; retrying");
                    std::thread::sleep(IN_USE_POLL);
                }
                Err(e) => return Err(nvml_err(Some(gpu), e)),
            }
        }
    }

    fn instance_info(&self, gpu: u32, d: Dev, gi: Gi) -> Result<InstanceInfo, BackendError> {
        let info = self.raw().gi_info(gi).map_err(|e| nvml_err(Some(gpu), e))?;
        let ci = self.compute_instances(gpu, gi)?.first().map(|(id, _)| *id);
        let uuid = match ci {
            Some(c) => self.mig_uuid(gpu, d, info.id, c)?,
            None => String::new(),
        };
        Ok(InstanceInfo {
            gpu,
            gi: info.id,
            ci,
            profile_id: info.profileId,
            start: u8::try_from(info.placement.start).unwrap_or(u8::MAX),
            size: u8::try_from(info.placement.size).unwrap_or(u8::MAX),
            uuid,
        })
    }
}

impl Backend for NvmlBackend {
    fn kind(&self) -> &'static str {
        "nvml"
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
        for i in 0..n {
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

    fn instances(&mut self, gpu: u32) -> Result<Vec<InstanceInfo>, BackendError> {
        let d = self.device(gpu)?;
        if !self.mig_mode(gpu, d)?.current {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for p in self.driver_profiles(gpu)? {
            let gis = self
                .raw()
                .gpu_instances(d, p.id, p.instance_count.max(1))
                .map_err(|e| nvml_err(Some(gpu), e))?;
            for gi in gis {
                out.push(self.instance_info(gpu, d, gi)?);
            }
        }
        out.sort_by_key(|i| (i.start, i.gi));
        Ok(out)
    }

    fn placements(&mut self, gpu: u32, profile_id: u32) -> Result<Vec<u8>, BackendError> {
        Ok(self.driver_profile(gpu, profile_id)?.starts())
    }

    fn create(
        &mut self,
        gpu: u32,
        profile_id: u32,
        start: u8,
    ) -> Result<InstanceInfo, BackendError> {
        let d = self.device(gpu)?;
        if !self.mig_mode(gpu, d)?.usable() {
            return Err(BackendError::MigDisabled { gpu });
        }
        let p = self.driver_profile(gpu, profile_id)?;
        // Every placement of a profile has the profile's size.
        let size = p.placements.first().map(|(_, s)| *s).unwrap_or(0);
        let size8 = u8::try_from(size).unwrap_or(u8::MAX);
        let raw = self.raw();
        let gi = match raw.create_gi_with_placement(d, profile_id, u32::from(start), size) {
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
        let gi_id = raw.gi_info(gi).map_err(|e| nvml_err(Some(gpu), e))?.id;
        if let Err(err) = self.create_full_ci(gpu, gi, p.compute_slices) {
            // Leave nothing half-made behind.
            if let Err(e) = raw.destroy_gi(gi) {
                tracing::warn!(
                    gpu,
                    gi = gi_id,
                    "could not remove the GPU instance after a failed compute instance: {}",
                    nvml_err(Some(gpu), e)
                );
            }
            return Err(err);
        }
        self.instance_info(gpu, d, gi)
    }

    fn destroy(&mut self, gpu: u32, gi: u32) -> Result<(), BackendError> {
        let d = self.device(gpu)?;
        let raw = self.raw();
        let handle = match raw.gpu_instance_by_id(d, gi) {
            Ok(h) => h,
            Err(e) if absent(&e) => return Err(BackendError::NoSuchInstance { gpu, gi }),
            Err(e) => return Err(nvml_err(Some(gpu), e)),
        };
        let pids = self.processes(gpu, gi)?;
        if !pids.is_empty() {
            return Err(BackendError::InUse { gpu, gi, pids });
        }
        for (_, ci) in self.compute_instances(gpu, handle)? {
            self.retry_in_use(gpu, gi, || raw.destroy_ci(ci))?;
        }
        self.retry_in_use(gpu, gi, || raw.destroy_gi(handle))
    }

    fn device_nodes(
        &mut self,
        gpu: u32,
        gi: u32,
        ci: u32,
    ) -> Result<Vec<DeviceNode>, BackendError> {
        let d = self.device(gpu)?;
        let minor = self
            .raw()
            .minor_number(d)
            .map_err(|e| nvml_err(Some(gpu), e))?;
        self.proc.mig_device_nodes(minor, gi, ci)
    }
}

impl NvmlBackend {
    /// Creates the compute instance that spans all of a GPU instance's compute slices.
    fn create_full_ci(&self, gpu: u32, gi: Gi, slices: u32) -> Result<(), BackendError> {
        let raw = self.raw();
        for index in 0..ffi::CI_PROFILE_COUNT {
            let p = match raw.ci_profile_info(gi, index) {
                Ok(p) => p,
                Err(e) if absent(&e) => continue,
                Err(e) => return Err(nvml_err(Some(gpu), e)),
            };
            if p.sliceCount == slices {
                raw.create_ci(gi, p.id)
                    .map_err(|e| nvml_err(Some(gpu), e))?;
                return Ok(());
            }
        }
        Err(BackendError::Nvml {
            function: "nvmlGpuInstanceGetComputeInstanceProfileInfo",
            gpu: Some(gpu),
            code: i32::try_from(ffi::ERROR_NOT_FOUND).unwrap_or(i32::MAX),
            message: format!(
                "no compute-instance profile spans the GPU instance's {slices} compute slices"
            ),
        })
    }
}
