use super::policy::Policy;
use super::workload::{from_trace, parse_trace, synthetic};
use super::*;
use dynamig_core::planner::{Decision, NodeView, PlanRequest};
use std::cell::RefCell;

fn node(spec: &str) -> Vec<&'static dynamig_core::catalog::GpuModel> {
    parse_node(spec).unwrap()
}

fn trace() -> Vec<TracePod> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/alibaba-openb-gpu-requests.csv");
    load_trace(&path).unwrap()
}

/// Every workload of the CI run: the three mixes and both trace-derived ones.
fn workloads(
    gpus: &[&'static dynamig_core::catalog::GpuModel],
    n: usize,
    seed: u64,
) -> Vec<Workload> {
    let pods = trace();
    let mut w: Vec<Workload> = [Mix::Uniform, Mix::SmallHeavy, Mix::Seed]
        .into_iter()
        .map(|m| synthetic(m, gpus, n, seed, 1.2))
        .collect();
    w.push(from_trace(&pods, false, gpus, n, seed, 1.2, "alibaba").unwrap());
    w.push(from_trace(&pods, true, gpus, n, seed, 1.2, "alibaba-frac").unwrap());
    w
}

fn run(spec: &str, wl: &Workload, policy: &str) -> Stats {
    let gpus = node(spec);
    let p = policy_by_name(policy).unwrap();
    replay(
        &Replay {
            gpus: &gpus,
            node_name: spec.into(),
        },
        wl,
        p.as_ref(),
    )
}

#[test]
fn no_policy_ever_makes_an_invalid_decision() {
    for spec in ["a100-40gb:2", "h100-80gb:1,a30-24gb:1"] {
        for wl in workloads(&node(spec), 300, 7) {
            for p in POLICY_NAMES {
                let s = run(spec, &wl, p);
                assert_eq!(
                    s.invalid, 0,
                    "{spec} {} {p}: {:?}",
                    wl.name, s.first_invalid
                );
                assert_eq!(s.requests, 300);
                assert_eq!(s.admitted_free + s.admitted_evict + s.refused, 300);
                assert!((0.0..=1.0).contains(&s.utilization), "{}", s.utilization);
                assert!(s.victims >= s.admitted_evict);
            }
        }
    }
}

#[test]
fn replays_are_reproducible() {
    let gpus = node("a100-40gb:2");
    for (a, b) in workloads(&gpus, 200, 3)
        .iter()
        .zip(workloads(&gpus, 200, 3))
    {
        assert_eq!(*a, b);
        let (x, y) = (
            run("a100-40gb:2", a, "dynamig"),
            run("a100-40gb:2", &b, "dynamig"),
        );
        assert_eq!(
            (x.admitted_free, x.admitted_evict, x.victims, x.refused),
            (y.admitted_free, y.admitted_evict, y.victims, y.refused)
        );
        assert_eq!(x.utilization, y.utilization);
    }
    assert_ne!(
        synthetic(Mix::Uniform, &gpus, 50, 1, 1.2),
        synthetic(Mix::Uniform, &gpus, 50, 2, 1.2)
    );
}

/// Runs dynamig, and at every decision asks the other policies about the same state.
struct Probe {
    others: Vec<Box<dyn Policy>>,
    failures: RefCell<Vec<String>>,
}

impl Policy for Probe {
    fn name(&self) -> &'static str {
        "probe"
    }
    fn decide(&self, view: &NodeView, req: &PlanRequest) -> Option<Decision> {
        let ours = Dynamig.decide(view, req);
        let opt = Optimum::new().decide(view, req);
        let mut f = self.failures.borrow_mut();
        // The planner and the optimum both admit whenever any valid choice exists, and the
        // optimum's victim set is never larger than any other policy's.
        if ours.is_some() != opt.is_some() {
            f.push(format!(
                "dynamig {:?} vs optimum {:?} on {req:?}",
                ours.is_some(),
                opt.is_some()
            ));
        }
        for p in &self.others {
            let d = p.decide(view, req);
            if p.name() != "static" && d.is_some() != opt.is_some() {
                f.push(format!(
                    "{} admits {} but optimum {}",
                    p.name(),
                    d.is_some(),
                    opt.is_some()
                ));
            }
            if let (Some(d), Some(o)) = (&d, &opt) {
                if o.victims.len() > d.victims.len() {
                    f.push(format!(
                        "optimum evicts {} where {} evicts {}",
                        o.victims.len(),
                        p.name(),
                        d.victims.len()
                    ));
                }
            }
        }
        if let (Some(d), Some(o)) = (&ours, &opt) {
            if o.victims.len() != d.victims.len() {
                f.push(format!(
                    "dynamig evicts {} where the fewest is {}",
                    d.victims.len(),
                    o.victims.len()
                ));
            }
        }
        ours
    }
}

