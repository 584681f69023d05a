//! A test kubelet (feature `test-kubelet`): does what the kubelet's plugin manager and DRA
//! manager do with a DRA plugin, over the real protos and real unix sockets, so a test can
//! drive this crate's server or the real `dynamig-dra` binary:
//!
//! 1. [`TestKubelet::register`] waits for a socket in the registry directory (the kubelet
//!    watches it with inotify; this polls), dials it, calls `GetInfo`, checks the type is
//!    `DRAPlugin`, picks the service as the kubelet does (the first of the plugin's
//!    `supported_versions` that the kubelet knows, an empty endpoint meaning the registration
//!    socket itself), tells the plugin with `NotifyRegistrationStatus` (refusals too, with the
//!    kubelet's wording), and dials the endpoint.
//! 2. [`RegisteredPlugin::prepare`] / [`RegisteredPlugin::unprepare`] call
//!    `NodePrepareResources` / `NodeUnprepareResources` of the chosen version with a deadline
//!    (the kubelet's is 45 s), and check, as the kubelet does, that every claim asked for has
//!    an answer.

use crate::error_text::parse_claim_error;
use crate::proto::pluginregistration::registration_client::RegistrationClient;
use crate::proto::pluginregistration::{InfoRequest, PluginInfo, RegistrationStatus};
use crate::proto::{dra_v1, dra_v1beta1};
use crate::version::{Version, PLUGIN_TYPE};
use dynamig_dra_api::claim::{ClaimError, ClaimRef, PreparedDevice};
use hyper_util::rt::TokioIo;
use std::collections::BTreeMap;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// The kubelet's services, newest first (`servicesSupportedByKubelet`, kubelet 1.34 to 1.36).
pub const KUBELET_SERVICES: [&str; 2] = ["v1.DRAPlugin", "v1beta1.DRAPlugin"];
/// The kubelet's timeout for a DRA call.
pub const KUBELET_CALL_TIMEOUT: Duration = crate::config::KUBELET_CALL_TIMEOUT;

