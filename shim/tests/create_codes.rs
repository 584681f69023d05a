//! What containerd is told when dynamig refuses a Create: the one line it always was, with a
//! ttrpc code by kind (bad input → InvalidArgument, no room → ResourceExhausted, a busy node →
//! Unavailable), through the shim's container factory and the status the task service replies
//! with (one test function: the state directory is process-global env).

use containerd_shim::protos::api::CreateTaskRequest;
use containerd_shim::protos::ttrpc::{self, Code};
use dynamig_hook::lifecycle::{self, Caller, Prepared};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::state::{NodeLock, StateDir};
use dynamig_shim::container::ContainerFactory;
use dynamig_shim::error::ShimError;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn bundle(dir: &Path, name: &str, annotations: serde_json::Value) -> PathBuf {
    let b = dir.join(name);
    std::fs::create_dir_all(&b).unwrap();
    let spec = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"env": ["PATH=/bin"], "args": ["true"]},
        "annotations": annotations,
        "linux": {}
    });
    std::fs::write(b.join("config.json"), spec.to_string()).unwrap();
    b
}

fn create(factory: &ContainerFactory, id: &str, bundle: &Path) -> ShimError {
    let req = CreateTaskRequest {
        id: id.to_string(),
        bundle: bundle.to_string_lossy().into_owned(),
        ..Default::default()
    };
    match factory.create(&req) {
        Ok(_) => panic!("{id} was created"),
        Err(e) => e,
    }
}

/// The status the task service replies with: (code, message).
fn status(e: ShimError) -> (Code, String) {
    match ttrpc::Error::from(e) {
        ttrpc::Error::RpcStatus(s) => (s.code(), s.message),
        other => panic!("not a status: {other:?}"),
    }
}

#[test]
fn refusals_reach_containerd_with_their_kind() {
    let t = tempfile::tempdir().unwrap();
    let state = t.path().join("state");
    std::env::set_var("DYNAMIG_STATE_DIR", &state);
    std::env::set_var("DYNAMIG_LOG_FILE", t.path().join("runtime.log"));
    std::env::set_var("DYNAMIG_LOCK_TIMEOUT_MS", "200");
    let dir = StateDir::open(&state).unwrap();
    SimNode::new(&["a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();
    let cfg = std::sync::Arc::new(dynamig_node::config::NodeConfig::from_env());
    let factory = ContainerFactory::new("ns", cfg.clone());

    // a bad annotation
    let bad = bundle(
        t.path(),
        "bad",
        serde_json::json!({"dynamig.io/gpu-memory": "10XB"}),
    );
    let (code, msg) = status(create(&factory, "bad", &bad));
    assert_eq!(code, Code::INVALID_ARGUMENT, "{msg}");
    assert!(
        msg.starts_with("dynamig: ") && msg.contains("10XB") && !msg.contains('\n'),
        "{msg}"
    );

    // a bad checkpoint interval, refused as every bad annotation is
    let bad = bundle(
        t.path(),
        "bad-interval",
        serde_json::json!({"dynamig.io/gpu-memory": "5GB", "dynamig.io/checkpoint-interval": "0s"}),
    );
    let (code, msg) = status(create(&factory, "bad-interval", &bad));
    assert_eq!(code, Code::INVALID_ARGUMENT, "{msg}");
    assert!(
        msg.starts_with("dynamig: annotation dynamig.io/checkpoint-interval=\"0s\" is zero")
            && !msg.contains('\n'),
        "{msg}"
    );

    // no room: the whole GPU is held
    let whole = bundle(
        t.path(),
        "whole",
        serde_json::json!({"dynamig.io/mig-profile": "7g.40gb"}),
    );
    let held = lifecycle::create(&cfg, &whole, "whole", "ns", Caller::Shim).unwrap();
    assert!(matches!(held, Prepared::Injected(_)));
    let more = bundle(
        t.path(),
        "more",
        serde_json::json!({"dynamig.io/gpu-memory": "10GB"}),
    );
    let (code, msg) = status(create(&factory, "more", &more));
    assert_eq!(code, Code::RESOURCE_EXHAUSTED, "{msg}");
    assert!(msg.starts_with("dynamig: no room"), "{msg}");

    // a busy node: another process holds the lock past the timeout
    let lock = NodeLock::acquire(&dir.lock_file(), Duration::from_secs(5)).unwrap();
    let (code, msg) = std::thread::scope(|s| {
        s.spawn(|| status(create(&factory, "more", &more)))
            .join()
            .unwrap()
    });
    drop(lock);
    assert_eq!(code, Code::UNAVAILABLE, "{msg}");
    assert!(
        msg.contains("still held by another dynamig process"),
        "{msg}"
    );

    // the same holder twice
    let (code, msg) = status(create(
        &factory,
        "whole",
        &bundle(
            t.path(),
            "again",
            serde_json::json!({"dynamig.io/gpu-memory": "5GB"}),
        ),
    ));
    assert_eq!(code, Code::FAILED_PRECONDITION, "{msg}");
}
