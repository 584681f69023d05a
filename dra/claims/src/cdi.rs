//! The per-claim CDI spec: one file per claim, `<dir>/mig.dynamig.io-claim-<uid>.json`, of kind
//! `mig.dynamig.io/claim`, with one CDI device per prepared device, named `<uid>-<device>`
//! (the kubelet hands the runtime `mig.dynamig.io/claim=<uid>-<device>`).
//!
//! A device's own edits are what the shim's spec editing gives a container: the MIG device's
//! nodes (the GI and CI access capabilities, the parent GPU, `nvidiactl`, `nvidia-uvm`,
//! `nvidia-uvm-tools`), `NVIDIA_VISIBLE_DEVICES` and `CUDA_VISIBLE_DEVICES` = `MIG-<uuid>` (a
//! whole GPU without MIG: its nodes and `GPU-<uuid>`). The spec-level edits are NVIDIA's common
//! edits, from the node's driver stack (`dynamig_node::driver_stack`): the host's `nvidia.com/gpu`
//! spec's `containerEdits`, or NVIDIA's legacy hook as a `prestart` CDI hook, or nothing
//! (device nodes only, as on `sim` or with `DYNAMIG_DRIVER_STACK=none`).
//!
//! Written atomically: a temporary file whose name the CDI cache ignores (it reads only
//! `.json` and `.yaml`), forced to disk, then renamed over the spec.

use dynamig_dra_api::DRIVER_NAME;
use dynamig_node::backend::DeviceNode;
use dynamig_node::driver_stack::cdi::{version, ContainerEdits};
use dynamig_node::driver_stack::{Stack, LEGACY_HOOK};
use serde_json::{json, Map, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The CDI kind (vendor `mig.dynamig.io`, class `claim`).
pub const KIND: &str = "mig.dynamig.io/claim";
/// The CDI spec directory the kubelet's runtime reads by default.
pub const DEFAULT_DIR: &str = "/var/run/cdi";
/// The lowest `cdiVersion` a spec is written with.
const MIN_VERSION: &str = "0.5.0";

/// The file name prefix of a claim's spec.
fn prefix() -> String {
    format!("{DRIVER_NAME}-claim-")
}

/// `<dir>/mig.dynamig.io-claim-<uid>.json`.
pub fn spec_path(dir: &Path, uid: &str) -> PathBuf {
    dir.join(format!("{}{uid}.json", prefix()))
}

/// The CDI device name of a claim's device: `<uid>-<device>`.
pub fn device_name(uid: &str, device: &str) -> String {
    format!("{uid}-{device}")
}

/// The fully qualified CDI device id: `mig.dynamig.io/claim=<uid>-<device>`.
pub fn device_id(uid: &str, device: &str) -> String {
    format!("{KIND}={}", device_name(uid, device))
}

/// One device's own edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEdits {
    /// The CDI device name ([`device_name`]).
    pub name: String,
    /// `MIG-<uuid>` or `GPU-<uuid>`.
    pub visible: String,
    pub nodes: Vec<DeviceNode>,
}

