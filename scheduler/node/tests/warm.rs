//! Warm instances through the library on a simulated node (docs/warm-instances.md): a released
//! instance is kept, a later request of its profile takes it with no destroy and no create (the
//! same MIG UUID, the simulator's create counter unchanged), the limit and the time bound it,
//! reconcile owns it (an instance in use or gone is never handed out), and with
//! `DYNAMIG_WARM_MAX=0` a release destroys as it always did.

use dynamig_core::priority::Priority;
use dynamig_core::request::{Request, Size};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::backend::{self, BackendChoice};
use dynamig_node::config::NodeConfig;
use dynamig_node::events;
use dynamig_node::node::{AllocSpec, Allocation, Node};
use dynamig_node::state::{file, HolderKey, Intent, NodeLock, NodeState, StateDir};
use dynamig_node::warm::WarmSettings;
use std::time::Duration;

struct Sim {
    _tmp: tempfile::TempDir,
    dir: StateDir,
}

impl Sim {
    fn new() -> Sim {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(&tmp.path().join("state")).unwrap();
        SimNode::new(&["a100-40gb"])
            .unwrap()
            .save(&dir.sim_file())
            .unwrap();
        Sim { _tmp: tmp, dir }
    }

    /// Runs `f` on the node opened with `warm` (the node reconciles on open), then closes it.
    fn with<T>(&self, warm: WarmSettings, f: impl FnOnce(&mut Node) -> T) -> T {
        self.with_proc(warm, std::path::Path::new("/proc"), f)
    }

    /// As [`Sim::with`], with the NVIDIA module's `/proc` files under `proc_root`.
    fn with_proc<T>(
        &self,
        warm: WarmSettings,
        proc_root: &std::path::Path,
        f: impl FnOnce(&mut Node) -> T,
    ) -> T {
        let lock = NodeLock::acquire(&self.dir.lock_file(), Duration::from_secs(30)).unwrap();
        let mut cfg = NodeConfig::at(self.dir.path());
        cfg.warm = warm;
        cfg.proc_root = proc_root.to_path_buf();
        let b = backend::open(&self.dir, BackendChoice::Sim, cfg.proc_tree()).unwrap();
        let mut node = Node::with_backend(&cfg, &self.dir, lock, b).unwrap();
        let out = f(&mut node);
        node.close();
        out
    }

    fn hardware(&self) -> SimNode {
        SimNode::load(&self.dir.sim_file()).unwrap().unwrap()
    }

    fn state(&self) -> NodeState {
        file::read(&self.dir.state_file()).unwrap().unwrap()
    }

    fn write_state(&self, s: &NodeState) {
        file::write(&self.dir.state_file(), s).unwrap();
    }

