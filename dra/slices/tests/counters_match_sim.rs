//! The counters are exact: for every catalog model, a set of a GPU's devices fits in the counters
//! (what the kube-scheduler checks) exactly when the simulated GPU (the `sim` backend, which
//! refuses what NVML refuses) creates all of them, in any order.
//!
//! Exhaustive: from the empty GPU, every layout the simulator reaches by creating instances is
//! visited (breadth first); in each, every device is offered to both the simulator and the
//! counters, which must give the same answer. By induction that makes the counter-admitted sets
//! and the simulator-reachable sets the same (a subset of an admitted set is admitted, so any
//! admitted set is reached by adding its devices one at a time, in any order). Sampled
//! (proptest): random creates and destroys through the `sim` backend itself on a two-GPU node.

use dynamig_core::catalog::{model_by_key, models, GpuModel, Profile};
use dynamig_core::ids::{GiId, GpuIndex};
use dynamig_core::layout::Usage;
use dynamig_dra_api::device_name::DeviceName;
use dynamig_dra_api::inventory::{GpuInventory, Inventory, MigState};
use dynamig_dra_slices::counters::{instances, whole_gpu_profile};
use dynamig_dra_slices::pool::Pool;
use dynamig_dra_slices::{build, validate};
use dynamig_node::backend::sim::{SimBackend, SimNode};
use dynamig_node::backend::Backend;
use proptest::prelude::*;
use std::collections::{HashSet, VecDeque};

fn inventory(models: &[&'static GpuModel]) -> Inventory {
    Inventory {
        gpus: (0u32..)
            .zip(models)
            .map(|(i, m)| GpuInventory {
                index: GpuIndex::new(i),
                uuid: format!("GPU-{i:08x}-0000-4000-8000-000000000000"),
                model: m,
                mig: MigState::Enabled,
            })
            .collect(),
    }
}

/// A published device of one GPU and the instance NVML creates for it.
struct Dev {
    name: String,
    profile: &'static Profile,
    start: u8,
}

/// The devices of GPU `gpu` (a `model`) that the pool publishes, with their instances: the
/// whole GPU is the full-size profile at 0.
fn devices(pool: &Pool, gpu: u32, model: &'static GpuModel) -> Vec<Dev> {
    let full = whole_gpu_profile(model).expect("full-size profile");
    pool.devices
        .keys()
        .filter_map(|name| match DeviceName::parse(name, model) {
            Ok(d) if d.gpu() == GpuIndex::new(gpu) => Some(match d {
                DeviceName::Whole { .. } => Dev {
                    name: name.clone(),
                    profile: full,
                    start: 0,
                },
                DeviceName::Mig { profile, start, .. } => Dev {
                    name: name.clone(),
                    profile,
                    start,
                },
            }),
            _ => None,
        })
        .collect()
}

fn pool_of(inv: &Inventory) -> Pool {
    let slices = build("node-a", 1, inv);
    validate(&slices).expect("valid slices");
    Pool::of(&slices).expect("readable pool")
}

fn names(devs: &[Dev], set: u64) -> Vec<&str> {
    (0..devs.len())
        .filter(|i| set & (1 << i) != 0)
        .map(|i| devs[i].name.as_str())
        .collect()
}

/// Visits every layout `create` reaches from `empty`, checking in each that every device is
/// accepted by `create` exactly when the counters admit it. Returns the number of layouts.
fn explore<S: Clone>(
    what: &str,
    pool: &Pool,
    devs: &[Dev],
    empty: S,
    create: impl Fn(&mut S, &Dev) -> bool,
) -> usize {
    assert!(devs.len() <= 64, "{what}: {} devices", devs.len());
    let mut seen: HashSet<u64> = HashSet::from([0]);
    let mut queue = VecDeque::from([(0u64, empty)]);
    while let Some((set, state)) = queue.pop_front() {
        for (i, d) in devs.iter().enumerate() {
            if set & (1 << i) != 0 {
                continue;
            }
            let next = set | (1 << i);
            let mut s = state.clone();
            let sim = create(&mut s, d);
            let counters = pool.admits(names(devs, next)).is_ok();
            assert_eq!(
                sim,
                counters,
                "{what}: adding {} to {:?}: the simulator says {sim}, the counters {counters}",
                d.name,
                names(devs, set)
            );
            if sim && seen.insert(next) {
                queue.push_back((next, s));
            }
        }
    }
    seen.len()
}

/// Creates `d` on GPU 0 of the simulated node, as the sim backend does (GPU instance, then its
/// compute instance).
fn sim_create(node: &mut SimNode, d: &Dev) -> bool {
    let gpu = GpuIndex::new(0);
    node.create_gi(gpu, d.profile.id, d.start)
        .and_then(|gi| node.create_ci(gpu, gi))
        .is_ok()
}

/// The MIG layouts of `model` (the empty one included), counted straight from the catalog's
/// table: sets of table placements with disjoint memory slices, within the GPU's compute slices
/// and engines, each profile within its instance count. Independent of both the simulator and
/// the counters: it says the exploration reached every layout.
fn layouts_by_table(model: &GpuModel) -> usize {
    let table: Vec<(usize, &Profile, u8)> = model
        .profiles
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.starts.iter().map(move |&s| (i, p, s)))
        .collect();
    fn go(
        model: &GpuModel,
        table: &[(usize, &Profile, u8)],
        from: usize,
        mask: u16,
        compute: u8,
        engines: [u8; 5],
        counts: &mut Vec<u8>,
    ) -> usize {
        let mut n = 1;
        for (j, &(i, p, s)) in table.iter().enumerate().skip(from) {
            let m = p.mask_at(s);
            let e = p.engines;
            let cap = model.engines;
            let used = [
                engines[0] + e.ce,
                engines[1] + e.dec,
                engines[2] + e.enc,
                engines[3] + e.jpg,
                engines[4] + e.ofa,
            ];
            let fits = mask & m == 0
                && compute + p.compute_slices <= model.compute_slices
                && used
                    .iter()
                    .zip([cap.ce, cap.dec, cap.enc, cap.jpg, cap.ofa])
                    .all(|(u, c)| *u <= c)
                && counts[i] < p.max_count;
            if fits {
                counts[i] += 1;
                n += go(
                    model,
                    table,
                    j + 1,
                    mask | m,
                    compute + p.compute_slices,
                    used,
                    counts,
                );
                counts[i] -= 1;
            }
        }
        n
    }
    go(
        model,
        &table,
        0,
        0,
        0,
        [0; 5],
        &mut vec![0; model.profiles.len()],
    )
}

