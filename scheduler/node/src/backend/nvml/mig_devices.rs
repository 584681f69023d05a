//! A compute instance's MIG device handle, and its `MIG-…` UUID: from the compute instance's
//! info where the driver puts the MIG device there, else from one walk over the GPU's MIG
//! indices per listing ([`MigWalk`]).

use super::ffi::{self, Dev};
use super::{absent, nvml_err, CiEntry, MigWalk, NvmlBackend};
use crate::backend::BackendError;
use dynamig_core::ids::{CiId, GiId, GpuIndex};

impl NvmlBackend {
    /// The MIG device handle of compute instance `ci` of GPU instance `gi`: the `device` of
    /// the compute instance's info where the driver puts the MIG device there (checked: a MIG
    /// handle with the same GI and CI ids), so no walk over the MIG indices is needed (NVIDIA's
    /// DRA driver measured such walks at many seconds under load). nvml.h documents that field
    /// as the *parent* device, and a driver that fills it so gets one walk over the GPU's MIG
    /// indices per listing, shared by all its instances (`walk`), never the parent's UUID.
    pub(super) fn mig_device(
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
    pub(super) fn walk_mig_devices(
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
    pub(super) fn mig_uuid(
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
}
