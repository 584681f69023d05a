//! Docker's `daemon.json`: `"runtimes": {"dynamig": {"path": "/usr/bin/dynamig-runc"}}`, every
//! other key kept in its place (serde_json with `preserve_order`).

use super::{Edit, RUNTIME_NAME};
use serde_json::{Map, Value};
use std::path::Path;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DockerError {
    #[error("daemon.json is not valid JSON: {0}")]
    Parse(String),
    #[error("daemon.json must hold a JSON object, found {0}")]
    NotAnObject(&'static str),
    #[error("daemon.json key {0:?} must be a JSON object")]
    KeyNotAnObject(String),
    #[error("the runc wrapper path {0:?} must be absolute (dockerd looks it up as given)")]
    RelativePath(String),
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `obj[key]` as an object, created when missing.
fn object<'a>(
    obj: &'a mut Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a mut Map<String, Value>, DockerError> {
    obj.entry(key.to_string())
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| DockerError::KeyNotAnObject(path.to_string()))
}

/// The indentation the file uses (that of its first indented line), else two spaces.
fn indent_of(text: &str) -> String {
    text.lines()
        .find_map(|l| {
            let rest = l.trim_start_matches([' ', '\t']);
            let ind = &l[..l.len() - rest.len()];
            (!ind.is_empty() && rest.starts_with('"')).then(|| ind.to_string())
        })
        .unwrap_or_else(|| "  ".to_string())
}

/// `v` pretty-printed with `indent`.
fn pretty(v: &Value, indent: &str) -> String {
    use serde::Serialize;
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // Serializing a Value into memory cannot fail, and the bytes are UTF-8.
    match v.serialize(&mut ser) {
        Ok(()) => String::from_utf8_lossy(&buf).into_owned(),
        Err(_) => v.to_string(),
    }
}

/// Adds (or corrects) the `dynamig` runtime in `daemon.json` text (empty text: a new file).
/// With `set_as_default`, also sets `"default-runtime": "dynamig"`.
pub fn edit(text: &str, wrapper: &Path, set_as_default: bool) -> Result<Edit, DockerError> {
    let wrapper_s = wrapper.to_string_lossy().into_owned();
    if !wrapper.is_absolute() {
        return Err(DockerError::RelativePath(wrapper_s));
    }
    let mut root: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(text).map_err(|e| DockerError::Parse(e.to_string()))?
    };
    let kind_of_root = kind(&root);
    let obj = root
        .as_object_mut()
        .ok_or(DockerError::NotAnObject(kind_of_root))?;
    let mut changes = Vec::new();
    let runtimes = object(obj, "runtimes", "runtimes")?;
    if !runtimes.contains_key(RUNTIME_NAME) {
        changes.push(format!("added runtimes.{RUNTIME_NAME}"));
    }
    let rt = object(runtimes, RUNTIME_NAME, &format!("runtimes.{RUNTIME_NAME}"))?;
    if rt.get("path").and_then(Value::as_str) != Some(wrapper_s.as_str()) {
        rt.insert("path".into(), Value::String(wrapper_s.clone()));
        changes.push(format!(
            "set runtimes.{RUNTIME_NAME}.path = \"{wrapper_s}\""
        ));
    }
    if set_as_default && obj.get("default-runtime").and_then(Value::as_str) != Some(RUNTIME_NAME) {
        obj.insert(
            "default-runtime".into(),
            Value::String(RUNTIME_NAME.to_string()),
        );
        changes.push(format!("set default-runtime = \"{RUNTIME_NAME}\""));
    }
    let text = if changes.is_empty() {
        text.to_string()
    } else {
        let mut s = pretty(&root, &indent_of(text));
        s.push('\n');
        s
    };
    Ok(Edit {
        text,
        changes,
        warnings: Vec::new(),
    })
}