#[test]
fn every_layout_of_every_model_is_admitted_exactly_when_the_simulator_creates_it() {
    let mut report = Vec::new();
    for model in models() {
        let pool = pool_of(&inventory(&[model]));
        let devs = devices(&pool, 0, model);
        assert_eq!(devs.len(), pool.devices.len(), "{}", model.key);
        let node = SimNode::new(&[model.key]).expect("sim node");
        let layouts = explore(model.key, &pool, &devs, node, sim_create);
        // Every MIG layout, and the whole GPU.
        assert_eq!(layouts, layouts_by_table(model) + 1, "{}", model.key);
        report.push((model.key, devs.len(), layouts));
    }
    // 25 placements and the whole GPU; 2319 MIG layouts (the empty one included) plus the
    // whole GPU.
    let a100 = report.iter().find(|r| r.0 == "a100-40gb").expect("a100");
    assert_eq!((a100.1, a100.2), (26, 2320));
    // The figures for docs/dra-slices.md: devices and layouts (device sets) per model.
    let figures: String = report
        .iter()
        .map(|(key, devices, layouts)| format!("{key}\t{devices} devices\t{layouts} layouts\n"))
        .collect();
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dra-slices-layouts.txt");
    std::fs::write(out, figures).expect("write the figures");
}

/// A model whose instance count binds (1g.5gb at most 3 although 7 fit): the counters need
/// `instances-1g5gb`, and with it they are exact against the simulator's rule
/// (`Usage::check`, a synthetic model cannot be loaded into `sim.json`).
fn capped_a100() -> &'static GpuModel {
    let base = model_by_key("a100-40gb").expect("a100");
    let profiles: Vec<Profile> = base
        .profiles
        .iter()
        .map(|p| Profile {
            max_count: if p.name == "1g.5gb" { 3 } else { p.max_count },
            ..*p
        })
        .collect();
    Box::leak(Box::new(GpuModel {
        key: "a100-40gb-capped",
        profiles: Box::leak(profiles.into_boxed_slice()),
        ..*base
    }))
}

