//! `serve`, as the binary runs it: serves until SIGTERM, then stops and removes its sockets.
//! Alone in its test binary: it sends SIGTERM to its own process.

mod common;

use common::{claim, device, Behaviour, FakePreparer};
use dynamig_dra_grpc::test_kubelet::{TestKubelet, KUBELET_CALL_TIMEOUT};
use dynamig_dra_grpc::{serve, ServeConfig};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_plugin_and_deregisters_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig::new(dir.path().join("registry"), dir.path().join("plugin"));
    let fake = FakePreparer::with(&[("u1", Behaviour::Devices(vec![device("u1", "gpu-0")]))]);
    let serving = tokio::spawn(serve(cfg.clone(), fake));

    let plugin = TestKubelet::default()
        .register(&cfg.registry_dir, Duration::from_secs(10))
        .await
        .unwrap();
    let got = plugin
        .prepare(&[claim("u1")], KUBELET_CALL_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(got["u1"], Ok(vec![device("u1", "gpu-0")]));

    kill(Pid::this(), Signal::SIGTERM).unwrap();
    let stopped = tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("serve returned after SIGTERM")
        .unwrap();
    stopped.unwrap();
    assert!(
        !cfg.registration_socket().exists(),
        "the kubelet sees the plugin go"
    );
    assert!(!cfg.dra_socket().exists());
}
