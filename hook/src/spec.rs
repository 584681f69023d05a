//! Editing an OCI runtime spec (a bundle's `config.json`): the one place that reads a
//! container's request and injects its MIG device.
//!
//! The spec is handled as `serde_json::Value`, so fields this module does not know (newer OCI
//! fields, runtime extensions) survive an edit. A container without a dynamig request is never
//! rewritten: its `config.json` stays byte for byte what the engine wrote.

use dynamig_core::request::{self, Request, RequestError};
use dynamig_node::node::Allocation;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The annotation dynamig writes into an edited spec.
pub const INJECTED: &str = "dynamig.io/injected";
/// The env entry naming the holder inside the container.
pub const HOLDER_ENV: &str = "DYNAMIG_HOLDER";
/// Seconds an OCI hook may run before runc kills it.
pub const HOOK_TIMEOUT_S: u64 = 60;

#[derive(Debug, Error)]
pub enum SpecError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("runtime spec: {0}")]
    Shape(String),
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// The OCI hooks dynamig adds to an edited spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookConfig {
    /// Absolute path of the `dynamig-hook` binary.
    pub hook_bin: PathBuf,
    /// `KEY=VALUE` entries the hook runs with (runc gives hooks exactly this env, nothing else):
    /// at least `DYNAMIG_STATE_DIR`.
    pub env: Vec<String>,
    /// Add the `poststop` hook that releases the holder. Only for `runc run`: after `runc
    /// create`, the container is released by `dynamig-runc delete` (runc runs `poststop` hooks
    /// inside `runc delete`, so a hook would only release the same holder a moment earlier, at
    /// the cost of one more process and one more locked pass).
    pub poststop: bool,
}

/// A bundle's `config.json`: the bytes as read and the parsed spec.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub spec: Value,
}

/// Whether the bytes of a `config.json` can hold a request at all: `false` only when they
/// contain neither `dynamig.io/` nor `DYNAMIG_` nor a JSON `\u` escape (which could spell
/// either). A spec that cannot is left alone without being parsed.
pub fn may_request(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    has(request::PREFIX.as_bytes()) || has(b"DYNAMIG_") || has(b"\\u")
}

impl Config {
    /// Reads a bundle's `config.json`; `Ok(None)` when its bytes cannot hold a request
    /// ([`may_request`]), without parsing them.
    pub fn load_if_request(bundle: &Path) -> Result<Option<Config>, SpecError> {
        let path = bundle.join("config.json");
        let bytes = std::fs::read(&path).map_err(|source| SpecError::Read {
            path: path.clone(),
            source,
        })?;
        if !may_request(&bytes) {
            return Ok(None);
        }
        let spec = serde_json::from_slice(&bytes).map_err(|source| SpecError::Json {
            path: path.clone(),
            source,
        })?;
        Ok(Some(Config { path, bytes, spec }))
    }

    pub fn load(bundle: &Path) -> Result<Config, SpecError> {
        let path = bundle.join("config.json");
        let bytes = std::fs::read(&path).map_err(|source| SpecError::Read {
            path: path.clone(),
            source,
        })?;
        let spec = serde_json::from_slice(&bytes).map_err(|source| SpecError::Json {
            path: path.clone(),
            source,
        })?;
        Ok(Config { path, bytes, spec })
    }

    /// The container's request; `Ok(None)` when it makes none.
    pub fn request(&self) -> Result<Option<Request>, SpecError> {
        read_request(&self.spec)
    }

    /// Writes the (edited) spec back atomically: temp file in the bundle, rename.
    pub fn save(&self) -> Result<(), SpecError> {
        write_atomic(&self.path, &self.spec)
    }
}

/// `annotations` as strings (non-string values are ignored, as runc would reject them anyway).
pub fn annotations(spec: &Value) -> BTreeMap<String, String> {
    spec.get("annotations")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `process.env`.
pub fn env(spec: &Value) -> Vec<String> {
    spec.pointer("/process/env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The request a spec makes through `dynamig.io/*` annotations or `DYNAMIG_*` env entries.
/// A Kubernetes pod's sandbox container makes none, whatever pod annotations it carries (see
/// [`sandbox`]): its app containers make the pod's requests.
pub fn read_request(spec: &Value) -> Result<Option<Request>, SpecError> {
    let annotations = annotations(spec);
    if sandbox::is_pod_sandbox(&annotations) {
        return Ok(None);
    }
    Ok(request::parse(&annotations, &env(spec))?)
}

/// `MIG-<uuid>` as `NVIDIA_VISIBLE_DEVICES` wants it.
pub fn mig_device_name(uuid: &str) -> String {
    if uuid.starts_with("MIG-") {
        uuid.to_string()
    } else {
        format!("MIG-{uuid}")
    }
}

/// The object at `key` in `parent`, created if missing.
fn object<'a>(
    parent: &'a mut Value,
    key: &str,
    at: &str,
) -> Result<&'a mut Map<String, Value>, SpecError> {
    let obj = parent
        .as_object_mut()
        .ok_or_else(|| SpecError::Shape(format!("{at} is not an object")))?;
    obj.entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| SpecError::Shape(format!("{at}.{key} is not an object")))
}

