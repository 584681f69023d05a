//! The driver's profiles as NVML reports them, and how they differ from the catalog.

use dynamig_core::catalog::{Engines, GpuModel, Profile};
use dynamig_core::ids::ProfileId;
use serde::Serialize;
use std::fmt;
use std::fmt::Debug;

/// A GPU-instance profile as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DriverProfile {
    /// The `NVML_GPU_INSTANCE_PROFILE_*` index it was read at.
    pub index: u32,
    pub id: ProfileId,
    /// The profile's name as the driver gives it (`MIG 1g.5gb` → `1g.5gb`), when it does.
    pub name: Option<String>,
    pub compute_slices: u32,
    pub instance_count: u32,
    pub memory_mib: u64,
    pub sms: u32,
    /// copy, decoder, encoder, JPEG, optical-flow engines.
    pub engines: [u32; 5],
    /// (start, size) in memory slices, as `nvmlDeviceGetGpuInstancePossiblePlacements_v2` lists.
    pub placements: Vec<(u32, u32)>,
}

impl DriverProfile {
    pub fn starts(&self) -> Vec<u8> {
        self.placements
            .iter()
            .filter_map(|(s, _)| u8::try_from(*s).ok())
            .collect()
    }

    /// The driver's description of a catalog profile (what a driver that agrees reports).
    pub fn of_catalog(p: &Profile) -> DriverProfile {
        DriverProfile {
            index: p.index,
            id: p.id,
            name: Some(p.name.to_string()),
            compute_slices: u32::from(p.compute_slices),
            instance_count: u32::from(p.max_count),
            memory_mib: p.memory_mib,
            sms: u32::from(p.sms),
            engines: engines_u32(p.engines),
            placements: p
                .starts
                .iter()
                .map(|s| (u32::from(*s), u32::from(p.memory_slices)))
                .collect(),
        }
    }
}

fn engines_u32(e: Engines) -> [u32; 5] {
    [
        u32::from(e.ce),
        u32::from(e.dec),
        u32::from(e.enc),
        u32::from(e.jpg),
        u32::from(e.ofa),
    ]
}

/// Which value of a profile differs between the catalog and the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffField {
    /// In the catalog, not offered by the driver.
    NotOffered,
    /// Offered by the driver, not in the catalog.
    NotInCatalog,
    Memory,
    ComputeSlices,
    InstanceCount,
    Engines,
    Placements,
}

impl DiffField {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffField::NotOffered => "not_offered",
            DiffField::NotInCatalog => "not_in_catalog",
            DiffField::Memory => "memory_mib",
            DiffField::ComputeSlices => "compute_slices",
            DiffField::InstanceCount => "instance_count",
            DiffField::Engines => "engines",
            DiffField::Placements => "placements",
        }
    }
}

/// One difference between the catalog and the driver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableDiff {
    /// The profile's name (the catalog's, else the driver's, else `id N`).
    pub profile: String,
    pub id: ProfileId,
    pub field: DiffField,
    /// The catalog's value, `-` when the catalog has no such profile.
    pub catalog: String,
    /// The driver's value, `-` when the driver does not offer the profile.
    pub driver: String,
    /// The driver version the catalog's values are pinned to.
    pub catalog_driver: &'static str,
}

impl fmt::Display for TableDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, id) = (&self.profile, self.id);
        match self.field {
            DiffField::NotOffered => write!(
                f,
                "profile {p} (id {id}) is in the catalog but the driver does not offer it"
            ),
            DiffField::NotInCatalog => write!(
                f,
                "driver profile {p} (id {id}, {}) is not in the catalog",
                self.driver
            ),
            DiffField::Memory => write!(
                f,
                "profile {p} (id {id}): driver memory {} MiB, catalog {} MiB (catalog pinned to driver {})",
                self.driver, self.catalog, self.catalog_driver
            ),
            DiffField::ComputeSlices => write!(
                f,
                "profile {p} (id {id}): driver compute slices {}, catalog {}",
                self.driver, self.catalog
            ),
            DiffField::InstanceCount => write!(
                f,
                "profile {p} (id {id}): driver instance count {}, catalog {}",
                self.driver, self.catalog
            ),
            DiffField::Engines => write!(
                f,
                "profile {p} (id {id}): driver engines {} (copy, decoder, encoder, JPEG, OFA), catalog {}",
                self.driver, self.catalog
            ),
            DiffField::Placements => write!(
                f,
                "profile {p} (id {id}): driver placements {}, catalog {} (start, size)",
                self.driver, self.catalog
            ),
        }
    }
}

/// `(catalog's, driver's)` as shown, where the two values differ (formatted only then).
fn changed<T: PartialEq + Debug>(catalog: &T, driver: &T) -> Option<(String, String)> {
    (catalog != driver).then(|| (format!("{catalog:?}"), format!("{driver:?}")))
}

/// Every difference between the catalog's model and the driver's profiles.
pub fn differences(model: &GpuModel, driver: &[DriverProfile]) -> Vec<TableDiff> {
    let mut out = Vec::new();
    let diff = |p: &str, id, field, catalog: String, driver: String| TableDiff {
        profile: p.to_string(),
        id,
        field,
        catalog,
        driver,
        catalog_driver: model.driver,
    };
    for p in model.profiles {
        let Some(d) = driver.iter().find(|d| d.id == p.id) else {
            out.push(diff(
                p.name,
                p.id,
                DiffField::NotOffered,
                "offered".into(),
                "-".into(),
            ));
            continue;
        };
        let c = DriverProfile::of_catalog(p);
        for (field, shown) in [
            (DiffField::Memory, changed(&c.memory_mib, &d.memory_mib)),
            (
                DiffField::ComputeSlices,
                changed(&c.compute_slices, &d.compute_slices),
            ),
            (
                DiffField::InstanceCount,
                changed(&c.instance_count, &d.instance_count),
            ),
            (DiffField::Engines, changed(&c.engines, &d.engines)),
            (DiffField::Placements, changed(&c.placements, &d.placements)),
        ] {
            if let Some((catalog, driver)) = shown {
                out.push(diff(p.name, p.id, field, catalog, driver));
            }
        }
    }
    for d in driver {
        if model.profile_by_id(d.id).is_none() {
            let name = d.name.clone().unwrap_or_else(|| format!("id {}", d.id));
            out.push(diff(
                &name,
                d.id,
                DiffField::NotInCatalog,
                "-".into(),
                format!("index {}, {} MiB", d.index, d.memory_mib),
            ));
        }
    }
    out
}

/// The differences as sentences (what `dynamigctl doctor` lists).
pub fn catalog_differences(model: &GpuModel, driver: &[DriverProfile]) -> Vec<String> {
    differences(model, driver)
        .iter()
        .map(ToString::to_string)
        .collect()
}
