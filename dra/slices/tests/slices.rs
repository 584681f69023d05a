//! What a node publishes: the slices, their devices, attributes, capacities, consumption and
//! taints, for every catalog model and MIG mode.

use dynamig_core::catalog::{model_by_key, models, GpuModel};
use dynamig_core::ids::GpuIndex;
use dynamig_dra_api::inventory::{GpuInventory, Inventory, MigState};
use dynamig_dra_api::DRIVER_NAME;
use dynamig_dra_slices::names::is_dns_subdomain;
use dynamig_dra_slices::pool::Pool;
use dynamig_dra_slices::{build, to_yaml_stream, validate};
use k8s_openapi::api::resource::v1::{Device, ResourceSlice};
use std::collections::{BTreeMap, BTreeSet};

fn gpu(i: u32, model: &'static GpuModel, mig: MigState) -> GpuInventory {
    GpuInventory {
        index: GpuIndex::new(i),
        uuid: format!("GPU-{i:08x}-1111-4222-8333-444444444444"),
        model,
        mig,
    }
}

fn node(model: &'static GpuModel, gpus: u32, mig: MigState) -> Inventory {
    Inventory {
        gpus: (0..gpus).map(|i| gpu(i, model, mig)).collect(),
    }
}

fn a100() -> &'static GpuModel {
    model_by_key("a100-40gb").expect("a100-40gb")
}

fn all_devices(slices: &[ResourceSlice]) -> Vec<&Device> {
    slices
        .iter()
        .flat_map(|s| s.spec.devices.iter().flatten())
        .collect()
}

fn device<'a>(slices: &'a [ResourceSlice], name: &str) -> &'a Device {
    all_devices(slices)
        .into_iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no device {name}"))
}

fn attrs(d: &Device) -> BTreeMap<String, String> {
    d.attributes
        .iter()
        .flatten()
        .map(|(k, a)| {
            let v = match (&a.string, a.int) {
                (Some(s), _) => s.clone(),
                (None, Some(n)) => n.to_string(),
                _ => panic!("{k} is neither a string nor an int"),
            };
            (k.clone(), v)
        })
        .collect()
}

fn caps(d: &Device) -> BTreeMap<String, String> {
    d.capacity
        .iter()
        .flatten()
        .map(|(k, c)| (k.clone(), c.value.0.clone()))
        .collect()
}

fn taint_keys(d: &Device) -> Vec<(String, String)> {
    d.taints
        .iter()
        .flatten()
        .map(|t| (t.key.clone(), t.effect.clone()))
        .collect()
}

#[test]
fn one_a100_is_a_counter_slice_and_a_device_slice_of_one_pool() {
    let slices = build("worker-1", 7, &node(a100(), 1, MigState::Enabled));
    assert_eq!(slices.len(), 2);
    for (k, s) in slices.iter().enumerate() {
        assert_eq!(
            s.metadata.name.as_deref(),
            Some(format!("worker-1-mig.dynamig.io-{k}").as_str())
        );
        assert_eq!(s.spec.driver, DRIVER_NAME);
        assert_eq!(s.spec.node_name.as_deref(), Some("worker-1"));
        assert_eq!(s.spec.pool.name, "worker-1");
        assert_eq!(s.spec.pool.generation, 7);
        assert_eq!(s.spec.pool.resource_slice_count, 2);
    }
    let sets = slices[0].spec.shared_counters.as_ref().expect("counters");
    assert!(slices[0].spec.devices.is_none());
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].name, "gpu-0");
    let values: BTreeMap<&str, &str> = sets[0]
        .counters
        .iter()
        .map(|(k, c)| (k.as_str(), c.value.0.as_str()))
        .collect();
    let mut want: BTreeMap<&str, &str> = BTreeMap::from([
        ("compute-slices", "7"),
        ("copy-engines", "7"),
        ("decoders", "5"),
        ("jpeg-engines", "1"),
        ("ofa-engines", "1"),
    ]);
    let slice_names: Vec<String> = (0..8).map(|i| format!("memory-slice-{i}")).collect();
    for n in &slice_names {
        want.insert(n, "1");
    }
    assert_eq!(values, want);
    assert!(slices[1].spec.shared_counters.is_none());
    let names: Vec<&str> = all_devices(&slices)
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names.len(), 26);
    assert_eq!(names[0], "gpu-0");
    for n in [
        "gpu-0-mig-1g5gb-0",
        "gpu-0-mig-1g5gb-6",
        "gpu-0-mig-1g5gb-me-3",
        "gpu-0-mig-1g10gb-6",
        "gpu-0-mig-2g10gb-4",
        "gpu-0-mig-3g20gb-4",
        "gpu-0-mig-4g20gb-0",
        "gpu-0-mig-7g40gb-0",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    // Not a placement of the table: 2g.10gb does not start at 6, 1g.5gb not at 7.
    assert!(!names.contains(&"gpu-0-mig-2g10gb-6"));
    assert!(!names.contains(&"gpu-0-mig-1g5gb-7"));
    validate(&slices).expect("valid");
}

