//! The models added after the first six (docs/models.md), checked against the tables they were
//! taken from: how many instances of each profile fit on an empty GPU, which combinations fill
//! it, where a second instance goes, which profiles a memory request may take, and the seed's
//! walkthrough (three small training requests, then an interactive one that evicts exactly one).

use dynamig_core::catalog::{model_by_key, model_by_name, GpuModel, Profile};
use dynamig_core::ids::GpuIndex;
use dynamig_core::layout::{remaining_capacity, Conflict, Usage};
use dynamig_core::planner::{
    candidate_profiles, plan, Decision, GpuView, HolderRef, NodeView, Owner, PlacedInstance,
    PlanRequest,
};
use dynamig_core::priority::Priority;
use dynamig_core::quantity::parse_bytes;
use dynamig_core::request::Size;
use std::time::Duration;

fn model(key: &str) -> &'static GpuModel {
    model_by_key(key).unwrap_or_else(|| panic!("{key} is not in the catalog"))
}

fn profile(m: &GpuModel, name: &str) -> &'static Profile {
    m.profile(name)
        .unwrap_or_else(|| panic!("{} has no {name}", m.key))
}

/// The Hopper-geometry models (seven compute slices on eight memory slices): key and the seven
/// profile names in the order 1g, 1g+me, 1g with two memory slices, 2g, 3g, 4g, 7g.
const EIGHT_SLICE: [(&str, [&str; 7]); 7] = [
    (
        "b200-180gb",
        [
            "1g.23gb",
            "1g.23gb+me",
            "1g.45gb",
            "2g.45gb",
            "3g.90gb",
            "4g.90gb",
            "7g.180gb",
        ],
    ),
    (
        "gb200-186gb",
        [
            "1g.23gb",
            "1g.23gb+me",
            "1g.47gb",
            "2g.47gb",
            "3g.93gb",
            "4g.93gb",
            "7g.186gb",
        ],
    ),
    (
        "gh200-96gb",
        [
            "1g.12gb",
            "1g.12gb+me",
            "1g.24gb",
            "2g.24gb",
            "3g.48gb",
            "4g.48gb",
            "7g.96gb",
        ],
    ),
    (
        "gh200-144gb",
        [
            "1g.18gb",
            "1g.18gb+me",
            "1g.36gb",
            "2g.36gb",
            "3g.72gb",
            "4g.72gb",
            "7g.144gb",
        ],
    ),
    (
        "h20-96gb",
        [
            "1g.12gb",
            "1g.12gb+me",
            "1g.24gb",
            "2g.24gb",
            "3g.48gb",
            "4g.48gb",
            "7g.96gb",
        ],
    ),
    (
        "b300",
        [
            "1g.34gb",
            "1g.34gb+me",
            "1g.67gb",
            "2g.67gb",
            "3g.135gb",
            "4g.135gb",
            "7g.269gb",
        ],
    ),
    (
        "gb300",
        [
            "1g.35gb",
            "1g.35gb+me",
            "1g.70gb",
            "2g.70gb",
            "3g.139gb",
            "4g.139gb",
            "7g.278gb",
        ],
    ),
];

/// The MIG User Guide's "instances" column for the Hopper/Blackwell datacenter layout.
const EIGHT_SLICE_COUNTS: [u8; 7] = [7, 1, 4, 3, 2, 1, 1];

const RTX: &str = "rtx-pro-6000-bse";

/// RTX PRO 6000 Blackwell Server Edition: every profile and how many fit on an empty GPU
/// (`nvidia-smi mig -lgip`'s "Instances Total" on driver 610.43.02).
const RTX_COUNTS: [(&str, u8); 11] = [
    ("1g.24gb", 4),
    ("1g.24gb+me", 1),
    ("1g.24gb+gfx", 4),
    ("1g.24gb+me.all", 1),
    ("1g.24gb-me", 4),
    ("2g.48gb", 2),
    ("2g.48gb+gfx", 2),
    ("2g.48gb+me.all", 1),
    ("2g.48gb-me", 2),
    ("4g.96gb", 1),
    ("4g.96gb+gfx", 1),
];

