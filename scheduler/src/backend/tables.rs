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

use crate::catalog::{Engines, GpuModel, Profile};
use serde::Serialize;
use std::fmt;
use std::sync::Mutex;

/// Most profiles one GPU's tables may hold (the layout tracks instance counts per profile in a
/// fixed array of this size).
pub const MAX_PROFILES: usize = 12;
/// Most memory slices a GPU may have (slice sets are 8-bit masks).
pub const MAX_MEMORY_SLICES: u32 = 8;

/// A GPU-instance profile as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DriverProfile {
    /// The `NVML_GPU_INSTANCE_PROFILE_*` index it was read at.
    pub index: u32,
    pub id: u32,
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
    pub id: u32,
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
        if d.memory_mib != c.memory_mib {
            out.push(diff(
                p.name,
                p.id,
                DiffField::Memory,
                c.memory_mib.to_string(),
                d.memory_mib.to_string(),
            ));
        }
        if d.compute_slices != c.compute_slices {
            out.push(diff(
                p.name,
                p.id,
                DiffField::ComputeSlices,
                c.compute_slices.to_string(),
                d.compute_slices.to_string(),
            ));
        }
        if d.instance_count != c.instance_count {
            out.push(diff(
                p.name,
                p.id,
                DiffField::InstanceCount,
                c.instance_count.to_string(),
                d.instance_count.to_string(),
            ));
        }
        if d.engines != c.engines {
            out.push(diff(
                p.name,
                p.id,
                DiffField::Engines,
                format!("{:?}", c.engines),
                format!("{:?}", d.engines),
            ));
        }
        if d.placements != c.placements {
            out.push(diff(
                p.name,
                p.id,
                DiffField::Placements,
                format!("{:?}", c.placements),
                format!("{:?}", d.placements),
            ));
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

/// Whether the driver's tables can be planned with. The planner needs: every profile with at
/// least one compute slice, some memory and an instance count; placements of one size each,
/// inside at most [`MAX_MEMORY_SLICES`] memory slices, none repeated; distinct profile ids; at
/// most [`MAX_PROFILES`] profiles; and at least one profile that can be placed.
pub fn check(driver: &[DriverProfile]) -> Result<(), String> {
    if driver.is_empty() {
        return Err("the driver reports no GPU-instance profiles".into());
    }
    if driver.len() > MAX_PROFILES {
        return Err(format!(
            "the driver reports {} GPU-instance profiles; dynamig handles at most {MAX_PROFILES}",
            driver.len()
        ));
    }
    for (i, d) in driver.iter().enumerate() {
        let what = format!("profile id {} (index {})", d.id, d.index);
        if driver[..i].iter().any(|e| e.id == d.id) {
            return Err(format!("{what} is reported twice"));
        }
        if d.compute_slices == 0 || d.compute_slices > u32::from(u8::MAX) {
            return Err(format!("{what} has {} compute slices", d.compute_slices));
        }
        if d.memory_mib == 0 {
            return Err(format!("{what} has no memory"));
        }
        if d.instance_count == 0 || d.instance_count > u32::from(u8::MAX) {
            return Err(format!(
                "{what} has an instance count of {}",
                d.instance_count
            ));
        }
        if d.sms > u32::from(u16::MAX) || d.engines.iter().any(|e| *e > u32::from(u8::MAX)) {
            return Err(format!("{what} has out-of-range SM or engine counts"));
        }
        let mut starts = Vec::new();
        for &(start, size) in &d.placements {
            if size == 0 || size != d.placements[0].1 {
                return Err(format!(
                    "{what} has placements of different or zero sizes: {:?}",
                    d.placements
                ));
            }
            if start
                .checked_add(size)
                .is_none_or(|end| end > MAX_MEMORY_SLICES)
            {
                return Err(format!(
                    "{what} has placement {start}:{size} beyond {MAX_MEMORY_SLICES} memory slices"
                ));
            }
            if starts.contains(&start) {
                return Err(format!("{what} lists placement start {start} twice"));
            }
            starts.push(start);
        }
    }
    if driver.iter().all(|d| d.placements.is_empty()) {
        return Err("the driver reports no placement for any GPU-instance profile".into());
    }
    Ok(())
}

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
        Ok(()) => Ok(intern(name, catalog, driver, driver_version)),
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
pub fn log(gpu: u32, name: &str, r: &Resolved) {
    for d in &r.diffs {
        tracing::warn!(
            gpu,
            gpu_name = name,
            profile = %d.profile,
            profile_id = d.id,
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

type Key = (String, Option<&'static str>, Vec<DriverProfile>, String);

static INTERNED: Mutex<Vec<(Key, &'static GpuModel)>> = Mutex::new(Vec::new());

/// The model built from these inputs: made once per distinct input for the process's life.
fn intern(
    name: &str,
    catalog: Option<&'static GpuModel>,
    driver: &[DriverProfile],
    driver_version: &str,
) -> &'static GpuModel {
    let key: Key = (
        name.to_string(),
        catalog.map(|m| m.key),
        driver.to_vec(),
        driver_version.to_string(),
    );
    let mut cache = INTERNED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, m)) = cache.iter().find(|(k, _)| *k == key) {
        return m;
    }
    let m: &'static GpuModel = Box::leak(Box::new(build(name, catalog, driver, driver_version)));
    cache.push((key, m));
    m
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// A lower-case key for a model the catalog does not have: `NVIDIA A100X` → `a100x`.
pub fn key_for_name(name: &str) -> String {
    let n = name.trim();
    let n = n.strip_prefix("NVIDIA ").unwrap_or(n);
    let mut k = String::new();
    for c in n.chars() {
        if c.is_ascii_alphanumeric() {
            k.push(c.to_ascii_lowercase());
        } else if !k.ends_with('-') && !k.is_empty() {
            k.push('-');
        }
    }
    while k.ends_with('-') {
        k.pop();
    }
    if k.is_empty() {
        "unknown".into()
    } else {
        k
    }
}

/// The name users write for a driver profile: the catalog's for a known id, else the driver's
/// (without its `MIG ` prefix), else `<compute>g.<GiB>gb`; made unique with `-id<N>`.
fn profile_name(catalog: Option<&GpuModel>, d: &DriverProfile, taken: &[&str]) -> String {
    let base = catalog
        .and_then(|m| m.profile_by_id(d.id))
        .map(|p| p.name.to_string())
        .or_else(|| {
            d.name
                .as_deref()
                .map(|n| {
                    n.trim()
                        .strip_prefix("MIG ")
                        .unwrap_or(n.trim())
                        .to_string()
                })
                .filter(|n| !n.is_empty())
        })
        .unwrap_or_else(|| {
            format!(
                "{}g.{}gb",
                d.compute_slices,
                d.memory_mib.div_ceil(1024).max(1)
            )
        });
    if taken.contains(&base.as_str()) {
        format!("{base}-id{}", d.id)
    } else {
        base
    }
}

fn build(
    name: &str,
    catalog: Option<&'static GpuModel>,
    driver: &[DriverProfile],
    driver_version: &str,
) -> GpuModel {
    // Catalog order for the profiles it knows, then the driver's others in index order.
    let mut ordered: Vec<&DriverProfile> = Vec::new();
    if let Some(m) = catalog {
        for p in m.profiles {
            if let Some(d) = driver.iter().find(|d| d.id == p.id) {
                ordered.push(d);
            }
        }
    }
    let mut rest: Vec<&DriverProfile> = driver
        .iter()
        .filter(|d| !ordered.iter().any(|o| o.id == d.id))
        .collect();
    rest.sort_by_key(|d| d.index);
    ordered.extend(rest);

    let mut profiles: Vec<Profile> = Vec::new();
    let mut engines = Engines::ZERO;
    let mut compute_slices = 0u8;
    let mut memory_slices = 0u8;
    // `check` bounded every value below, so the conversions cannot fail.
    let u8_of = |v: u32| u8::try_from(v).unwrap_or(u8::MAX);
    for d in ordered {
        let taken: Vec<&str> = profiles.iter().map(|p| p.name).collect();
        let pname = leak(profile_name(catalog, d, &taken));
        let size = d.placements.first().map(|(_, s)| u8_of(*s)).unwrap_or(0);
        let starts: Vec<u8> = d.placements.iter().map(|(s, _)| u8_of(*s)).collect();
        for (s, sz) in &d.placements {
            memory_slices = memory_slices.max(u8_of(s + sz));
        }
        let e = Engines::new(
            u8_of(d.engines[0]),
            u8_of(d.engines[1]),
            u8_of(d.engines[2]),
            u8_of(d.engines[3]),
            u8_of(d.engines[4]),
        );
        engines = Engines::new(
            engines.ce.max(e.ce),
            engines.dec.max(e.dec),
            engines.enc.max(e.enc),
            engines.jpg.max(e.jpg),
            engines.ofa.max(e.ofa),
        );
        compute_slices = compute_slices.max(u8_of(d.compute_slices));
        profiles.push(Profile {
            name: pname,
            id: d.id,
            index: d.index,
            memory_mib: d.memory_mib,
            compute_slices: u8_of(d.compute_slices),
            memory_slices: size,
            max_count: u8_of(d.instance_count),
            sms: u16::try_from(d.sms).unwrap_or(u16::MAX),
            engines: e,
            starts: Box::leak(starts.into_boxed_slice()),
        });
    }
    let largest = profiles.iter().map(|p| p.memory_mib).max().unwrap_or(0);
    // The driver reports no whole-GPU totals; they follow from its largest profile. Where the
    // catalog knows the GPU, its totals stand when they are larger (a driver that hides the
    // full-GPU profile does not shrink the GPU).
    if let Some(m) = catalog {
        compute_slices = compute_slices.max(m.compute_slices);
        memory_slices = memory_slices.max(m.memory_slices);
        engines = Engines::new(
            engines.ce.max(m.engines.ce),
            engines.dec.max(m.engines.dec),
            engines.enc.max(m.engines.enc),
            engines.jpg.max(m.engines.jpg),
            engines.ofa.max(m.engines.ofa),
        );
    }
    GpuModel {
        key: catalog
            .map(|m| m.key)
            .unwrap_or_else(|| leak(key_for_name(name))),
        name: catalog
            .map(|m| m.name)
            .unwrap_or_else(|| leak(name.to_string())),
        aliases: catalog.map(|m| m.aliases).unwrap_or(&[]),
        memory_mib: catalog.map(|m| m.memory_mib).unwrap_or(largest),
        compute_slices,
        memory_slices,
        engines,
        driver: leak(driver_version.to_string()),
        profiles: Box::leak(profiles.into_boxed_slice()),
    }
}

#[cfg(test)]
mod tests;
