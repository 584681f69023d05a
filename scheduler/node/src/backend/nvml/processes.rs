//! The pids running on a GPU instance, read on each of its MIG device handles.

use super::{absent, nvml_err, NvmlBackend};
use crate::backend::BackendError;
use dynamig_core::ids::{GiId, GpuIndex};

impl NvmlBackend {
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
}
