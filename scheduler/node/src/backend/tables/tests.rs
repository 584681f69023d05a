use super::build::build;
use super::*;
use dynamig_core::catalog::{model_by_key, models, GpuModel, Profile};
use dynamig_core::ids::{GpuIndex, ProfileId};
use dynamig_core::planner::{plan, GpuView, NodeView, PlanRequest};
use dynamig_core::priority::Priority;
use dynamig_core::request::Size;

fn reported(m: &GpuModel) -> Vec<DriverProfile> {
    m.profiles.iter().map(DriverProfile::of_catalog).collect()
}

fn a100() -> &'static GpuModel {
    model_by_key("a100-40gb").unwrap()
}

fn with(m: &GpuModel, id: u32, f: impl FnOnce(&mut DriverProfile)) -> Vec<DriverProfile> {
    let mut v = reported(m);
    f(v.iter_mut().find(|p| p.id == ProfileId(id)).unwrap());
    v
}

fn plan_on(
    model: &'static GpuModel,
    size: Size,
) -> Result<dynamig_core::planner::Decision, String> {
    let node = NodeView {
        gpus: vec![GpuView {
            index: GpuIndex(0),
            model,
            usable: true,
            instances: vec![],
        }],
    };
    plan(
        &node,
        &PlanRequest {
            size,
            priority: Priority::parse("training").unwrap(),
            within_quota: true,
        },
    )
    .map_err(|r| r.to_string())
}

fn profile(name: &str) -> Size {
    Size::Profile { name: name.into() }
}

#[test]
fn a_driver_that_agrees_gives_the_catalog_model_itself() {
    for m in models() {
        let r = resolve(m.name, Some(m), &reported(m), "580.126.09");
        assert!(std::ptr::eq(r.model.unwrap(), m), "{}", m.key);
        assert!(
            !r.from_driver && r.diffs.is_empty(),
            "{}: {:?}",
            m.key,
            r.diffs
        );
    }
}

#[test]
fn a_model_built_from_a_catalog_table_plans_like_the_catalog() {
    // The derived whole-GPU values (slices, engine limits) equal the catalog's for every model:
    // building from the driver's tables loses nothing the planner uses.
    for m in models() {
        let b = build("NVIDIA Something", None, &reported(m), "1.0");
        assert_eq!(b.compute_slices, m.compute_slices, "{}", m.key);
        assert_eq!(b.memory_slices, m.memory_slices, "{}", m.key);
        assert_eq!(b.engines, m.engines, "{}", m.key);
        let by_id = |ps: &[Profile]| {
            let mut v = ps.to_vec();
            v.sort_by_key(|p| p.id);
            v
        };
        assert_eq!(by_id(b.profiles), by_id(m.profiles), "{}", m.key);
        assert_eq!(b.key, "something");
    }
}

#[test]
fn a_placement_the_driver_does_not_offer_is_never_planned() {
    let m = a100();
    // On an empty A100 the catalog puts a 3g.20gb at 4 (keeping 4g.20gb possible at 0); this
    // driver offers only 0.
    let catalog_choice = plan_on(m, profile("3g.20gb")).unwrap();
    assert_eq!(catalog_choice.start, 4);
    let driver = with(m, 9, |p| p.placements = vec![(0, 4)]);
    let r = resolve(m.name, Some(m), &driver, "590.1");
    assert!(r.from_driver);
    assert_eq!(r.diffs.len(), 1, "{:?}", r.diffs);
    assert_eq!(r.diffs[0].field, DiffField::Placements);
    assert_eq!(r.diffs[0].profile, "3g.20gb");
    assert_eq!(r.diffs[0].catalog, "[(0, 4), (4, 4)]");
    assert_eq!(r.diffs[0].driver, "[(0, 4)]");
    let dm = r.model.unwrap();
    assert_eq!(dm.key, "a100-40gb");
    assert_eq!(dm.profile("3g.20gb").unwrap().starts, &[0]);
    assert_eq!(dm.driver, "590.1");
    let d = plan_on(dm, profile("3g.20gb")).unwrap();
    assert_eq!(d.start, 0);
    // A second 3g.20gb: the catalog's start 4 is free, but the driver does not offer it.
    let node = NodeView {
        gpus: vec![GpuView {
            index: GpuIndex(0),
            model: dm,
            usable: true,
            instances: vec![dynamig_core::planner::PlacedInstance {
                profile: d.profile,
                start: 0,
                owner: dynamig_core::planner::Owner::Foreign,
            }],
        }],
    };
    let req = PlanRequest {
        size: profile("3g.20gb"),
        priority: Priority::parse("interactive").unwrap(),
        within_quota: true,
    };
    assert!(plan(&node, &req).is_err());
}