#[test]
fn a_mig_device_carries_the_fixed_attributes_capacities_and_consumption() {
    let slices = build("worker-1", 1, &node(a100(), 1, MigState::Enabled));
    let d = device(&slices, "gpu-0-mig-2g10gb-4");
    let want: BTreeMap<String, String> = [
        ("type", "mig"),
        ("profile", "2g.10gb"),
        ("placementStart", "4"),
        ("placementSize", "2"),
        ("parentUUID", "GPU-00000000-1111-4222-8333-444444444444"),
        ("model", "NVIDIA A100-SXM4-40GB"),
        ("index", "0"),
        ("computeSlices", "2"),
        ("memorySlices", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(attrs(d), want);
    assert_eq!(
        caps(d),
        BTreeMap::from([
            ("memory".to_string(), "9984Mi".to_string()),
            ("multiprocessors".to_string(), "28".to_string())
        ])
    );
    let c = d.consumes_counters.as_ref().expect("consumes");
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].counter_set, "gpu-0");
    let used: BTreeMap<&str, &str> = c[0]
        .counters
        .iter()
        .map(|(k, v)| (k.as_str(), v.value.0.as_str()))
        .collect();
    assert_eq!(
        used,
        BTreeMap::from([
            ("memory-slice-4", "1"),
            ("memory-slice-5", "1"),
            ("compute-slices", "2"),
            ("copy-engines", "2"),
            ("decoders", "1"),
        ])
    );
    assert!(d.taints.is_none());
}

#[test]
fn the_whole_gpu_consumes_its_whole_counter_set_and_has_no_profile() {
    for mig in [MigState::Enabled, MigState::Disabled] {
        let slices = build("w", 1, &node(a100(), 1, mig));
        let whole = device(&slices, "gpu-0");
        let a = attrs(whole);
        assert_eq!(a.get("type").map(String::as_str), Some("gpu"));
        assert_eq!(
            a.get("uuid").map(String::as_str),
            Some("GPU-00000000-1111-4222-8333-444444444444")
        );
        assert!(!a.contains_key("profile") && !a.contains_key("parentUUID"));
        assert_eq!(a.get("memorySlices").map(String::as_str), Some("8"));
        assert_eq!(a.get("computeSlices").map(String::as_str), Some("7"));
        let set = &slices[0].spec.shared_counters.as_ref().expect("set")[0];
        let consumed = &whole.consumes_counters.as_ref().expect("consumes")[0];
        assert_eq!(consumed.counters, set.counters);
        // MIG on: what the full-size 7g.40gb gives; MIG off: the GPU's memory.
        let memory = caps(whole)["memory"].clone();
        match mig {
            MigState::Disabled => assert_eq!(memory, "40536Mi"),
            _ => assert_eq!(memory, "40320Mi"),
        }
    }
}

#[test]
fn taints_follow_the_mig_mode() {
    let disabled = (
        "mig.dynamig.io/mig-disabled".to_string(),
        "NoSchedule".to_string(),
    );
    let pending = (
        "mig.dynamig.io/mig-pending".to_string(),
        "NoSchedule".to_string(),
    );
    let inv = Inventory {
        gpus: vec![
            gpu(0, a100(), MigState::Enabled),
            gpu(1, a100(), MigState::Disabled),
            gpu(2, a100(), MigState::Pending),
        ],
    };
    let slices = build("w", 1, &inv);
    validate(&slices).expect("valid");
    for d in all_devices(&slices) {
        let whole = !d.name.contains("-mig-");
        let want = match (&d.name[..5], whole) {
            ("gpu-0", _) | ("gpu-1", true) => vec![],
            ("gpu-1", false) => vec![disabled.clone()],
            ("gpu-2", _) => vec![pending.clone()],
            _ => panic!("unexpected device {}", d.name),
        };
        assert_eq!(taint_keys(d), want, "{}", d.name);
    }
}

