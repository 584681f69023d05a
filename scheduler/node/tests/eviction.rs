//! Evictions outside the node lock, through the library on a simulated node
//! (docs/eviction.md): a container still being created is never a victim (its creator is never
//! signalled), and a retry of the same Kubernetes container takes an eviction in flight over.

use dynamig_core::ids::{GpuIndex, ProfileId};
use dynamig_core::priority::Priority;
use dynamig_core::request::{Request, Size};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::backend::{self, BackendChoice};
use dynamig_node::config::NodeConfig;
use dynamig_node::events::now_ms;
use dynamig_node::node::{AllocSpec, Node, NodeError};
use dynamig_node::process::ProcRef;
use dynamig_node::state::file;
use dynamig_node::state::{Eviction, HolderKey, HolderState, NodeLock, StateDir};
use std::process::{Child, Command};
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

    /// The node, closed (events written) when the returned guard goes.
    fn node(&self) -> Closing {
        let lock = NodeLock::acquire(&self.dir.lock_file(), Duration::from_secs(30)).unwrap();
        let cfg = NodeConfig::at(self.dir.path());
        let b = backend::open(&self.dir, BackendChoice::Sim, cfg.proc_tree()).unwrap();
        Closing(Some(Node::with_backend(&cfg, &self.dir, lock, b).unwrap()))
    }
}

/// A node that is closed when it goes out of scope, as the tests' temporaries do.
struct Closing(Option<Node>);

impl Closing {
    fn close(mut self) {
        if let Some(n) = self.0.take() {
            n.close();
        }
    }
}

impl std::ops::Deref for Closing {
    type Target = Node;
    fn deref(&self) -> &Node {
        self.0.as_ref().expect("open")
    }
}

impl std::ops::DerefMut for Closing {
    fn deref_mut(&mut self) -> &mut Node {
        self.0.as_mut().expect("open")
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(n) = self.0.take() {
            n.close();
        }
    }
}

fn k(id: &str) -> HolderKey {
    HolderKey::new("k8s.io", id)
}

fn spec(id: &str, profile: &str, priority: i32) -> AllocSpec {
    let mut request = Request::new(Size::Profile {
        name: profile.into(),
    });
    request.priority = Priority(priority);
    request.preemptible = request.priority.default_preemptible();
    request.grace_period = Duration::from_millis(200);
    AllocSpec {
        id: id.into(),
        namespace: "k8s.io".into(),
        request,
        process: None,
        creator: None,
    }
}

/// A process that ignores SIGTERM (a shim does).
fn stubborn() -> (Child, ProcRef) {
    let c = Command::new("sh")
        .args(["-c", "trap '' TERM; exec sleep 600"])
        .spawn()
        .unwrap();
    // wait for the trap to be set (the exec replaces sh; its start time is the same)
    std::thread::sleep(Duration::from_millis(100));
    let p = ProcRef::of(c.id()).unwrap();
    (c, p)
}

fn sleeper() -> (Child, ProcRef) {
    let c = Command::new("sleep").arg("600").spawn().unwrap();
    let p = ProcRef::of(c.id()).unwrap();
    (c, p)
}

