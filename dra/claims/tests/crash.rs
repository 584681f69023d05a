//! SIGKILL at every step of a prepare and of an unprepare, on the `nvml` backend loading the
//! fake libnvidia-ml.so.1 (tests/fake-nvml) through the normal loader path, and on the `sim`
//! backend. Each step runs in a child process (this test binary again, as the plugin would be:
//! `NodeConfig::from_env`, a claim source, `start`, then the call) that `DYNAMIG_FAULT` kills at
//! the crash point; then a restarted child runs `start`, and the test checks what a user would:
//! the GPU (the fake's node file), the node state and the CDI directory. After every kill and
//! restart: no instance without a claim, no CDI spec without a prepared claim, no holder or
//! placement bound twice, no half-done claim, the bystander claim untouched, and the claim
//! either fully prepared or without a trace; then the kubelet's retry succeeds.
//!
//! The test fails if a crash point of `dynamig_dra_claims::fault` (and every node point the
//! path meets) is not reached on both backends.

use dynamig_dra_api::claim::{
    AllocatedDevice, ClaimAllocation, ClaimError, ClaimRef, ClaimSource, Preparer,
};
use dynamig_dra_api::DRIVER_NAME;
use dynamig_dra_claims::{cdi, fault, ClaimsPreparer, Options};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::backend::BackendKind;
use dynamig_node::config::NodeConfig;
use dynamig_node::state::dra::{is_claim_namespace, ClaimPhase};
use dynamig_node::state::{file, NodeState};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Command;

const STEP_ENV: &str = "DRA_CRASH_STEP";
const CLAIMS_ENV: &str = "DRA_CRASH_CLAIMS";
const CDI_ENV: &str = "DRA_CRASH_CDI";
const NODE: &str = "node-a";
const BOOT: &str = "boot-1";

/// The claim whose prepare or unprepare is killed: two devices, so a crash can fall between
/// them.
const VICTIM: (&str, &str, &[&str]) = (
    "victim",
    "uid-v",
    &["gpu-0-mig-3g20gb-0", "gpu-0-mig-2g10gb-4"],
);
/// Prepared before, never to be disturbed.
const BYSTANDER: (&str, &str, &[&str]) = ("bystander", "uid-b", &["gpu-0-mig-1g5gb-6"]);

/// Claims as the API server has them, from a JSON file (`{"ns/name": {"uid", "devices"}}`).
struct FileSource(PathBuf);

impl ClaimSource for FileSource {
    fn allocation(&self, c: &ClaimRef) -> Result<Option<ClaimAllocation>, ClaimError> {
        let all: serde_json::Value = serde_json::from_slice(
            &std::fs::read(&self.0).map_err(|e| ClaimError::Internal(e.to_string()))?,
        )
        .map_err(|e| ClaimError::Internal(e.to_string()))?;
        let Some(a) = all.get(format!("{}/{}", c.namespace, c.name)) else {
            return Ok(None);
        };
        Ok(Some(ClaimAllocation {
            uid: a["uid"].as_str().unwrap_or_default().to_string(),
            devices: a["devices"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, d)| AllocatedDevice {
                    request: format!("r{i}"),
                    driver: DRIVER_NAME.into(),
                    pool: NODE.into(),
                    device: d.as_str().unwrap_or_default().to_string(),
                })
                .collect(),
        }))
    }
}

fn claim_ref(c: (&str, &str, &[&str])) -> ClaimRef {
    ClaimRef {
        namespace: "default".into(),
        name: c.0.into(),
        uid: c.1.into(),
    }
}

