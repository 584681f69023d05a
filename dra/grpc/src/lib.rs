//! dynamig's DRA kubelet plugin over gRPC (docs/dra-grpc.md): the pluginregistration v1
//! `Registration` service on `<registry dir>/mig.dynamig.io-reg.sock`, and the DRA `DRAPlugin`
//! service in versions v1 and v1beta1 on one socket, `<plugin dir>/dra.sock`, answering
//! `NodePrepareResources` / `NodeUnprepareResources` through any [`Preparer`].
//!
//! # Use (the `dynamig-dra` binary)
//!
//! ```no_run
//! # async fn run(preparer: std::sync::Arc<dyn dynamig_dra_api::claim::Preparer>) -> Result<(), dynamig_dra_grpc::ServeError> {
//! use dynamig_dra_grpc::{serve, ServeConfig};
//! // Defaults: /var/lib/kubelet/plugins_registry and /var/lib/kubelet/plugins/mig.dynamig.io.
//! let cfg = ServeConfig::new("/var/lib/kubelet/plugins_registry", "/var/lib/kubelet/plugins/mig.dynamig.io");
//! // Serves until SIGTERM or SIGINT, then stops gracefully and removes both sockets.
//! serve(cfg, preparer).await
//! # }
//! ```
//!
//! Or, to do other things while it serves (publish slices, answer `status`):
//!
//! ```no_run
//! # async fn run(preparer: std::sync::Arc<dyn dynamig_dra_api::claim::Preparer>) -> Result<(), dynamig_dra_grpc::ServeError> {
//! let server = dynamig_dra_grpc::start(&dynamig_dra_grpc::ServeConfig::default(), preparer).await?;
//! let registration = server.registration_state(); // KubeletRegistration: Pending, Registered, Refused(why)
//! // ... later, on shutdown:
//! server.shutdown().await
//! # }
//! ```
//!
//! [`start`] binds both sockets (a stale socket file is replaced only when nothing listens on
//! it; another live plugin is an error) and serves in tokio tasks; [`PluginServer::shutdown`]
//! removes the registration socket first (the kubelet deregisters the plugin), lets the calls
//! in progress answer, and removes the DRA socket. Preparer calls run on tokio's blocking
//! threads: one still running past its call's deadline goes on in the background (see
//! [`runner`]), so a runtime dropped right after shutdown waits for it.
//!
//! Per-claim errors carry their [`ClaimError`](dynamig_dra_api::claim::ClaimError) kind as a
//! prefix ([`error_text`]). The test kubelet ([`test_kubelet`], feature `test-kubelet`)
//! registers and calls a plugin as the kubelet does.

pub mod config;
pub mod deadline;
pub mod error_text;
pub mod proto;
pub mod registration;
pub mod runner;
mod server;
mod service;
pub mod socket;
#[cfg(feature = "test-kubelet")]
pub mod test_kubelet;
pub mod version;

pub use config::ServeConfig;
pub use registration::{KubeletRegistration, RegistrationState};
pub use server::{serve, start, PluginServer, ServeError};
pub use version::Version;

#[doc(no_inline)]
pub use dynamig_dra_api::claim::Preparer;