/// Places `combo` in order, asserting each placement is valid; returns the usage.
fn place(m: &GpuModel, combo: &[(&str, u8)]) -> Usage {
    let mut u = Usage::default();
    for &(name, start) in combo {
        let p = profile(m, name);
        assert_eq!(u.check(m, p, start), Ok(()), "{}: {name}@{start}", m.key);
        u.add(m, p, start);
    }
    u
}

/// Nothing more of any profile fits.
fn assert_full(m: &GpuModel, u: &Usage, combo: &[(&str, u8)]) {
    for p in m.profiles {
        assert_eq!(
            remaining_capacity(m, u, p),
            0,
            "{}: {combo:?} leaves room for {}",
            m.key,
            p.name
        );
    }
}

#[test]
fn every_new_model_is_found_by_key_and_by_its_nvml_name() {
    let mut keys: Vec<&str> = EIGHT_SLICE.iter().map(|(k, _)| *k).collect();
    keys.push(RTX);
    for k in keys {
        let m = model(k);
        assert_eq!(model_by_name(m.name).map(|x| x.key), Some(k));
        for a in m.aliases {
            assert_eq!(model_by_name(a).map(|x| x.key), Some(k), "{a}");
        }
    }
}

#[test]
fn instances_of_each_profile_that_fit_an_empty_gpu() {
    for (key, names) in EIGHT_SLICE {
        let m = model(key);
        assert_eq!(m.profiles.len(), 7, "{key}");
        for (name, want) in names.iter().zip(EIGHT_SLICE_COUNTS) {
            let p = profile(m, name);
            assert_eq!(
                remaining_capacity(m, &Usage::default(), p),
                want,
                "{key} {name}"
            );
        }
    }
    let m = model(RTX);
    assert_eq!(m.profiles.len(), RTX_COUNTS.len());
    for (name, want) in RTX_COUNTS {
        let p = profile(m, name);
        assert_eq!(remaining_capacity(m, &Usage::default(), p), want, "{name}");
    }
}

#[test]
fn combinations_that_fill_an_eight_slice_gpu() {
    for (key, [g1, _, g1x2, g2, g3, g4, g7]) in EIGHT_SLICE {
        let m = model(key);
        let combos: Vec<Vec<(&str, u8)>> = vec![
            (0..7).map(|s| (g1, s)).collect(),
            vec![(g4, 0), (g3, 4)],
            vec![(g3, 0), (g3, 4)],
            vec![(g2, 0), (g2, 2), (g3, 4)],
            vec![(g2, 0), (g2, 2), (g2, 4), (g1, 6)],
            vec![(g1x2, 0), (g1x2, 2), (g1x2, 4), (g1x2, 6)],
            vec![(g7, 0)],
        ];
        for combo in &combos {
            let u = place(m, combo);
            assert_full(m, &u, combo);
        }
        // The 4g sits only at 0, so 3g@0 and 4g cannot share the GPU; a 2g never starts at 6.
        let u = place(m, &[(g3, 0)]);
        assert_eq!(
            u.check(m, profile(m, g4), 0),
            Err(Conflict::SlicesOccupied),
            "{key}"
        );
        assert_eq!(
            Usage::default().check(m, profile(m, g2), 6),
            Err(Conflict::NotAPlacement(6)),
            "{key}"
        );
    }
}

