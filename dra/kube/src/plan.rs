//! What the publisher writes, as a pure function of what is published and what should be: the
//! pool generation to use and the ordered writes that get there.
//!
//! The pool's rules (KEP-4381, `ResourcePool` in `resource.k8s.io/v1`): every slice of a pool
//! carries the pool's `generation` and `resourceSliceCount`; a consumer (the scheduler) uses only
//! the slices of the highest generation it sees and knows its view is complete when it sees
//! `resourceSliceCount` of them. So a change is published as a new generation, written in this
//! order:
//!
//! 1. every slice of the new generation, the ones carrying `sharedCounters` first (a device's
//!    `consumesCounters` names a counter set; since Kubernetes 1.35 counter sets and devices
//!    live in separate slices), each either replacing the old slice of the same name in place
//!    or created;
//! 2. then the old generation's slices that the new one does not reuse are deleted.
//!
//! From the first write of step 1 the old generation is ignored, and the pool is complete again
//! after the last one: the pool is never a mix of generations for a consumer, and is
//! incomplete for at most the few writes of step 1. Nothing is written when the published
//! slices already are the desired ones (same names, same specs apart from the generation).

use dynamig_dra_api::DRIVER_NAME;
use k8s_openapi::api::resource::v1::{ResourceSlice, ResourceSliceSpec};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// One write, in the order it must be made.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// POST a slice that has no published namesake.
    Create(ResourceSlice),
    /// PUT over the published slice of the same name (its `resourceVersion` is set, so a
    /// concurrent change makes the write fail with 409 rather than be lost).
    Replace(ResourceSlice),
    /// DELETE an old slice the new generation does not reuse.
    Delete { name: String },
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The pool generation the node's slices have after the writes.
    pub generation: i64,
    /// Empty when the published slices are already the desired ones.
    pub writes: Vec<Write>,
}

/// The highest pool generation among `published` (0 when nothing is published).
pub fn published_generation(published: &[ResourceSlice]) -> i64 {
    published
        .iter()
        .map(|s| s.spec.pool.generation)
        .max()
        .unwrap_or(0)
}

/// The name the publisher gives the `i`-th desired slice when its builder left it unnamed:
/// `<node>-mig.dynamig.io-<i>` (a DNS subdomain as object names must be; unique per node).
pub fn slice_name(node: &str, i: usize) -> String {
    format!("{node}-{DRIVER_NAME}-{i}")
}

/// Checks that `desired` is this node's pool, names unnamed slices, and sets every slice's
/// generation and slice count: the publisher owns those two fields, whatever the builder put.
pub fn prepare_desired(
    node: &str,
    generation: i64,
    mut desired: Vec<ResourceSlice>,
) -> Result<Vec<ResourceSlice>, String> {
    if desired.is_empty() {
        return Err(
            "no slices: a pool has at least one (publish the node's GPUs, or withdraw)".into(),
        );
    }
    let count = i64::try_from(desired.len()).map_err(|_| "too many slices".to_string())?;
    for (i, s) in desired.iter_mut().enumerate() {
        if s.spec.driver != DRIVER_NAME {
            return Err(format!(
                "slice {i} is for driver {:?}, not {DRIVER_NAME}",
                s.spec.driver
            ));
        }
        if s.spec.node_name.as_deref() != Some(node) {
            return Err(format!(
                "slice {i} is for node {:?}, not {node:?}",
                s.spec.node_name
            ));
        }
        if s.spec.pool.name != node {
            return Err(format!(
                "slice {i} is in pool {:?}, not the node's pool {node:?}",
                s.spec.pool.name
            ));
        }
        if s.metadata.name.is_none() {
            s.metadata.name = Some(slice_name(node, i));
        }
        s.metadata.generate_name = None;
        s.metadata.resource_version = None;
        s.spec.pool.generation = generation;
        s.spec.pool.resource_slice_count = count;
    }
    let mut names: Vec<&String> = desired
        .iter()
        .filter_map(|s| s.metadata.name.as_ref())
        .collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("two slices are named {:?}", w[0]));
    }
    Ok(desired)
}

/// The writes that turn `published` into what `build` returns for the next generation, or none
/// when `published` already is it. `build` gets the generation to put in the slices (the
/// publisher sets it again anyway, see [`prepare_desired`]).
pub fn plan(
    node: &str,
    published: &[ResourceSlice],
    build: impl FnOnce(i64) -> Vec<ResourceSlice>,
) -> Result<Plan, String> {
    let current = published_generation(published);
    let next = current
        .checked_add(1)
        .ok_or_else(|| "the pool generation is at its maximum".to_string())?;
    let desired = prepare_desired(node, next, build(next))?;

    let by_name: BTreeMap<&str, &ResourceSlice> = published
        .iter()
        .filter_map(|s| s.metadata.name.as_deref().map(|n| (n, s)))
        .collect();
    if current > 0 && is_published(&desired, &by_name, published.len(), current) {
        return Ok(Plan {
            generation: current,
            writes: Vec::new(),
        });
    }

    let mut ordered = desired;
    // Counter sets first: stable, so the builder's order holds within each kind.
    ordered.sort_by_key(|s| s.spec.shared_counters.as_ref().is_none_or(Vec::is_empty));
    let mut writes = Vec::with_capacity(ordered.len() + published.len());
    let mut reused = Vec::new();
    for mut s in ordered {
        let name = s.metadata.name.clone().unwrap_or_default();
        match by_name.get(name.as_str()) {
            Some(old) => {
                s.metadata.resource_version = old.metadata.resource_version.clone();
                reused.push(name);
                writes.push(Write::Replace(s));
            }
            None => writes.push(Write::Create(s)),
        }
    }
    for name in by_name.keys() {
        if !reused.iter().any(|r| r == name) {
            writes.push(Write::Delete {
                name: (*name).to_string(),
            });
        }
    }
    Ok(Plan {
        generation: next,
        writes,
    })
}