#[derive(Debug, Error)]
pub enum TestKubeletError {
    #[error("no plugin socket appeared in {dir} within {waited:?}")]
    NoSocket { dir: PathBuf, waited: Duration },
    #[error("dial {path}: {source}")]
    Dial {
        path: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("{call}: {status}")]
    Rpc {
        call: &'static str,
        #[source]
        status: tonic::Status,
    },
    #[error("{call}: no answer within {timeout:?}")]
    Timeout {
        call: &'static str,
        timeout: Duration,
    },
    /// The kubelet refused the plugin (and told it so with `NotifyRegistrationStatus`).
    #[error("registration refused: {0}")]
    Refused(String),
    #[error("the plugin chose service {0:?}, which this test kubelet cannot call")]
    Unsupported(String),
    #[error("{call}: no answer for claim {uid}")]
    MissingClaim { call: &'static str, uid: String },
    #[error("reading {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The kubelet side of registration.
#[derive(Debug, Clone)]
pub struct TestKubelet {
    /// The services this kubelet knows, newest first.
    pub services: Vec<String>,
}

impl Default for TestKubelet {
    fn default() -> Self {
        TestKubelet::new(&KUBELET_SERVICES)
    }
}

/// A plugin the test kubelet registered.
#[derive(Debug, Clone)]
pub struct RegisteredPlugin {
    /// The registration socket it was found at.
    pub registration_socket: PathBuf,
    /// What `GetInfo` said.
    pub info: PluginInfo,
    /// The DRA socket dialled (the endpoint, or the registration socket when empty).
    pub endpoint: PathBuf,
    /// The service chosen.
    pub version: Version,
    channel: Channel,
}

/// The answer for one claim.
pub type ClaimResult<T> = Result<T, ClaimError>;

impl TestKubelet {
    /// A kubelet knowing `services` (e.g. `["v1beta1.DRAPlugin"]` for a 1.32 kubelet).
    pub fn new(services: &[&str]) -> TestKubelet {
        TestKubelet {
            services: services.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Waits up to `wait` for a socket in `registry_dir`, then registers it (see the module).
    pub async fn register(
        &self,
        registry_dir: &Path,
        wait: Duration,
    ) -> Result<RegisteredPlugin, TestKubeletError> {
        let socket = wait_for_socket(registry_dir, wait).await?;
        self.register_socket(&socket).await
    }

    /// Registers the plugin at the registration socket `socket`.
    pub async fn register_socket(
        &self,
        socket: &Path,
    ) -> Result<RegisteredPlugin, TestKubeletError> {
        let channel = dial(socket, Duration::from_secs(10)).await?;
        let mut client = RegistrationClient::new(channel);
        let info = within(
            "GetInfo",
            Duration::from_secs(1),
            client.get_info(InfoRequest {}),
        )
        .await?
        .into_inner();
        if info.r#type != PLUGIN_TYPE {
            let msg = format!(
                "RegisterPlugin error -- no handler registered for plugin type: {} at socket {}",
                info.r#type,
                socket.display()
            );
            return Err(refuse(&mut client, msg).await);
        }
        let endpoint = if info.endpoint.is_empty() {
            socket.to_path_buf()
        } else {
            PathBuf::from(&info.endpoint)
        };
        let chosen = match self.choose(&info.supported_versions) {
            Ok(c) => c,
            Err(why) => {
                let msg = format!(
                    "RegisterPlugin error -- plugin validation failed with err: invalid supported gRPC versions of DRA driver plugin {} at endpoint {}: {why}",
                    info.name,
                    endpoint.display()
                );
                return Err(refuse(&mut client, msg).await);
            }
        };
        let version = Version::from_service_name(&chosen)
            .ok_or_else(|| TestKubeletError::Unsupported(chosen.clone()))?;
        let dra = dial(&endpoint, Duration::from_secs(10)).await?;
        notify(&mut client, true, String::new()).await?;
        Ok(RegisteredPlugin {
            registration_socket: socket.to_path_buf(),
            info,
            endpoint,
            version,
            channel: dra,
        })
    }

    /// The kubelet's choice: the first of the plugin's services that it knows.
    fn choose(&self, plugin_services: &[String]) -> Result<String, String> {
        if plugin_services.is_empty() {
            return Err("empty list of supported gRPC services (aka supported versions)".into());
        }
        plugin_services
            .iter()
            .find(|s| self.services.contains(s))
            .cloned()
            .ok_or_else(|| {
                format!(
                    "none of services supported by the plugin ({plugin_services:?}) are supported by the kubelet ({:?})",
                    self.services
                )
            })
    }
}

impl RegisteredPlugin {
    /// The same plugin called through another version of the service (to test both).
    pub fn with_version(&self, version: Version) -> RegisteredPlugin {
        RegisteredPlugin {
            version,
            ..self.clone()
        }
    }

    /// `NodePrepareResources` with `timeout` as the call's deadline: each claim's devices or
    /// error, by claim uid.
    pub async fn prepare(
        &self,
        claims: &[ClaimRef],
        timeout: Duration,
    ) -> Result<BTreeMap<String, ClaimResult<Vec<PreparedDevice>>>, TestKubeletError> {
        const CALL: &str = "NodePrepareResources";
        let answers: BTreeMap<String, ClaimResult<Vec<PreparedDevice>>> = match self.version {
            Version::V1 => {
                let mut c = dra_v1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = dra_v1::NodePrepareResourcesRequest {
                    claims: claims.iter().map(v1_claim).collect(),
                };
                let resp = within(
                    CALL,
                    timeout,
                    c.node_prepare_resources(deadline(req, timeout)),
                )
                .await?;
                resp.into_inner()
                    .claims
                    .into_iter()
                    .map(|(uid, r)| {
                        let devices = r.devices.into_iter().map(|d| PreparedDevice {
                            requests: d.request_names,
                            pool: d.pool_name,
                            device: d.device_name,
                            cdi_device_ids: d.cdi_device_ids,
                        });
                        (uid, result(&r.error, devices.collect()))
                    })
                    .collect()
            }
            Version::V1beta1 => {
                let mut c =
                    dra_v1beta1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = dra_v1beta1::NodePrepareResourcesRequest {
                    claims: claims.iter().map(v1beta1_claim).collect(),
                };
                let resp = within(
                    CALL,
                    timeout,
                    c.node_prepare_resources(deadline(req, timeout)),
                )
                .await?;
                resp.into_inner()
                    .claims
                    .into_iter()
                    .map(|(uid, r)| {
                        let devices = r.devices.into_iter().map(|d| PreparedDevice {
                            requests: d.request_names,
                            pool: d.pool_name,
                            device: d.device_name,
                            cdi_device_ids: d.cdi_device_ids,
                        });
                        (uid, result(&r.error, devices.collect()))
                    })
                    .collect()
            }
        };
        every_claim_answered(CALL, claims, answers)
    }

    /// `NodeUnprepareResources` with `timeout` as the call's deadline: each claim's success or
    /// error, by claim uid.
    pub async fn unprepare(
        &self,
        claims: &[ClaimRef],
        timeout: Duration,
    ) -> Result<BTreeMap<String, ClaimResult<()>>, TestKubeletError> {
        const CALL: &str = "NodeUnprepareResources";
        let answers: BTreeMap<String, ClaimResult<()>> = match self.version {
            Version::V1 => {
                let mut c = dra_v1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = dra_v1::NodeUnprepareResourcesRequest {
                    claims: claims.iter().map(v1_claim).collect(),
                };
                let resp = within(
                    CALL,
                    timeout,
                    c.node_unprepare_resources(deadline(req, timeout)),
                )
                .await?;
                resp.into_inner()
                    .claims
                    .into_iter()
                    .map(|(uid, r)| (uid, result(&r.error, ())))
                    .collect()
            }
            Version::V1beta1 => {
                let mut c =
                    dra_v1beta1::dra_plugin_client::DraPluginClient::new(self.channel.clone());
                let req = dra_v1beta1::NodeUnprepareResourcesRequest {
                    claims: claims.iter().map(v1beta1_claim).collect(),
                };
                let resp = within(
                    CALL,
                    timeout,
                    c.node_unprepare_resources(deadline(req, timeout)),
                )
                .await?;
                resp.into_inner()
                    .claims
                    .into_iter()
                    .map(|(uid, r)| (uid, result(&r.error, ())))
                    .collect()
            }
        };
        every_claim_answered(CALL, claims, answers)
    }
}

fn v1_claim(c: &ClaimRef) -> dra_v1::Claim {
    dra_v1::Claim {
        namespace: c.namespace.clone(),
        uid: c.uid.clone(),
        name: c.name.clone(),
    }
}

fn v1beta1_claim(c: &ClaimRef) -> dra_v1beta1::Claim {
    dra_v1beta1::Claim {
        namespace: c.namespace.clone(),
        uid: c.uid.clone(),
        name: c.name.clone(),
    }
}

fn result<T>(error: &str, ok: T) -> ClaimResult<T> {
    if error.is_empty() {
        Ok(ok)
    } else {
        Err(parse_claim_error(error))
    }
}

fn every_claim_answered<T>(
    call: &'static str,
    claims: &[ClaimRef],
    answers: BTreeMap<String, T>,
) -> Result<BTreeMap<String, T>, TestKubeletError> {
    match claims.iter().find(|c| !answers.contains_key(&c.uid)) {
        Some(c) => Err(TestKubeletError::MissingClaim {
            call,
            uid: c.uid.clone(),
        }),
        None => Ok(answers),
    }
}

/// A request carrying `timeout` as its `grpc-timeout`, as the kubelet's context deadline does.
fn deadline<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut req = tonic::Request::new(message);
    req.set_timeout(timeout);
    req
}

/// Awaits a call, giving up at `timeout` even if the server never answers.
async fn within<T>(
    call: &'static str,
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, TestKubeletError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(status)) => Err(TestKubeletError::Rpc { call, status }),
        Err(_) => Err(TestKubeletError::Timeout { call, timeout }),
    }
}

