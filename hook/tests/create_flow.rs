//! The create/record/release flow of `dynamig-runc` and `dynamig-hook`, against a simulated node
//! in a private state directory (one test function: the state directory is process-global env).

use dynamig_hook::lifecycle::{self, Prepared};
use dynamig_hook::spec::Config;
use dynamig_node::backend::sim::SimNode;
use dynamig_node::state::{HolderKey, StateDir};

const UNTOUCHED: &str = "{\n  \"ociVersion\": \"1.0.2-dev\",\n  \"process\": {\"env\": [\"PATH=/bin\"], \"args\": [\"true\"]},\n  \"annotations\": {\"io.example\": \"x\"},\n  \"linux\": {}\n}\n";

fn bundle(dir: &std::path::Path, name: &str, config: &str) -> std::path::PathBuf {
    let b = dir.join(name);
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("config.json"), config).unwrap();
    b
}

fn ns_good() -> HolderKey {
    HolderKey::new("ns", "good")
}

fn ns2_good() -> HolderKey {
    HolderKey::new("ns2", "good")
}

#[test]
fn create_record_release() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    std::env::set_var("DYNAMIG_STATE_DIR", &state);
    std::env::set_var("DYNAMIG_LOG_FILE", t.path().join("runtime.log"));
    // a stand-in hook binary (the real one lives next to the test executable's parent)
    let hook = t.path().join("dynamig-hook");
    std::fs::write(&hook, "").unwrap();
    std::env::set_var("DYNAMIG_HOOK", &hook);
    let dir = StateDir::open(&state).unwrap();
    SimNode::new(&["a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();

    // 1. no request: the bundle is not touched, byte for byte, and nothing is allocated
    let plain = bundle(t.path(), "plain", UNTOUCHED);
    let before = std::fs::metadata(plain.join("config.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(matches!(
        lifecycle::create_for_runc(
            &dynamig_node::config::NodeConfig::from_env(),
            &plain,
            "plain",
            "ns"
        )
        .unwrap(),
        Prepared::Untouched
    ));
    assert_eq!(
        std::fs::read_to_string(plain.join("config.json")).unwrap(),
        UNTOUCHED
    );
    assert_eq!(
        std::fs::metadata(plain.join("config.json"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );

    // 2. a bad annotation: one line with key and value, nothing allocated, bundle untouched
    let bad_cfg = r#"{"annotations":{"dynamig.io/gpu-memory":"10XB"},"process":{"env":[]}}"#;
    let bad = bundle(t.path(), "bad", bad_cfg);
    let e = lifecycle::create_for_runc(
        &dynamig_node::config::NodeConfig::from_env(),
        &bad,
        "bad",
        "ns",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("dynamig.io/gpu-memory") && e.contains("10XB") && !e.contains('\n'),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(bad.join("config.json")).unwrap(),
        bad_cfg
    );

    // 3. a request: allocated and injected
    let good = bundle(
        t.path(),
        "good",
        r#"{"annotations":{"dynamig.io/mig-profile":"2g.10gb"},"process":{"env":["PATH=/bin"]},"linux":{}}"#,
    );
    let Prepared::Injected(a) = lifecycle::create_for_runc(
        &dynamig_node::config::NodeConfig::from_env(),
        &good,
        "good",
        "ns",
    )
    .unwrap() else {
        panic!("expected an allocation")
    };
    assert_eq!(a.profile, "2g.10gb");
    let c = Config::load(&good).unwrap();
    assert!(c
        .spec
        .pointer("/annotations/dynamig.io~1injected")
        .is_some());
    assert_eq!(
        c.spec
            .pointer("/hooks/createRuntime/0/path")
            .and_then(|v| v.as_str()),
        Some(hook.to_str().unwrap())
    );
    // `runc create`: `dynamig-runc delete` releases, so no poststop hook
    assert!(c.spec.pointer("/hooks/poststop").is_none());
    // the same bundle again: its spec says it was prepared already (by the shim, with a runc
    // BinaryName of dynamig-runc): passed through, nothing more allocated
    assert!(matches!(
        lifecycle::create_for_runc(
            &dynamig_node::config::NodeConfig::from_env(),
            &good,
            "good",
            "ns"
        )
        .unwrap(),
        Prepared::Untouched
    ));
    // another bundle under the same id: refused, nothing more allocated
    let again = bundle(
        t.path(),
        "again",
        r#"{"annotations":{"dynamig.io/mig-profile":"1g.5gb"},"process":{"env":["PATH=/bin"]},"linux":{}}"#,
    );
    let e = lifecycle::create_for_runc(
        &dynamig_node::config::NodeConfig::from_env(),
        &again,
        "good",
        "ns",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("ns/good already holds"), "{e}");
    // the same id in another namespace is another container: it gets its own slice, and
    // releasing it leaves ns/good's alone
    let Prepared::Injected(other) = lifecycle::create_for_runc(
        &dynamig_node::config::NodeConfig::from_env(),
        &again,
        "good",
        "ns2",
    )
    .unwrap() else {
        panic!("expected an allocation for ns2/good")
    };
    assert_ne!(other.uuid, a.uuid);
    let injected = |b: &std::path::Path| dynamig_hook::injected::Injected::from_bundle(b).unwrap();
    assert!(injected(&again).is_for(&ns2_good()));
    assert!(!injected(&again).is_for(&ns_good()));
    assert!(injected(&good).is_for(&ns_good()));
    assert!(
        lifecycle::release(&dynamig_node::config::NodeConfig::from_env(), &ns2_good()).unwrap()
    );
    let st: dynamig_node::state::NodeState = dynamig_node::state::file::read(&dir.state_file())
        .unwrap()
        .unwrap();
    assert_eq!(
        st.holder(&ns_good())
            .and_then(|h| h.instance.as_ref())
            .map(|i| &i.live.uuid),
        Some(&a.uuid)
    );
    // a refused create in another namespace under the same id releases nothing
    let refused = bundle(t.path(), "refused", bad_cfg);
    assert!(lifecycle::create_for_runc(
        &dynamig_node::config::NodeConfig::from_env(),
        &refused,
        "good",
        "ns3"
    )
    .is_err());
    assert!(dynamig_node::node::may_hold(&state, &ns_good()));

    // 4. the hook records the container's process (here: a child of ours)
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    lifecycle::record(
        &dynamig_node::config::NodeConfig::from_env(),
        &ns_good(),
        child.id(),
    )
    .unwrap();
    assert!(lifecycle::record(
        &dynamig_node::config::NodeConfig::from_env(),
        &HolderKey::new("ns", "nobody"),
        child.id()
    )
    .is_err());
    assert!(lifecycle::record(
        &dynamig_node::config::NodeConfig::from_env(),
        &ns2_good(),
        child.id()
    )
    .is_err());

    // 5. release, twice; the second is answered by the lock-free read of the state
    assert!(dynamig_node::node::may_hold(&state, &ns_good()));
    assert!(!dynamig_node::node::may_hold(&state, &ns2_good()));
    assert!(!dynamig_node::node::may_hold(
        &state,
        &HolderKey::new("ns", "plain")
    ));
    assert!(!dynamig_node::node::may_hold(
        &t.path().join("no-such-dir"),
        &ns_good()
    ));
    assert!(
        !lifecycle::release(&dynamig_node::config::NodeConfig::from_env(), &ns2_good()).unwrap()
    );
    assert!(lifecycle::release(&dynamig_node::config::NodeConfig::from_env(), &ns_good()).unwrap());
    assert!(!dynamig_node::node::may_hold(&state, &ns_good()));
    assert!(
        !lifecycle::release(&dynamig_node::config::NodeConfig::from_env(), &ns_good()).unwrap()
    );
    // a damaged state file is never read as "no holder": release goes to the locked path and
    // reports the damage
    let good_state = std::fs::read(dir.state_file()).unwrap();
    std::fs::write(
        dir.state_file(),
        b"dynamig-state v1 crc32=00000000 len=2\n{}",
    )
    .unwrap();
    assert!(dynamig_node::node::may_hold(&state, &ns_good()));
    assert!(lifecycle::release(&dynamig_node::config::NodeConfig::from_env(), &ns_good()).is_err());
    std::fs::write(dir.state_file(), good_state).unwrap();
    let _ = child.kill();
    let _ = child.wait();

    // 6. dynamig.io/wait: create waits in the queue while the GPU is full
    let full = bundle(
        t.path(),
        "full",
        r#"{"annotations":{"dynamig.io/mig-profile":"7g.40gb"},"process":{"env":[]},"linux":{}}"#,
    );
    assert!(matches!(
        lifecycle::create_for_runc(
            &dynamig_node::config::NodeConfig::from_env(),
            &full,
            "full",
            "ns"
        )
        .unwrap(),
        Prepared::Injected(_)
    ));
    let waiting = r#"{"annotations":{"dynamig.io/mig-profile":"1g.5gb","dynamig.io/wait":"300ms"},"process":{"env":[]},"linux":{}}"#;
    // out of time: refused, the bundle untouched, no ticket and no holder left
    let late = bundle(t.path(), "late", waiting);
    let e = lifecycle::create_for_runc(
        &dynamig_node::config::NodeConfig::from_env(),
        &late,
        "late",
        "ns",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("gave up after waiting"), "{e}");
    assert_eq!(
        std::fs::read_to_string(late.join("config.json")).unwrap(),
        waiting
    );
    let st: dynamig_node::state::NodeState = dynamig_node::state::file::read(&dir.state_file())
        .unwrap()
        .unwrap();
    assert!(st.queue.is_empty());
    assert_eq!(
        st.holders.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
        ["full"]
    );
    // served once room appears while it waits
    let patient = bundle(t.path(), "patient", &waiting.replace("300ms", "20s"));
    let releaser = std::thread::spawn(|| {
        let dir = dynamig_node::config::NodeConfig::from_env()
            .open_state_dir()
            .unwrap();
        // release only once the waiter holds a ticket
        loop {
            let st: Option<dynamig_node::state::NodeState> =
                dynamig_node::state::file::read(&dir.state_file()).unwrap();
            if st.is_some_and(|s| !s.queue.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        lifecycle::release(
            &dynamig_node::config::NodeConfig::from_env(),
            &HolderKey::new("ns", "full"),
        )
        .unwrap()
    });
    let Prepared::Injected(a) = lifecycle::create_for_runc(
        &dynamig_node::config::NodeConfig::from_env(),
        &patient,
        "patient",
        "ns",
    )
    .unwrap() else {
        panic!("expected an allocation after waiting")
    };
    assert!(releaser.join().unwrap());
    assert_eq!(a.profile, "1g.5gb");
    let st: dynamig_node::state::NodeState = dynamig_node::state::file::read(&dir.state_file())
        .unwrap()
        .unwrap();
    assert!(st.queue.is_empty());
}
