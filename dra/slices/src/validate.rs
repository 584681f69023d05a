//! A validator of the documented limits and rules of `resource.k8s.io/v1` ResourceSlices (see
//! [`crate::limits`]) for the fields dynamig publishes, and of what a pool's slices must agree
//! on together: what the API server checks of each slice, and what the scheduler needs of the
//! whole pool before it allocates from it (every slice present, every consumed counter set and
//! counter published, device and counter set names unique in the pool).
//!
//! Not checked (dynamig sets none of them): node selectors, binding conditions, consumable
//! capacity request policies, list-valued attributes, semantic-version syntax.

use crate::limits::*;
use crate::names::{is_dns_label, is_dns_subdomain};
use crate::pool::{slice_label, Pool};
use crate::violation::Violation;
use k8s_openapi::api::resource::v1::{Device, ResourceSlice};
use std::collections::BTreeSet;

/// Checks one pool's slices (all of them, at one generation). `Ok` when nothing breaks a rule;
/// otherwise every violation found.
pub fn validate(slices: &[ResourceSlice]) -> Result<(), Vec<Violation>> {
    let mut v = Vec::new();
    let mut names = BTreeSet::new();
    for (i, s) in slices.iter().enumerate() {
        let slice = slice_label(i, s);
        if s.metadata.name.is_some() && !names.insert(slice.clone()) {
            v.push(Violation::DuplicateSliceName {
                name: slice.clone(),
            });
        }
        check_slice(&slice, s, &mut v);
    }
    check_pool(slices, &mut v);
    match Pool::of(slices) {
        Ok(pool) => check_consumption(slices, &pool, &mut v),
        Err(errors) => v.extend(errors),
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(v)
    }
}

