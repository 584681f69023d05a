//! Where the plugin listens and how long a call may take. Built by the binary from its flags;
//! nothing here reads the environment.

use dynamig_dra_api::DRIVER_NAME;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The kubelet's plugin registry directory (`--root-dir` `/var/lib/kubelet`).
pub const DEFAULT_REGISTRY_DIR: &str = "/var/lib/kubelet/plugins_registry";
/// This driver's plugin directory, where the DRA socket is.
pub const DEFAULT_PLUGIN_DIR: &str = "/var/lib/kubelet/plugins/mig.dynamig.io";
/// The kubelet's timeout for a DRA call (`defaultClientCallTimeout` in
/// pkg/kubelet/cm/dra/plugin): used when a call carries no `grpc-timeout`.
pub const KUBELET_CALL_TIMEOUT: Duration = Duration::from_secs(45);

/// What [`crate::start`] and [`crate::serve`] need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// The kubelet's registry directory: the registration socket goes there.
    pub registry_dir: PathBuf,
    /// The plugin's own directory: the DRA socket goes there.
    pub plugin_dir: PathBuf,
    /// The deadline of a call without a `grpc-timeout`.
    pub default_timeout: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig::new(DEFAULT_REGISTRY_DIR, DEFAULT_PLUGIN_DIR)
    }
}

impl ServeConfig {
    pub fn new(registry_dir: impl Into<PathBuf>, plugin_dir: impl Into<PathBuf>) -> ServeConfig {
        ServeConfig {
            registry_dir: registry_dir.into(),
            plugin_dir: plugin_dir.into(),
            default_timeout: KUBELET_CALL_TIMEOUT,
        }
    }

    /// `<registry dir>/mig.dynamig.io-reg.sock`.
    pub fn registration_socket(&self) -> PathBuf {
        registration_socket(&self.registry_dir)
    }

    /// `<plugin dir>/dra.sock`: the endpoint the registration gives the kubelet.
    pub fn dra_socket(&self) -> PathBuf {
        self.plugin_dir.join("dra.sock")
    }
}

/// The registration socket's path in a registry directory.
pub fn registration_socket(registry_dir: &Path) -> PathBuf {
    registry_dir.join(format!("{DRIVER_NAME}-reg.sock"))
}
