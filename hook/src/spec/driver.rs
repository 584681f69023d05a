//! Applying the driver stack ([`dynamig_node::driver_stack`]) to a runtime spec: the spec-level
//! `containerEdits` of the host's NVIDIA CDI spec, merged as the CDI project merges edits, or
//! NVIDIA's legacy `prestart` hook.
//!
//! The merge (CDI `ContainerEdits.Apply`): an env entry replaces the entry of the same name or
//! is appended; a device node replaces the node of the same container path, with its cgroup
//! rule (`b`/`c` only; never a rule twice); a mount replaces the mount at the same destination,
//! then all mounts are ordered parents first (stable, by depth, as CDI and Docker do); hooks are
//! appended to their stage in the spec's order, except one the stage already has (an engine
//! that applied the same spec itself: the hook must not run twice); additional GIDs are added
//! once. Applied before
//! dynamig's own edits ([`super::inject`]), so dynamig's `NVIDIA_VISIBLE_DEVICES` /
//! `CUDA_VISIBLE_DEVICES` and device nodes win over the spec's (the toolkit's spec sets
//! `NVIDIA_VISIBLE_DEVICES=void`). Everything the spec editor does not touch survives as it was.

use super::{array, object, SpecError};
use dynamig_node::driver_stack::cdi::{ContainerEdits, DeviceNode, Hook, Mount};
use dynamig_node::driver_stack::{Stack, LEGACY_HOOK};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The annotation naming the driver stack a container got: `cdi <spec path>` or
/// `legacy-hook <hook path>` (absent when it got none).
pub const ANNOTATION: &str = "dynamig.io/driver-stack";

/// Applies `stack` to `spec`.
pub fn apply(spec: &mut Value, stack: &Stack) -> Result<(), SpecError> {
    if !spec.is_object() {
        return Err(SpecError::Shape("the spec is not a JSON object".into()));
    }
    let note = match stack {
        Stack::Cdi(s) => {
            apply_edits(spec, &s.edits)?;
            format!("cdi {}", s.path.display())
        }
        Stack::LegacyHook(path) => {
            add_legacy_hook(spec, path)?;
            format!("legacy-hook {}", path.display())
        }
        Stack::Nothing { .. } => return Ok(()),
    };
    object(spec, "annotations", "spec")?.insert(ANNOTATION.to_string(), Value::String(note));
    Ok(())
}

/// Applies CDI container edits.
pub fn apply_edits(spec: &mut Value, edits: &ContainerEdits) -> Result<(), SpecError> {
    if !edits.env.is_empty() {
        let env = array(object(spec, "process", "spec")?, "env", "process")?;
        for e in &edits.env {
            merge_env(env, e);
        }
    }
    let (uid, gid) = process_ids(spec);
    for d in &edits.device_nodes {
        add_device(spec, d, uid, gid)?;
    }
    if !edits.net_devices.is_empty() {
        let net = child(object(spec, "linux", "spec")?, "netDevices", "linux")?;
        for n in &edits.net_devices {
            net.insert(n.host_interface_name.clone(), json!({ "name": n.name }));
        }
    }
    if !edits.mounts.is_empty() {
        let userns = has_user_namespace(spec);
        let obj = spec
            .as_object_mut()
            .ok_or_else(|| SpecError::Shape("the spec is not a JSON object".into()))?;
        let mounts = array(obj, "mounts", "spec")?;
        for m in &edits.mounts {
            mounts.retain(|v| {
                v.get("destination").and_then(Value::as_str) != Some(m.container_path.as_str())
            });
            mounts.push(oci_mount(m, userns));
        }
        // Stable: mounts of equal depth keep their order.
        mounts.sort_by_key(|v| depth(v.get("destination").and_then(Value::as_str).unwrap_or("")));
    }
    for h in &edits.hooks {
        let hooks = object(spec, "hooks", "spec")?;
        let stage = array(hooks, &h.hook_name, "hooks")?;
        let hook = oci_hook(h);
        if !stage.contains(&hook) {
            stage.push(hook);
        }
    }
    if let Some(rdt) = &edits.intel_rdt {
        let mut o = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                o.insert(k.to_string(), v);
            }
        };
        put("closID", rdt.clos_id.clone().map(Value::String));
        put(
            "l3CacheSchema",
            rdt.l3_cache_schema.clone().map(Value::String),
        );
        put("memBwSchema", rdt.mem_bw_schema.clone().map(Value::String));
        put("schemata", rdt.schemata.clone().map(|s| json!(s)));
        put(
            "enableMonitoring",
            rdt.enable_monitoring.then_some(Value::Bool(true)),
        );
        object(spec, "linux", "spec")?.insert("intelRdt".into(), Value::Object(o));
    }
    let gids: Vec<u32> = edits
        .additional_gids
        .iter()
        .copied()
        .filter(|g| *g != 0)
        .collect();
    if !gids.is_empty() {
        let user = child(object(spec, "process", "spec")?, "user", "process")?;
        let list = array(user, "additionalGids", "process.user")?;
        for g in gids {
            if !list.iter().any(|v| v.as_u64() == Some(u64::from(g))) {
                list.push(json!(g));
            }
        }
    }
    Ok(())
}

/// The object at `key` in `obj`, created if missing (or null).
fn child<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<&'a mut Map<String, Value>, SpecError> {
    let v = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    v.as_object_mut()
        .ok_or_else(|| SpecError::Shape(format!("{at}.{key} is not an object")))
}

