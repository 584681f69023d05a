//! A [`GpuModel`] made from the driver's tables (and the catalog, for what the driver does not
//! report), interned for the life of the process.

use super::DriverProfile;
use dynamig_core::catalog::{Engines, GpuModel, Profile};
use std::sync::Mutex;

type Key = (String, Option<&'static str>, Vec<DriverProfile>, String);

static INTERNED: Mutex<Vec<(Key, &'static GpuModel)>> = Mutex::new(Vec::new());

/// The model built from these inputs: made once per distinct input for the process's life.
pub(super) fn intern(
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

pub(super) fn build(
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
