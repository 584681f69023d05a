//! The limits validator: each rule, broken in one slice of an otherwise valid pool, is caught,
//! and the valid pool passes.

use dynamig_core::catalog::model_by_key;
use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::inventory::{GpuInventory, Inventory, MigState};
use dynamig_dra_slices::{build, validate, Violation};
use k8s_openapi::api::core::v1::NodeSelector;
use k8s_openapi::api::resource::v1::{
    Counter, CounterSet, Device, DeviceAttribute, DeviceCounterConsumption, DeviceTaint,
    ResourceSlice,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// Two A100-40GB GPUs, MIG off on the second (taints): slice 0 the counter sets, slice 1 the
/// devices.
fn pool() -> Vec<ResourceSlice> {
    let m = model_by_key("a100-40gb").expect("a100");
    let inv = Inventory {
        gpus: (0..2)
            .map(|i| GpuInventory {
                index: GpuIndex::new(i),
                uuid: format!("GPU-{i:08x}-0000-4000-8000-000000000000"),
                model: m,
                mig: [MigState::Enabled, MigState::Disabled][i as usize],
            })
            .collect(),
    };
    let slices = build("node-a", 4, &inv);
    assert_eq!(slices.len(), 2);
    slices
}

fn devices(s: &mut [ResourceSlice]) -> &mut Vec<Device> {
    s[1].spec.devices.as_mut().expect("devices")
}

fn sets(s: &mut [ResourceSlice]) -> &mut Vec<CounterSet> {
    s[0].spec.shared_counters.as_mut().expect("sets")
}

fn consumption(d: &mut Device) -> &mut DeviceCounterConsumption {
    &mut d.consumes_counters.as_mut().expect("consumes")[0]
}

/// Breaks `pool()` with `edit` and returns what the validator finds.
fn broken(edit: impl FnOnce(&mut Vec<ResourceSlice>)) -> Vec<Violation> {
    let mut s = pool();
    edit(&mut s);
    validate(&s).expect_err("the broken pool was accepted")
}

macro_rules! caught {
    ($edit:expr, $pat:pat) => {{
        let v = broken($edit);
        assert!(
            v.iter().any(|x| matches!(x, $pat)),
            "expected {}, got {v:?}",
            stringify!($pat)
        );
    }};
}

#[test]
fn the_built_pool_passes() {
    assert_eq!(validate(&pool()), Ok(()));
}

#[test]
fn slice_names_and_fields_must_be_dns_names() {
    caught!(
        |s| s[1].metadata.name = Some("Node_A".into()),
        Violation::NotSubdomain {
            field: "metadata.name",
            ..
        }
    );
    caught!(
        |s| s[1].metadata.name = Some(format!("{}-1", "a".repeat(253))),
        Violation::NotSubdomain {
            field: "metadata.name",
            ..
        }
    );
    caught!(
        |s| s[0].metadata.name = None,
        Violation::NotSubdomain {
            field: "metadata.name",
            ..
        }
    );
    caught!(
        |s| s
            .iter_mut()
            .for_each(|x| x.spec.driver = "Mig.Dynamig.IO".into()),
        Violation::NotSubdomain {
            field: "spec.driver",
            ..
        }
    );
    caught!(
        |s| s
            .iter_mut()
            .for_each(|x| x.spec.driver = format!("{}.dynamig.io", "m".repeat(60))),
        Violation::DriverNameTooLong { .. }
    );
    caught!(
        |s| s.iter_mut().for_each(|x| x.spec.pool.name = "a//b".into()),
        Violation::BadPoolName { .. }
    );
    caught!(
        |s| s
            .iter_mut()
            .for_each(|x| x.spec.node_name = Some("node_a".into())),
        Violation::NotSubdomain {
            field: "spec.nodeName",
            ..
        }
    );
    caught!(
        |s| s.iter_mut().for_each(|x| x.spec.pool.generation = -1),
        Violation::NegativeGeneration { .. }
    );
}

#[test]
fn exactly_one_node_selection() {
    caught!(
        |s| s[1].spec.node_name = None,
        Violation::NodeSelection { set: 0, .. }
    );
    caught!(
        |s| s[1].spec.all_nodes = Some(true),
        Violation::NodeSelection { set: 2, .. }
    );
    caught!(
        |s| s[1].spec.node_selector = Some(NodeSelector::default()),
        Violation::NodeSelection { set: 2, .. }
    );
    caught!(
        |s| devices(s)[0].node_name = Some("node-a".into()),
        Violation::DeviceNodeSelection { .. }
    );
}

#[test]
fn a_slice_holds_counters_or_devices_not_both() {
    caught!(
        |s| s[1].spec.shared_counters = Some(vec![]),
        Violation::CountersAndDevices { .. }
    );
}

#[test]
fn device_and_counter_set_counts() {
    // 2 x 26 devices: pad to 65 copies under new names.
    caught!(
        |s| {
            let d = devices(s);
            let template = d[0].clone();
            for i in d.len()..65 {
                let mut extra = template.clone();
                extra.name = format!("extra-{i}");
                d.push(extra);
            }
        },
        Violation::TooManyDevices {
            count: 65,
            max: 64,
            ..
        }
    );
    caught!(
        |s| {
            let sets = sets(s);
            let template = sets[0].clone();
            for i in 2..9 {
                let mut extra = template.clone();
                extra.name = format!("gpu-{i}");
                sets.push(extra);
            }
        },
        Violation::TooManyCounterSets {
            count: 9,
            max: 8,
            ..
        }
    );
    caught!(
        |s| {
            let c = &mut sets(s)[0].counters;
            for i in 8..40 {
                c.insert(
                    format!("memory-slice-{i}"),
                    Counter {
                        value: Quantity("1".into()),
                    },
                );
            }
        },
        Violation::TooManyCounters { max: 32, .. }
    );
    caught!(
        |s| sets(s)[0].counters.clear(),
        Violation::EmptyCounterSet { .. }
    );
}

#[test]
fn counter_and_device_names_are_dns_labels() {
    caught!(
        |s| sets(s)[0].name = "GPU_0".into(),
        Violation::NotLabel {
            field: "counter set name",
            ..
        }
    );
    caught!(
        |s| {
            let c = &mut sets(s)[0].counters;
            let v = c.remove("decoders").expect("decoders");
            c.insert("Decoders".into(), v);
        },
        Violation::NotLabel {
            field: "counter name",
            ..
        }
    );
    caught!(
        |s| devices(s)[3].name = "gpu-0-mig-1g.5gb-2".into(),
        Violation::NotLabel {
            field: "device name",
            ..
        }
    );
    caught!(
        |s| consumption(&mut devices(s)[3]).counter_set = "gpu_0".into(),
        Violation::NotLabel {
            field: "consumed counter set name",
            ..
        }
    );
    caught!(
        |s| {
            let c = &mut consumption(&mut devices(s)[3]).counters;
            let v = c.remove("compute-slices").expect("compute");
            c.insert("compute_slices".into(), v);
        },
        Violation::NotLabel {
            field: "consumed counter name",
            ..
        }
    );
}

#[test]
fn consumption_rules() {
    caught!(
        |s| {
            let d = &mut devices(s)[3];
            let c = consumption(d).clone();
            let mut other = c.clone();
            other.counter_set = "gpu-1".into();
            let mut third = c.clone();
            third.counter_set = "gpu-2".into();
            d.consumes_counters = Some(vec![c, other, third]);
        },
        Violation::TooManyConsumptions {
            count: 3,
            max: 2,
            ..
        }
    );
    caught!(
        |s| {
            let d = &mut devices(s)[3];
            let c = consumption(d).clone();
            d.consumes_counters = Some(vec![c.clone(), c]);
        },
        Violation::RepeatedConsumption { .. }
    );
    caught!(
        |s| consumption(&mut devices(s)[3]).counters.clear(),
        Violation::NoConsumedCounters { .. }
    );
    caught!(
        |s| {
            let c = &mut consumption(&mut devices(s)[3]).counters;
            for i in 0..33 {
                c.insert(
                    format!("x-{i}"),
                    Counter {
                        value: Quantity("0".into()),
                    },
                );
            }
        },
        Violation::TooManyConsumedCounters { max: 32, .. }
    );
}

#[test]
fn consumed_counters_exist_in_the_pool_with_enough_value() {
    caught!(
        |s| consumption(&mut devices(s)[3]).counter_set = "gpu-9".into(),
        Violation::UnknownCounterSet { .. }
    );
    caught!(
        |s| {
            consumption(&mut devices(s)[3]).counters.insert(
                "memory-slice-8".into(),
                Counter {
                    value: Quantity("1".into()),
                },
            );
        },
        Violation::UnknownCounter { .. }
    );
    caught!(
        |s| {
            consumption(&mut devices(s)[3]).counters.insert(
                "compute-slices".into(),
                Counter {
                    value: Quantity("8".into()),
                },
            );
        },
        Violation::ConsumptionExceeds {
            consumed: 8,
            available: 7,
            ..
        }
    );
    // The counters live in slice 0: without it, nothing the devices consume exists.
    caught!(
        |s| {
            s.remove(0);
            s[0].spec.pool.resource_slice_count = 1;
        },
        Violation::UnknownCounterSet { .. }
    );
}

#[test]
fn quantities_must_be_integers() {
    caught!(
        |s| {
            sets(s)[0].counters.insert(
                "decoders".into(),
                Counter {
                    value: Quantity("4.5".into()),
                },
            );
        },
        Violation::BadQuantity { .. }
    );
    caught!(
        |s| {
            let d = &mut devices(s)[3];
            if let Some(c) = d.capacity.as_mut().and_then(|c| c.get_mut("memory")) {
                c.value = Quantity("lots".into());
            }
        },
        Violation::BadQuantity { .. }
    );
}

#[test]
fn attribute_rules() {
    caught!(
        |s| {
            let a = devices(s)[3].attributes.as_mut().expect("attributes");
            for i in 0..30 {
                a.insert(
                    format!("extra{i}"),
                    DeviceAttribute {
                        int: Some(i),
                        ..Default::default()
                    },
                );
            }
        },
        Violation::TooManyAttributesAndCapacities { max: 32, .. }
    );
    for bad in [
        "placement-start",
        "9lives",
        "Mig.Dynamig.io/x",
        "mig.dynamig.io/",
        "averyveryveryveryverylongattributename",
    ] {
        caught!(
            |s| {
                devices(s)[3].attributes.as_mut().expect("a").insert(
                    bad.into(),
                    DeviceAttribute {
                        int: Some(1),
                        ..Default::default()
                    },
                );
            },
            Violation::BadQualifiedName { .. }
        );
    }
    caught!(
        |s| {
            devices(s)[3].attributes.as_mut().expect("a").insert(
                "both".into(),
                DeviceAttribute {
                    int: Some(1),
                    string: Some("1".into()),
                    ..Default::default()
                },
            );
        },
        Violation::AttributeValueCount { .. }
    );
    caught!(
        |s| {
            devices(s)[3]
                .attributes
                .as_mut()
                .expect("a")
                .insert("none".into(), DeviceAttribute::default());
        },
        Violation::AttributeValueCount { .. }
    );
    caught!(
        |s| {
            devices(s)[3].attributes.as_mut().expect("a").insert(
                "model".into(),
                DeviceAttribute {
                    string: Some("N".repeat(65)),
                    ..Default::default()
                },
            );
        },
        Violation::AttributeTooLong {
            len: 65,
            max: 64,
            ..
        }
    );
}

#[test]
fn taint_rules() {
    let taint = |key: &str, value: Option<&str>, effect: &str| DeviceTaint {
        key: key.into(),
        value: value.map(Into::into),
        effect: effect.into(),
        time_added: None,
    };
    caught!(
        |s| devices(s)[3].taints = Some(
            (0..17)
                .map(|i| taint(&format!("k{i}"), None, "NoSchedule"))
                .collect()
        ),
        Violation::TooManyTaints {
            count: 17,
            max: 16,
            ..
        }
    );
    for (t, why) in [
        (taint("-bad", None, "NoSchedule"), "key"),
        (taint("a/b/c", None, "NoSchedule"), "key"),
        (
            taint("mig.dynamig.io/x", Some("a b"), "NoSchedule"),
            "value",
        ),
        (
            taint("mig.dynamig.io/x", None, "PreferNoSchedule"),
            "effect",
        ),
    ] {
        let v = broken(|s| devices(s)[3].taints = Some(vec![t]));
        assert!(
            v.iter()
                .any(|x| matches!(x, Violation::BadTaint { why: w, .. } if w.contains(why))),
            "{why}: {v:?}"
        );
    }
}

#[test]
fn pool_rules() {
    caught!(
        |s| s[1].spec.pool.generation = 5,
        Violation::PoolMismatch {
            field: "spec.pool.generation",
            ..
        }
    );
    caught!(
        |s| s[1].spec.pool.name = "node-b".into(),
        Violation::PoolMismatch {
            field: "spec.pool.name",
            ..
        }
    );
    caught!(
        |s| s[1].spec.driver = "gpu.example.com".into(),
        Violation::PoolMismatch {
            field: "spec.driver",
            ..
        }
    );
    caught!(
        |s| s[1].spec.node_name = Some("node-b".into()),
        Violation::PoolMismatch {
            field: "spec.nodeName",
            ..
        }
    );
    caught!(
        |s| s
            .iter_mut()
            .for_each(|x| x.spec.pool.resource_slice_count = 3),
        Violation::SliceCount {
            declared: 3,
            actual: 2
        }
    );
    caught!(
        |s| s
            .iter_mut()
            .for_each(|x| x.spec.pool.resource_slice_count = 0),
        Violation::SliceCount { declared: 0, .. }
    );
    caught!(
        |s| s[1].metadata.name = s[0].metadata.name.clone(),
        Violation::DuplicateSliceName { .. }
    );
    caught!(
        |s| {
            let d = devices(s);
            let n = d[0].name.clone();
            d[5].name = n;
        },
        Violation::DuplicateDevice { .. }
    );
    caught!(
        |s| {
            // The same device in a third slice of the pool.
            let mut extra = s[1].clone();
            extra.metadata.name = Some("node-a-mig.dynamig.io-2".into());
            extra.spec.devices = Some(vec![devices(s)[0].clone()]);
            s.push(extra);
            s.iter_mut()
                .for_each(|x| x.spec.pool.resource_slice_count = 3);
        },
        Violation::DuplicateDevice { .. }
    );
    caught!(
        |s| {
            let mut extra = s[0].clone();
            extra.metadata.name = Some("node-a-mig.dynamig.io-2".into());
            s.push(extra);
            s.iter_mut()
                .for_each(|x| x.spec.pool.resource_slice_count = 3);
        },
        Violation::DuplicateCounterSet { .. }
    );
}
