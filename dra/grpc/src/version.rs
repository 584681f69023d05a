//! The DRA service versions: the names a plugin lists in its registration's
//! `supported_versions` and the kubelet chooses from (`<gRPC package's last part>.<service>`,
//! the `DRAPluginService` constants of k8s.io/kubelet/pkg/apis/dra/{v1,v1beta1}).

use std::fmt;

/// `PluginInfo.type` of a DRA plugin (pluginregistration/v1's `DRAPlugin` constant).
pub const PLUGIN_TYPE: &str = "DRAPlugin";

/// A version of the DRA gRPC service this crate serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// `v1.DRAPlugin`: kubelet 1.34 and later.
    V1,
    /// `v1beta1.DRAPlugin`: kubelet 1.32 and later.
    V1beta1,
}

impl Version {
    /// Every version served, newest first: the order of `supported_versions` (the kubelet
    /// takes the first one of the plugin's list that it knows).
    pub const ALL: [Version; 2] = [Version::V1, Version::V1beta1];

    /// The name in `supported_versions`.
    pub fn service_name(self) -> &'static str {
        match self {
            Version::V1 => "v1.DRAPlugin",
            Version::V1beta1 => "v1beta1.DRAPlugin",
        }
    }

    /// The version a `supported_versions` entry names, if this crate serves it.
    pub fn from_service_name(name: &str) -> Option<Version> {
        Version::ALL.into_iter().find(|v| v.service_name() == name)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.service_name())
    }
}