/// In the child: the plugin's entry point, then one call.
fn child(step: &str) {
    let cfg = NodeConfig::from_env();
    let dir = cfg.open_state_dir().expect("state dir");
    let mut opts = Options::new(NODE, BOOT);
    opts.cdi_dir = PathBuf::from(std::env::var(CDI_ENV).expect("cdi dir"));
    let source = FileSource(PathBuf::from(std::env::var(CLAIMS_ENV).expect("claims")));
    let p = ClaimsPreparer::new(&cfg, dir, opts, std::sync::Arc::new(source));
    let st = p.start().expect("start");
    assert!(st.failed.is_empty(), "start: {:?}", st.failed);
    let (what, name) = step.split_once(':').unwrap_or((step, ""));
    let c = [VICTIM, BYSTANDER]
        .into_iter()
        .find(|c| c.0 == name)
        .map(claim_ref);
    match what {
        "start" => {}
        "prepare" => {
            p.prepare(&c.expect("claim")).expect("prepare");
        }
        "unprepare" => p.unprepare(&c.expect("claim")).expect("unprepare"),
        other => panic!("unknown step {other}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sim,
    Nvml,
}

struct World {
    kind: Kind,
    tmp: tempfile::TempDir,
}

fn fake_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("exe");
    let deps = exe.parent().expect("deps");
    for c in [
        deps.join("libnvidia_ml.so"),
        deps.join("../libnvidia_ml.so"),
    ] {
        if c.exists() {
            return c;
        }
    }
    panic!(
        "libnvidia_ml.so (the fake NVML) not found next to {}; build it with `cargo build -p fake-nvml`",
        exe.display()
    );
}

impl World {
    fn new(kind: Kind) -> World {
        let tmp = tempfile::tempdir().expect("tmp");
        let r = tmp.path();
        for d in ["fake", "proc", "lib", "state", "cdi"] {
            std::fs::create_dir_all(r.join(d)).expect("mkdir");
        }
        std::fs::set_permissions(r.join("state"), std::fs::Permissions::from_mode(0o700))
            .expect("chmod");
        let node = SimNode::new(&["a100-40gb"]).expect("sim");
        match kind {
            Kind::Sim => node.save(&r.join("state/sim.json")),
            Kind::Nvml => node.save(&r.join("fake/sim.json")),
        }
        .expect("save");
        std::os::unix::fs::symlink(fake_lib(), r.join("lib/libnvidia-ml.so.1")).expect("link");
        let claims = serde_json::json!({
            format!("default/{}", VICTIM.0): {"uid": VICTIM.1, "devices": VICTIM.2},
            format!("default/{}", BYSTANDER.0): {"uid": BYSTANDER.1, "devices": BYSTANDER.2},
        });
        std::fs::write(r.join("claims.json"), claims.to_string()).expect("claims");
        World { kind, tmp }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }

    fn command(&self, step: &str, fault: Option<&str>) -> Command {
        let exe = std::env::current_exe().expect("exe");
        let mut c = Command::new(exe);
        c.args([
            "sigkill_at_every_step_leaks_nothing",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ]);
        let s = |p: &str| self.path(p).display().to_string();
        c.env(STEP_ENV, step)
            .env(CLAIMS_ENV, s("claims.json"))
            .env(CDI_ENV, s("cdi"))
            .env("DYNAMIG_STATE_DIR", s("state"))
            .env("DYNAMIG_PROC_ROOT", s("proc"))
            .env("DYNAMIG_DRIVER_STACK", "none")
            .env("DYNAMIG_METRICS_FILE", "off")
            .env("DYNAMIG_POLICY", "none")
            .env(
                "DYNAMIG_BACKEND",
                match self.kind {
                    Kind::Sim => "sim",
                    Kind::Nvml => "nvml",
                },
            )
            .env("LD_LIBRARY_PATH", s("lib"))
            .env("FAKE_NVML_STATE", s("fake/sim.json"))
            .env("FAKE_NVML_PROC_ROOT", s("proc"))
            .env_remove("DYNAMIG_FAULT");
        if let Some(f) = fault {
            c.env("DYNAMIG_FAULT", f);
        }
        c
    }

    /// Runs a step that must succeed.
    fn ok(&self, step: &str) {
        let o = self.command(step, None).output().expect("spawn");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success() && text.contains("1 passed"),
            "{:?} step {step} failed:\n{text}",
            self.kind
        );
    }

    /// Runs a step with a crash at `point`: true when it was killed there.
    fn crash(&self, step: &str, point: &str) -> bool {
        let o = self.command(step, Some(point)).output().expect("spawn");
        if o.status.signal() == Some(9) {
            return true;
        }
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success(),
            "{:?} step {step} at {point} failed without a crash:\n{text}",
            self.kind
        );
        false
    }

    fn hardware(&self) -> SimNode {
        let p = match self.kind {
            Kind::Sim => self.path("state/sim.json"),
            Kind::Nvml => self.path("fake/sim.json"),
        };
        SimNode::load(&p).expect("load").expect("node")
    }

    fn state(&self) -> NodeState {
        file::read(&self.path("state/state.json"))
            .expect("state")
            .unwrap_or_default()
    }
}

/// What a claim is after a restart: fully prepared (its instance uuids), or without a trace.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Prepared(Vec<String>),
    Absent,
}

