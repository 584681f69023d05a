//! Property tests: after any sequence of allocate / release / evict on any mix of models, no two
//! instances overlap, every instance sits at a valid placement, compute slices and engines never
//! exceed the GPU's, no holder is bound twice, every instance is held or warm (never both, never
//! neither), warm instances (on in half the cases) stay within `DYNAMIG_WARM_MAX`, and every victim was preemptible and of lower
//! priority than the request that evicted it.

use dynamig_core::catalog::{self, Engines};
use dynamig_core::priority::Priority;
use dynamig_core::request::{Request, Size};
use dynamig_node::backend::sim::{SimBackend, SimNode};
use dynamig_node::config::NodeConfig;
use dynamig_node::node::{AllocSpec, Node};
use dynamig_node::state::{HolderKey, HolderState, NodeLock, StateDir};
use dynamig_node::warm::WarmSettings;
use proptest::prelude::*;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Alloc {
        size: u8,
        prio: u8,
        by_profile: bool,
    },
    Release(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..8, 0u8..4, any::<bool>()).prop_map(|(size, prio, by_profile)| Op::Alloc { size, prio, by_profile }),
        1 => (0u8..40).prop_map(Op::Release),
    ]
}

const MODELS: [&str; 6] = [
    "a100-40gb",
    "a100-80gb",
    "a30-24gb",
    "h100-80gb",
    "h100-94gb",
    "h200-141gb",
];

/// The node, with warm instances on (at most 3, for an hour) or off (the default).
fn open(dir: &StateDir, warm: bool) -> Node {
    let lock = NodeLock::acquire(&dir.lock_file(), Duration::from_secs(5)).unwrap();
    let b = SimBackend::open(&dir.sim_file()).unwrap().unwrap();
    let mut cfg = NodeConfig::at(dir.path());
    if warm {
        cfg.warm = WarmSettings::on(3, Duration::from_secs(3600));
    }
    Node::with_backend(&cfg, dir, lock, Box::new(b)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]
    #[test]
    fn invariants_hold(models in proptest::collection::vec(0usize..6, 1..4), ops in proptest::collection::vec(op(), 1..30), warm in any::<bool>()) {
        let t = tempfile::tempdir().unwrap();
        let dir = StateDir::open(&t.path().join("s")).unwrap();
        let keys: Vec<&str> = models.iter().map(|&i| MODELS[i]).collect();
        SimNode::new(&keys).unwrap().save(&dir.sim_file()).unwrap();
        let mut node = open(&dir, warm);
        let prios = [Priority(50), Priority(60), Priority(100), Priority(125)];
        let mut known: HashMap<String, (Priority, bool)> = HashMap::new();
        for (n, o) in ops.iter().enumerate() {
            match o {
                Op::Alloc { size, prio, by_profile } => {
                    let g = &node.gpus()[(*size as usize) % node.gpus().len()];
                    let m = g.model.unwrap();
                    let p = &m.profiles[(*size as usize) % m.profiles.len()];
                    let s = if *by_profile {
                        Size::Profile { name: p.name.to_string() }
                    } else {
                        Size::Memory { bytes: p.memory_bytes() - 1, text: format!("{}MiB", p.memory_mib) }
                    };
                    let mut req = Request::new(s);
                    req.priority = prios[*prio as usize];
                    req.preemptible = req.priority.default_preemptible();
                    let id = format!("h{n}");
                    if let Ok(a) = node.allocate(AllocSpec { id: id.clone(), namespace: "t".into(), request: req.clone(), process: None, creator: None }) {
                        for v in &a.evict {
                            let (vp, vpre) = known[v];
                            prop_assert!(vpre, "victim {v} was not preemptible");
                            prop_assert!(vp < req.priority, "victim {v} not of lower priority");
                        }
                        known.insert(id, (req.priority, req.preemptible));
                    }
                }
                Op::Release(i) => {
                    let _ = node.release(&HolderKey::new("t", format!("h{i}")));
                }
            }
            // Reopen now and then: another process sees the same node.
            if n % 7 == 6 {
                node.close();
                node = open(&dir, warm);
            }
            // Invariants, from the hardware's side.
            let mut seen = Vec::new();
            for g in node.gpus().to_vec() {
                let m = g.model.unwrap();
                let mut mask = 0u16;
                let mut compute = 0u8;
                let mut eng = Engines::ZERO;
                for i in node.hw_instances(g.index) {
                    let p = m.profile_by_id(i.profile_id).unwrap();
                    prop_assert!(p.accepts_start(i.start), "invalid placement");
                    prop_assert_eq!(mask & p.mask_at(i.start), 0, "overlap on GPU {}", g.index);
                    mask |= p.mask_at(i.start);
                    compute += p.compute_slices;
                    eng = eng.plus(p.engines);
                    let h = node.state.holder_of(g.index, i.gi);
                    let warm = node.state.warm_at(g.index, i.gi).is_some();
                    // Each instance is held or warm (docs/warm-instances.md), never both, never
                    // neither.
                    prop_assert!(h.is_some() != warm, "leaked instance, or held and warm at once");
                    let Some(h) = h else { continue };
                    prop_assert_eq!(h.state, HolderState::Active);
                    prop_assert!(!seen.contains(&h.id), "holder bound twice");
                    seen.push(h.id.clone());
                }
                prop_assert!(compute <= m.compute_slices);
                prop_assert!(node.state.warm.len() <= node.config().warm.max, "too many warm");
                for w in &node.state.warm {
                    let i = &w.instance;
                    prop_assert!(node.hw_instances(i.planned.gpu).iter().any(|x| x.uuid == i.live.uuid), "a warm entry without its instance");
                }
                prop_assert!(eng.within(m.engines));
                prop_assert!(catalog::model_by_key(m.key).is_some());
            }
        }
    }
}