/// Whether the published slices are exactly `desired` at generation `current`.
fn is_published(
    desired: &[ResourceSlice],
    by_name: &BTreeMap<&str, &ResourceSlice>,
    published_count: usize,
    current: i64,
) -> bool {
    if published_count != desired.len() || by_name.len() != desired.len() {
        return false;
    }
    desired.iter().all(|d| {
        let Some(old) = d.metadata.name.as_deref().and_then(|n| by_name.get(n)) else {
            return false;
        };
        let mut want = d.spec.clone();
        want.pool.generation = current;
        normalized(&old.spec) == normalized(&want)
    })
}

/// A slice spec as the API server gives it back: without empty lists and maps (omitted or not,
/// the same slice), and with every quantity of a capacity or a counter as its value
/// ([`crate::quantity::nanos`]), since the server rewrites quantities in canonical form.
fn normalized(spec: &ResourceSliceSpec) -> Json {
    /// `path`: the object keys from the spec down to `v` (array levels add none).
    fn walk(v: Json, path: &mut Vec<String>) -> Option<Json> {
        match v {
            Json::Null => None,
            Json::Array(a) => {
                let a: Vec<Json> = a.into_iter().filter_map(|x| walk(x, path)).collect();
                (!a.is_empty()).then_some(Json::Array(a))
            }
            Json::Object(o) => {
                let mut out = serde_json::Map::new();
                for (k, x) in o {
                    path.push(k.clone());
                    let x = walk(x, path);
                    path.pop();
                    if let Some(x) = x {
                        out.insert(k, x);
                    }
                }
                (!out.is_empty()).then_some(Json::Object(out))
            }
            // {"capacity": {"memory": {"value": Q}}}, {"counters": {"memorySlices": {"value": Q}}}
            Json::String(s) if is_quantity_path(path) => Some(match crate::quantity::nanos(&s) {
                Some(n) => Json::String(format!("{n}n")),
                None => Json::String(s),
            }),
            other => Some(other),
        }
    }
    fn is_quantity_path(path: &[String]) -> bool {
        matches!(
            path,
            [.., map, _, value] if value == "value" && (map == "capacity" || map == "counters")
        )
    }
    let json = serde_json::to_value(spec).unwrap_or(Json::Null);
    walk(json, &mut Vec::new()).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::resource::v1::{
        Counter, CounterSet, Device, ResourcePool, ResourceSliceSpec,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use kube::api::ObjectMeta;

    const NODE: &str = "node-a";

    fn slice(
        name: Option<&str>,
        devices: &[&str],
        counters: bool,
        generation: i64,
    ) -> ResourceSlice {
        ResourceSlice {
            metadata: ObjectMeta {
                name: name.map(str::to_string),
                ..ObjectMeta::default()
            },
            spec: ResourceSliceSpec {
                driver: DRIVER_NAME.to_string(),
                node_name: Some(NODE.to_string()),
                pool: ResourcePool {
                    name: NODE.to_string(),
                    generation,
                    resource_slice_count: 2,
                },
                devices: (!devices.is_empty()).then(|| {
                    devices
                        .iter()
                        .map(|d| Device {
                            name: (*d).to_string(),
                            ..Device::default()
                        })
                        .collect()
                }),
                shared_counters: counters.then(|| {
                    vec![CounterSet {
                        name: "gpu-0-counters".to_string(),
                        counters: [(
                            "memorySlices".to_string(),
                            Counter {
                                value: Quantity("8".to_string()),
                            },
                        )]
                        .into(),
                    }]
                }),
                ..ResourceSliceSpec::default()
            },
        }
    }

    fn published(
        name: &str,
        devices: &[&str],
        counters: bool,
        generation: i64,
        rv: &str,
    ) -> ResourceSlice {
        let mut s = slice(Some(name), devices, counters, generation);
        s.metadata.resource_version = Some(rv.to_string());
        s
    }

    #[test]
    fn first_publication_creates_generation_one_counters_first() {
        let plan = plan(NODE, &[], |g| {
            vec![slice(None, &["gpu-0"], false, g), slice(None, &[], true, g)]
        })
        .unwrap();
        assert_eq!(plan.generation, 1);
        let names: Vec<_> = plan
            .writes
            .iter()
            .map(|w| match w {
                Write::Create(s) => {
                    assert_eq!(s.spec.pool.generation, 1);
                    assert_eq!(s.spec.pool.resource_slice_count, 2);
                    s.metadata.name.clone().unwrap()
                }
                other => panic!("{other:?}"),
            })
            .collect();
        // The counter slice was built second and is written first, under its own index name.
        assert_eq!(
            names,
            ["node-a-mig.dynamig.io-1", "node-a-mig.dynamig.io-0"]
        );
    }

    #[test]
    fn unchanged_slices_write_nothing() {
        let now = [
            published("node-a-mig.dynamig.io-0", &["gpu-0"], false, 4, "10"),
            published("node-a-mig.dynamig.io-1", &[], true, 4, "11"),
        ];
        let plan = plan(NODE, &now, |g| {
            vec![slice(None, &["gpu-0"], false, g), slice(None, &[], true, g)]
        })
        .unwrap();
        assert_eq!(
            plan,
            Plan {
                generation: 4,
                writes: vec![]
            }
        );
    }

    #[test]
    fn a_change_bumps_the_generation_replaces_then_deletes() {
        let now = [
            published("node-a-mig.dynamig.io-0", &["gpu-0"], false, 4, "10"),
            published("node-a-mig.dynamig.io-1", &[], true, 4, "11"),
            published("node-a-mig.dynamig.io-2", &["gpu-1"], false, 3, "12"),
        ];
        let plan = plan(NODE, &now, |g| {
            assert_eq!(g, 5);
            vec![
                slice(None, &["gpu-0", "gpu-0-mig-1g5gb-0"], false, g),
                slice(None, &[], true, g),
            ]
        })
        .unwrap();
        assert_eq!(plan.generation, 5);
        match &plan.writes[..] {
            [Write::Replace(c), Write::Replace(d), Write::Delete { name }] => {
                assert_eq!(c.metadata.name.as_deref(), Some("node-a-mig.dynamig.io-1"));
                assert_eq!(c.metadata.resource_version.as_deref(), Some("11"));
                assert_eq!(d.metadata.resource_version.as_deref(), Some("10"));
                assert_eq!(d.spec.pool.generation, 5);
                assert_eq!(name, "node-a-mig.dynamig.io-2");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn canonical_quantities_and_omitted_empty_lists_are_unchanged() {
        let with = |memory: &str, devices: Option<Vec<Device>>| {
            let mut s = published("node-a-mig.dynamig.io-0", &["gpu-0"], false, 7, "3");
            let d = &mut s.spec.devices.as_mut().unwrap()[0];
            d.capacity = Some(
                [(
                    "memory".to_string(),
                    k8s_openapi::api::resource::v1::DeviceCapacity {
                        value: Quantity(memory.to_string()),
                        ..Default::default()
                    },
                )]
                .into(),
            );
            let mut c = published("node-a-mig.dynamig.io-1", &[], true, 7, "4");
            c.spec.devices = devices;
            vec![s, c]
        };
        // As the API server gives them back: 10240Mi as 10Gi, the counter slice without devices.
        let now = with("10Gi", None);
        let same = plan(NODE, &now, |_| with("10240Mi", Some(vec![]))).unwrap();
        assert_eq!(same.generation, 7);
        assert!(same.writes.is_empty(), "{:?}", same.writes);
        let bigger = plan(NODE, &now, |_| with("10241Mi", Some(vec![]))).unwrap();
        assert_eq!(bigger.generation, 8);
    }

    #[test]
    fn a_missing_slice_is_a_change() {
        let now = [published(
            "node-a-mig.dynamig.io-0",
            &["gpu-0"],
            false,
            2,
            "10",
        )];
        let plan = plan(NODE, &now, |g| {
            vec![slice(None, &["gpu-0"], false, g), slice(None, &[], true, g)]
        })
        .unwrap();
        assert_eq!(plan.generation, 3);
        assert!(matches!(
            &plan.writes[..],
            [Write::Create(_), Write::Replace(_)]
        ));
    }

    #[test]
    fn foreign_or_empty_pools_are_refused() {
        assert!(plan(NODE, &[], |_| vec![]).is_err());
        let mut other_node = slice(None, &["gpu-0"], false, 1);
        other_node.spec.node_name = Some("node-b".into());
        assert!(plan(NODE, &[], |_| vec![other_node])
            .unwrap_err()
            .contains("node-b"));
        let mut other_driver = slice(None, &["gpu-0"], false, 1);
        other_driver.spec.driver = "gpu.nvidia.com".into();
        assert!(plan(NODE, &[], |_| vec![other_driver])
            .unwrap_err()
            .contains("gpu.nvidia.com"));
        let twice = vec![
            slice(Some("x"), &[], true, 1),
            slice(Some("x"), &["gpu-0"], false, 1),
        ];
        assert!(plan(NODE, &[], |_| twice).unwrap_err().contains("\"x\""));
    }
}