/// The invariants after a kill and a restart; returns each claim's outcome.
fn check(w: &World, at: &str) -> (Outcome, Outcome) {
    let ctx = format!("{:?} {at}", w.kind);
    let st = w.state();
    let hw = w.hardware();
    let backend = match w.kind {
        Kind::Sim => BackendKind::Sim,
        Kind::Nvml => BackendKind::Nvml,
    };
    assert_eq!(
        st.backend,
        Some(backend),
        "{ctx}: the node ran another backend"
    );
    let dra = st
        .dra
        .clone()
        .unwrap_or_else(|| panic!("{ctx}: not DRA-managed"));
    assert!(
        st.intents.is_empty(),
        "{ctx}: intents left: {:?}",
        st.intents
    );
    for c in &dra.claims {
        assert_eq!(
            c.phase,
            ClaimPhase::Prepared,
            "{ctx}: half-done claim {c:?}"
        );
    }
    // Every instance is a claim device's, once; every claim device has its instance.
    let mut seen: Vec<(u32, u32)> = Vec::new();
    for g in &hw.gpus {
        for i in &g.instances {
            assert!(i.ci.is_some(), "{ctx}: half-made instance {i:?}");
            let h = st
                .holder_of(g.index, i.gi)
                .unwrap_or_else(|| panic!("{ctx}: leaked instance {i:?}"));
            assert!(is_claim_namespace(&h.namespace), "{ctx}: {h:?}");
            assert_eq!(h.instance.as_ref().unwrap().live.uuid, i.uuid, "{ctx}");
            let named = dra.claims.iter().any(|c| {
                c.devices
                    .iter()
                    .any(|d| d.holder.as_deref() == Some(h.id.as_str()))
            });
            assert!(
                named,
                "{ctx}: instance {i:?} held by {} which no claim names",
                h.id
            );
            assert!(
                !seen.contains(&(g.index.get(), i.gi.get())),
                "{ctx}: bound twice"
            );
            seen.push((g.index.get(), i.gi.get()));
        }
    }
    assert_eq!(
        st.holders.len(),
        seen.len(),
        "{ctx}: holders without instance: {:?}",
        st.holders
    );
    // Every CDI spec is a prepared claim's, and every prepared claim has one.
    let mut specs = cdi::list(&w.path("cdi")).expect("cdi");
    specs.sort();
    let mut uids: Vec<String> = dra.claims.iter().map(|c| c.uid.clone()).collect();
    uids.sort();
    assert_eq!(specs, uids, "{ctx}: CDI specs and claims disagree");
    let outcome = |uid: &str| match dra.claims.iter().find(|c| c.uid == uid) {
        None => Outcome::Absent,
        Some(c) => Outcome::Prepared(c.devices.iter().map(|d| d.uuid.clone()).collect()),
    };
    (outcome(VICTIM.1), outcome(BYSTANDER.1))
}

fn prepare_crash(kind: Kind, point: &str) -> bool {
    let w = World::new(kind);
    w.ok("prepare:bystander");
    let (_, by) = check(&w, "setup");
    if !w.crash("prepare:victim", point) {
        return false;
    }
    w.ok("start");
    let (victim, by_after) = check(&w, point);
    assert_eq!(
        by_after, by,
        "{kind:?} {point}: the bystander was disturbed"
    );
    // The kubelet retries: prepared (again, or as it was), idempotently.
    w.ok("prepare:victim");
    let (v2, _) = check(&w, point);
    assert!(
        matches!(v2, Outcome::Prepared(ref u) if u.len() == 2),
        "{kind:?} {point}: {v2:?}"
    );
    if let Outcome::Prepared(before) = victim {
        assert_eq!(
            v2,
            Outcome::Prepared(before),
            "{kind:?} {point}: bound twice"
        );
    }
    w.ok("unprepare:victim");
    let (v3, by3) = check(&w, point);
    assert_eq!((v3, by3), (Outcome::Absent, by), "{kind:?} {point}");
    true
}

fn unprepare_crash(kind: Kind, point: &str) -> bool {
    let w = World::new(kind);
    w.ok("prepare:bystander");
    w.ok("prepare:victim");
    let (_, by) = check(&w, "setup");
    if !w.crash("unprepare:victim", point) {
        return false;
    }
    w.ok("start");
    let (victim, by_after) = check(&w, point);
    assert_eq!(
        by_after, by,
        "{kind:?} {point}: the bystander was disturbed"
    );
    // Every unprepare step is after the `unpreparing` record: the start finished it.
    assert_eq!(victim, Outcome::Absent, "{kind:?} {point}");
    w.ok("unprepare:victim");
    w.ok("prepare:victim");
    assert!(matches!(check(&w, point).0, Outcome::Prepared(_)));
    true
}

#[test]
fn sigkill_at_every_step_leaks_nothing() {
    if let Ok(step) = std::env::var(STEP_ENV) {
        child(&step);
        return;
    }
    let prepare_points: Vec<&str> = [
        "dra-after-claim-record",
        "after-intent-create",
        "after-gi-create",
        "after-ci-create",
        "after-allocate-write",
        "dra-after-device-create",
        "dra-after-cdi-write",
        "dra-after-prepared",
    ]
    .to_vec();
    let unprepare_points: Vec<&str> = [
        "dra-after-unprepare-record",
        "after-release-intent",
        "after-release-destroy",
        "dra-after-cdi-remove",
    ]
    .to_vec();
    // Every listed point is exercised here.
    for p in fault::POINTS.iter().chain(fault::NODE_POINTS) {
        assert!(
            prepare_points.contains(p) || unprepare_points.contains(p),
            "crash point {p} is not exercised"
        );
    }
    let mut missed = Vec::new();
    for kind in [Kind::Sim, Kind::Nvml] {
        for p in &prepare_points {
            if !prepare_crash(kind, p) {
                missed.push(format!("{kind:?} prepare {p}"));
            }
        }
        for p in &unprepare_points {
            if !unprepare_crash(kind, p) {
                missed.push(format!("{kind:?} unprepare {p}"));
            }
        }
    }
    assert!(missed.is_empty(), "crash points not reached: {missed:?}");
}