/// The array at `key` in `obj`, created if missing (or null).
fn array<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<&'a mut Vec<Value>, SpecError> {
    let v = obj.entry(key.to_string()).or_insert_with(|| json!([]));
    if v.is_null() {
        *v = json!([]);
    }
    v.as_array_mut()
        .ok_or_else(|| SpecError::Shape(format!("{at}.{key} is not an array")))
}

/// Appends a cgroup device rule to `linux.resources.devices`, unless an equal rule is there
/// already (the CDI spec's `nvidiactl` and dynamig's are the same rule).
fn push_device_rule(linux: &mut Map<String, Value>, rule: Value) -> Result<(), SpecError> {
    let resources = linux
        .entry("resources".to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if resources.is_null() {
        *resources = Value::Object(Map::new());
    }
    let resources = resources
        .as_object_mut()
        .ok_or_else(|| SpecError::Shape("linux.resources is not an object".into()))?;
    let rules = array(resources, "devices", "linux.resources")?;
    if !rules.contains(&rule) {
        rules.push(rule);
    }
    Ok(())
}

/// Sets `KEY=value` in an env list, replacing an existing `KEY=` entry.
fn set_env(list: &mut Vec<Value>, key: &str, value: &str) {
    let prefix = format!("{key}=");
    list.retain(|v| !v.as_str().is_some_and(|s| s.starts_with(&prefix)));
    list.push(Value::String(format!("{key}={value}")));
}

/// Injects an allocation into a spec: device nodes, cgroup device rules, env, lifecycle hooks
/// (none when `hooks` is `None`: the caller records the container's process itself, as
/// `containerd-shim-dynamig-v2` does) and the `dynamig.io/injected` annotation.
pub fn inject(
    spec: &mut Value,
    alloc: &Allocation,
    hooks: Option<&HookConfig>,
) -> Result<(), SpecError> {
    if !spec.is_object() {
        return Err(SpecError::Shape("the spec is not a JSON object".into()));
    }
    // process.env
    let mig = mig_device_name(&alloc.uuid);
    {
        let process = object(spec, "process", "spec")?;
        let env = array(process, "env", "process")?;
        set_env(env, "NVIDIA_VISIBLE_DEVICES", &mig);
        set_env(env, "CUDA_VISIBLE_DEVICES", &mig);
        set_env(env, HOLDER_ENV, &alloc.id);
    }
    // linux.devices and linux.resources.devices
    {
        let linux = object(spec, "linux", "spec")?;
        let devices = array(linux, "devices", "linux")?;
        for d in &alloc.device_nodes {
            devices.retain(|v| v.get("path").and_then(Value::as_str) != Some(d.path.as_str()));
            devices.push(json!({
                "path": d.path,
                "type": "c",
                "major": d.major,
                "minor": d.minor,
                "fileMode": 0o666,
                "uid": 0,
                "gid": 0,
            }));
        }
        let linux = object(spec, "linux", "spec")?;
        for d in &alloc.device_nodes {
            let rule = json!({
                "allow": true,
                "type": "c",
                "major": d.major,
                "minor": d.minor,
                "access": "rwm",
            });
            push_device_rule(linux, rule)?;
        }
    }
    // hooks
    if let Some(hooks) = hooks {
        let hook = |stage: &str| {
            json!({
                "path": hooks.hook_bin.display().to_string(),
                "args": ["dynamig-hook", stage, "--namespace", alloc.namespace, "--id", alloc.id],
                "env": hooks.env,
                "timeout": HOOK_TIMEOUT_S,
            })
        };
        let h = object(spec, "hooks", "spec")?;
        array(h, "createRuntime", "hooks")?.push(hook("create-runtime"));
        if hooks.poststop {
            array(h, "poststop", "hooks")?.push(hook("poststop"));
        }
    }
    // annotation
    {
        let injected = json!({
            "holder": alloc.id,
            "namespace": alloc.namespace,
            "gpu": alloc.gpu,
            "gpu_uuid": alloc.gpu_uuid,
            "profile": alloc.profile,
            "placement": {"start": alloc.placement.start, "size": alloc.placement.size},
            "uuid": alloc.uuid,
            "devices": alloc.device_nodes.iter().map(|d| d.path.clone()).collect::<Vec<_>>(),
        });
        let ann = object(spec, "annotations", "spec")?;
        ann.insert(INJECTED.to_string(), Value::String(injected.to_string()));
    }
    Ok(())
}

/// Writes `spec` to `path` atomically, keeping the file's mode. Not forced to disk: the bundle
/// lives only as long as its container, which a crash of the machine ends anyway; the rename
/// keeps it whole for runc and for a crash of this process.
pub fn write_atomic(path: &Path, spec: &Value) -> Result<(), SpecError> {
    let err = |source| SpecError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config.json".into());
    let tmp = dir.join(format!(".{name}.dynamig.{}", std::process::id()));
    let bytes = serde_json::to_vec(spec).map_err(|e| err(std::io::Error::other(e)))?;
    let perms = std::fs::metadata(path).ok().map(|m| m.permissions());
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        if let Some(p) = perms {
            f.set_permissions(p)?;
        }
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r.map_err(err)
}

pub mod driver;
pub mod sandbox;

#[cfg(test)]
mod tests;