#[test]
fn the_drivers_memory_decides_which_profile_fits() {
    let m = a100();
    let gb25 = || Size::Memory {
        bytes: 25_000_000_000,
        text: "25GB".into(),
    };
    assert_eq!(plan_on(m, gb25()).unwrap().profile.name, "7g.40gb");
    let driver = with(m, 9, |p| p.memory_mib = 30000);
    let r = resolve(m.name, Some(m), &driver, "590.1");
    assert_eq!(r.diffs.len(), 1);
    assert_eq!(r.diffs[0].field, DiffField::Memory);
    assert!(r.diffs[0]
        .to_string()
        .contains("driver memory 30000 MiB, catalog 20096 MiB"));
    let d = plan_on(r.model.unwrap(), gb25()).unwrap();
    assert_eq!((d.profile.name, d.profile.memory_mib), ("3g.20gb", 30000));
}

#[test]
fn profiles_the_driver_drops_or_adds_follow_the_driver() {
    let m = a100();
    let mut driver: Vec<DriverProfile> = reported(m)
        .into_iter()
        .filter(|p| p.id != ProfileId(5))
        .collect();
    driver.push(DriverProfile {
        index: 12,
        id: ProfileId(33),
        name: Some("MIG 1g.10gb+gfx".into()),
        compute_slices: 1,
        instance_count: 4,
        memory_mib: 9984,
        sms: 14,
        engines: [1, 0, 0, 0, 0],
        placements: vec![(0, 2), (2, 2)],
    });
    let r = resolve(m.name, Some(m), &driver, "590.1");
    let fields: Vec<DiffField> = r.diffs.iter().map(|d| d.field).collect();
    assert_eq!(fields, vec![DiffField::NotOffered, DiffField::NotInCatalog]);
    let dm = r.model.unwrap();
    assert!(dm.profile("4g.20gb").is_none());
    // Without the full-GPU profile the GPU keeps the catalog's totals.
    let no_full: Vec<DriverProfile> = reported(m)
        .into_iter()
        .filter(|p| p.id != ProfileId(0))
        .collect();
    let nf = resolve(m.name, Some(m), &no_full, "590.1").model.unwrap();
    assert_eq!((nf.compute_slices, nf.memory_slices), (7, 8));
    assert_eq!(nf.engines, m.engines);
    let nf_unknown = resolve("NVIDIA Q", None, &no_full, "590.1").model.unwrap();
    assert!(
        nf_unknown.compute_slices < 7,
        "planned conservatively from the driver alone"
    );
    assert_eq!(dm.profile("1g.10gb+gfx").unwrap().starts, &[0, 2]);
    assert!(plan_on(dm, profile("4g.20gb")).is_err());
    assert_eq!(
        plan_on(dm, profile("1g.10gb+gfx")).unwrap().profile.id,
        ProfileId(33)
    );
}

#[test]
fn a_gpu_not_in_the_catalog_is_planned_from_the_drivers_tables() {
    let mut driver = reported(a100());
    for p in &mut driver {
        p.name = p.name.take().map(|n| format!("MIG {n}"));
    }
    let r = resolve("NVIDIA A100X-SXM4-40GB", None, &driver, "590.1");
    assert!(r.from_driver && r.diffs.is_empty());
    let m = r.model.unwrap();
    assert_eq!(m.key, "a100x-sxm4-40gb");
    assert_eq!(m.name, "NVIDIA A100X-SXM4-40GB");
    assert_eq!((m.compute_slices, m.memory_slices), (7, 8));
    assert_eq!(m.memory_mib, 40320, "the largest profile's memory");
    assert_eq!(
        plan_on(m, profile("2g.10gb")).unwrap().profile.id,
        ProfileId(14)
    );
    // Without names from the driver, names are made from slices and memory.
    let unnamed: Vec<DriverProfile> = reported(a100())
        .into_iter()
        .map(|p| DriverProfile { name: None, ..p })
        .collect();
    let m = resolve("Mystery GPU", None, &unnamed, "590.1")
        .model
        .unwrap();
    let names: Vec<&str> = m.profiles.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        vec![
            "1g.5gb",
            "2g.10gb",
            "3g.20gb",
            "4g.20gb",
            "7g.40gb",
            "1g.5gb-id20",
            "1g.10gb"
        ]
    );
    assert_eq!(m.key, "mystery-gpu");
}

