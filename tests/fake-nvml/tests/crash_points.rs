//! Every crash point of `scheduler/node/src/fault.rs`, on both backends: the `sim` backend and the
//! `nvml` backend loading the fake libnvidia-ml.so.1 through the normal loader path.
//!
//! For each point and backend: a fresh node with a bystander (never to be disturbed) and a
//! victim with a live process; `dynamigctl` is killed with SIGKILL at the point
//! (`DYNAMIG_FAULT`) in the middle of an allocate, an eviction or a release; then the next
//! operation (`gc`) runs and the test checks, against `status` and against the hardware (the
//! simulated node the backend or the fake library keeps): no leaked instance, no half-made
//! instance, no holder bound twice, no live container's instance destroyed, and the interrupted
//! request either fully happened or left no trace. Then the node must still serve a request.
//! The warm-instance points (`after-warm-*`) run with warm instances on (`DYNAMIG_WARM_MAX=4`):
//! an instance is then held or warm, never both and never neither (docs/warm-instances.md).
//!
//! The test fails if any point of `dynamig_node::fault::POINTS` is not reached on both backends, and
//! if the source calls a crash point that the list lacks.

mod common;

use common::{dynamigctl, Fake};
use dynamig_node::backend::sim::SimNode;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sim,
    Nvml,
}

struct Node {
    kind: Kind,
    fake: Fake,
    ctl: PathBuf,
}

impl Node {
    fn new(kind: Kind, ctl: &Path, warm: bool) -> Node {
        let mut fake = Fake::new(&["a100-40gb"], true);
        if warm {
            fake.set_env("DYNAMIG_WARM_MAX", "4");
        }
        fake.set_env(
            "DYNAMIG_BACKEND",
            match kind {
                Kind::Sim => "sim",
                Kind::Nvml => "nvml",
            },
        );
        let n = Node {
            kind,
            fake,
            ctl: ctl.to_path_buf(),
        };
        if kind == Kind::Sim {
            n.ok(&["sim", "init", "a100-40gb"]);
        }
        n
    }

    fn cmd(&self) -> Command {
        let mut c = self.fake.command(&self.ctl);
        c.env_remove("DYNAMIG_FAULT");
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cmd().args(args).output().expect("run dynamigctl");
        assert!(
            o.status.success(),
            "{:?}: dynamigctl {args:?} failed: {}{}",
            self.kind,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("status json")
    }

    /// The simulated hardware: the sim backend's node file, or the fake library's.
    fn hardware(&self) -> SimNode {
        let p = match self.kind {
            Kind::Sim => self.fake.dir.path().join("state/sim.json"),
            Kind::Nvml => self.fake.state(),
        };
        SimNode::load(&p).expect("load").expect("a node")
    }

    /// Runs `args` with a crash at `point`; true when it was killed there.
    fn crash(&self, point: &str, args: &[&str]) -> bool {
        let o = self
            .cmd()
            .env("DYNAMIG_FAULT", point)
            .args(args)
            .output()
            .expect("run dynamigctl");
        o.status.signal() == Some(9)
    }
}

/// The uuids of the instances `status` shows warm.
fn warm_uuids(st: &serde_json::Value) -> Vec<String> {
    st["gpus"][0]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["state"] == "warm")
        .map(|i| i["uuid"].as_str().unwrap_or("").to_string())
        .collect()
}

