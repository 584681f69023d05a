use super::*;
use crate::catalog::model_by_key;
use crate::ids::GpuIndex;
use crate::priority::Priority;
use crate::request::Size;
use std::time::Duration;

fn gpu(index: u32, key: &str) -> GpuView {
    GpuView {
        index: GpuIndex(index),
        model: model_by_key(key).unwrap(),
        usable: true,
        instances: vec![],
    }
}

fn mem(text: &str) -> Size {
    Size::Memory {
        bytes: crate::quantity::parse_bytes(text).unwrap(),
        text: text.into(),
    }
}

fn prof(name: &str) -> Size {
    Size::Profile { name: name.into() }
}

fn req(size: Size, prio: &str) -> PlanRequest {
    PlanRequest {
        size,
        priority: Priority::parse(prio).unwrap(),
        within_quota: true,
    }
}

/// Applies a decision to the view, as allocate would.
fn apply(node: &mut NodeView, d: &Decision, id: &str, prio: &str, seq: u64) {
    let p = Priority::parse(prio).unwrap();
    let g = node.gpus.iter_mut().find(|g| g.index == d.gpu).unwrap();
    g.instances.retain(|i| match &i.owner {
        Owner::Holder(h) => !d.victims.iter().any(|v| v.id == h.id),
        Owner::Foreign | Owner::Warm => true,
    });
    g.instances.push(PlacedInstance {
        profile: d.profile,
        start: d.start,
        owner: Owner::Holder(HolderRef {
            id: id.into(),
            namespace: String::new(),
            priority: p,
            preemptible: p.default_preemptible(),
            seq,
            over_quota: false,
            run_time: Duration::ZERO,
            checkpoint_interval: None,
        }),
    });
}

#[test]
fn seed_walkthrough() {
    let mut node = NodeView {
        gpus: vec![gpu(0, "a100-40gb")],
    };
    let d1 = plan(&node, &req(mem("10GB"), "training")).unwrap();
    assert_eq!(d1.profile.memory_mib, 9984);
    assert!(d1.victims.is_empty());
    apply(&mut node, &d1, "mig1", "training", 1);
    let d2 = plan(&node, &req(prof("2g.10gb"), "training")).unwrap();
    assert!(d2.victims.is_empty());
    apply(&mut node, &d2, "mig2", "training", 2);
    let d3 = plan(&node, &req(prof("2g.10gb"), "training")).unwrap();
    assert!(d3.victims.is_empty());
    apply(&mut node, &d3, "mig3", "training", 3);
    let before = node.gpus[0].instances.clone();
    let d4 = plan(&node, &req(mem("20G"), "interactive")).unwrap();
    assert_eq!(d4.profile.name, "3g.20gb");
    assert_eq!(d4.victims.len(), 1, "{d4:?}");
    apply(&mut node, &d4, "mig1-int", "interactive", 4);
    let kept: Vec<_> = before
        .iter()
        .filter(|i| node.gpus[0].instances.contains(i))
        .collect();
    assert_eq!(kept.len(), 2);
}

#[test]
fn small_requests_keep_the_large_placements_free() {
    let node = NodeView {
        gpus: vec![gpu(0, "a100-40gb")],
    };
    // A 1g.5gb on an empty A100 goes where it leaves both 4-slice halves... at least one intact.
    let d = plan(&node, &req(prof("1g.5gb"), "training")).unwrap();
    assert!(
        d.start >= 4,
        "first small instance should avoid slice 0 (the 4g.20gb placement): {d:?}"
    );
    // A second GPU: a small request packs onto the used GPU instead of breaking the empty one.
    let mut node = NodeView {
        gpus: vec![gpu(0, "a100-40gb"), gpu(1, "a100-40gb")],
    };
    let d = plan(&node, &req(prof("1g.5gb"), "training")).unwrap();
    apply(&mut node, &d, "a", "training", 1);
    let d2 = plan(&node, &req(prof("1g.5gb"), "training")).unwrap();
    assert_eq!(d2.gpu, d.gpu);
}