#[test]
fn combinations_that_fill_an_rtx_pro_6000() {
    let m = model(RTX);
    assert_eq!((m.compute_slices, m.memory_slices), (4, 12));
    let combos: [&[(&str, u8)]; 8] = [
        &[
            ("1g.24gb", 0),
            ("1g.24gb", 3),
            ("1g.24gb", 6),
            ("1g.24gb", 9),
        ],
        &[("2g.48gb", 0), ("2g.48gb", 6)],
        &[("2g.48gb", 0), ("1g.24gb", 6), ("1g.24gb", 9)],
        &[("4g.96gb", 0)],
        &[("4g.96gb+gfx", 0)],
        &[
            ("1g.24gb+gfx", 0),
            ("1g.24gb+gfx", 3),
            ("1g.24gb+gfx", 6),
            ("1g.24gb+gfx", 9),
        ],
        // All media engines in one instance: only engine-less ones fit beside it.
        &[
            ("1g.24gb+me.all", 0),
            ("1g.24gb-me", 3),
            ("1g.24gb-me", 6),
            ("1g.24gb-me", 9),
        ],
        &[("2g.48gb+me.all", 0), ("2g.48gb-me", 6)],
    ];
    for combo in combos {
        let u = place(m, combo);
        assert_full(m, &u, combo);
    }
    // Beside `+me.all`, a profile with any media engine is refused: free slices are not enough.
    let u = place(m, &[("1g.24gb+me.all", 0)]);
    for other in ["1g.24gb", "1g.24gb+gfx", "1g.24gb+me", "2g.48gb"] {
        let start = if other.starts_with("2g") { 6 } else { 3 };
        assert_eq!(
            u.check(m, profile(m, other), start),
            Err(Conflict::EnginesExhausted),
            "{other}"
        );
    }
    // Placements are on the driver's 12-unit grid: a 1g starts at 0, 3, 6 or 9 only.
    for bad in [1, 2, 4, 12] {
        assert_eq!(
            Usage::default().check(m, profile(m, "1g.24gb"), bad),
            Err(Conflict::NotAPlacement(bad))
        );
    }
    // The one `+me` takes the GPU's only OFA: a second one is refused.
    let u = place(m, &[("1g.24gb+me", 0)]);
    assert!(u.check(m, profile(m, "1g.24gb+me"), 3).is_err());
}

fn holder(id: &str, prio: &str, seq: u64) -> Owner {
    let p = Priority::parse(prio).unwrap();
    Owner::Holder(HolderRef {
        id: id.into(),
        namespace: String::new(),
        priority: p,
        preemptible: p.default_preemptible(),
        seq,
        over_quota: false,
        run_time: Duration::ZERO,
        checkpoint_interval: None,
    })
}

fn mem(text: &str) -> Size {
    Size::Memory {
        bytes: parse_bytes(text).unwrap(),
        text: text.into(),
    }
}

fn by_name(name: &str) -> Size {
    Size::Profile { name: name.into() }
}

fn one_gpu(key: &str) -> NodeView {
    NodeView {
        gpus: vec![GpuView {
            index: GpuIndex(0),
            model: model(key),
            usable: true,
            instances: vec![],
        }],
    }
}

/// Plans `size` at `prio` and applies the decision to the view, as allocate would.
fn admit(node: &mut NodeView, size: Size, prio: &str, id: &str) -> Decision {
    let req = PlanRequest {
        size,
        priority: Priority::parse(prio).unwrap(),
        within_quota: true,
    };
    let d = plan(node, &req).unwrap_or_else(|r| panic!("{id}: {r}"));
    let seq = u64::try_from(node.gpus[0].instances.len()).unwrap();
    let g = &mut node.gpus[0];
    g.instances.retain(|i| match &i.owner {
        Owner::Holder(h) => !d.victims.iter().any(|v| v.id == h.id),
        Owner::Foreign | Owner::Warm => true,
    });
    g.instances.push(PlacedInstance {
        profile: d.profile,
        start: d.start,
        owner: holder(id, prio, seq),
    });
    d
}

#[test]
fn where_a_second_instance_goes() {
    // On the Hopper layout the first small instance takes the last 1g placement and the second
    // the other half's 4-slice range, keeping the 4g (and so a 3g@0) possible.
    for (key, [g1, _, g1x2, g2, ..]) in EIGHT_SLICE {
        for (name, want) in [(g1, [6, 4]), (g1x2, [6, 4]), (g2, [4, 0])] {
            let mut node = one_gpu(key);
            let a = admit(&mut node, by_name(name), "training", "a").start;
            let b = admit(&mut node, by_name(name), "training", "b").start;
            assert_eq!([a, b], want, "{key} {name}");
        }
    }
    // On the RTX PRO 6000 the second 1g goes next to the first (3, inside the same half), so
    // the other half's 2g placement stays possible.
    for name in ["1g.24gb", "1g.24gb+gfx", "1g.24gb-me"] {
        let mut node = one_gpu(RTX);
        let a = admit(&mut node, by_name(name), "training", "a").start;
        let b = admit(&mut node, by_name(name), "training", "b").start;
        assert_eq!([a, b], [0, 3], "{name}");
        let two = admit(&mut node, by_name("2g.48gb"), "training", "c");
        assert_eq!(two.start, 6, "{name}");
        assert!(two.victims.is_empty());
    }
}

