//! What the driver says a node is: its GPUs (name, UUID, minor, MIG mode, persistence mode),
//! the GPU-instance profiles and placements it offers (read once per GPU), the tables planned
//! with (the driver's merged with the catalog), and the compute-instance profiles of a GPU
//! instance. Profile indices are probed without a fixed bound ([`enumerate`]).

use super::ffi::{self, CallError, Dev, Gi};
use super::tables::{self, Resolved};
use super::{absent, nvml_err, DriverProfile, NvmlBackend};
use crate::backend::{BackendError, GpuInfo, MigMode};
use dynamig_core::catalog;
use dynamig_core::ids::{GiId, GpuIndex, ProfileId};

/// Probes profile indices from 0, with no fixed table bound. Below `known` (the count of the
/// newest nvml.h dynamig knows) an absent answer is a hole (a profile this GPU lacks, an index an
/// older driver does not know) and is skipped. Past it, `INVALID_ARGUMENT` (the driver's "no
/// such index") ends the list, while `NOT_SUPPORTED` holes are skipped, up to
/// [`ffi::PROFILE_HOLES_PAST_KNOWN`] in a row: a newer GPU's profiles past NVML 13's are listed.
pub(super) fn enumerate<T>(
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

/// A compute-instance profile of a GPU instance, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CiProfile {
    /// The `NVML_COMPUTE_INSTANCE_PROFILE_*` index.
    pub index: u32,
    pub id: u32,
    pub compute_slices: u32,
}

impl NvmlBackend {
    pub(super) fn device(&self, gpu: GpuIndex) -> Result<Dev, BackendError> {
        let raw = self.raw();
        let n = raw.device_count().map_err(|e| nvml_err(None, e))?;
        if gpu.get() >= n {
            return Err(BackendError::NoSuchGpu(gpu));
        }
        raw.device(gpu.get()).map_err(|e| nvml_err(Some(gpu), e))
    }

    pub(super) fn mig_mode(&self, gpu: GpuIndex, d: Dev) -> Result<MigMode, BackendError> {
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

    pub(super) fn tables_of(&mut self, info: &GpuInfo) -> Result<Resolved, BackendError> {
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

    pub(super) fn driver_profile(
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
    pub(super) fn ci_profiles(
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