    fn event_kinds(&self) -> Vec<String> {
        events::read(&self.dir.events_file(), 0)
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    fn uuids(&self) -> Vec<String> {
        let mut v: Vec<String> = self.hardware().gpus[0]
            .instances
            .iter()
            .map(|i| i.uuid.clone())
            .collect();
        v.sort();
        v
    }
}

fn on() -> WarmSettings {
    WarmSettings::on(4, Duration::from_secs(300))
}

fn spec(ns: &str, id: &str, profile: &str) -> AllocSpec {
    let mut request = Request::new(Size::Profile {
        name: profile.into(),
    });
    request.priority = Priority(50);
    request.preemptible = true;
    AllocSpec {
        id: id.into(),
        namespace: ns.into(),
        request,
        process: None,
        creator: None,
    }
}

fn alloc(sim: &Sim, warm: WarmSettings, ns: &str, id: &str, profile: &str) -> Allocation {
    sim.with(warm, |n| n.allocate(spec(ns, id, profile)).unwrap())
}

fn release(sim: &Sim, warm: WarmSettings, ns: &str, id: &str) {
    sim.with(warm, |n| {
        assert!(n.release(&HolderKey::new(ns, id)).unwrap());
    });
}

#[test]
fn a_released_instance_is_taken_by_the_next_request_of_its_profile_with_no_create() {
    let sim = Sim::new();
    let a = alloc(&sim, on(), "k8s.io", "first", "2g.10gb");
    release(&sim, on(), "k8s.io", "first");
    let st = sim.state();
    assert!(st.holders.is_empty());
    assert_eq!(st.warm.len(), 1);
    assert_eq!(st.warm[0].instance.live.uuid, a.uuid);
    assert_eq!(sim.uuids(), vec![a.uuid.clone()], "kept on the hardware");
    let created = sim.hardware().counter;
    let b = alloc(&sim, on(), "k8s.io", "second", "2g.10gb");
    assert_eq!((b.uuid.as_str(), b.gi, b.ci), (a.uuid.as_str(), a.gi, a.ci));
    assert_eq!(sim.hardware().counter, created, "no GI was created");
    assert!(!b.device_nodes.is_empty());
    let st = sim.state();
    assert!(st.warm.is_empty(), "taken: no longer warm");
    assert_eq!(st.holders.len(), 1);
    let kinds = sim.event_kinds();
    for k in ["warm", "warm-hit"] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
}

#[test]
fn with_warm_instances_off_a_release_destroys_as_it_always_did() {
    let sim = Sim::new();
    let off = WarmSettings::parse(Some("0"), None);
    assert_eq!(off, WarmSettings::parse(None, None), "off is the default");
    let a = alloc(&sim, off.clone(), "k8s.io", "first", "2g.10gb");
    release(&sim, off.clone(), "k8s.io", "first");
    assert!(sim.uuids().is_empty(), "destroyed");
    assert!(sim.state().warm.is_empty());
    let b = alloc(&sim, off, "k8s.io", "second", "2g.10gb");
    assert_ne!(b.uuid, a.uuid, "a new instance");
    assert!(!sim.event_kinds().iter().any(|k| k.starts_with("warm")));
}

#[test]
fn a_request_of_another_profile_keeps_the_warm_instance_while_other_room_fits() {
    let sim = Sim::new();
    let a = alloc(&sim, on(), "k8s.io", "first", "3g.20gb");
    release(&sim, on(), "k8s.io", "first");
    let b = alloc(&sim, on(), "k8s.io", "small", "1g.5gb");
    assert_ne!(b.uuid, a.uuid);
    assert_eq!(sim.state().warm.len(), 1, "still warm");
    // A whole-GPU request needs its room: it is destroyed (one destroy, nobody evicted).
    sim.with(on(), |n| {
        assert!(n.release(&HolderKey::new("k8s.io", "small")).unwrap());
    });
    let c = alloc(&sim, on(), "k8s.io", "whole", "7g.40gb");
    assert!(c.evict.is_empty());
    assert_eq!(
        sim.uuids(),
        vec![c.uuid],
        "only the whole-GPU instance is left"
    );
    assert!(sim.state().warm.is_empty());
    let expired = events::read(&sim.dir.events_file(), 0)
        .into_iter()
        .filter(|e| e.kind == "warm-expired")
        .count();
    assert_eq!(
        expired, 2,
        "both warm instances were destroyed to make room"
    );
}

#[test]
fn the_oldest_beyond_the_limit_and_those_past_their_time_are_destroyed() {
    let sim = Sim::new();
    let two = WarmSettings::on(2, Duration::from_secs(300));
    let a: Vec<Allocation> = ["a", "b", "c"]
        .iter()
        .map(|id| alloc(&sim, two.clone(), "k8s.io", id, "1g.5gb"))
        .collect();
    for id in ["a", "b", "c"] {
        release(&sim, two.clone(), "k8s.io", id);
    }
    let warm: Vec<String> = sim
        .state()
        .warm
        .iter()
        .map(|w| w.instance.live.uuid.clone())
        .collect();
    assert_eq!(
        warm,
        vec![a[1].uuid.clone(), a[2].uuid.clone()],
        "a, the oldest, went"
    );
    assert!(!sim.uuids().contains(&a[0].uuid));
    // Make b older than the time bound: the next entry point destroys it.
    let mut st = sim.state();
    st.warm[0].since_ms = events::now_ms() - 301_000;
    sim.write_state(&st);
    sim.with(two.clone(), |_| {});
    let st = sim.state();
    assert_eq!(st.warm.len(), 1);
    assert_eq!(st.warm[0].instance.live.uuid, a[2].uuid);
    assert_eq!(sim.uuids(), vec![a[2].uuid.clone()]);
    // Turning warm instances off destroys the rest at the next entry point.
    sim.with(WarmSettings::parse(Some("0"), None), |_| {});
    assert!(sim.uuids().is_empty());
    assert!(sim.state().warm.is_empty());
}

#[test]
fn an_instance_with_processes_on_it_is_neither_handed_out_nor_destroyed() {
    let sim = Sim::new();
    let a = alloc(&sim, on(), "k8s.io", "first", "7g.40gb");
    release(&sim, on(), "k8s.io", "first");
    let mut hw = sim.hardware();
    hw.gpus[0].instances[0].pids = vec![4242];
    hw.save(&sim.dir.sim_file()).unwrap();
    // The only room is the warm instance, which some process uses: refused, not taken.
    sim.with(on(), |n| {
        assert!(n.allocate(spec("k8s.io", "second", "7g.40gb")).is_err());
        let st = dynamig_node::status::status(n);
        assert_eq!(st.gpus[0].instances[0].state, "warm");
        assert!(st.gpus[0].instances[0]
            .warm
            .as_ref()
            .is_some_and(|w| w.in_use));
    });
    // Past its time it stays while in use, and goes once idle.
    let mut st = sim.state();
    st.warm[0].since_ms = 0;
    sim.write_state(&st);
    sim.with(on(), |_| {});
    assert_eq!(sim.uuids(), vec![a.uuid.clone()]);
    let mut hw = sim.hardware();
    hw.gpus[0].instances[0].pids.clear();
    hw.save(&sim.dir.sim_file()).unwrap();
    sim.with(on(), |_| {});
    assert!(sim.uuids().is_empty());
}

#[test]
fn a_warm_instance_gone_from_the_hardware_is_forgotten() {
    let sim = Sim::new();
    alloc(&sim, on(), "k8s.io", "first", "2g.10gb");
    release(&sim, on(), "k8s.io", "first");
    let mut hw = sim.hardware();
    hw.gpus[0].instances.clear();
    hw.save(&sim.dir.sim_file()).unwrap();
    let b = alloc(&sim, on(), "k8s.io", "second", "2g.10gb");
    assert!(sim.state().warm.is_empty());
    assert_eq!(sim.uuids(), vec![b.uuid]);
}

#[test]
fn the_same_container_id_in_two_namespaces_never_shares_a_warm_instance_while_one_is_held() {
    let sim = Sim::new();
    let one = alloc(&sim, on(), "team-a", "c1", "2g.10gb");
    let two = alloc(&sim, on(), "team-b", "c1", "2g.10gb");
    assert_ne!(one.uuid, two.uuid);
    release(&sim, on(), "team-b", "c1");
    // team-a's c1 still holds its own instance; team-b's is warm.
    let st = sim.state();
    assert_eq!(st.holders.len(), 1);
    assert_eq!(st.holders[0].namespace, "team-a");
    assert_eq!(st.holders[0].instance.as_ref().unwrap().live.uuid, one.uuid);
    assert_eq!(st.warm[0].instance.live.uuid, two.uuid);
    // A new c1 in team-b, or any other request, gets the warm one, never team-a's.
    let again = alloc(&sim, on(), "team-b", "c1", "2g.10gb");
    assert_eq!(again.uuid, two.uuid);
    let other = alloc(&sim, on(), "team-c", "c1", "2g.10gb");
    assert!(other.uuid != one.uuid && other.uuid != two.uuid);
    // Releasing team-b's c1 again leaves team-a's alone.
    release(&sim, on(), "team-b", "c1");
    let st = sim.state();
    let a = st.holders.iter().find(|h| h.namespace == "team-a").unwrap();
    assert_eq!(a.instance.as_ref().unwrap().live.uuid, one.uuid);
    assert_eq!(st.warm.len(), 1);
}

#[test]
fn undoing_an_interrupted_create_never_destroys_a_warm_instance() {
    let sim = Sim::new();
    let a = alloc(&sim, on(), "k8s.io", "first", "2g.10gb");
    release(&sim, on(), "k8s.io", "first");
    // A create intent at the warm instance's very place, as a crash could leave for a request
    // whose instance was never made: the warm instance is no orphan of it.
    let mut st = sim.state();
    let p = st.warm[0].instance.planned.clone();
    st.intents.push(Intent::Create {
        gpu: p.gpu,
        profile_id: p.profile_id,
        start: p.start,
        holder: "crashed".into(),
        namespace: "k8s.io".into(),
    });
    sim.write_state(&st);
    sim.with(on(), |_| {});
    let st = sim.state();
    assert!(st.intents.is_empty());
    assert_eq!(st.warm.len(), 1);
    assert_eq!(sim.uuids(), vec![a.uuid]);
}

#[test]
fn a_driver_that_does_not_scrub_freed_memory_keeps_nothing_warm() {
    let sim = Sim::new();
    alloc(&sim, on(), "k8s.io", "first", "2g.10gb");
    alloc(&sim, on(), "k8s.io", "second", "2g.10gb");
    release(&sim, on(), "k8s.io", "first");
    assert_eq!(sim.state().warm.len(), 1);
    let proc_root = tempfile::tempdir().unwrap();
    let params = proc_root.path().join("driver/nvidia");
    std::fs::create_dir_all(&params).unwrap();
    std::fs::write(
        params.join("params"),
        "ResmanDebugLevel: 4294967295\nRegistryDwords: \"RMDisableScrubOnFree=1\"\n",
    )
    .unwrap();
    // The warm instance goes at the next entry point, and a release destroys.
    sim.with_proc(on(), proc_root.path(), |n| {
        assert!(n.release(&HolderKey::new("k8s.io", "second")).unwrap());
    });
    assert!(sim.state().warm.is_empty());
    assert!(sim.uuids().is_empty());
}
