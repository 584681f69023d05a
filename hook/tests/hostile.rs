//! The hostile-request corpus (`tests/hostile/requests.jsonl`) through the runtime path,
//! `dynamig-runc create`, as containerd runs it: every case fails the create with one line
//! (on stderr and as the error in runc's JSON log, which containerd shows), never reaches the
//! real runc, leaves the bundle's `config.json`, the state file and the simulated hardware byte
//! for byte as they were. (`scheduler/dynamigctl/tests/hostile.rs` runs it through `dynamigctl`.)

mod support;
use dynamig_core::request::Size;
use std::collections::BTreeMap;
use support::SimBox;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    model: String,
    annotations: BTreeMap<String, String>,
    env: Vec<String>,
    expect: String,
}

/// A real runc that must never run: exec fails with 127, which no refusal uses.
const NO_RUNC: &str = "/nonexistent/dynamig-test/runc";

#[test]
fn every_hostile_request_fails_the_create_cleanly() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/hostile/requests.jsonl"
    );
    let cases: Vec<Case> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(cases.len() >= 60);
    let mut nodes: BTreeMap<String, SimBox> = BTreeMap::new();
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let node = nodes.entry(case.model.clone()).or_insert_with(|| {
            let b = SimBox::new(&[&case.model]);
            b.resident(
                "resident",
                Size::Memory {
                    bytes: 5_000_000_000,
                    text: "5GB".into(),
                },
                50,
            );
            b
        });
        let before = node.state_bytes();
        let bundle = node.bundle(&serde_json::to_value(&case.annotations).unwrap(), &case.env);
        let config = std::fs::read(bundle.join("config.json")).unwrap();
        let (o, log) = node.create("k8s.io", &format!("hostile-{n}"), &bundle, NO_RUNC, &[]);
        let err = String::from_utf8_lossy(&o.stderr);
        let log_msg = log
            .lines()
            .last()
            .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|v| v["msg"].as_str().map(str::to_string))
            .unwrap_or_default();
        let checks = [
            (
                o.status.code() == Some(1),
                format!("exit {:?}", o.status.code()),
            ),
            (
                err.trim_end().lines().count() == 1,
                "not one line on stderr".into(),
            ),
            (err.starts_with("dynamig: "), "not a dynamig line".into()),
            (
                err.contains(&case.expect),
                format!("does not name {:?}", case.expect),
            ),
            (
                log.lines().count() == 1,
                "not one line in runc's log".into(),
            ),
            (
                log_msg == err.trim_end(),
                "runc log differs from stderr".into(),
            ),
            (node.state_bytes() == before, "state or sim changed".into()),
            (
                std::fs::read(bundle.join("config.json")).unwrap() == config,
                "config.json changed".into(),
            ),
        ];
        for (ok, what) in checks {
            if !ok {
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
    for node in nodes.values() {
        assert_eq!(
            node.holders(),
            vec![("resident".to_string(), "active".to_string())]
        );
    }
}

#[test]
fn busy_lock_fails_the_create_with_one_line() {
    let node = SimBox::new(&["a100-40gb"]);
    node.resident(
        "resident",
        Size::Profile {
            name: "1g.5gb".into(),
        },
        50,
    );
    let before = node.state_bytes();
    let held = dynamig_node::state::NodeLock::acquire(
        &node.dir.lock_file(),
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    let bundle = node.bundle(&serde_json::json!({"dynamig.io/gpu-memory": "10GB"}), &[]);
    let (o, log) = node.create(
        "k8s.io",
        "waiting",
        &bundle,
        NO_RUNC,
        &[("DYNAMIG_LOCK_TIMEOUT_MS", "200")],
    );
    drop(held);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("still held"), "{err}");
    assert!(log.contains("still held"), "{log}");
    assert_eq!(node.state_bytes(), before);
}

/// A 1 MiB annotation value, a 200 KB unknown key, and a 1 MiB env value: the create fails with
/// one short line (stderr, runc's log, the runtime log), its first 64 characters and its length.
#[test]
fn huge_values_are_cut_in_the_create_error_and_the_logs() {
    let node = SimBox::new(&["a100-40gb"]);
    let value = format!("1{}", "X".repeat(1 << 20));
    let key = format!("dynamig.io/{}", "k".repeat(200_000));
    let runtime_log = node.tmp.path().join("runtime.log");
    let cases = [
        (serde_json::json!({"dynamig.io/gpu-memory": value}), vec![]),
        (serde_json::json!({key.as_str(): "1GB"}), vec![]),
        (
            serde_json::json!({}),
            vec![format!("DYNAMIG_GPU_MEMORY={value}")],
        ),
    ];
    for (n, (annotations, env)) in cases.iter().enumerate() {
        let bundle = node.bundle(annotations, env);
        let log_file = runtime_log.to_string_lossy().into_owned();
        let (o, log) = node.create(
            "k8s.io",
            &format!("huge-{n}"),
            &bundle,
            NO_RUNC,
            &[("DYNAMIG_LOG_FILE", &log_file)],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{n}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{n}");
        assert!(err.len() < 1024, "{n}: {} bytes on stderr", err.len());
        assert!(err.contains(" bytes)"), "{n}: {err}");
        assert!(log.len() < 1024, "{n}: {} bytes in runc's log", log.len());
    }
    let text = std::fs::read_to_string(&runtime_log).unwrap();
    assert!(text.lines().count() >= 3, "{text}");
    for l in text.lines() {
        assert!(l.len() < 2048, "a runtime log line of {} bytes", l.len());
    }
}
