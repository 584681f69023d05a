//! Emulated driver latency (`FAKE_NVML_LATENCY_MS`, `FAKE_NVML_LATENCY_LOG`) and the shim's one
//! NVML session (issue #17): the latency is applied per call kind and accounted in the log, an
//! unknown kind fails initialisation loudly, and a shared session pays `nvmlInit` once, not once
//! per node opened. Assertions are on the log's lines, never on wall-clock time.

mod common;

use common::{ctl_json, ctl_output, dynamigctl, run, Fake};
use dynamig_core::request::{Request, Size};
use dynamig_node::config::NodeConfig;
use dynamig_node::node::{AllocSpec, Node, NodeError};
use dynamig_node::state::HolderKey;
use std::path::Path;

/// `(kind, µs slept)` of each line of a latency log (`<kind> <µs> <end µs> <pid>`).
fn log_lines(path: &Path) -> Vec<(String, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            assert_eq!(f.len(), 4, "{l:?}");
            assert!(
                f[2].parse::<u64>().is_ok() && f[3].parse::<u32>().is_ok(),
                "{l:?}"
            );
            (f[0].to_string(), f[1].parse().expect("µs"))
        })
        .collect()
}

fn count(lines: &[(String, u64)], kind: &str) -> usize {
    lines.iter().filter(|(k, _)| k == kind).count()
}

fn fake_with_latency(latency: &str) -> Fake {
    let mut f = Fake::new(&["a100-40gb"], true);
    let log = f.dir.path().join("latency.log");
    f.set_env("FAKE_NVML_LATENCY_MS", latency);
    f.set_env("FAKE_NVML_LATENCY_LOG", &log.display().to_string());
    f.set_env("DYNAMIG_BACKEND", "nvml");
    f
}

#[test]
fn each_call_kind_sleeps_its_latency_and_the_log_says_how_long() {
    let ctl = dynamigctl();
    let f = fake_with_latency("init=2,gi_create=9,gi_destroy=7,ci_create=5,ci_destroy=3");
    let log = f.dir.path().join("latency.log");
    ctl_json(
        &f,
        &ctl,
        &["allocate", "a", "--mig-profile", "3g.20gb", "--json"],
    );
    let lines = log_lines(&log);
    assert_eq!(count(&lines, "gi_create"), 1, "{lines:?}");
    assert_eq!(count(&lines, "ci_create"), 1, "{lines:?}");
    assert_eq!(count(&lines, "gi_destroy"), 0, "{lines:?}");
    assert_eq!(
        count(&lines, "init"),
        1,
        "one process, one nvmlInit: {lines:?}"
    );
    // Kinds without a latency are not logged; every call's own work is.
    assert_eq!(count(&lines, "gi_list"), 0, "{lines:?}");
    assert!(count(&lines, "fake_work") > 4, "{lines:?}");
    let o = ctl_output(&f, &ctl, &["release", "a"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = log_lines(&log);
    assert_eq!(count(&lines, "gi_destroy"), 1, "{lines:?}");
    assert_eq!(count(&lines, "ci_destroy"), 1, "{lines:?}");
    assert_eq!(count(&lines, "init"), 2, "{lines:?}");
    // What is logged is the time slept, at least the latency asked for.
    for (kind, ms) in [
        ("init", 2),
        ("gi_create", 9),
        ("gi_destroy", 7),
        ("ci_create", 5),
        ("ci_destroy", 3),
    ] {
        for (_, us) in lines.iter().filter(|(k, _)| k == kind) {
            assert!(*us >= ms * 1000, "{kind} logged {us} µs for {ms} ms");
        }
    }
}

#[test]
fn an_unknown_call_kind_fails_initialisation_and_says_so() {
    let ctl = dynamigctl();
    let f = fake_with_latency("init=2,gi_crate=90");
    let o = ctl_output(&f, &ctl, &["allocate", "a", "--mig-profile", "3g.20gb"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("fake-nvml: FAKE_NVML_LATENCY_MS=\"init=2,gi_crate=90\": unknown call kind \"gi_crate\""),
        "{err}"
    );
    assert!(common::hardware_instances(&f).is_empty());
    assert!(log_lines(&f.dir.path().join("latency.log")).is_empty());
}

fn spec(id: &str) -> AllocSpec {
    AllocSpec {
        id: id.into(),
        namespace: "default".into(),
        request: Request::new(Size::Profile {
            name: "1g.5gb".into(),
        }),
        process: None,
        creator: None,
    }
}

fn allocate_and_release(cfg: &NodeConfig, id: &str) -> Result<(), NodeError> {
    let dir = cfg.open_state_dir().expect("state dir");
    Node::session(cfg, &dir, |n| n.allocate(spec(id)).map(drop))?;
    Node::session(cfg, &dir, |n| {
        n.release(&HolderKey::new("default", id)).map(drop)
    })
}

fn latency_log() -> std::path::PathBuf {
    std::env::var_os("FAKE_NVML_LATENCY_LOG")
        .expect("FAKE_NVML_LATENCY_LOG")
        .into()
}

#[test]
fn a_shared_nvml_session_initialises_once_for_every_node_it_opens() {
    run(
        "a_shared_nvml_session_initialises_once_for_every_node_it_opens",
        || fake_with_latency("init=1"),
        || {
            // One-shot entry points: each node opens NVML for itself.
            let one_shot = NodeConfig::from_env();
            allocate_and_release(&one_shot, "x").unwrap();
            assert_eq!(count(&log_lines(&latency_log()), "init"), 2);

            // The shim's: three creations and three deletions, one nvmlInit.
            let shim = NodeConfig::from_env().with_nvml_session();
            for id in ["a", "b", "c"] {
                allocate_and_release(&shim, id).unwrap();
            }
            assert_eq!(count(&log_lines(&latency_log()), "init"), 3);
            assert!(shim.nvml_session.as_ref().unwrap().is_open());
        },
    );
}

#[test]
fn a_stale_session_is_initialised_again() {
    run(
        "a_stale_session_is_initialised_again",
        || fake_with_latency("init=1"),
        || {
            let shim = NodeConfig::from_env().with_nvml_session();
            allocate_and_release(&shim, "a").unwrap();
            assert_eq!(count(&log_lines(&latency_log()), "init"), 1);
            // The driver goes away (the fake's node file with it): the session's health check
            // fails, NVML is initialised again, and that fails too, as on a node without one.
            let state = common::child_state();
            let away = state.with_extension("away");
            std::fs::rename(&state, &away).unwrap();
            assert!(allocate_and_release(&shim, "b").is_err());
            assert_eq!(count(&log_lines(&latency_log()), "init"), 2);
            // The driver is back: the next operation initialises NVML once more and works.
            std::fs::rename(&away, &state).unwrap();
            allocate_and_release(&shim, "c").unwrap();
            assert_eq!(count(&log_lines(&latency_log()), "init"), 3);
            allocate_and_release(&shim, "d").unwrap();
            assert_eq!(count(&log_lines(&latency_log()), "init"), 3);
        },
    );
}