fn names(m: &'static GpuModel, size: &Size) -> Vec<&'static str> {
    candidate_profiles(m, size).iter().map(|p| p.name).collect()
}

#[test]
fn a_memory_request_never_lands_on_gfx_all_engines_or_fewer_engines() {
    let m = model(RTX);
    for text in ["1GB", "10GB", "24GB"] {
        assert_eq!(names(m, &mem(text)), ["1g.24gb", "1g.24gb+me"], "{text}");
    }
    for text in ["26GB", "48GB"] {
        assert_eq!(names(m, &mem(text)), ["2g.48gb"], "{text}");
    }
    assert_eq!(names(m, &mem("90GB")), ["4g.96gb"]);
    assert!(names(m, &mem("200GB")).is_empty());
    // By name, every variant is there.
    for (name, _) in RTX_COUNTS {
        assert_eq!(names(m, &by_name(name)), [name]);
    }
    // A full plain 1g set still leaves `+me.all`, `+gfx` and `-me` unused by memory requests:
    // with the four 1g placements taken, a fifth `10GB` is refused rather than given a variant.
    let mut node = one_gpu(RTX);
    for id in ["a", "b", "c", "d"] {
        let d = admit(&mut node, mem("10GB"), "training", id);
        assert_eq!(d.profile.name, "1g.24gb", "{id}");
    }
    let req = PlanRequest {
        size: mem("10GB"),
        priority: Priority::parse("training").unwrap(),
        within_quota: true,
    };
    assert!(plan(&node, &req).is_err());
    // Models without the new suffixes keep their candidates.
    let a100 = model("a100-40gb");
    assert_eq!(names(a100, &mem("10GB")), ["1g.10gb", "2g.10gb"]);
    assert_eq!(names(a100, &mem("5GB")), ["1g.5gb", "1g.5gb+me"]);
}

/// Three small training requests (one by memory, two by name), then an interactive one that must
/// evict exactly one of them; the other two keep their placements.
fn walkthrough(key: &str, small: [Size; 3], big: Size, want: &str) {
    let mut node = one_gpu(key);
    for (i, s) in small.into_iter().enumerate() {
        let d = admit(&mut node, s, "training", &format!("t{i}"));
        assert!(d.victims.is_empty(), "{key} t{i}");
    }
    let before: Vec<(&str, u8)> = node.gpus[0]
        .instances
        .iter()
        .map(|i| (i.profile.name, i.start))
        .collect();
    let d = admit(&mut node, big, "interactive", "int");
    assert_eq!(d.profile.name, want, "{key}");
    assert_eq!(d.victims.len(), 1, "{key}: {:?}", d.victims);
    let gone = (d.victims[0].profile, d.victims[0].start);
    let after: Vec<(&str, u8)> = node.gpus[0]
        .instances
        .iter()
        .map(|i| (i.profile.name, i.start))
        .collect();
    for kept in before.iter().filter(|b| **b != gone) {
        assert!(after.contains(kept), "{key}: {kept:?} moved");
    }
    assert_eq!(after.len(), 3, "{key}");
    let u = Usage::of(
        model(key),
        node.gpus[0].instances.iter().map(|i| (i.profile, i.start)),
    );
    assert!(u.compute <= model(key).compute_slices);
}

#[test]
fn seed_walkthrough_on_every_new_model() {
    for (key, [_, _, g1x2, g2, g3, ..]) in EIGHT_SLICE {
        let m = model(key);
        let gib = |name: &str| format!("{}MiB", profile(m, name).memory_mib);
        walkthrough(
            key,
            [mem(&gib(g1x2)), by_name(g2), by_name(g2)],
            mem(&gib(g3)),
            g3,
        );
    }
    walkthrough(
        RTX,
        [mem("20GB"), by_name("1g.24gb"), by_name("1g.24gb")],
        mem("40GB"),
        "2g.48gb",
    );
}
