//! The driver's MIG tables as the truth to plan with.
//!
//! On a real node the GPU-instance profiles and their placements that the driver reports
//! (`nvmlDeviceGetGpuInstanceProfileInfo(V)`, `nvmlDeviceGetGpuInstancePossiblePlacements_v2`),
//! not the built-in catalog, say what can be created. [`resolve`] turns one GPU's driver
//! profiles into the [`GpuModel`] the planner uses:
//!
//! - the driver's profile ids, memory, compute slices, instance counts, engines and placements;
//! - from the catalog, what the driver does not report: the model key, aliases, total memory,
//!   the whole GPU's compute slices, memory slices and engines when larger than the driver's
//!   largest profile, and the names of the profiles it knows (the `V` call's name otherwise);
//! - catalog profiles the driver does not offer are dropped; driver profiles the catalog lacks
//!   are added;
//! - a GPU whose model is not in the catalog is planned from the driver's tables alone, when they
//!   are sound ([`check`]); tables that are not sound make the GPU unusable, with the reason.
//!
//! When the driver agrees with the catalog the catalog's own `&'static` model is returned. A
//! model built from the driver's tables is interned: one allocation per distinct table for the
//! life of the process (the planner's types borrow models for `'static`), never one per call.

mod build;
mod check;
mod diff;

pub use build::key_for_name;
pub use check::{check, MAX_MEMORY_SLICES, MAX_PROFILES};
pub use diff::{catalog_differences, differences, DiffField, DriverProfile, TableDiff};

use dynamig_core::catalog::GpuModel;
use dynamig_core::ids::GpuIndex;

/// The tables one GPU is planned with.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The model to plan with, or why the GPU cannot be used.
    pub model: Result<&'static GpuModel, String>,
    /// True when `model` was built from the driver's tables (it differs from the catalog, or
    /// the GPU is not in the catalog).
    pub from_driver: bool,
    /// The differences from the catalog (empty when the GPU is not in the catalog).
    pub diffs: Vec<TableDiff>,
}

/// The model to plan GPU `name` with, from its catalog model (if any) and the driver's profiles
/// (empty while MIG is off, when the driver reports none: the catalog is used then, as nothing is
/// placed on such a GPU anyway).
pub fn resolve(
    name: &str,
    catalog: Option<&'static GpuModel>,
    driver: &[DriverProfile],
    driver_version: &str,
) -> Resolved {
    if driver.is_empty() {
        return Resolved {
            model: catalog.ok_or_else(|| {
                format!("{name:?} is not in dynamig's catalog and the driver reports no MIG profiles for it")
            }),
            from_driver: false,
            diffs: Vec::new(),
        };
    }
    let diffs = catalog.map(|m| differences(m, driver)).unwrap_or_default();
    if let Some(m) = catalog {
        if diffs.is_empty() {
            return Resolved {
                model: Ok(m),
                from_driver: false,
                diffs,
            };
        }
    }
    let model = match check(driver) {
        Ok(()) => Ok(build::intern(name, catalog, driver, driver_version)),
        Err(why) => Err(format!("the driver's MIG tables cannot be used: {why}")),
    };
    Resolved {
        model,
        from_driver: true,
        diffs,
    }
}

/// Logs what [`resolve`] found for GPU `gpu`, at `warn`, one event per difference with the
/// fields `gpu`, `gpu_name`, `profile`, `profile_id`, `field`, `catalog` and `driver`.
pub fn log(gpu: GpuIndex, name: &str, r: &Resolved) {
    let gpu = gpu.get();
    for d in &r.diffs {
        tracing::warn!(
            gpu,
            gpu_name = name,
            profile = %d.profile,
            profile_id = d.id.get(),
            field = d.field.as_str(),
            catalog = %d.catalog,
            driver = %d.driver,
            "the driver's MIG tables differ from the catalog; planning with the driver's: {d}"
        );
    }
    match &r.model {
        Err(why) => tracing::warn!(gpu, gpu_name = name, reason = %why, "GPU not used: {why}"),
        Ok(m) if r.from_driver && r.diffs.is_empty() => tracing::warn!(
            gpu,
            gpu_name = name,
            model = m.key,
            profiles = m.profiles.len(),
            "GPU model not in dynamig's catalog; planning with the driver's MIG tables"
        ),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests;
