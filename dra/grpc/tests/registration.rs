//! Registration with the kubelet, as the test kubelet does it over the real protos.

mod common;

use common::{serve, FakePreparer};
use dynamig_dra_grpc::proto::pluginregistration::registration_server::{
    Registration, RegistrationServer,
};
use dynamig_dra_grpc::proto::pluginregistration::{
    InfoRequest, PluginInfo, RegistrationStatus, RegistrationStatusResponse,
};
use dynamig_dra_grpc::socket::SocketError;
use dynamig_dra_grpc::test_kubelet::{TestKubelet, TestKubeletError};
use dynamig_dra_grpc::{start, KubeletRegistration, ServeConfig, ServeError, Version};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kubelet_finds_registers_and_picks_v1() {
    let p = serve(FakePreparer::with(&[])).await;
    assert_eq!(p.server.registration(), KubeletRegistration::Pending);
    let plugin = TestKubelet::default()
        .register(&p.cfg.registry_dir, WAIT)
        .await
        .unwrap();
    assert_eq!(
        plugin.registration_socket,
        p.cfg.registry_dir.join("mig.dynamig.io-reg.sock")
    );
    assert_eq!(plugin.info.r#type, "DRAPlugin");
    assert_eq!(plugin.info.name, "mig.dynamig.io");
    assert_eq!(plugin.endpoint, p.cfg.plugin_dir.join("dra.sock"));
    assert_eq!(
        plugin.info.supported_versions,
        ["v1.DRAPlugin", "v1beta1.DRAPlugin"]
    );
    assert_eq!(plugin.version, Version::V1);
    assert_eq!(p.server.registration(), KubeletRegistration::Registered);
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_1_32_kubelet_picks_v1beta1() {
    let p = serve(FakePreparer::with(&[])).await;
    let plugin = TestKubelet::new(&["v1beta1.DRAPlugin"])
        .register(&p.cfg.registry_dir, WAIT)
        .await
        .unwrap();
    assert_eq!(plugin.version, Version::V1beta1);
    assert_eq!(p.server.registration(), KubeletRegistration::Registered);
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubelet_without_a_common_version_refuses_and_the_plugin_keeps_why() {
    let p = serve(FakePreparer::with(&[])).await;
    let err = TestKubelet::new(&["v2.DRAPlugin"])
        .register(&p.cfg.registry_dir, WAIT)
        .await
        .unwrap_err();
    let TestKubeletError::Refused(why) = err else {
        panic!("expected a refusal, got {err}");
    };
    assert!(
        why.contains("none of services supported by the plugin"),
        "{why}"
    );
    assert_eq!(p.server.registration(), KubeletRegistration::Refused(why));
    p.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_private_and_removed_at_shutdown() {
    let p = serve(FakePreparer::with(&[])).await;
    let reg = p.cfg.registration_socket();
    let dra = p.cfg.dra_socket();
    for s in [&reg, &dra] {
        let mode = std::fs::metadata(s).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", s.display());
    }
    let dir_mode = std::fs::metadata(&p.cfg.plugin_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    p.server.shutdown().await.unwrap();
    assert!(!reg.exists() && !dra.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_replaced_a_live_one_or_a_file_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig::new(dir.path().join("registry"), dir.path().join("plugin"));
    std::fs::create_dir_all(&cfg.registry_dir).unwrap();
    std::fs::create_dir_all(&cfg.plugin_dir).unwrap();

    // Left by a plugin that died: nobody listens.
    drop(std::os::unix::net::UnixListener::bind(cfg.registration_socket()).unwrap());
    drop(std::os::unix::net::UnixListener::bind(cfg.dra_socket()).unwrap());
    let server = start(&cfg, FakePreparer::with(&[])).await.unwrap();
    TestKubelet::default()
        .register(&cfg.registry_dir, WAIT)
        .await
        .unwrap();

    // A second plugin while the first serves.
    let second = start(&cfg, FakePreparer::with(&[])).await;
    assert!(
        matches!(second, Err(ServeError::Socket(SocketError::InUse { .. }))),
        "{:?}",
        second.err()
    );
    // ... did not take the first one's sockets away.
    TestKubelet::default()
        .register(&cfg.registry_dir, WAIT)
        .await
        .unwrap();
    server.shutdown().await.unwrap();

    std::fs::write(cfg.dra_socket(), "not a socket").unwrap();
    let third = start(&cfg, FakePreparer::with(&[])).await;
    assert!(
        matches!(
            third,
            Err(ServeError::Socket(SocketError::NotASocket { .. }))
        ),
        "{:?}",
        third.err()
    );
    assert_eq!(
        std::fs::read_to_string(cfg.dra_socket()).unwrap(),
        "not a socket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plugin_is_a_clear_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let err = TestKubelet::default()
        .register(dir.path(), Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(matches!(err, TestKubeletError::NoSocket { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relative_plugin_dir_is_given_to_the_kubelet_as_an_absolute_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    // The temporary directory, spelled relative to the current directory.
    let cwd = std::env::current_dir().unwrap();
    let up = "../".repeat(cwd.components().count() - 1);
    let relative = std::path::PathBuf::from(up).join(dir.path().strip_prefix("/").unwrap());
    let cfg = ServeConfig::new(relative.join("registry"), relative.join("plugin"));
    let server = start(&cfg, FakePreparer::with(&[])).await.unwrap();
    let plugin = TestKubelet::default()
        .register(&cfg.registry_dir, WAIT)
        .await
        .unwrap();
    assert!(
        plugin.endpoint.is_absolute(),
        "{}",
        plugin.endpoint.display()
    );
    assert_eq!(
        plugin.endpoint.canonicalize().unwrap(),
        dir.path().join("plugin/dra.sock").canonicalize().unwrap()
    );
    server.shutdown().await.unwrap();
}

/// A registration socket of another kind of plugin (a CSI driver's registrar).
struct CsiRegistrar(std::sync::Mutex<Option<String>>);

#[tonic::async_trait]
impl Registration for CsiRegistrar {
    async fn get_info(
        &self,
        _: tonic::Request<InfoRequest>,
    ) -> Result<tonic::Response<PluginInfo>, tonic::Status> {
        Ok(tonic::Response::new(PluginInfo {
            r#type: "CSIPlugin".into(),
            name: "csi.example.com".into(),
            endpoint: String::new(),
            supported_versions: vec!["1.0.0".into()],
        }))
    }

    async fn notify_registration_status(
        &self,
        request: tonic::Request<RegistrationStatus>,
    ) -> Result<tonic::Response<RegistrationStatusResponse>, tonic::Status> {
        let s = request.into_inner();
        assert!(!s.plugin_registered);
        *self.0.lock().unwrap() = Some(s.error);
        Ok(tonic::Response::new(RegistrationStatusResponse {}))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_kubelet_refuses_a_plugin_of_another_type_and_tells_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("csi.example.com-reg.sock");
    let listener = dynamig_dra_grpc::socket::bind(&path).unwrap();
    let registrar = std::sync::Arc::new(CsiRegistrar(std::sync::Mutex::new(None)));
    let served = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RegistrationServer::from_arc(std::sync::Arc::clone(
                &registrar,
            )))
            .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener)),
    );
    let err = TestKubelet::default()
        .register(dir.path(), WAIT)
        .await
        .unwrap_err();
    let TestKubeletError::Refused(why) = err else {
        panic!("expected a refusal, got {err}");
    };
    assert!(
        why.contains("no handler registered for plugin type: CSIPlugin"),
        "{why}"
    );
    assert_eq!(registrar.0.lock().unwrap().as_deref(), Some(why.as_str()));
    served.abort();
}
