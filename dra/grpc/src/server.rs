//! The two sockets and their servers: [`start`] binds and serves, [`PluginServer::shutdown`]
//! stops, [`serve`] does both around SIGTERM / SIGINT.

use crate::config::ServeConfig;
use crate::proto::dra_v1::dra_plugin_server::DraPluginServer as V1Server;
use crate::proto::dra_v1beta1::dra_plugin_server::DraPluginServer as V1beta1Server;
use crate::proto::pluginregistration::registration_server::RegistrationServer;
use crate::registration::{KubeletRegistration, RegistrationService, RegistrationState};
use crate::runner::Runner;
use crate::service::DraService;
use crate::socket::{self, SocketError};
use crate::version::Version;
use dynamig_dra_api::claim::Preparer;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;

#[derive(Debug, Error)]
pub enum ServeError {
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("gRPC server on {socket}: {source}")]
    Transport {
        socket: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("gRPC server on {socket} stopped: {message}")]
    Stopped { socket: PathBuf, message: String },
    #[error("cannot wait for SIGTERM: {0}")]
    Signal(#[source] io::Error),
}

/// A running plugin: the DRA service on its socket and the registration on the kubelet's.
pub struct PluginServer {
    registration: RegistrationState,
    registration_socket: PathBuf,
    dra_socket: PathBuf,
    registration_server: Stoppable,
    dra_server: Stoppable,
}

struct Stoppable {
    socket: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Stoppable {
    /// Stops accepting, lets the calls in progress answer (each is bounded by its deadline),
    /// removes the socket.
    async fn stop(self) -> Result<(), ServeError> {
        let _ = self.stop.send(());
        let done = self.task.await;
        socket::remove(&self.socket);
        match done {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(ServeError::Transport {
                socket: self.socket,
                source,
            }),
            Err(e) => Err(ServeError::Stopped {
                socket: self.socket,
                message: e.to_string(),
            }),
        }
    }
}

/// Binds both sockets and serves them in the background: the DRA socket first (the kubelet
/// dials it right after registering), then the registration socket, which is what makes the
/// kubelet notice the plugin. Must be called within a tokio runtime.
pub async fn start(
    cfg: &ServeConfig,
    preparer: Arc<dyn Preparer>,
) -> Result<PluginServer, ServeError> {
    let dra_socket = cfg.dra_socket();
    let registration_socket = cfg.registration_socket();
    let runner = Runner::new(preparer);

    let dra_listener = socket::bind(&dra_socket)?;
    let dra_router = Server::builder()
        .add_service(V1Server::new(DraService::new(
            runner.clone(),
            Version::V1,
            cfg.default_timeout,
        )))
        .add_service(V1beta1Server::new(DraService::new(
            runner,
            Version::V1beta1,
            cfg.default_timeout,
        )));
    let (stop, stopped) = oneshot::channel();
    let dra_server = Stoppable {
        socket: dra_socket.clone(),
        stop,
        task: tokio::spawn(dra_router.serve_with_incoming_shutdown(
            UnixListenerStream::new(dra_listener),
            async {
                let _ = stopped.await;
            },
        )),
    };

    let registration = RegistrationState::default();
    let reg_listener = match socket::bind(&registration_socket) {
        Ok(l) => l,
        Err(e) => {
            let _ = dra_server.stop().await;
            return Err(e.into());
        }
    };
    let (stop, stopped) = oneshot::channel();
    let reg_router = Server::builder().add_service(RegistrationServer::new(
        // The kubelet dials the endpoint as given: never a relative path.
        RegistrationService::new(
            &std::path::absolute(&dra_socket).unwrap_or_else(|_| dra_socket.clone()),
            registration.clone(),
        ),
    ));
    let registration_server = Stoppable {
        socket: registration_socket.clone(),
        stop,
        task: tokio::spawn(reg_router.serve_with_incoming_shutdown(
            UnixListenerStream::new(reg_listener),
            async {
                let _ = stopped.await;
            },
        )),
    };
    tracing::info!(
        registration = %registration_socket.display(),
        endpoint = %dra_socket.display(),
        versions = ?Version::ALL.map(Version::service_name),
        "DRA plugin serving"
    );
    Ok(PluginServer {
        registration,
        registration_socket,
        dra_socket,
        registration_server,
        dra_server,
    })
}

impl PluginServer {
    /// What the kubelet last said of the registration (for `status`).
    pub fn registration(&self) -> KubeletRegistration {
        self.registration.get()
    }

    /// A handle on the registration state that outlives the server.
    pub fn registration_state(&self) -> RegistrationState {
        self.registration.clone()
    }

    pub fn registration_socket(&self) -> &Path {
        &self.registration_socket
    }

    pub fn dra_socket(&self) -> &Path {
        &self.dra_socket
    }

    /// Graceful stop: the registration socket goes first (the kubelet deregisters the plugin
    /// when it disappears), then the DRA server lets the calls in progress answer and stops.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        tracing::info!("DRA plugin stopping");
        let reg = self.registration_server.stop().await;
        let dra = self.dra_server.stop().await;
        reg.and(dra)
    }
}

/// Serves until SIGTERM or SIGINT, then shuts down gracefully ([`PluginServer::shutdown`]).
pub async fn serve(cfg: ServeConfig, preparer: Arc<dyn Preparer>) -> Result<(), ServeError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    let server = start(&cfg, preparer).await?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
    server.shutdown().await
}
