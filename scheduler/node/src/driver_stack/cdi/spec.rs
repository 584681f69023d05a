//! The CDI spec file format (the CDI project's `specs-go`, `SPEC.md`), as `nvidia-ctk cdi
//! generate` writes it. Unknown fields are an error, as they are for the CDI project's own
//! loader: an edit dynamig did not understand must not be dropped silently.

use serde::Deserialize;
use std::collections::BTreeMap;

/// One CDI spec file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecFile {
    #[serde(rename = "cdiVersion")]
    pub cdi_version: String,
    pub kind: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub devices: Vec<Device>,
    /// The edits every container that gets any device of this kind gets.
    #[serde(rename = "containerEdits", default)]
    pub container_edits: ContainerEdits,
}

/// A device of the spec. dynamig applies none of its edits (it makes its own MIG device's); it
/// reads devices only to check the spec's version.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub name: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(rename = "containerEdits", default)]
    pub container_edits: ContainerEdits,
}

/// Edits to a container's OCI spec.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerEdits {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(rename = "deviceNodes", default)]
    pub device_nodes: Vec<DeviceNode>,
    #[serde(default)]
    pub hooks: Vec<Hook>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(rename = "intelRdt", default)]
    pub intel_rdt: Option<IntelRdt>,
    #[serde(rename = "additionalGids", default)]
    pub additional_gids: Vec<u32>,
    #[serde(rename = "netDevices", default)]
    pub net_devices: Vec<NetDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceNode {
    /// Path in the container.
    pub path: String,
    /// Path on the host; `path` when absent (v0.5.0).
    #[serde(rename = "hostPath", default)]
    pub host_path: Option<String>,
    /// `c`, `b`, `u`, `p`; read from the host node when absent.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub major: Option<i64>,
    #[serde(default)]
    pub minor: Option<i64>,
    #[serde(rename = "fileMode", default)]
    pub file_mode: Option<u32>,
    /// Cgroup access: letters of `rwm`; empty or absent is `rwm`, `none` is no access.
    #[serde(default)]
    pub permissions: Option<String>,
    #[serde(default)]
    pub uid: Option<u32>,
    #[serde(default)]
    pub gid: Option<u32>,
}

impl DeviceNode {
    pub fn host_path(&self) -> &str {
        self.host_path
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(&self.path)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "hostPath")]
    pub host_path: String,
    #[serde(rename = "containerPath")]
    pub container_path: String,
    #[serde(default)]
    pub options: Vec<String>,
    /// v0.4.0.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// The OCI stage: `prestart`, `createRuntime`, `createContainer`, `startContainer`,
    /// `poststart`, `poststop`.
    #[serde(rename = "hookName")]
    pub hook_name: String,
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub timeout: Option<i64>,
}

/// The OCI hook stages a CDI hook may name.
pub const HOOK_STAGES: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// v0.7.0 (`schemata`, `enableMonitoring`: v1.1.0).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntelRdt {
    #[serde(rename = "closID", default)]
    pub clos_id: Option<String>,
    #[serde(rename = "l3CacheSchema", default)]
    pub l3_cache_schema: Option<String>,
    #[serde(rename = "memBwSchema", default)]
    pub mem_bw_schema: Option<String>,
    #[serde(default)]
    pub schemata: Option<Vec<String>>,
    #[serde(rename = "enableMonitoring", default)]
    pub enable_monitoring: bool,
}

/// v1.1.0.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetDevice {
    #[serde(rename = "hostInterfaceName")]
    pub host_interface_name: String,
    pub name: String,
}