/// The spec's JSON.
pub fn spec(devices: &[DeviceEdits], stack: &Stack) -> Value {
    let (common, version) = match stack {
        Stack::Cdi(s) => {
            let v = if version::index(&s.cdi_version) > version::index(MIN_VERSION) {
                s.cdi_version.trim_start_matches('v').to_string()
            } else {
                MIN_VERSION.to_string()
            };
            (edits_json(&s.edits), v)
        }
        Stack::LegacyHook(path) => (
            json!({"hooks": [{
                "hookName": "prestart",
                "path": path.display().to_string(),
                "args": [LEGACY_HOOK, "prestart"],
            }]}),
            MIN_VERSION.to_string(),
        ),
        Stack::Nothing { .. } => (json!({}), MIN_VERSION.to_string()),
    };
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "name": d.name,
                "containerEdits": {
                    "env": [
                        format!("NVIDIA_VISIBLE_DEVICES={}", d.visible),
                        format!("CUDA_VISIBLE_DEVICES={}", d.visible),
                    ],
                    "deviceNodes": d.nodes.iter().map(|n| json!({
                        "path": n.path,
                        "type": "c",
                        "major": n.major,
                        "minor": n.minor,
                        "fileMode": 0o666,
                        "permissions": "rwm",
                    })).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let mut out = json!({
        "cdiVersion": version,
        "kind": KIND,
        "devices": devices,
    });
    if common.as_object().is_some_and(|o| !o.is_empty()) {
        out["containerEdits"] = common;
    }
    out
}

/// CDI container edits as the spec format spells them (fields that are unset left out).
fn edits_json(e: &ContainerEdits) -> Value {
    let mut o = Map::new();
    if !e.env.is_empty() {
        o.insert("env".into(), json!(e.env));
    }
    if !e.device_nodes.is_empty() {
        let nodes: Vec<Value> = e
            .device_nodes
            .iter()
            .map(|d| {
                let mut n = Map::new();
                n.insert("path".into(), json!(d.path));
                let mut put = |k: &str, v: Option<Value>| {
                    if let Some(v) = v {
                        n.insert(k.into(), v);
                    }
                };
                put("hostPath", d.host_path.clone().map(Value::from));
                put("type", d.kind.clone().map(Value::from));
                put("major", d.major.map(Value::from));
                put("minor", d.minor.map(Value::from));
                put("fileMode", d.file_mode.map(Value::from));
                put("permissions", d.permissions.clone().map(Value::from));
                put("uid", d.uid.map(Value::from));
                put("gid", d.gid.map(Value::from));
                Value::Object(n)
            })
            .collect();
        o.insert("deviceNodes".into(), Value::Array(nodes));
    }
    if !e.hooks.is_empty() {
        let hooks: Vec<Value> = e
            .hooks
            .iter()
            .map(|h| {
                let mut v = json!({"hookName": h.hook_name, "path": h.path});
                if !h.args.is_empty() {
                    v["args"] = json!(h.args);
                }
                if !h.env.is_empty() {
                    v["env"] = json!(h.env);
                }
                if let Some(t) = h.timeout {
                    v["timeout"] = json!(t);
                }
                v
            })
            .collect();
        o.insert("hooks".into(), Value::Array(hooks));
    }
    if !e.mounts.is_empty() {
        let mounts: Vec<Value> = e
            .mounts
            .iter()
            .map(|m| {
                let mut v = json!({"hostPath": m.host_path, "containerPath": m.container_path});
                if !m.options.is_empty() {
                    v["options"] = json!(m.options);
                }
                if let Some(k) = &m.kind {
                    v["type"] = json!(k);
                }
                v
            })
            .collect();
        o.insert("mounts".into(), Value::Array(mounts));
    }
    if let Some(r) = &e.intel_rdt {
        let mut v = Map::new();
        let mut put = |k: &str, x: Option<Value>| {
            if let Some(x) = x {
                v.insert(k.into(), x);
            }
        };
        put("closID", r.clos_id.clone().map(Value::from));
        put("l3CacheSchema", r.l3_cache_schema.clone().map(Value::from));
        put("memBwSchema", r.mem_bw_schema.clone().map(Value::from));
        put("schemata", r.schemata.clone().map(|s| json!(s)));
        put(
            "enableMonitoring",
            r.enable_monitoring.then_some(Value::Bool(true)),
        );
        o.insert("intelRdt".into(), Value::Object(v));
    }
    if !e.additional_gids.is_empty() {
        o.insert("additionalGids".into(), json!(e.additional_gids));
    }
    if !e.net_devices.is_empty() {
        let n: Vec<Value> = e
            .net_devices
            .iter()
            .map(|d| json!({"hostInterfaceName": d.host_interface_name, "name": d.name}))
            .collect();
        o.insert("netDevices".into(), Value::Array(n));
    }
    Value::Object(o)
}

/// Writes claim `uid`'s spec into `dir` atomically (created if missing).
pub fn write(dir: &Path, uid: &str, spec: &Value) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = spec_path(dir, uid);
    let tmp = dir.join(format!(".{}{uid}.json.tmp", prefix()));
    let text = serde_json::to_vec_pretty(spec).map_err(std::io::Error::other)?;
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    // The rename itself, on disk.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Removes claim `uid`'s spec (and a temporary file of a write that died); absent is success.
pub fn remove(dir: &Path, uid: &str) -> std::io::Result<()> {
    for p in [
        spec_path(dir, uid),
        dir.join(format!(".{}{uid}.json.tmp", prefix())),
    ] {
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The claim uids that have a spec (or a temporary file) in `dir`.
pub fn list(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let p = prefix();
    let mut out = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let name = name.strip_prefix('.').unwrap_or(&name);
        let uid = name.strip_prefix(&p).and_then(|r| {
            r.strip_suffix(".json")
                .or_else(|| r.strip_suffix(".json.tmp"))
        });
        if let Some(uid) = uid {
            if !out.iter().any(|u| u == uid) {
                out.push(uid.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Whether a claim uid can name files: a Kubernetes UID is a UUID; anything with other than
/// letters, digits and `-` is refused before it reaches a path.
pub fn valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 128
        && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_listing() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(
            device_id("u1", "gpu-0-mig-2g10gb-4"),
            "mig.dynamig.io/claim=u1-gpu-0-mig-2g10gb-4"
        );
        let s = spec(
            &[],
            &Stack::Nothing {
                opted_out: true,
                dirs: String::new(),
            },
        );
        write(t.path(), "u1", &s).unwrap();
        std::fs::write(t.path().join(".mig.dynamig.io-claim-u2.json.tmp"), "{").unwrap();
        std::fs::write(t.path().join("nvidia.yaml"), "").unwrap();
        assert_eq!(list(t.path()).unwrap(), ["u1", "u2"]);
        remove(t.path(), "u2").unwrap();
        remove(t.path(), "u3").unwrap();
        assert_eq!(list(t.path()).unwrap(), ["u1"]);
        let back: Value =
            serde_json::from_slice(&std::fs::read(spec_path(t.path(), "u1")).unwrap()).unwrap();
        assert_eq!(back["kind"], KIND);
        assert!(!valid_uid("../x") && !valid_uid("") && valid_uid("0b7e-11aa"));
    }
}