fn usage_create(model: &'static GpuModel) -> impl Fn(&mut Usage, &Dev) -> bool {
    move |u, d| {
        let ok = u.check(model, d.profile, d.start).is_ok();
        if ok {
            u.add(model, d.profile, d.start);
        }
        ok
    }
}

#[test]
fn a_binding_instance_count_gets_a_counter_that_keeps_the_counters_exact() {
    let model = capped_a100();
    let g1 = model.profile("1g.5gb").expect("1g.5gb");
    let mut slices = build("node-a", 1, &inventory(&[model]));
    let pool = Pool::of(&slices).expect("pool");
    assert_eq!(pool.counter_sets["gpu-0"].get(&instances(g1)), Some(&3));
    let devs = devices(&pool, 0, model);
    explore(
        model.key,
        &pool,
        &devs,
        Usage::default(),
        usage_create(model),
    );

    // Without that counter a fourth 1g.5gb would be admitted that NVML refuses.
    for s in &mut slices {
        for set in s.spec.shared_counters.iter_mut().flatten() {
            set.counters.remove(&instances(g1));
        }
        for d in s.spec.devices.iter_mut().flatten() {
            for c in d.consumes_counters.iter_mut().flatten() {
                c.counters.remove(&instances(g1));
            }
        }
    }
    let loose = Pool::of(&slices).expect("pool");
    let four: Vec<String> = (0..4).map(|s| format!("gpu-0-mig-1g5gb-{s}")).collect();
    assert!(loose.admits(four.iter().map(String::as_str)).is_ok());
    let mut u = Usage::default();
    let create = usage_create(model);
    let oks: Vec<bool> = (0..4u8)
        .map(|start| {
            create(
                &mut u,
                &Dev {
                    name: String::new(),
                    profile: g1,
                    start,
                },
            )
        })
        .collect();
    assert_eq!(oks, [true, true, true, false]);
}

/// One step of the sampled walk: offer device `pick` (an index into both GPUs' devices), or
/// destroy the `pick`-th live instance.
#[derive(Debug, Clone)]
enum Step {
    Offer(usize),
    Destroy(usize),
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            3 => any::<usize>().prop_map(Step::Offer),
            1 => any::<usize>().prop_map(Step::Destroy),
        ],
        1..40,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Two GPUs of any two catalog models, driven through the sim backend itself (`sim.json` on
    /// disk): after any sequence of creates and destroys, each offered device is created exactly
    /// when the counters admit it beside the devices in use.
    #[test]
    fn the_sim_backend_and_the_counters_agree_on_any_walk(
        a in 0..models().len(),
        b in 0..models().len(),
        walk in steps(),
    ) {
        let (ma, mb) = (&models()[a], &models()[b]);
        let pool = pool_of(&inventory(&[ma, mb]));
        let devs: Vec<(u32, Dev)> = devices(&pool, 0, ma)
            .into_iter()
            .map(|d| (0, d))
            .chain(devices(&pool, 1, mb).into_iter().map(|d| (1, d)))
            .collect();
        prop_assert_eq!(devs.len(), pool.devices.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sim.json");
        SimNode::new(&[ma.key, mb.key]).expect("node").save(&path).expect("save");
        let mut sim = SimBackend::open(&path).expect("open").expect("a node");
        // The devices in use, with their GPU instances.
        let mut live: Vec<(usize, GiId)> = Vec::new();
        for step in walk {
            match step {
                Step::Offer(pick) => {
                    let i = pick % devs.len();
                    let (gpu, d) = &devs[i];
                    let used: Vec<&str> = live.iter().map(|&(j, _)| devs[j].1.name.as_str()).collect();
                    let admitted = !used.contains(&d.name.as_str())
                        && pool.admits(used.iter().copied().chain([d.name.as_str()])).is_ok();
                    let created = sim.create(GpuIndex::new(*gpu), d.profile.id, d.start);
                    prop_assert_eq!(created.is_ok(), admitted, "{} beside {:?}: {:?}", d.name, used, created);
                    if let Ok(info) = created {
                        live.push((i, info.gi));
                    }
                }
                Step::Destroy(pick) if !live.is_empty() => {
                    let (i, gi) = live.remove(pick % live.len());
                    sim.destroy(GpuIndex::new(devs[i].0), gi).expect("destroy");
                }
                Step::Destroy(_) => {}
            }
        }
    }
}