/// (start, size, uuid, holder) of every instance `status` shows.
fn instances(st: &serde_json::Value) -> Vec<(u64, u64, String, Option<String>)> {
    st["gpus"][0]["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["placement"]["start"].as_u64().unwrap_or(99),
                i["placement"]["size"].as_u64().unwrap_or(99),
                i["uuid"].as_str().unwrap_or("").to_string(),
                i["holder"]["id"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn holder_uuid(st: &serde_json::Value, id: &str) -> Option<String> {
    instances(st)
        .into_iter()
        .find(|i| i.3.as_deref() == Some(id))
        .map(|i| i.2)
}

/// No leak, nothing half made, nothing bound twice, and `status` agrees with the hardware.
fn check_invariants(n: &Node, point: &str) -> serde_json::Value {
    let st = n.status();
    let inst = instances(&st);
    let warm = warm_uuids(&st);
    let mut holders: Vec<String> = Vec::new();
    for (a, x) in inst.iter().enumerate() {
        let h = match (&x.3, warm.contains(&x.2)) {
            (Some(h), false) => h.clone(),
            // Warm: dynamig's, held by nobody, not leaked.
            (None, true) => format!("warm {}", x.2),
            (h, w) => panic!(
                "{:?} {point}: leaked instance, or held and warm at once: {x:?} {h:?} {w}",
                n.kind
            ),
        };
        assert!(
            !holders.contains(&h),
            "{:?} {point}: holder {h} bound twice",
            n.kind
        );
        holders.push(h);
        for y in inst.iter().skip(a + 1) {
            assert!(
                x.0 + x.1 <= y.0 || y.0 + y.1 <= x.0,
                "{:?} {point}: overlap {x:?} {y:?}",
                n.kind
            );
        }
    }
    let hw = n.hardware();
    let hw_inst = &hw.gpus[0].instances;
    for i in hw_inst {
        assert!(
            i.ci.is_some(),
            "{:?} {point}: half-made instance left on the hardware: {i:?}",
            n.kind
        );
    }
    let mut hw_uuids: Vec<String> = hw_inst.iter().map(|i| i.uuid.clone()).collect();
    let mut st_uuids: Vec<String> = inst.iter().map(|i| i.2.clone()).collect();
    hw_uuids.sort();
    st_uuids.sort();
    assert_eq!(
        hw_uuids, st_uuids,
        "{:?} {point}: status and hardware disagree",
        n.kind
    );
    st
}

/// One crash at `point` on a fresh node of `kind`, with every check. True when the point was
/// reached.
fn crash_and_recover(kind: Kind, ctl: &Path, point: &str) -> bool {
    let n = Node::new(kind, ctl, point.starts_with("after-warm"));
    n.ok(&[
        "allocate",
        "bystander",
        "--mig-profile",
        "3g.20gb",
        "--priority",
        "inference",
    ]);
    let mut victim = Command::new("sleep").arg("60").spawn().expect("sleep");
    n.ok(&[
        "allocate",
        "victim",
        "--mig-profile",
        "2g.10gb",
        "--pid",
        &victim.id().to_string(),
        "--grace-period",
        "100ms",
    ]);
    let st0 = check_invariants(&n, "before");
    let bystander = holder_uuid(&st0, "bystander").expect("bystander");
    let victim_uuid = holder_uuid(&st0, "victim").expect("victim");

    let killed = if point == "after-warm-keep" {
        n.crash(point, &["release", "victim"])
    } else if point == "after-warm-take" {
        // The victim's instance is warm; a request of its profile takes it.
        n.ok(&["release", "victim"]);
        n.crash(point, &["allocate", "new", "--mig-profile", "2g.10gb"])
    } else if point == "after-warm-reclaim" {
        // The victim's instance is warm, in the half the bystander leaves: a half-GPU request
        // destroys it for the room.
        n.ok(&["release", "victim"]);
        n.crash(point, &["allocate", "big", "--mig-profile", "3g.20gb"])
    } else if point.starts_with("after-release") {
        n.crash(point, &["release", "victim"])
    } else if point.starts_with("after-evict") || point == "after-sigterm" {
        // The victim's process is known (`--pid`), so it is signalled; the bystander (no
        // process) stays.
        // The other half of the GPU holds the victim: a 3g.20gb there evicts it.
        n.crash(
            point,
            &[
                "allocate",
                "boss",
                "--mig-profile",
                "3g.20gb",
                "--priority",
                "interactive",
            ],
        )
    } else {
        n.crash(point, &["allocate", "new", "--mig-profile", "1g.5gb"])
    };
    if !killed {
        let _ = victim.kill();
        let _ = victim.wait();
        return false;
    }

    n.ok(&["gc"]);
    let st = check_invariants(&n, point);
    let k = n.kind;
    assert_eq!(
        holder_uuid(&st, "bystander"),
        Some(bystander),
        "{k:?} {point}: bystander disturbed"
    );
    let victim_alive = victim.try_wait().expect("try_wait").is_none();
    match point {
        "after-intent-create" | "after-gi-create" | "after-ci-create" => {
            assert!(
                holder_uuid(&st, "new").is_none(),
                "{k:?} {point}: no trace expected"
            );
            assert_eq!(instances(&st).len(), 2, "{k:?} {point}: {st}");
            assert!(st["ended"].as_array().is_some_and(|e| e.is_empty()));
            assert!(victim_alive);
            assert_eq!(holder_uuid(&st, "victim"), Some(victim_uuid.clone()));
        }
        "after-allocate-write" => {
            assert!(
                holder_uuid(&st, "new").is_some(),
                "{k:?} {point}: fully happened"
            );
            assert_eq!(holder_uuid(&st, "victim"), Some(victim_uuid.clone()));
        }
        "after-evict-reserve" | "after-sigterm" | "after-evict-unlock" => {
            // The requester died while its victim left: its reservation ended with it, the
            // request did not happen, and the victim stays preempted (signalled by the requester
            // or, if it died first, by the `gc` that dropped the reservation). Its instance is
            // freed once its process is gone, never before.
            assert!(
                holder_uuid(&st, "boss").is_none(),
                "{k:?} {point}: the request did not happen"
            );
            assert!(
                st["evictions"].as_array().is_some_and(|e| e.is_empty()),
                "{k:?} {point}: a dead requester's reservation stayed: {st}"
            );
            let status = victim.wait().expect("wait for the victim");
            assert_eq!(
                status.signal(),
                Some(15),
                "{k:?} {point}: the victim was not sent SIGTERM"
            );
            n.ok(&["gc"]);
            let st = check_invariants(&n, point);
            assert!(
                holder_uuid(&st, "victim").is_none(),
                "{k:?} {point}: the gone victim's instance was not freed"
            );
            let ended = st["ended"].as_array().cloned().unwrap_or_default();
            assert!(
                ended
                    .iter()
                    .any(|e| e["id"] == "victim" && e["state"] == "preempted"),
                "{k:?} {point}: the victim is not preempted: {st}"
            );
        }
        "after-evict-intent" | "after-evict-destroy" => {
            // The victim was gone when its instance was destroyed.
            assert!(!victim_alive || victim.wait().is_ok());
            assert!(
                holder_uuid(&st, "victim").is_none(),
                "{k:?} {point}: the victim is gone"
            );
            assert!(
                holder_uuid(&st, "boss").is_none(),
                "{k:?} {point}: the request did not happen"
            );
        }
        "after-warm-keep" => {
            assert!(
                holder_uuid(&st, "victim").is_none(),
                "{k:?} {point}: the release finished"
            );
            assert_eq!(
                warm_uuids(&st),
                vec![victim_uuid.clone()],
                "{k:?} {point}: kept warm: {st}"
            );
        }
        "after-warm-take" => {
            // Taken (held by `new`) or, if `gc` found its creator gone, warm again: once.
            let held = holder_uuid(&st, "new");
            let warm = warm_uuids(&st);
            assert!(
                (held.as_deref() == Some(victim_uuid.as_str())) != warm.contains(&victim_uuid),
                "{k:?} {point}: the instance is held or warm, once: {st}"
            );
        }
        "after-warm-reclaim" => {
            assert!(
                holder_uuid(&st, "big").is_none(),
                "{k:?} {point}: the request did not happen"
            );
            assert!(warm_uuids(&st).is_empty(), "{k:?} {point}: {st}");
            assert!(
                !instances(&st).iter().any(|i| i.2 == victim_uuid),
                "{k:?} {point}: the warm instance was destroyed"
            );
        }
        "after-release-intent" | "after-release-destroy" => {
            assert!(
                holder_uuid(&st, "victim").is_none(),
                "{k:?} {point}: the release finished"
            );
        }
        other => panic!("crash point {other} has no expectation in this test"),
    }
    // The node still works: the interrupted request can be retried.
    n.ok(&[
        "allocate",
        "retry",
        "--gpu-memory",
        "4GB",
        "--priority",
        "interactive",
    ]);
    check_invariants(&n, point);
    let _ = victim.kill();
    let _ = victim.wait();
    true
}

#[test]
fn every_crash_point_on_both_backends_recovers() {
    let ctl = dynamigctl();
    let points = dynamig_node::fault::POINTS;
    let mut missed = Vec::new();
    let mut covered = 0;
    for kind in [Kind::Sim, Kind::Nvml] {
        for &point in points {
            if crash_and_recover(kind, &ctl, point) {
                covered += 1;
            } else {
                missed.push(format!("{kind:?} {point}"));
            }
        }
    }
    assert!(
        missed.is_empty(),
        "crash points not reached (every point must be exercised on both backends): {missed:?}"
    );
    assert_eq!(covered, 2 * points.len());
    println!(
        "crash points covered: {}/{} on sim, {}/{} on nvml (fake libnvidia-ml)",
        points.len(),
        points.len(),
        points.len(),
        points.len()
    );
}

/// Every `fault::point("…")` in the scheduler's source is in `POINTS` (so the test above
/// exercises it), and every listed point is called somewhere; `after-gi-create` is a backend
/// point, so both backends must call it.
#[test]
fn the_list_of_crash_points_matches_the_source() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scheduler");
    let mut called: Vec<(String, PathBuf)> = Vec::new();
    let mut stack = vec![src];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).expect("read");
                for part in text.split("fault::point(\"").skip(1) {
                    if let Some(name) = part.split('"').next() {
                        called.push((name.to_string(), p.clone()));
                    }
                }
            }
        }
    }
    let points = dynamig_node::fault::POINTS;
    for (name, file) in &called {
        assert!(
            points.contains(&name.as_str()),
            "{} calls crash point {name:?}, which fault::POINTS does not list",
            file.display()
        );
    }
    for p in points {
        assert!(
            called.iter().any(|(n, _)| n == p),
            "crash point {p:?} is listed but never called"
        );
    }
    for backend in ["sim/mod.rs", "nvml/mod.rs"] {
        assert!(
            called
                .iter()
                .any(|(n, f)| n == "after-gi-create" && f.ends_with(backend)),
            "the {backend} backend has no after-gi-create crash point"
        );
    }
    println!("crash points in fault.rs: {}", points.len());
}
