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
use super::{Backend, BackendError, BackendKind, DeviceNode, GpuInfo, InstanceInfo, MigMode};
use caps::ProcTree;
use dynamig_core::catalog;
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use ffi::{CallError, Ci, CiInfoRaw, Dev, Gi, Raw};
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
    profiles: HashMap<GpuIndex, Vec<DriverProfile>>,
    /// GPUs whose tables were logged (once per process).
    logged: HashSet<GpuIndex>,
    in_use_retry: Duration,
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

/// Probes profile indices from 0, with no fixed table bound. Below `known` (the count of the
/// newest nvml.h dynamig knows) an absent answer is a hole (a profile this GPU lacks, an index an
/// older driver does not know) and is skipped. Past it, `INVALID_ARGUMENT` (the driver's "no
/// such index") ends the list, while `NOT_SUPPORTED` holes are skipped, up to
/// [`ffi::PROFILE_HOLES_PAST_KNOWN`] in a row: a newer GPU's profiles past NVML 13's are listed.
fn enumerate<T>(
    known: u32,
    mut probe: impl FnMut(u32) -> Result<T, CallError>,
) -> Result<Vec<(u32, T)>, CallError> {
    let mut out = Vec::new();
    let mut holes = 0;
    for index in 0..ffi::PROFILE_INDEX_LIMIT {
        match probe(index) {
            Ok(v) => {
                holes = 0;
                out.push((index, v));
            }
            Err(e) if absent(&e) && index < known => continue,
            Err(e) if e.code == ffi::ERROR_NOT_SUPPORTED => {
                holes += 1;
                if holes >= ffi::PROFILE_HOLES_PAST_KNOWN {
                    break;
                }
            }
            Err(e) if absent(&e) => break,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
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

/// A compute-instance profile of a GPU instance, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CiProfile {
    /// The `NVML_COMPUTE_INSTANCE_PROFILE_*` index.
    pub index: u32,
    pub id: u32,
    pub compute_slices: u32,
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

    fn device(&self, gpu: GpuIndex) -> Result<Dev, BackendError> {
        let raw = self.raw();
        let n = raw.device_count().map_err(|e| nvml_err(None, e))?;
        if gpu.get() >= n {
            return Err(BackendError::NoSuchGpu(gpu));
        }
        raw.device(gpu.get()).map_err(|e| nvml_err(Some(gpu), e))
    }

    fn mig_mode(&self, gpu: GpuIndex, d: Dev) -> Result<MigMode, BackendError> {
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
    pub fn gpu_info(&self, gpu: GpuIndex) -> Result<GpuInfo, BackendError> {
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
            persistence_mode: match raw.persistence_mode(d) {
                Ok(on) => Some(on),
                Err(err) => {
                    tracing::debug!(
                        gpu = gpu.get(),
                        "persistence mode not reported: {}",
                        nvml_err(Some(gpu), err)
                    );
                    None
                }
            },
        })
    }

    /// Every GPU as NVML describes it, with its catalog model (no driver tables read).
    pub fn gpu_infos(&self) -> Result<Vec<GpuInfo>, BackendError> {
        let n = self.raw().device_count().map_err(|e| nvml_err(None, e))?;
        (0..n).map(|i| self.gpu_info(GpuIndex(i))).collect()
    }

    /// The GPU-instance profiles the driver offers on `gpu`, with their placements (read once).
    /// Empty while MIG is off.
    pub fn driver_profiles(&mut self, gpu: GpuIndex) -> Result<Vec<DriverProfile>, BackendError> {
        if let Some(p) = self.profiles.get(&gpu) {
            return Ok(p.clone());
        }
        let d = self.device(gpu)?;
        let raw = self.raw();
        let mut out = Vec::new();
        let found = enumerate(ffi::GI_PROFILE_KNOWN, |index| {
            raw.gi_profile_info_named(d, index)
        })
        .map_err(|e| nvml_err(Some(gpu), e))?;
        for (index, (p, name)) in found {
            let placements = raw
                .gi_possible_placements(d, p.id)
                .map_err(|e| nvml_err(Some(gpu), e))?
                .into_iter()
                .map(|pl| (pl.start, pl.size))
                .collect();
            out.push(DriverProfile {
                index,
                id: ProfileId(p.id),
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
    pub fn tables(&mut self, gpu: GpuIndex) -> Result<Resolved, BackendError> {
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

    fn driver_profile(
        &mut self,
        gpu: GpuIndex,
        profile_id: ProfileId,
    ) -> Result<DriverProfile, BackendError> {
        self.driver_profiles(gpu)?
            .into_iter()
            .find(|p| p.id == profile_id)
            .ok_or(BackendError::UnknownProfile { gpu, profile_id })
    }

    /// The compute-instance profiles of GPU instance `gi` (shared engines), by index.
    fn ci_profiles(
        &self,
        gpu: GpuIndex,
        gi: Gi,
    ) -> Result<Vec<(u32, ffi::CiProfileRaw)>, BackendError> {
        let raw = self.raw();
        enumerate(ffi::CI_PROFILE_KNOWN, |index| {
            raw.ci_profile_info(gi, index)
        })
        .map_err(|e| nvml_err(Some(gpu), e))
    }

    /// The compute-instance profiles the driver offers inside GPU instance `gi` of `gpu`.
    pub fn compute_profiles(
        &self,
        gpu: GpuIndex,
        gi: GiId,
    ) -> Result<Vec<CiProfile>, BackendError> {
        let d = self.device(gpu)?;
        let handle = match self.raw().gpu_instance_by_id(d, gi.get()) {
            Ok(h) => h,
            Err(e) if absent(&e) => return Err(BackendError::NoSuchInstance { gpu, gi }),
            Err(e) => return Err(nvml_err(Some(gpu), e)),
        };
        Ok(self
            .ci_profiles(gpu, handle)?
            .into_iter()
            .map(|(index, p)| CiProfile {
                index,
                id: p.id,
                compute_slices: p.sliceCount,
            })
            .collect())
    }

    /// Compute instances of a GPU instance, by id.
    fn compute_instances(&self, gpu: GpuIndex, gi: Gi) -> Result<Vec<CiEntry>, BackendError> {
        let raw = self.raw();
        let mut out: Vec<CiEntry> = Vec::new();
        for (_, p) in self.ci_profiles(gpu, gi)? {
            let cis = raw
                .compute_instances(gi, p.id, p.instanceCount.max(1))
                .map_err(|e| nvml_err(Some(gpu), e))?;
            for ci in cis {
                let info = raw.ci_info(ci).map_err(|e| nvml_err(Some(gpu), e))?;
                out.push(CiEntry {
                    id: CiId(info.id),
                    handle: ci,
                    info,
                });
            }
        }
        out.sort_by_key(|c| c.id);
        out.dedup_by_key(|c| c.id);
        Ok(out)
    }

    /// The MIG device handle of compute instance `ci` of GPU instance `gi`: the `device` of
    /// the compute instance's info where the driver puts the MIG device there (checked: a MIG
    /// handle with the same GI and CI ids), so no walk over the MIG indices is needed (NVIDIA's
    /// DRA driver measured such walks at many seconds under load). nvml.h documents that field
    /// as the *parent* device, and a driver that fills it so gets one walk over the GPU's MIG
    /// indices per listing, shared by all its instances (`walk`), never the parent's UUID.
    fn mig_device(
        &self,
        gpu: GpuIndex,
        d: Dev,
        gi: GiId,
        ci: &CiEntry,
        walk: &mut MigWalk,
    ) -> Result<Option<Dev>, BackendError> {
        let raw = self.raw();
        let m = ffi::ci_info_device(&ci.info);
        if raw.is_mig_device_handle(m).unwrap_or(false)
            && raw.mig_gi_id(m).ok() == Some(gi.get())
            && raw.mig_ci_id(m).ok() == Some(ci.id.get())
        {
            return Ok(Some(m));
        }
        if walk.is_none() {
            *walk = Some(self.walk_mig_devices(gpu, d)?);
        }
        Ok(walk
            .as_ref()
            .and_then(|w| w.iter().find(|(g, c, _)| *g == gi && *c == ci.id))
            .map(|(_, _, m)| *m))
    }

    /// Every MIG device of a GPU: (GI id, CI id, handle), by a walk over its MIG indices.
    fn walk_mig_devices(
        &self,
        gpu: GpuIndex,
        d: Dev,
    ) -> Result<Vec<(GiId, CiId, Dev)>, BackendError> {
        let raw = self.raw();
        let e = |e| nvml_err(Some(gpu), e);
        let max = raw.max_mig_device_count(d).map_err(e)?;
        let mut out = Vec::new();
        for i in 0..max {
            let m = match raw.mig_device(d, i) {
                Ok(m) => m,
                Err(err) if absent(&err) => continue,
                Err(err) => return Err(e(err)),
            };
            out.push((
                GiId(raw.mig_gi_id(m).map_err(e)?),
                CiId(raw.mig_ci_id(m).map_err(e)?),
                m,
            ));
        }
        Ok(out)
    }

    /// The `MIG-…` UUID of a compute instance's MIG device, or empty when NVML has none.
    fn mig_uuid(
        &self,
        gpu: GpuIndex,
        d: Dev,
        gi: GiId,
        ci: &CiEntry,
        walk: &mut MigWalk,
    ) -> Result<String, BackendError> {
        match self.mig_device(gpu, d, gi, ci, walk)? {
            Some(m) => self.raw().uuid(m).map_err(|e| nvml_err(Some(gpu), e)),
            None => {
                tracing::warn!(
                    gpu = gpu.get(),
                    gi = gi.get(),
                    ci = ci.id.get(),
                    "NVML lists no MIG device for this instance"
                );
                Ok(String::new())
            }
        }
    }

    /// Pids of compute processes running on GPU instance `gi`, read on each of its MIG device
    /// handles (what NVML documents for per-instance information; the parent's list is an
    /// aggregate only a privileged caller gets, and not used).
    pub fn processes(&self, gpu: GpuIndex, gi: GiId) -> Result<Vec<u32>, BackendError> {
        let d = self.device(gpu)?;
        let raw = self.raw();
        let handle = match raw.gpu_instance_by_id(d, gi.get()) {
            Ok(h) => h,
            Err(e) if absent(&e) => return Ok(Vec::new()),
            Err(e) => return Err(nvml_err(Some(gpu), e)),
        };
        let mut walk = None;
        let mut pids = Vec::new();
        for ci in self.compute_instances(gpu, handle)? {
            // A GPU instance without a MIG device runs nothing.
            let Some(m) = self.mig_device(gpu, d, gi, &ci, &mut walk)? else {
                continue;
            };
            let procs = raw
                .compute_processes(m)
                .map_err(|e| nvml_err(Some(gpu), e))?;
            pids.extend(procs.iter().map(|p| p.pid));
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Runs `op` until it stops answering IN_USE or the retry time is over.
    fn retry_in_use(
        &self,
        gpu: GpuIndex,
        gi: GiId,
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
                    tracing::debug!(
                        gpu = gpu.get(),
                        gi = gi.get(),
                        function = e.function,
                        "in use; retrying"
                    );
                    std::thread::sleep(IN_USE_POLL);
                }
                Err(e) => return Err(nvml_err(Some(gpu), e)),
            }
        }
    }

    fn instance_info(
        &self,
        gpu: GpuIndex,
        d: Dev,
        gi: Gi,
        walk: &mut MigWalk,
    ) -> Result<InstanceInfo, BackendError> {
        let info = self.raw().gi_info(gi).map_err(|e| nvml_err(Some(gpu), e))?;
        let first = self.compute_instances(gpu, gi)?.first().copied();
        let ci = first.map(|c| c.id);
        let uuid = match &first {
            Some(c) => self.mig_uuid(gpu, d, GiId(info.id), c, walk)?,
            None => String::new(),
        };
        Ok(InstanceInfo {
            gpu,
            gi: GiId(info.id),
            ci,
            profile_id: ProfileId(info.profileId),
            start: u8::try_from(info.placement.start).unwrap_or(u8::MAX),
            size: u8::try_from(info.placement.size).unwrap_or(u8::MAX),
            uuid,
        })
    }
}

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
        self.instance_info(gpu, d, gi, &mut None)
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

impl NvmlBackend {
    /// Creates the compute instance that spans all of a GPU instance's compute slices.
    fn create_full_ci(&self, gpu: GpuIndex, gi: Gi, slices: u32) -> Result<(), BackendError> {
        let raw = self.raw();
        for (_, p) in self.ci_profiles(gpu, gi)? {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: u32) -> CallError {
        CallError {
            function: "probe",
            code,
        }
    }

    /// A driver answering with `table[index]`: Ok(index), or the error code; past the table,
    /// `past`.
    fn driver(table: &[u32], past: u32) -> impl FnMut(u32) -> Result<u32, CallError> + '_ {
        move |i| match table.get(i as usize) {
            Some(0) => Ok(i),
            Some(c) => Err(err(*c)),
            None => Err(err(past)),
        }
    }

    const NS: u32 = ffi::ERROR_NOT_SUPPORTED;
    const IA: u32 = ffi::ERROR_INVALID_ARGUMENT;

    fn indices(v: Vec<(u32, u32)>) -> Vec<u32> {
        v.into_iter().map(|(i, _)| i).collect()
    }

    #[test]
    fn enumeration_skips_holes_and_goes_past_the_known_count() {
        // An A100-like table (0-4, 7, 9) with NVML 13's 0x0D and an index past 0x12.
        let mut t = vec![NS; 0x14];
        for i in [0, 1, 2, 3, 4, 7, 9, 0x0D, 0x13] {
            t[i] = 0;
        }
        let got = enumerate(ffi::GI_PROFILE_KNOWN, driver(&t, IA)).unwrap();
        assert_eq!(indices(got), vec![0, 1, 2, 3, 4, 7, 9, 0x0D, 0x13]);
        // An older driver answers INVALID_ARGUMENT for indices it does not know, below the
        // known count too: those are holes, not the end.
        let old = [0, 0, 0, 0, 0, NS, NS, 0, NS, 0, IA, IA];
        let got = enumerate(ffi::GI_PROFILE_KNOWN, driver(&old, IA)).unwrap();
        assert_eq!(indices(got), vec![0, 1, 2, 3, 4, 7, 9]);
    }

    #[test]
    fn enumeration_ends_on_a_library_that_never_says_invalid_argument() {
        let t = [0, 0];
        let got = enumerate(ffi::GI_PROFILE_KNOWN, driver(&t, NS)).unwrap();
        assert_eq!(indices(got), vec![0, 1]);
        // And on one that answers every index.
        let n = enumerate(ffi::CI_PROFILE_KNOWN, Ok::<u32, CallError>)
            .unwrap()
            .len();
        assert_eq!(n, ffi::PROFILE_INDEX_LIMIT as usize);
    }

    #[test]
    fn enumeration_passes_other_errors_on() {
        let t = [0, 4]; // NO_PERMISSION
        let e = enumerate(ffi::GI_PROFILE_KNOWN, driver(&t, IA)).unwrap_err();
        assert_eq!(e.code, 4);
    }
}
