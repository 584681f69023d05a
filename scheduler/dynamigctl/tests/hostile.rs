//! The hostile-request corpus (`tests/hostile/requests.jsonl`) through `dynamigctl allocate`:
//! every case exits 2 with one line on stderr that names what was wrong, prints nothing on
//! stdout, and leaves the state and the simulated hardware byte for byte as they were.
//! (`hook/tests/hostile.rs` runs the same corpus through `dynamig-runc create`.)

mod common;
use common::*;
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    model: String,
    annotations: BTreeMap<String, String>,
    env: Vec<String>,
    expect: String,
}

fn corpus() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/hostile/requests.jsonl"
    );
    let text = std::fs::read_to_string(path).expect("read the corpus");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad corpus line {l}: {e}")))
        .collect()
}

#[test]
fn corpus_is_large_enough() {
    assert!(corpus().len() >= 60, "the issue asks for at least 60 cases");
}

#[test]
fn every_hostile_request_is_refused_cleanly_by_dynamigctl() {
    let cases = corpus();
    let mut nodes: BTreeMap<String, Ctl> = BTreeMap::new();
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let c = nodes.entry(case.model.clone()).or_insert_with(|| {
            let c = Ctl::new();
            c.ok(&["sim", "init", &case.model]);
            // Something already on the node, so that the state file has content to keep.
            c.ok(&["allocate", "resident", "--gpu-memory", "5GB"]);
            c
        });
        let state = std::fs::read(c.state_file()).unwrap();
        let sim = std::fs::read(c.state_dir().join("sim.json")).unwrap();
        let mut args = vec![
            "allocate".to_string(),
            format!("hostile-{n}"),
            "--json".to_string(),
        ];
        for (k, v) in &case.annotations {
            args.push("--annotation".into());
            args.push(format!("{k}={v}"));
        }
        for e in &case.env {
            args.push("--env".into());
            args.push(e.clone());
        }
        let o = c.cmd().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        let problems = [
            (
                o.status.code() != Some(2),
                format!("exit {:?}", o.status.code()),
            ),
            (!o.stdout.is_empty(), "printed on stdout".to_string()),
            (
                err.trim_end().lines().count() != 1,
                "not exactly one line".to_string(),
            ),
            (
                !err.contains(&case.expect),
                format!("does not name {:?}", case.expect),
            ),
            (
                std::fs::read(c.state_file()).unwrap() != state,
                "state.json changed".to_string(),
            ),
            (
                std::fs::read(c.state_dir().join("sim.json")).unwrap() != sim,
                "sim.json changed".to_string(),
            ),
        ];
        for (bad, what) in problems {
            if bad {
                failures.push(format!("{:?}: {what}: {err}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    // The resident holders were never disturbed.
    for c in nodes.values() {
        let st = c.status();
        let held: Vec<_> = instances(&st).into_iter().filter_map(|i| i.4).collect();
        assert_eq!(held, vec!["resident".to_string()]);
    }
}
