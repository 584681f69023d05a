//! The env an exec process of a container with a slice gets: the container's own device
//! entries. `ctr task exec`, `kubectl exec` and `docker exec` build the exec process from the
//! engine's copy of the spec, which lacks what dynamig added to the bundle's, so without this
//! an exec'd process would not see `NVIDIA_VISIBLE_DEVICES` / `CUDA_VISIBLE_DEVICES`.

use crate::injected::Injected;
use crate::spec::{mig_device_name, HOLDER_ENV};
use serde_json::Value;

/// `NAME=VALUE` pairs for a container given the MIG device `uuid` as holder `holder`.
pub fn device_env(uuid: &str, holder: &str) -> Vec<(String, String)> {
    let dev = mig_device_name(uuid);
    vec![
        ("NVIDIA_VISIBLE_DEVICES".into(), dev.clone()),
        ("CUDA_VISIBLE_DEVICES".into(), dev),
        (HOLDER_ENV.into(), holder.to_string()),
    ]
}

/// The env of a container whose spec carries `record`; `None` when the record names no device.
pub fn from_record(record: &Injected) -> Option<Vec<(String, String)>> {
    Some(device_env(record.uuid.as_deref()?, &record.holder))
}

/// An OCI `Process` (JSON) with `env` set, replacing entries of the same names. Bytes that are
/// not a JSON object (or whose `env` is not a list) come back as they were: runc says what is
/// wrong with them.
pub fn set(process: &[u8], env: &[(String, String)]) -> Vec<u8> {
    let Ok(mut p) = serde_json::from_slice::<Value>(process) else {
        return process.to_vec();
    };
    let Some(obj) = p.as_object_mut() else {
        return process.to_vec();
    };
    let list = obj.entry("env").or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    let Some(list) = list.as_array_mut() else {
        return process.to_vec();
    };
    for (k, v) in env {
        let prefix = format!("{k}=");
        list.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
        list.push(Value::String(format!("{k}={v}")));
    }
    serde_json::to_vec(&p).unwrap_or_else(|_| process.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_processes_see_the_containers_device() {
        let env = device_env("MIG-1", "c1");
        let p = br#"{"args":["sh"],"env":["PATH=/bin","NVIDIA_VISIBLE_DEVICES=all"],"cwd":"/"}"#;
        let out: Value = serde_json::from_slice(&set(p, &env)).unwrap();
        assert_eq!(
            out["env"],
            serde_json::json!([
                "PATH=/bin",
                "NVIDIA_VISIBLE_DEVICES=MIG-1",
                "CUDA_VISIBLE_DEVICES=MIG-1",
                "DYNAMIG_HOLDER=c1"
            ])
        );
        assert_eq!(out["args"], serde_json::json!(["sh"]));
        let bare: Value =
            serde_json::from_slice(&set(br#"{"args":["sh"],"env":null}"#, &env)).unwrap();
        assert_eq!(bare["env"].as_array().unwrap().len(), 3);
        assert_eq!(set(b"not json", &env), b"not json");
        assert_eq!(set(br#"{"env":"x"}"#, &env), br#"{"env":"x"}"#);
        let r = Injected::parse(r#"{"holder":"c1","namespace":"n","uuid":"MIG-1"}"#).unwrap();
        assert_eq!(from_record(&r), Some(env));
        assert_eq!(
            from_record(&Injected::parse(r#"{"holder":"c1"}"#).unwrap()),
            None
        );
    }
}