async fn notify(
    client: &mut RegistrationClient<Channel>,
    registered: bool,
    error: String,
) -> Result<(), TestKubeletError> {
    within(
        "NotifyRegistrationStatus",
        Duration::from_secs(5),
        client.notify_registration_status(RegistrationStatus {
            plugin_registered: registered,
            error,
        }),
    )
    .await
    .map(|_| ())
}

/// Tells the plugin it is refused; the error to return.
async fn refuse(client: &mut RegistrationClient<Channel>, msg: String) -> TestKubeletError {
    match notify(client, false, msg.clone()).await {
        Ok(()) => TestKubeletError::Refused(msg),
        Err(e) => e,
    }
}

/// A channel over the unix socket at `path`, connected now (within `timeout`).
pub async fn dial(path: &Path, timeout: Duration) -> Result<Channel, TestKubeletError> {
    let p = path.to_path_buf();
    // The URI is required by the API and never used: the connector dials the socket.
    Endpoint::from_static("http://[::1]:0")
        .connect_timeout(timeout)
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let p = p.clone();
            async move { UnixStream::connect(p).await.map(TokioIo::new) }
        }))
        .await
        .map_err(|source| TestKubeletError::Dial {
            path: path.to_path_buf(),
            source,
        })
}

/// The first socket (by name; hidden files skipped, as the kubelet's plugin watcher skips them)
/// in `dir`, waiting up to `wait` for one.
async fn wait_for_socket(dir: &Path, wait: Duration) -> Result<PathBuf, TestKubeletError> {
    let until = tokio::time::Instant::now() + wait;
    loop {
        let mut sockets = Vec::new();
        match std::fs::read_dir(dir) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let hidden = e.file_name().to_string_lossy().starts_with('.');
                    if !hidden && e.file_type().is_ok_and(|t| t.is_socket()) {
                        sockets.push(e.path());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TestKubeletError::Io {
                    dir: dir.to_path_buf(),
                    source,
                })
            }
        }
        sockets.sort();
        if let Some(s) = sockets.into_iter().next() {
            return Ok(s);
        }
        if tokio::time::Instant::now() >= until {
            return Err(TestKubeletError::NoSocket {
                dir: dir.to_path_buf(),
                waited: wait,
            });
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