/// Sets `KEY=VALUE` where `KEY=` was, or appends it.
fn merge_env(list: &mut Vec<Value>, entry: &str) {
    let key = entry.split_once('=').map_or(entry, |(k, _)| k);
    let prefix = format!("{key}=");
    match list
        .iter_mut()
        .find(|v| v.as_str().is_some_and(|s| s.starts_with(&prefix)))
    {
        Some(v) => *v = Value::String(entry.to_string()),
        None => list.push(Value::String(entry.to_string())),
    }
}

fn process_ids(spec: &Value) -> (u64, u64) {
    let id = |k: &str| {
        spec.pointer(&format!("/process/user/{k}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    (id("uid"), id("gid"))
}

fn add_device(spec: &mut Value, d: &DeviceNode, uid: u64, gid: u64) -> Result<(), SpecError> {
    let kind = d.kind.clone().unwrap_or_default();
    let mut dev = Map::new();
    dev.insert("path".into(), json!(d.path));
    dev.insert("type".into(), json!(kind));
    if kind != "p" {
        dev.insert("major".into(), json!(d.major.unwrap_or(0)));
        dev.insert("minor".into(), json!(d.minor.unwrap_or(0)));
    }
    if let Some(m) = d.file_mode {
        dev.insert("fileMode".into(), json!(m));
    }
    // As CDI: a node without an owner belongs to the container's (non-root) user.
    match d.uid {
        Some(u) => dev.insert("uid".into(), json!(u)),
        None if uid > 0 => dev.insert("uid".into(), json!(uid)),
        None => None,
    };
    match d.gid {
        Some(g) => dev.insert("gid".into(), json!(g)),
        None if gid > 0 => dev.insert("gid".into(), json!(gid)),
        None => None,
    };
    let linux = object(spec, "linux", "spec")?;
    let devices = array(linux, "devices", "linux")?;
    devices.retain(|v| v.get("path").and_then(Value::as_str) != Some(d.path.as_str()));
    devices.push(Value::Object(dev));
    if kind == "b" || kind == "c" {
        let access = match d.permissions.as_deref() {
            None | Some("") => "rwm",
            Some("none") => "",
            Some(p) => p,
        };
        let rule = json!({
            "allow": true,
            "type": kind,
            "major": d.major.unwrap_or(0),
            "minor": d.minor.unwrap_or(0),
            "access": access,
        });
        super::push_device_rule(linux, rule)?;
    }
    Ok(())
}

fn has_user_namespace(spec: &Value) -> bool {
    spec.pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.get("type").and_then(Value::as_str) == Some("user"))
        })
}

fn oci_mount(m: &Mount, userns: bool) -> Value {
    let mut options = m.options.clone();
    if userns {
        // As CDI: bind mounts into a user namespace are id-mapped.
        let mut add = if m.kind.as_deref() == Some("bind") {
            Some("idmap")
        } else {
            None
        };
        for o in &m.options {
            match o.as_str() {
                "idmap" | "ridmap" => {
                    add = None;
                    break;
                }
                "bind" => add = Some("idmap"),
                "rbind" => add = Some("ridmap"),
                _ => {}
            }
        }
        if let Some(a) = add {
            options.push(a.to_string());
        }
    }
    let mut o = Map::new();
    o.insert("destination".into(), json!(m.container_path));
    if let Some(t) = m.kind.as_deref().filter(|t| !t.is_empty()) {
        o.insert("type".into(), json!(t));
    }
    o.insert("source".into(), json!(m.host_path));
    if !options.is_empty() {
        o.insert("options".into(), json!(options));
    }
    Value::Object(o)
}

/// Path separators of a cleaned path (Go's `filepath.Clean`, then counting `/`): the depth CDI
/// orders mounts by.
fn depth(path: &str) -> usize {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !path.starts_with('/') {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    if path.starts_with('/') {
        parts.len().max(1)
    } else {
        parts.len().saturating_sub(1)
    }
}

fn oci_hook(h: &Hook) -> Value {
    let mut o = Map::new();
    o.insert("path".into(), json!(h.path));
    if !h.args.is_empty() {
        o.insert("args".into(), json!(h.args));
    }
    if !h.env.is_empty() {
        o.insert("env".into(), json!(h.env));
    }
    if let Some(t) = h.timeout {
        o.insert("timeout".into(), json!(t));
    }
    Value::Object(o)
}

/// Adds NVIDIA's legacy hook as NVIDIA's runtime does (`prestart`, args `[name, "prestart"]`),
/// unless the spec already has it.
pub fn add_legacy_hook(spec: &mut Value, path: &Path) -> Result<(), SpecError> {
    let hooks = object(spec, "hooks", "spec")?;
    let prestart = array(hooks, "prestart", "hooks")?;
    let is_nvidia = |v: &Value| {
        v.get("path")
            .and_then(Value::as_str)
            .and_then(|p| Path::new(p).file_name())
            .is_some_and(|n| n == LEGACY_HOOK || n == "nvidia-container-toolkit")
    };
    if prestart.iter().any(is_nvidia) {
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| LEGACY_HOOK.to_string());
    prestart.push(json!({
        "path": path.display().to_string(),
        "args": [name, "prestart"],
    }));
    Ok(())
}

#[cfg(test)]
mod tests;