#[test]
fn eight_a100s_split_into_one_counter_slice_and_four_device_slices() {
    let slices = build("w", 3, &node(a100(), 8, MigState::Enabled));
    let shape: Vec<(usize, usize)> = slices
        .iter()
        .map(|s| {
            (
                s.spec.shared_counters.as_ref().map_or(0, Vec::len),
                s.spec.devices.as_ref().map_or(0, Vec::len),
            )
        })
        .collect();
    assert_eq!(shape, [(8, 0), (0, 64), (0, 64), (0, 64), (0, 16)]);
    assert!(slices.iter().all(|s| s.spec.pool.resource_slice_count == 5));
    // Each device consumes its own GPU's counter set, and only that.
    for d in all_devices(&slices) {
        let gpu = d.name.split('-').take(2).collect::<Vec<_>>().join("-");
        let sets: Vec<&str> = d
            .consumes_counters
            .iter()
            .flatten()
            .map(|c| c.counter_set.as_str())
            .collect();
        assert_eq!(sets, [gpu.as_str()], "{}", d.name);
    }
    let names: BTreeSet<&str> = all_devices(&slices)
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names.len(), 8 * 26);
    validate(&slices).expect("valid");
}

#[test]
fn more_than_eight_gpus_take_more_counter_slices() {
    let slices = build("w", 1, &node(a100(), 17, MigState::Enabled));
    let sets: Vec<usize> = slices
        .iter()
        .filter_map(|s| s.spec.shared_counters.as_ref().map(Vec::len))
        .collect();
    assert_eq!(sets, [8, 8, 1]);
    let devices: usize = all_devices(&slices).len();
    assert_eq!(devices, 17 * 26);
    assert_eq!(slices.len(), 3 + devices.div_ceil(64));
    validate(&slices).expect("valid");
}

#[test]
fn every_model_every_mode_one_and_eight_gpus_is_within_the_limits() {
    for model in models() {
        let placements: usize = model.profiles.iter().map(|p| p.starts.len()).sum();
        for mig in [MigState::Enabled, MigState::Disabled, MigState::Pending] {
            for gpus in [1, 8] {
                let slices = build("node-7.cluster.local", 1, &node(model, gpus, mig));
                if let Err(v) = validate(&slices) {
                    panic!("{} {mig:?} x{gpus}: {v:?}", model.key);
                }
                let n = usize::try_from(gpus).expect("small");
                assert_eq!(all_devices(&slices).len(), n * (placements + 1));
                let pool = Pool::of(&slices).expect("pool");
                // Alone, every device fits.
                for d in pool.devices.keys() {
                    assert_eq!(pool.admits([d.as_str()]), Ok(()), "{d}");
                }
            }
        }
    }
}

#[test]
fn the_same_inventory_publishes_the_same_bytes_in_any_order() {
    let rtx = model_by_key("rtx-pro-6000-bse").expect("rtx");
    let mut inv = Inventory {
        gpus: (0..6)
            .map(|i| {
                let m = if i % 2 == 0 { a100() } else { rtx };
                gpu(
                    i,
                    m,
                    [MigState::Enabled, MigState::Disabled][(i % 2) as usize],
                )
            })
            .collect(),
    };
    let first = to_yaml_stream(&build("w", 2, &inv)).expect("json");
    assert_eq!(first, to_yaml_stream(&build("w", 2, &inv)).expect("json"));
    inv.gpus.reverse();
    assert_eq!(first, to_yaml_stream(&build("w", 2, &inv)).expect("json"));
    // A new generation changes only the generation.
    let next = to_yaml_stream(&build("w", 3, &inv)).expect("json");
    assert_eq!(first.replace("\"generation\":2", "\"generation\":3"), next);
}

#[test]
fn no_gpus_no_slices() {
    assert!(build("w", 1, &Inventory::default()).is_empty());
}

#[test]
fn a_253_character_node_name_still_gives_valid_slice_names() {
    let long = format!("{}.example.com", "n".repeat(241));
    assert_eq!(long.len(), 253);
    let slices = build(&long, 1, &node(a100(), 8, MigState::Enabled));
    validate(&slices).expect("valid");
    let names: BTreeSet<&str> = slices
        .iter()
        .filter_map(|s| s.metadata.name.as_deref())
        .collect();
    assert_eq!(names.len(), slices.len());
    for n in names {
        assert!(n.len() <= 253 && is_dns_subdomain(n), "{n}");
        assert!(n.ends_with(&format!("-{DRIVER_NAME}-{}", &n[n.len() - 1..])));
    }
    // The pool and node keep the node's own name.
    assert!(slices.iter().all(|s| s.spec.pool.name == long));
}