fn check_slice(slice: &str, s: &ResourceSlice, v: &mut Vec<Violation>) {
    let spec = &s.spec;
    match &s.metadata.name {
        Some(name) if is_dns_subdomain(name) => {}
        name => v.push(Violation::NotSubdomain {
            slice: slice.to_string(),
            field: "metadata.name",
            value: name.clone().unwrap_or_default(),
        }),
    }
    if !is_dns_subdomain(&spec.driver) {
        v.push(Violation::NotSubdomain {
            slice: slice.to_string(),
            field: "spec.driver",
            value: spec.driver.clone(),
        });
    } else if spec.driver.len() > MAX_DRIVER_NAME_LEN {
        v.push(Violation::DriverNameTooLong {
            slice: slice.to_string(),
            value: spec.driver.clone(),
            max: MAX_DRIVER_NAME_LEN,
        });
    }
    let pool = &spec.pool.name;
    if pool.is_empty() || pool.len() > MAX_SUBDOMAIN_LEN || !pool.split('/').all(is_dns_subdomain) {
        v.push(Violation::BadPoolName {
            slice: slice.to_string(),
            value: pool.clone(),
        });
    }
    if spec.pool.generation < 0 {
        v.push(Violation::NegativeGeneration {
            slice: slice.to_string(),
            generation: spec.pool.generation,
        });
    }
    let selections = [
        spec.node_name.as_ref().is_some_and(|n| !n.is_empty()),
        spec.node_selector.is_some(),
        spec.all_nodes == Some(true),
        spec.per_device_node_selection == Some(true),
    ];
    let set = selections.iter().filter(|&&b| b).count();
    if set != 1 {
        v.push(Violation::NodeSelection {
            slice: slice.to_string(),
            set,
        });
    }
    if let Some(node) = &spec.node_name {
        if !node.is_empty() && !is_dns_subdomain(node) {
            v.push(Violation::NotSubdomain {
                slice: slice.to_string(),
                field: "spec.nodeName",
                value: node.clone(),
            });
        }
    }
    if spec.shared_counters.is_some() && spec.devices.is_some() {
        v.push(Violation::CountersAndDevices {
            slice: slice.to_string(),
        });
    }
    let devices = spec.devices.as_deref().unwrap_or_default();
    let advanced = devices.iter().any(|d| {
        d.taints.as_ref().is_some_and(|t| !t.is_empty())
            || d.consumes_counters.as_ref().is_some_and(|c| !c.is_empty())
    });
    let max = if advanced {
        MAX_DEVICES_WITH_COUNTERS_OR_TAINTS
    } else {
        MAX_DEVICES
    };
    if devices.len() > max {
        v.push(Violation::TooManyDevices {
            slice: slice.to_string(),
            count: devices.len(),
            max,
        });
    }
    for d in devices {
        check_device(slice, d, spec.per_device_node_selection == Some(true), v);
    }
    let sets = spec.shared_counters.as_deref().unwrap_or_default();
    if sets.len() > MAX_COUNTER_SETS {
        v.push(Violation::TooManyCounterSets {
            slice: slice.to_string(),
            count: sets.len(),
            max: MAX_COUNTER_SETS,
        });
    }
    for set in sets {
        if !is_dns_label(&set.name) {
            v.push(Violation::NotLabel {
                slice: slice.to_string(),
                field: "counter set name",
                value: set.name.clone(),
            });
        }
        if set.counters.is_empty() {
            v.push(Violation::EmptyCounterSet {
                slice: slice.to_string(),
                set: set.name.clone(),
            });
        }
        if set.counters.len() > MAX_COUNTERS_PER_SET {
            v.push(Violation::TooManyCounters {
                slice: slice.to_string(),
                set: set.name.clone(),
                count: set.counters.len(),
                max: MAX_COUNTERS_PER_SET,
            });
        }
        for name in set.counters.keys() {
            if !is_dns_label(name) {
                v.push(Violation::NotLabel {
                    slice: slice.to_string(),
                    field: "counter name",
                    value: name.clone(),
                });
            }
        }
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`, at most 32 characters.
fn is_c_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_ID_LEN
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// An attribute or capacity name: an identifier, optionally after a driver-name domain and `/`.
fn is_qualified_name(s: &str) -> bool {
    match s.split_once('/') {
        None => is_c_identifier(s),
        Some((domain, id)) => {
            is_dns_subdomain(domain) && domain.len() <= MAX_DRIVER_NAME_LEN && is_c_identifier(id)
        }
    }
}

/// A label key (a taint key): an optional DNS-subdomain prefix and `/`, then a name of 1 to 63
/// of `[A-Za-z0-9-_.]` that starts and ends with an alphanumeric.
fn is_label_key(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let b = name.as_bytes();
    let name_ok = !b.is_empty()
        && b.len() <= MAX_LABEL_LEN
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    name_ok && prefix.is_none_or(is_dns_subdomain)
}

/// A label value: empty, or a label key's name part.
fn is_label_value(s: &str) -> bool {
    s.is_empty() || (!s.contains('/') && is_label_key(s))
}

fn check_device(slice: &str, d: &Device, per_device_nodes: bool, v: &mut Vec<Violation>) {
    let device = || d.name.clone();
    if !is_dns_label(&d.name) {
        v.push(Violation::NotLabel {
            slice: slice.to_string(),
            field: "device name",
            value: d.name.clone(),
        });
    }
    let attributes = d.attributes.as_ref();
    let capacities = d.capacity.as_ref();
    let count = attributes.map_or(0, |a| a.len()) + capacities.map_or(0, |c| c.len());
    if count > MAX_ATTRIBUTES_AND_CAPACITIES {
        v.push(Violation::TooManyAttributesAndCapacities {
            slice: slice.to_string(),
            device: device(),
            count,
            max: MAX_ATTRIBUTES_AND_CAPACITIES,
        });
    }
    let names = attributes
        .into_iter()
        .flat_map(|a| a.keys())
        .chain(capacities.into_iter().flat_map(|c| c.keys()));
    for name in names {
        if !is_qualified_name(name) {
            v.push(Violation::BadQualifiedName {
                slice: slice.to_string(),
                device: device(),
                name: name.clone(),
            });
        }
    }
    for (name, a) in attributes.into_iter().flatten() {
        let values = [
            a.bool.is_some(),
            a.int.is_some(),
            a.string.is_some(),
            a.version.is_some(),
            a.bools.is_some(),
            a.ints.is_some(),
            a.strings.is_some(),
            a.versions.is_some(),
        ];
        if values.iter().filter(|&&b| b).count() != 1 {
            v.push(Violation::AttributeValueCount {
                slice: slice.to_string(),
                device: device(),
                name: name.clone(),
            });
        }
        for s in a.string.iter().chain(a.version.iter()) {
            if s.len() > MAX_ATTRIBUTE_VALUE_LEN {
                v.push(Violation::AttributeTooLong {
                    slice: slice.to_string(),
                    device: device(),
                    name: name.clone(),
                    len: s.len(),
                    max: MAX_ATTRIBUTE_VALUE_LEN,
                });
            }
        }
    }
    for c in capacities.into_iter().flat_map(|c| c.values()) {
        if crate::quantity::parse(&c.value).is_none() {
            v.push(Violation::BadQuantity {
                slice: slice.to_string(),
                at: format!("device {} capacity", d.name),
                value: c.value.0.clone(),
            });
        }
    }
    let taints = d.taints.as_deref().unwrap_or_default();
    if taints.len() > MAX_TAINTS_PER_DEVICE {
        v.push(Violation::TooManyTaints {
            slice: slice.to_string(),
            device: device(),
            count: taints.len(),
            max: MAX_TAINTS_PER_DEVICE,
        });
    }
    for t in taints {
        let why = if !is_label_key(&t.key) {
            Some("the key is not a label name")
        } else if !t.value.as_deref().is_none_or(is_label_value) {
            Some("the value is not a label value")
        } else if !TAINT_EFFECTS.contains(&t.effect.as_str()) {
            Some("the effect is not None, NoSchedule or NoExecute")
        } else {
            None
        };
        if let Some(why) = why {
            v.push(Violation::BadTaint {
                slice: slice.to_string(),
                device: device(),
                key: t.key.clone(),
                why,
            });
        }
    }
    let consumptions = d.consumes_counters.as_deref().unwrap_or_default();
    if consumptions.len() > MAX_CONSUMPTIONS_PER_DEVICE {
        v.push(Violation::TooManyConsumptions {
            slice: slice.to_string(),
            device: device(),
            count: consumptions.len(),
            max: MAX_CONSUMPTIONS_PER_DEVICE,
        });
    }
    let mut sets = BTreeSet::new();
    for c in consumptions {
        if !sets.insert(c.counter_set.as_str()) {
            v.push(Violation::RepeatedConsumption {
                slice: slice.to_string(),
                device: device(),
                set: c.counter_set.clone(),
            });
        }
        if !is_dns_label(&c.counter_set) {
            v.push(Violation::NotLabel {
                slice: slice.to_string(),
                field: "consumed counter set name",
                value: c.counter_set.clone(),
            });
        }
        if c.counters.is_empty() {
            v.push(Violation::NoConsumedCounters {
                slice: slice.to_string(),
                device: device(),
                set: c.counter_set.clone(),
            });
        }
        if c.counters.len() > MAX_COUNTERS_PER_CONSUMPTION {
            v.push(Violation::TooManyConsumedCounters {
                slice: slice.to_string(),
                device: device(),
                set: c.counter_set.clone(),
                count: c.counters.len(),
                max: MAX_COUNTERS_PER_CONSUMPTION,
            });
        }
        for name in c.counters.keys() {
            if !is_dns_label(name) {
                v.push(Violation::NotLabel {
                    slice: slice.to_string(),
                    field: "consumed counter name",
                    value: name.clone(),
                });
            }
        }
    }
    let selects_nodes = d.node_name.is_some() || d.node_selector.is_some() || d.all_nodes.is_some();
    if selects_nodes && !per_device_nodes {
        v.push(Violation::DeviceNodeSelection {
            slice: slice.to_string(),
            device: device(),
        });
    }
}

/// What every slice of a pool must agree on, and the slice count.
fn check_pool(slices: &[ResourceSlice], v: &mut Vec<Violation>) {
    let Some(first) = slices.first() else {
        return;
    };
    let fields = |s: &ResourceSlice| {
        [
            ("spec.driver", s.spec.driver.clone()),
            ("spec.pool.name", s.spec.pool.name.clone()),
            ("spec.pool.generation", s.spec.pool.generation.to_string()),
            (
                "spec.pool.resourceSliceCount",
                s.spec.pool.resource_slice_count.to_string(),
            ),
            (
                "spec.nodeName",
                s.spec.node_name.clone().unwrap_or_default(),
            ),
        ]
    };
    let expected = fields(first);
    for (i, s) in slices.iter().enumerate().skip(1) {
        for ((field, value), (_, want)) in fields(s).into_iter().zip(expected.iter()) {
            if value != *want {
                v.push(Violation::PoolMismatch {
                    slice: slice_label(i, s),
                    field,
                    value,
                    expected: want.clone(),
                });
            }
        }
    }
    let declared = first.spec.pool.resource_slice_count;
    if usize::try_from(declared).ok() != Some(slices.len()) {
        v.push(Violation::SliceCount {
            declared,
            actual: slices.len(),
        });
    }
}

/// Every consumed counter set and counter exists in the pool and holds what the device
/// consumes on its own.
fn check_consumption(slices: &[ResourceSlice], pool: &Pool, v: &mut Vec<Violation>) {
    for (i, s) in slices.iter().enumerate() {
        let slice = slice_label(i, s);
        for d in s.spec.devices.iter().flatten() {
            let Some(consumption) = pool.devices.get(&d.name) else {
                continue;
            };
            for (set, counters) in consumption {
                let Some(available) = pool.counter_sets.get(set) else {
                    v.push(Violation::UnknownCounterSet {
                        slice: slice.clone(),
                        device: d.name.clone(),
                        set: set.clone(),
                    });
                    continue;
                };
                for (counter, &consumed) in counters {
                    match available.get(counter) {
                        None => v.push(Violation::UnknownCounter {
                            slice: slice.clone(),
                            device: d.name.clone(),
                            set: set.clone(),
                            counter: counter.clone(),
                        }),
                        Some(&have) if consumed > have => v.push(Violation::ConsumptionExceeds {
                            slice: slice.clone(),
                            device: d.name.clone(),
                            set: set.clone(),
                            counter: counter.clone(),
                            consumed,
                            available: have,
                        }),
                        Some(_) => {}
                    }
                }
            }
        }
    }
}
