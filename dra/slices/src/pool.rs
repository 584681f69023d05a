//! A pool as the scheduler sees it once it has all of its slices: the counter sets published
//! anywhere in the pool, each device's consumption, and the check the scheduler makes when it
//! allocates devices that consume counters: for every counter of every counter set, the sum of
//! what the allocated devices consume is at most the counter's value.
//!
//! Read from the published objects themselves (quantities parsed back), so what is checked is
//! what the API server would hold, not the builder's intermediate model.

use crate::quantity;
use crate::violation::Violation;
use k8s_openapi::api::resource::v1::ResourceSlice;
use std::collections::BTreeMap;

/// Counter name -> value (or amount consumed).
pub type Counters = BTreeMap<String, u128>;

/// A device's consumption: counter set -> its counters.
pub type Consumption = BTreeMap<String, Counters>;

/// The counter sets and the devices' consumption of one pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    pub counter_sets: BTreeMap<String, Counters>,
    pub devices: BTreeMap<String, Consumption>,
}

/// Why a set of devices cannot be allocated together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownDevice(String),
    /// The same device twice: a device is allocated at most once.
    Twice(String),
    UnknownCounterSet {
        device: String,
        set: String,
    },
    UnknownCounter {
        set: String,
        counter: String,
    },
    Exceeds {
        set: String,
        counter: String,
        consumed: u128,
        available: u128,
    },
}

/// The name a violation gives a slice: its `metadata.name`, or `#i`.
pub(crate) fn slice_label(i: usize, s: &ResourceSlice) -> String {
    s.metadata.name.clone().unwrap_or_else(|| format!("#{i}"))
}

impl Pool {
    /// The pool of `slices`; the violations are unreadable quantities and names published twice.
    pub fn of(slices: &[ResourceSlice]) -> Result<Pool, Vec<Violation>> {
        let mut pool = Pool::default();
        let mut errors = Vec::new();
        let mut set_home: BTreeMap<String, String> = BTreeMap::new();
        let mut device_home: BTreeMap<String, String> = BTreeMap::new();
        for (i, s) in slices.iter().enumerate() {
            let slice = slice_label(i, s);
            for set in s.spec.shared_counters.iter().flatten() {
                if let Some(first) = set_home.insert(set.name.clone(), slice.clone()) {
                    errors.push(Violation::DuplicateCounterSet {
                        set: set.name.clone(),
                        first,
                        again: slice.clone(),
                    });
                    continue;
                }
                let mut counters = Counters::new();
                for (name, c) in &set.counters {
                    match quantity::parse(&c.value) {
                        Some(v) => {
                            counters.insert(name.clone(), v);
                        }
                        None => errors.push(Violation::BadQuantity {
                            slice: slice.clone(),
                            at: format!("counter {}/{name}", set.name),
                            value: c.value.0.clone(),
                        }),
                    }
                }
                pool.counter_sets.insert(set.name.clone(), counters);
            }
            for d in s.spec.devices.iter().flatten() {
                if let Some(first) = device_home.insert(d.name.clone(), slice.clone()) {
                    errors.push(Violation::DuplicateDevice {
                        device: d.name.clone(),
                        first,
                        again: slice.clone(),
                    });
                    continue;
                }
                let mut consumption = Consumption::new();
                for c in d.consumes_counters.iter().flatten() {
                    let entry = consumption.entry(c.counter_set.clone()).or_default();
                    for (name, amount) in &c.counters {
                        match quantity::parse(&amount.value) {
                            Some(v) => {
                                *entry.entry(name.clone()).or_default() += v;
                            }
                            None => errors.push(Violation::BadQuantity {
                                slice: slice.clone(),
                                at: format!(
                                    "device {} consumption of {}/{name}",
                                    d.name, c.counter_set
                                ),
                                value: amount.value.0.clone(),
                            }),
                        }
                    }
                }
                pool.devices.insert(d.name.clone(), consumption);
            }
        }
        if errors.is_empty() {
            Ok(pool)
        } else {
            Err(errors)
        }
    }

    /// Whether the scheduler would allocate all of `devices` together.
    pub fn admits<'a>(&self, devices: impl IntoIterator<Item = &'a str>) -> Result<(), Refusal> {
        let mut used: BTreeMap<(&str, &str), u128> = BTreeMap::new();
        let mut seen = std::collections::BTreeSet::new();
        for d in devices {
            if !seen.insert(d) {
                return Err(Refusal::Twice(d.to_string()));
            }
            let consumption = self
                .devices
                .get(d)
                .ok_or_else(|| Refusal::UnknownDevice(d.to_string()))?;
            for (set, counters) in consumption {
                if !self.counter_sets.contains_key(set) {
                    return Err(Refusal::UnknownCounterSet {
                        device: d.to_string(),
                        set: set.clone(),
                    });
                }
                for (counter, amount) in counters {
                    *used.entry((set.as_str(), counter.as_str())).or_default() += amount;
                }
            }
        }
        for ((set, counter), consumed) in used {
            let available = self
                .counter_sets
                .get(set)
                .and_then(|c| c.get(counter))
                .copied()
                .ok_or_else(|| Refusal::UnknownCounter {
                    set: set.to_string(),
                    counter: counter.to_string(),
                })?;
            if consumed > available {
                return Err(Refusal::Exceeds {
                    set: set.to_string(),
                    counter: counter.to_string(),
                    consumed,
                    available,
                });
            }
        }
        Ok(())
    }
}