#[test]
fn per_decision_facts_hold_against_the_optimum() {
    let spec = "a100-40gb:2";
    let gpus = node(spec);
    for wl in workloads(&gpus, 250, 11) {
        let probe = Probe {
            others: ["first-fit", "best-fit", "static"]
                .iter()
                .filter_map(|n| policy_by_name(n))
                .collect(),
            failures: RefCell::new(Vec::new()),
        };
        let s = replay(
            &Replay {
                gpus: &gpus,
                node_name: spec.into(),
            },
            &wl,
            &probe,
        );
        assert_eq!(s.invalid, 0);
        let f = probe.failures.borrow();
        assert!(
            f.is_empty(),
            "{}: {} failures, first: {}",
            wl.name,
            f.len(),
            f[0]
        );
    }
}

#[test]
fn dynamig_evicts_no_more_than_first_fit_on_the_seeded_mixes() {
    let spec = "a100-40gb:2";
    let gpus = node(spec);
    for mix in [Mix::Uniform, Mix::SmallHeavy, Mix::Seed] {
        let wl = synthetic(mix, &gpus, 1000, 1, 1.2);
        let ff = run(spec, &wl, "first-fit");
        let dm = run(spec, &wl, "dynamig");
        assert!(ff.victims > 0, "{}: first-fit never evicts", wl.name);
        assert!(
            dm.victims <= ff.victims,
            "{}: dynamig {} > first-fit {}",
            wl.name,
            dm.victims,
            ff.victims
        );
    }
}

#[test]
fn static_layouts_are_valid_balanced_partitions() {
    let st = Static::new();
    for m in dynamig_core::catalog::models() {
        let slots = st.slots(m);
        assert!(!slots.is_empty(), "{}", m.key);
        let mut u = dynamig_core::layout::Usage::default();
        for &(p, s) in slots {
            assert_eq!(u.check(m, p, s), Ok(()), "{} {}@{s}", m.key, p.name);
            u.add(m, p, s);
        }
    }
    let a100 = dynamig_core::catalog::model_by_key("a100-40gb").unwrap();
    let mut names: Vec<_> = st.slots(a100).iter().map(|(p, _)| p.name).collect();
    names.sort();
    assert_eq!(names, ["1g.5gb", "1g.5gb", "2g.10gb", "3g.20gb"]);
}

#[test]
fn trace_mapping_and_errors() {
    let pods = parse_trace("t", "creation_time,deletion_time,num_gpu,gpu_milli,qos\n0,100,1,230,BE\n5,50,1,1000,LS\n9,20,2,1000,LS\n").unwrap();
    assert_eq!(pods.len(), 3);
    let gpus = node("a100-40gb:1");
    let w = from_trace(&pods, false, &gpus, 4, 0, 1.0, "x").unwrap();
    // Multi-GPU pods are left out; 230 milli → 2 slices → 9984 MiB; 1000 → the full GPU.
    let mibs: Vec<u64> = w
        .jobs
        .iter()
        .map(|j| match &j.size {
            dynamig_core::request::Size::Memory { bytes, .. } => bytes >> 20,
            _ => 0,
        })
        .collect();
    assert!(mibs.iter().all(|m| [9984, 40320].contains(m)), "{mibs:?}");
    assert!(w.jobs.iter().all(|j| j.preemptible == (j.priority.0 == 50)));
    let frac = from_trace(&pods, true, &gpus, 3, 0, 1.0, "x").unwrap();
    assert!(frac.jobs.iter().all(
        |j| matches!(&j.size, dynamig_core::request::Size::Memory { bytes, .. } if bytes >> 20 == 9984)
    ));

    let e = parse_trace(
        "t",
        "creation_time,deletion_time,num_gpu,gpu_milli,qos\n0,x,1,230,BE\n",
    )
    .unwrap_err();
    assert!(matches!(e, ReplayError::TraceFormat { line: 2, .. }), "{e}");
    let e = parse_trace("t", "creation_time,num_gpu\n").unwrap_err();
    assert!(e.to_string().contains("deletion_time"), "{e}");
    assert!(matches!(
        load_trace(std::path::Path::new("/nonexistent.csv")),
        Err(ReplayError::TraceIo { .. })
    ));
}

#[test]
fn node_specs() {
    assert_eq!(node("a100-40gb:2").len(), 2);
    assert_eq!(node("a100-40gb,h100-80gb:3").len(), 4);
    assert!(matches!(
        parse_node("a100-40gb:0"),
        Err(ReplayError::BadNode(_))
    ));
    assert!(matches!(
        parse_node("v100:1"),
        Err(ReplayError::UnknownModel(..))
    ));
}