#[test]
fn never_evicts_equal_or_higher_priority_or_non_preemptible() {
    let mut node = NodeView {
        gpus: vec![gpu(0, "a100-40gb")],
    };
    let d = plan(&node, &req(prof("7g.40gb"), "training")).unwrap();
    apply(&mut node, &d, "big", "training", 1);
    let r = plan(&node, &req(prof("1g.5gb"), "training")).unwrap_err();
    assert!(matches!(r, Refusal::NoRoom { .. }));
    assert!(!r.is_bad_input());
    let msg = r.to_string();
    assert!(msg.contains("big 7g.40gb (training, preemptible)"), "{msg}");
    // Interactive is higher: evicts.
    let d = plan(&node, &req(prof("1g.5gb"), "interactive")).unwrap();
    assert_eq!(d.victims.len(), 1);
    // A non-preemptible holder is never evicted, even by a higher class.
    let mut node = NodeView {
        gpus: vec![gpu(0, "a100-40gb")],
    };
    let d = plan(&node, &req(prof("7g.40gb"), "interactive")).unwrap();
    apply(&mut node, &d, "int", "interactive", 1);
    assert!(plan(&node, &req(prof("1g.5gb"), "inference")).is_err());
}

#[test]
fn fewest_victims_then_lowest_priority_then_youngest() {
    let m = model_by_key("a100-40gb").unwrap();
    let g1 = m.profile("1g.5gb").unwrap();
    let g2 = m.profile("2g.10gb").unwrap();
    let h = |id: &str, p: i32, seq| {
        Owner::Holder(HolderRef {
            id: id.into(),
            namespace: String::new(),
            priority: Priority(p),
            preemptible: true,
            seq,
            over_quota: false,
            run_time: Duration::ZERO,
            checkpoint_interval: None,
        })
    };
    let mut g = gpu(0, "a100-40gb");
    // Half 0-3: two 2g (one victim set of 2); half 4-7: 2g@4 + 1g@6 (set of 2) — and a 3g needs 4.
    g.instances = vec![
        PlacedInstance {
            profile: g2,
            start: 0,
            owner: h("a", 10, 1),
        },
        PlacedInstance {
            profile: g2,
            start: 2,
            owner: h("b", 10, 2),
        },
        PlacedInstance {
            profile: g2,
            start: 4,
            owner: h("c", 20, 3),
        },
        PlacedInstance {
            profile: g1,
            start: 6,
            owner: h("d", 20, 4),
        },
    ];
    let node = NodeView {
        gpus: vec![g.clone()],
    };
    let d = plan(&node, &req(prof("3g.20gb"), "interactive")).unwrap();
    let mut ids: Vec<_> = d.victims.iter().map(|v| v.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"], "lower priority pair first");
    // Same priorities: the younger pair goes.
    g.instances[2].owner = h("c", 10, 3);
    g.instances[3].owner = h("d", 10, 4);
    let node = NodeView { gpus: vec![g] };
    let d = plan(&node, &req(prof("3g.20gb"), "interactive")).unwrap();
    let mut ids: Vec<_> = d.victims.iter().map(|v| v.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["c", "d"], "youngest pair");
}

#[test]
fn foreign_instances_are_never_victims() {
    let m = model_by_key("a100-40gb").unwrap();
    let mut g = gpu(0, "a100-40gb");
    g.instances = vec![PlacedInstance {
        profile: m.profile("7g.40gb").unwrap(),
        start: 0,
        owner: Owner::Foreign,
    }];
    let node = NodeView { gpus: vec![g] };
    let r = plan(&node, &req(prof("1g.5gb"), "inference")).unwrap_err();
    assert!(r.to_string().contains("foreign"), "{r}");
}

#[test]
fn refusals_for_unknown_and_too_large() {
    let node = NodeView {
        gpus: vec![gpu(0, "a100-40gb")],
    };
    let r = plan(&node, &req(prof("1g.10gb+me"), "training")).unwrap_err();
    assert!(r.is_bad_input());
    assert!(r.to_string().contains("1g.5gb+me"));
    let r = plan(&node, &req(mem("45GB"), "training")).unwrap_err();
    assert!(r.is_bad_input());
    assert!(r.to_string().contains("7g.40gb"), "{r}");
    let r = plan(&NodeView::default(), &req(mem("1GB"), "training")).unwrap_err();
    assert_eq!(r, Refusal::NoGpus);
}

#[test]
fn memory_request_uses_the_same_memory_larger_profile_to_avoid_eviction() {
    // Four 1g.10gb fill the instance limit; a fifth 10GB request can still be a 2g.10gb? No:
    // four 1g.10gb use all 8 memory slices. Use the instance limit of 1g.5gb+me instead on A30.
    let m = model_by_key("a100-40gb").unwrap();
    let mut g = gpu(0, "a100-40gb");
    let h = |id: &str| {
        Owner::Holder(HolderRef {
            id: id.into(),
            namespace: String::new(),
            priority: Priority(200),
            preemptible: false,
            seq: 1,
            over_quota: false,
            run_time: Duration::ZERO,
            checkpoint_interval: None,
        })
    };
    g.instances = vec![
        PlacedInstance {
            profile: m.profile("1g.10gb").unwrap(),
            start: 0,
            owner: h("a"),
        },
        PlacedInstance {
            profile: m.profile("1g.10gb").unwrap(),
            start: 2,
            owner: h("b"),
        },
        PlacedInstance {
            profile: m.profile("1g.10gb").unwrap(),
            start: 4,
            owner: h("c"),
        },
    ];
    let node = NodeView { gpus: vec![g] };
    let d = plan(&node, &req(mem("9GB"), "training")).unwrap();
    assert_eq!((d.profile.name, d.start), ("1g.10gb", 6));
}

#[test]
fn mig_off_gpus_are_skipped() {
    let mut g = gpu(0, "a100-40gb");
    g.usable = false;
    let node = NodeView {
        gpus: vec![g, gpu(1, "h100-80gb")],
    };
    let d = plan(&node, &req(mem("10GB"), "training")).unwrap();
    assert_eq!(d.gpu, GpuIndex(1));
    assert_eq!(d.profile.name, "1g.10gb");
}

#[test]
fn deterministic() {
    let node = NodeView {
        gpus: (0..4)
            .map(|i| gpu(i, if i % 2 == 0 { "h100-80gb" } else { "a100-80gb" }))
            .collect(),
    };
    let a = plan(&node, &req(mem("20GB"), "training")).unwrap();
    for _ in 0..10 {
        assert_eq!(plan(&node, &req(mem("20GB"), "training")).unwrap(), a);
    }
}

/// A full A100-40GB of 1g.5gb holders: `(id, priority, over quota)` at starts 0.., all
/// preemptible.
fn full_of_smalls(holders: &[(&str, i32, bool)]) -> NodeView {
    let m = model_by_key("a100-40gb").unwrap();
    let g1 = m.profile("1g.5gb").unwrap();
    let mut g = gpu(0, "a100-40gb");
    g.instances = holders
        .iter()
        .enumerate()
        .map(|(i, &(id, p, over))| PlacedInstance {
            profile: g1,
            start: u8::try_from(i).unwrap(),
            owner: Owner::Holder(HolderRef {
                id: id.into(),
                namespace: if over { "borrower" } else { "owner" }.into(),
                priority: Priority(p),
                preemptible: true,
                seq: u64::try_from(i).unwrap(),
                over_quota: over,
                run_time: Duration::ZERO,
                checkpoint_interval: None,
            }),
        })
        .collect();
    NodeView { gpus: vec![g] }
}

#[test]
fn over_quota_holders_are_the_first_victims() {
    // Seven 1g.5gb: a..e within quota, f (at 4, interactive) and g (at 5) over quota.
    let node = full_of_smalls(&[
        ("a", 10, false),
        ("b", 10, false),
        ("c", 10, false),
        ("d", 10, false),
        ("f", 100, true),
        ("g", 50, true),
        ("e", 10, false),
    ]);
    // A training request within its quota: the two over-quota holders go, though f's priority
    // is above the request's and the within-quota a..e are of lower priority.
    let d = plan(&node, &req(prof("2g.10gb"), "training")).unwrap();
    let mut ids: Vec<&str> = d.victims.iter().map(|v| v.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["f", "g"], "{d:?}");
    // One 1g.5gb: one over-quota holder, the lower-priority one first.
    let d = plan(&node, &req(prof("1g.5gb"), "training")).unwrap();
    assert_eq!(d.victims.len(), 1);
    assert_eq!(d.victims[0].id, "g", "{d:?}");
    // A 3g.20gb (4 slices, at 0 or 4): at 4 it takes e, f and g (one within quota) rather than
    // a, b, c and d at 0.
    let d = plan(&node, &req(prof("3g.20gb"), "inference")).unwrap();
    let mut ids: Vec<&str> = d.victims.iter().map(|v| v.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["e", "f", "g"], "{d:?}");
    assert_eq!(d.start, 4);
}

#[test]
fn a_request_over_its_quota_evicts_by_priority_only() {
    let node = full_of_smalls(&[
        ("a", 10, false),
        ("b", 10, false),
        ("c", 10, false),
        ("d", 10, false),
        ("e", 10, false),
        ("f", 100, true),
        ("g", 200, true),
    ]);
    let mut r = req(prof("1g.5gb"), "training");
    r.within_quota = false;
    // Over its own quota it may not take back f (100) or g (200): only a lower priority goes.
    let d = plan(&node, &r).unwrap();
    assert_eq!(d.victims.len(), 1);
    assert!(!["f", "g"].contains(&d.victims[0].id.as_str()), "{d:?}");
    // Within quota it takes f back first, whatever its priority.
    let d = plan(&node, &req(prof("1g.5gb"), "training")).unwrap();
    assert_eq!(d.victims[0].id, "f", "{d:?}");
    // Nobody takes back a non-preemptible holder, over quota or not.
    let mut node = node;
    for i in &mut node.gpus[0].instances {
        if let Owner::Holder(h) = &mut i.owner {
            h.preemptible = false;
        }
    }
    assert!(plan(&node, &req(prof("1g.5gb"), "interactive")).is_err());
}

#[test]
fn without_over_quota_holders_the_victim_order_is_unchanged() {
    // Within-quota flag or not, a node without over-quota holders plans the same.
    let node = full_of_smalls(&[
        ("a", 10, false),
        ("b", 20, false),
        ("c", 10, false),
        ("d", 30, false),
        ("e", 10, false),
        ("f", 20, false),
        ("g", 10, false),
    ]);
    for size in ["1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"] {
        let within = plan(&node, &req(prof(size), "interactive")).unwrap();
        let mut r = req(prof(size), "interactive");
        r.within_quota = false;
        assert_eq!(within, plan(&node, &r).unwrap(), "{size}");
    }
    let d = plan(&node, &req(prof("1g.5gb"), "interactive")).unwrap();
    assert_eq!(d.victims[0].id, "g", "the youngest of the lowest priority");
}

/// Two 3g.20gb training holders fill an A100-40GB; an interactive 3g.20gb must evict one of
/// them (one victim either way, same priority, same share): `(id, seq, run time, interval)`.
fn two_halves(a: (&str, u64, u64, Option<u64>), b: (&str, u64, u64, Option<u64>)) -> NodeView {
    let m = model_by_key("a100-40gb").unwrap();
    let g3 = m.profile("3g.20gb").unwrap();
    let h = |(id, seq, run, every): (&str, u64, u64, Option<u64>)| {
        Owner::Holder(HolderRef {
            id: id.into(),
            namespace: String::new(),
            priority: Priority::parse("training").unwrap(),
            preemptible: true,
            seq,
            over_quota: false,
            run_time: Duration::from_secs(run),
            checkpoint_interval: every.map(Duration::from_secs),
        })
    };
    let mut g = gpu(0, "a100-40gb");
    g.instances = vec![
        PlacedInstance {
            profile: g3,
            start: 0,
            owner: h(a),
        },
        PlacedInstance {
            profile: g3,
            start: 4,
            owner: h(b),
        },
    ];
    NodeView { gpus: vec![g] }
}

fn victim(node: &NodeView) -> String {
    let d = plan(node, &req(prof("3g.20gb"), "interactive")).unwrap();
    assert_eq!(d.victims.len(), 1, "{d:?}");
    d.victims[0].id.clone()
}

#[test]
fn a_victim_that_just_checkpointed_goes_before_a_younger_one_that_has_not() {
    // old ran 3605 s and checkpoints every 30 min: 5 s at risk. young ran 600 s with no
    // interval: all 600 s at risk.
    let node = two_halves(("old", 1, 3605, Some(1800)), ("young", 2, 600, None));
    assert_eq!(victim(&node), "old");
    // The same, the younger one checkpointing every hour: still 600 s at risk, old goes.
    let node = two_halves(("old", 1, 3605, Some(1800)), ("young", 2, 600, Some(3600)));
    assert_eq!(victim(&node), "old");
    // Just before its checkpoint old has 1795 s at risk: the younger one goes.
    let node = two_halves(("old", 1, 3595, Some(1800)), ("young", 2, 600, None));
    assert_eq!(victim(&node), "young");
}

#[test]
fn without_intervals_the_victim_is_the_youngest() {
    // No interval anywhere: the whole run is at risk, and the one that ran least is the
    // youngest.
    let node = two_halves(("old", 1, 3605, None), ("young", 2, 600, None));
    assert_eq!(victim(&node), "young");
    // Equal work at risk (both just checkpointed, or no run time known): the youngest.
    let node = two_halves(("old", 1, 3600, Some(1800)), ("young", 2, 600, Some(600)));
    assert_eq!(victim(&node), "young");
    let node = two_halves(("old", 1, 0, None), ("young", 2, 0, None));
    assert_eq!(victim(&node), "young");
}

#[test]
fn work_at_risk_is_summed_over_the_set_and_weighed_by_share() {
    let m = model_by_key("a100-40gb").unwrap();
    let (g1, g2) = (m.profile("1g.5gb").unwrap(), m.profile("2g.10gb").unwrap());
    let h = |id: &str, seq, run, every: Option<u64>| {
        Owner::Holder(HolderRef {
            id: id.into(),
            namespace: String::new(),
            priority: Priority(10),
            preemptible: true,
            seq,
            over_quota: false,
            run_time: Duration::from_secs(run),
            checkpoint_interval: every.map(Duration::from_secs),
        })
    };
    let at = |profile, start, owner| PlacedInstance {
        profile,
        start,
        owner,
    };
    // Half 0-3: two older 2g.10gb that ran 1000 s and checkpoint every 450 s, 100 s at risk
    // each (100 × 2 slices × 2 = 400 slice-s); half 4-7: a younger 2g.10gb at 4 and 1g.5gb at
    // 6 that ran 150 s without an interval (150 × 2 + 150 × 1 = 450 slice-s). A 3g.20gb takes
    // a half: the older pair, which has less at risk (youngest-first would take c and d).
    let mut g = gpu(0, "a100-40gb");
    g.instances = vec![
        at(g2, 0, h("a", 1, 1000, Some(450))),
        at(g2, 2, h("b", 2, 1000, Some(450))),
        at(g2, 4, h("c", 3, 150, None)),
        at(g1, 6, h("d", 4, 150, None)),
    ];
    let victims = |g: &GpuView| {
        let node = NodeView {
            gpus: vec![g.clone()],
        };
        let d = plan(&node, &req(prof("3g.20gb"), "interactive")).unwrap();
        let mut ids: Vec<String> = d.victims.iter().map(|v| v.id.clone()).collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(victims(&g), ["a", "b"]);
    // d checkpointing every 100 s (50 s at risk): c and d have 350 slice-s, below 400.
    g.instances[3].owner = h("d", 4, 150, Some(100));
    assert_eq!(victims(&g), ["c", "d"]);
    // Weighed by share: c's 2 slices at 150 s outweigh d's 1 slice; with c checkpointed and d
    // not (0 + 150 slice-s), c and d again.
    g.instances[2].owner = h("c", 3, 150, Some(150));
    g.instances[3].owner = h("d", 4, 150, None);
    assert_eq!(victims(&g), ["c", "d"]);
    // And with d checkpointed but c not (300 + 0 = 300 slice-s), still below 400.
    g.instances[2].owner = h("c", 3, 150, None);
    g.instances[3].owner = h("d", 4, 150, Some(150));
    assert_eq!(victims(&g), ["c", "d"]);
    // c at 250 s without an interval: 500 + 0 above 400: a and b.
    g.instances[2].owner = h("c", 3, 250, None);
    assert_eq!(victims(&g), ["a", "b"]);
}

#[test]
fn at_risk_is_the_time_since_the_last_checkpoint() {
    let h = |run: u64, every: Option<u64>| HolderRef {
        id: "h".into(),
        namespace: String::new(),
        priority: Priority(10),
        preemptible: true,
        seq: 1,
        over_quota: false,
        run_time: Duration::from_millis(run),
        checkpoint_interval: every.map(Duration::from_millis),
    };
    assert_eq!(h(4_500, Some(2_000)).at_risk(), Duration::from_millis(500));
    assert_eq!(h(4_000, Some(2_000)).at_risk(), Duration::ZERO);
    assert_eq!(
        h(1_999, Some(2_000)).at_risk(),
        Duration::from_millis(1_999)
    );
    assert_eq!(h(4_500, None).at_risk(), Duration::from_millis(4_500));
    // Share: a 1g.5gb (1 of 8 slices) at risk 8 s weighs as a 7g.40gb (8 of 8) at risk 1 s.
    assert_eq!(
        h(8_000, None).work_at_risk(1, 8),
        h(1_000, None).work_at_risk(8, 8)
    );
    // And as a 1-slice instance of a 4-slice A30 at risk 4 s.
    assert_eq!(
        h(8_000, None).work_at_risk(1, 8),
        h(4_000, None).work_at_risk(1, 4)
    );
}

/// Without intervals, run times that follow the allocation order (the older ran longer, as on
/// a node) change no decision of the seed walkthrough or of a node full of small holders: the
/// victims are the youngest, as with no run times at all.
#[test]
fn without_intervals_real_run_times_keep_the_youngest_first_order() {
    let with_runs = |node: &NodeView| {
        let mut node = node.clone();
        for g in &mut node.gpus {
            for i in &mut g.instances {
                if let Owner::Holder(h) = &mut i.owner {
                    h.run_time = Duration::from_secs(1000 - h.seq * 10);
                }
            }
        }
        node
    };
    let mut seed = NodeView {
        gpus: vec![gpu(0, "a100-40gb")],
    };
    for (id, size, seq) in [
        ("mig1", mem("10GB"), 1),
        ("mig2", prof("2g.10gb"), 2),
        ("mig3", prof("2g.10gb"), 3),
    ] {
        let d = plan(&seed, &req(size, "training")).unwrap();
        apply(&mut seed, &d, id, "training", seq);
    }
    let smalls = full_of_smalls(&[
        ("a", 10, false),
        ("b", 20, false),
        ("c", 10, false),
        ("d", 10, false),
        ("e", 10, false),
        ("f", 20, false),
        ("g", 10, false),
    ]);
    for node in [seed, smalls] {
        for size in [mem("20G"), prof("1g.5gb"), prof("2g.10gb"), prof("7g.40gb")] {
            let r = req(size, "interactive");
            assert_eq!(plan(&node, &r), plan(&with_runs(&node), &r), "{r:?}");
        }
    }
}
