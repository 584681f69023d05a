//! The instances of a GPU as NVML lists them: compute instances of a GPU instance, a GPU
//! instance's info (with its first compute instance and MIG UUID), the compute instance
//! creation makes (spanning the GPU instance), and the retry of a destroy NVML calls in use.

use super::ffi::{self, CallError, Dev, Gi};
use super::{nvml_err, CiEntry, MigWalk, NvmlBackend, IN_USE_POLL};
use crate::backend::{BackendError, InstanceInfo};
use dynamig_core::ids::{CiId, GiId, GpuIndex, ProfileId};
use std::time::Instant;

impl NvmlBackend {
    /// Compute instances of a GPU instance, by id.
    pub(super) fn compute_instances(
        &self,
        gpu: GpuIndex,
        gi: Gi,
    ) -> Result<Vec<CiEntry>, BackendError> {
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

    /// Runs `op` until it stops answering IN_USE or the retry time is over.
    pub(super) fn retry_in_use(
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

    pub(super) fn instance_info(
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

    /// Creates the compute instance that spans all of a GPU instance's compute slices.
    pub(super) fn create_full_ci(
        &self,
        gpu: GpuIndex,
        gi: Gi,
        slices: u32,
    ) -> Result<(), BackendError> {
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