fn stop(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

#[test]
fn a_container_still_being_created_is_not_a_victim_until_its_process_is_known() {
    let sim = Sim::new();
    let (shim, shim_ref) = stubborn();
    let mut s = spec("creating", "7g.40gb", 50);
    s.creator = Some(shim_ref);
    sim.node().allocate(s).unwrap();

    // While only its creator (the shim) is known, it is not a candidate: no room, and the
    // shim is not signalled.
    let e = sim
        .node()
        .allocate(spec("boss", "7g.40gb", 125))
        .unwrap_err();
    assert!(matches!(e, NodeError::Refused(_)), "{e}");
    assert!(e.to_string().starts_with("no room"), "{e}");
    assert!(shim_ref.is_alive(), "the creator was signalled");

    // Once its container's process is recorded, it is a victim like any other: that process
    // gets SIGTERM, the creator nothing.
    let (container, container_ref) = sleeper();
    sim.node()
        .set_process(&k("creating"), container_ref)
        .unwrap();
    let a = sim.node().allocate(spec("boss", "7g.40gb", 125)).unwrap();
    assert_eq!(a.evict, vec!["creating".to_string()]);
    assert!(!container_ref.is_alive());
    assert!(shim_ref.is_alive(), "the creator was signalled");
    let n = sim.node();
    assert_eq!(
        n.state.holder(&k("creating")).map(|h| h.state),
        Some(HolderState::Preempted)
    );
    n.close();
    stop(container);
    stop(shim);
}

#[test]
fn a_retry_of_the_same_kubernetes_container_takes_the_eviction_over() {
    let sim = Sim::new();
    let (victim, victim_ref) = stubborn();
    let mut v = spec("victim", "7g.40gb", 50);
    v.process = Some(victim_ref);
    sim.node().allocate(v).unwrap();

    // A first create of the pod's container decided to evict, and is still waiting for its
    // victim (another process owns the eviction); its caller, the kubelet, gave up and retries.
    let (first, first_ref) = sleeper();
    {
        let mut n = sim.node();
        let h = n.state.holder_mut(&k("victim")).unwrap();
        h.state = HolderState::Preempting;
        h.kill_at_ms = Some(now_ms() + 200);
        n.state.evictions.push(Eviction {
            holder: "first-attempt".into(),
            namespace: "k8s.io".into(),
            owner: first_ref,
            retry_key: Some("sandbox1/app".into()),
            gpu: GpuIndex(0),
            profile_id: ProfileId(0),
            profile: "7g.40gb".into(),
            start: 0,
            victims: vec![k("victim")],
            created_ms: now_ms(),
            over_quota: false,
            k8s_namespace: None,
        });
        file::write(&sim.dir.state_file(), &n.state).unwrap();
    }
    // Anyone else finds the room reserved and the victim not a candidate.
    let e = sim
        .node()
        .allocate(spec("other", "1g.5gb", 125))
        .unwrap_err();
    assert!(e.to_string().starts_with("no room"), "{e}");

    let mut retry = spec("second-attempt", "7g.40gb", 125);
    retry.request.k8s_container = Some("sandbox1/app".into());
    let a = sim.node().allocate(retry).unwrap();
    assert_eq!(
        (a.gpu, a.placement.start, a.profile.as_str()),
        (GpuIndex(0), 0, "7g.40gb")
    );
    assert_eq!(a.evict, vec!["victim".to_string()]);
    assert!(
        !victim_ref.is_alive(),
        "the victim was not killed after its grace"
    );
    assert!(
        first_ref.is_alive(),
        "the first attempt's process was signalled"
    );
    let n = sim.node();
    assert!(n.state.evictions.is_empty());
    assert_eq!(
        n.state.holder(&k("victim")).map(|h| h.state),
        Some(HolderState::Preempted)
    );
    assert!(n.state.holder(&k("second-attempt")).is_some());
    n.close();
    stop(victim);
    stop(first);
}

/// The kinds and messages of the events of `id` in the node's event log.
fn events_of(dir: &StateDir, id: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.events_file())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["holder"] == id)
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("").to_string(),
                e["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_victim_deleted_before_its_evictor_comes_back_is_logged_as_preempted() {
    let sim = Sim::new();
    let (victim, victim_ref) = sleeper();
    let mut v = spec("victim", "7g.40gb", 50);
    v.process = Some(victim_ref);
    sim.node().allocate(v).unwrap();
    // An eviction in flight (its requester waits outside the lock) ...
    let (requester, requester_ref) = sleeper();
    {
        let mut n = sim.node();
        let h = n.state.holder_mut(&k("victim")).unwrap();
        h.state = HolderState::Preempting;
        h.kill_at_ms = Some(now_ms() + 60_000);
        n.state.evictions.push(Eviction {
            holder: "boss".into(),
            namespace: "k8s.io".into(),
            owner: requester_ref,
            retry_key: None,
            gpu: GpuIndex(0),
            profile_id: ProfileId(0),
            profile: "7g.40gb".into(),
            start: 0,
            victims: vec![k("victim")],
            created_ms: now_ms(),
            over_quota: false,
            k8s_namespace: None,
        });
        file::write(&sim.dir.state_file(), &n.state).unwrap();
    }
    // ... and the victim's container exits on SIGTERM and is deleted at once (as Docker does).
    stop(victim);
    assert!(sim.node().release(&k("victim")).unwrap());
    assert_eq!(
        events_of(&sim.dir, "victim").last(),
        Some(&(
            "preempted".to_string(),
            "evicted for k8s.io/boss".to_string()
        ))
    );
    stop(requester);
}

/// The victim is the holder with the least work at risk, from its allocation time in state and
/// its declared checkpoint interval: an older holder whose 30-minute checkpoint just passed goes
/// before a younger one that declared none (youngest-first would take the younger).
#[test]
fn the_victim_is_the_holder_with_the_least_work_since_its_checkpoint() {
    let sim = Sim::new();
    let (old_c, old_ref) = sleeper();
    let (young_c, young_ref) = sleeper();
    let mut old = spec("old", "3g.20gb", 50);
    old.process = Some(old_ref);
    old.request.checkpoint_interval = Some(Duration::from_secs(1800));
    let mut young = spec("young", "3g.20gb", 50);
    young.process = Some(young_ref);
    sim.node().allocate(old).unwrap();
    sim.node().allocate(young).unwrap();
    let mut n = sim.node();
    assert_eq!(
        n.state
            .holder(&k("old"))
            .and_then(|h| h.checkpoint_interval_ms),
        Some(1_800_000),
        "the interval is stored with the holder"
    );
    assert_eq!(
        n.state
            .holder(&k("young"))
            .and_then(|h| h.checkpoint_interval_ms),
        None
    );
    let now = now_ms();
    for (id, ran_s) in [("old", 3605), ("young", 600)] {
        if let Some(h) = n.state.holder_mut(&k(id)) {
            h.created_ms = now - ran_s * 1000;
        }
    }
    // Run times come from the state's allocation times.
    let runs: Vec<(String, Duration, Option<Duration>)> = n
        .view_at(now + 1000)
        .gpus
        .iter()
        .flat_map(|g| g.instances.iter())
        .filter_map(|i| match &i.owner {
            dynamig_core::planner::Owner::Holder(h) => {
                Some((h.id.clone(), h.run_time, h.checkpoint_interval))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        runs,
        [
            (
                "old".to_string(),
                Duration::from_secs(3606),
                Some(Duration::from_secs(1800))
            ),
            ("young".to_string(), Duration::from_secs(601), None),
        ]
    );
    // old has 5 s at risk, young 600 s: old is the victim.
    let mut boss = Request::new(Size::Profile {
        name: "3g.20gb".into(),
    });
    boss.priority = Priority(125);
    let d = n.dry_run("k8s.io", &boss).unwrap();
    let victims: Vec<&str> = d.victims.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(victims, ["old"], "{d:?}");
    // Just before its checkpoint (1795 s at risk) old would keep its slice: young goes.
    if let Some(h) = n.state.holder_mut(&k("old")) {
        h.created_ms = now - 3595 * 1000;
    }
    let d = n.dry_run("k8s.io", &boss).unwrap();
    let victims: Vec<&str> = d.victims.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(victims, ["young"], "{d:?}");
    n.close();
    stop(old_c);
    stop(young_c);
}