#[test]
fn unsound_tables_make_the_gpu_unusable_with_the_reason() {
    let m = a100();
    let cases: Vec<(Vec<DriverProfile>, &str)> = vec![
        (Vec::new(), "no GPU-instance profiles"),
        (with(m, 19, |p| p.memory_mib = 0), "has no memory"),
        (with(m, 19, |p| p.compute_slices = 0), "0 compute slices"),
        (with(m, 19, |p| p.instance_count = 0), "instance count of 0"),
        (
            with(m, 14, |p| p.placements = vec![(0, 2), (2, 4)]),
            "different or zero sizes",
        ),
        (
            with(m, 9, |p| p.placements = vec![(6, 4)]),
            "beyond 8 memory slices",
        ),
        (with(m, 9, |p| p.placements = vec![(4, 4), (4, 4)]), "twice"),
        (
            {
                let mut v = reported(m);
                v[1].id = v[0].id;
                v
            },
            "reported twice",
        ),
        (
            reported(m)
                .into_iter()
                .map(|p| DriverProfile {
                    placements: vec![],
                    ..p
                })
                .collect(),
            "no placement",
        ),
    ];
    for (driver, want) in cases {
        let why = check(&driver).expect_err(want);
        assert!(why.contains(want), "{why} / {want}");
        if driver.is_empty() {
            // MIG off: the catalog still describes the GPU.
            assert!(resolve(m.name, Some(m), &driver, "1").model.is_ok());
            assert!(resolve("X", None, &driver, "1").model.is_err());
            continue;
        }
        for catalog in [Some(m), None] {
            let r = resolve(m.name, catalog, &driver, "590.1");
            let err = r.model.expect_err(want);
            assert!(
                err.starts_with("the driver's MIG tables cannot be used: "),
                "{err}"
            );
            assert!(err.contains(want), "{err}");
        }
    }
    let many: Vec<DriverProfile> = (0..13)
        .map(|i| DriverProfile {
            index: i,
            id: ProfileId(100 + i),
            name: None,
            compute_slices: 1,
            instance_count: 1,
            memory_mib: 1024,
            sms: 1,
            engines: [0; 5],
            placements: vec![(0, 1)],
        })
        .collect();
    assert!(check(&many).unwrap_err().contains("at most 12"));
}

#[test]
fn models_from_the_same_tables_are_made_once() {
    let m = a100();
    let driver = with(m, 19, |p| p.memory_mib = 5000);
    let a = resolve(m.name, Some(m), &driver, "590.7").model.unwrap();
    let b = resolve(m.name, Some(m), &driver, "590.7").model.unwrap();
    assert!(std::ptr::eq(a, b));
    let c = resolve(m.name, Some(m), &driver, "590.8").model.unwrap();
    assert!(!std::ptr::eq(a, c));
}

#[test]
fn a_12_unit_placement_grid_is_planned_and_bounded_by_the_whole_gpu() {
    let rtx = model_by_key("rtx-pro-6000-bse").unwrap();
    assert_eq!(check(&reported(rtx)), Ok(()));
    let past_the_gpu = with(rtx, 14, |p| p.placements.push((12, 3)));
    assert!(check(&past_the_gpu)
        .unwrap_err()
        .contains("placement 12:3 beyond 12 memory slices"));
    let past_the_masks = with(rtx, 0, |p| p.placements = vec![(0, 20)]);
    assert!(check(&past_the_masks)
        .unwrap_err()
        .contains("beyond 16 memory slices"));
    // A driver that differs (a Max-Q Workstation's 4g.96gb of 97280 MiB) is planned with its
    // own tables on the same 12-unit grid.
    let r = resolve(
        rtx.name,
        Some(rtx),
        &with(rtx, 0, |p| p.memory_mib = 97280),
        "580.105.08",
    );
    let m = r.model.unwrap();
    assert!(r.from_driver);
    assert_eq!((m.memory_slices, m.compute_slices), (12, 4));
    assert_eq!(m.profile("4g.96gb").unwrap().memory_mib, 97280);
    let d = plan_on(m, profile("1g.24gb+me.all")).unwrap();
    assert_eq!((d.profile.name, d.start), ("1g.24gb+me.all", 0));
}
