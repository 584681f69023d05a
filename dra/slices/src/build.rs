//! The slices of a node's pool: one counter set per GPU, and per GPU its whole-GPU device then
//! its MIG devices (catalog order, then start order), split within the API's limits.
//!
//! Since Kubernetes 1.35 a slice holds counter sets or devices, not both, so the pool is:
//! `ceil(GPUs / 8)` slices of counter sets, then `ceil(devices / 64)` slices of devices (every
//! device consumes counters, so a slice holds at most 64), all in one pool named after the node
//! with `resourceSliceCount` = their number. No GPUs: no slices (the publisher deletes any
//! it had).

use crate::counters::{placements, CounterModel};
use crate::devices::{mig_device, whole_device};
use crate::limits::{MAX_COUNTER_SETS, MAX_DEVICES_WITH_COUNTERS_OR_TAINTS};
use crate::names::{counter_set, slice_name};
use crate::quantity;
use dynamig_dra_api::inventory::Inventory;
use dynamig_dra_api::DRIVER_NAME;
use k8s_openapi::api::resource::v1::{
    Counter, CounterSet, Device, ResourcePool, ResourceSlice, ResourceSliceSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The ResourceSlices that publish `inv` as `node`'s pool at `generation`. The same arguments
/// give the same slices, byte for byte once serialized.
pub fn build(node: &str, generation: i64, inv: &Inventory) -> Vec<ResourceSlice> {
    let mut gpus: Vec<_> = inv.gpus.iter().collect();
    gpus.sort_by_key(|g| g.index);
    let mut sets = Vec::with_capacity(gpus.len());
    let mut devices: Vec<Device> = Vec::new();
    for gpu in gpus {
        let counters = CounterModel::of(gpu.model);
        sets.push(CounterSet {
            name: counter_set(gpu.index),
            counters: counters
                .counters()
                .iter()
                .map(|(name, n)| {
                    (
                        name.clone(),
                        Counter {
                            value: quantity::int(*n),
                        },
                    )
                })
                .collect(),
        });
        devices.push(whole_device(gpu, &counters));
        for (profile, start) in placements(gpu.model) {
            devices.push(mig_device(gpu, &counters, profile, start));
        }
    }
    let set_chunks: Vec<Vec<CounterSet>> =
        sets.chunks(MAX_COUNTER_SETS).map(<[_]>::to_vec).collect();
    let device_chunks: Vec<Vec<Device>> = devices
        .chunks(MAX_DEVICES_WITH_COUNTERS_OR_TAINTS)
        .map(<[_]>::to_vec)
        .collect();
    let count = set_chunks.len() + device_chunks.len();
    let slice_count = i64::try_from(count).unwrap_or(i64::MAX);
    let slice = |k: usize, shared_counters, devices| ResourceSlice {
        metadata: ObjectMeta {
            name: Some(slice_name(node, k, count)),
            ..Default::default()
        },
        spec: ResourceSliceSpec {
            driver: DRIVER_NAME.to_string(),
            pool: ResourcePool {
                name: node.to_string(),
                generation,
                resource_slice_count: slice_count,
            },
            node_name: Some(node.to_string()),
            shared_counters,
            devices,
            ..Default::default()
        },
    };
    let counters = set_chunks.into_iter().map(|c| (Some(c), None));
    let devices = device_chunks.into_iter().map(|d| (None, Some(d)));
    counters
        .chain(devices)
        .enumerate()
        .map(|(k, (c, d))| slice(k, c, d))
        .collect()
}

/// The slices as a YAML stream of JSON documents (`---` then one object per line), what
/// `kubectl apply -f` and kubernetes-validate read.
pub fn to_yaml_stream(slices: &[ResourceSlice]) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for s in slices {
        out.push_str("---\n");
        out.push_str(&serde_json::to_string(s)?);
        out.push('\n');
    }
    Ok(out)
}
