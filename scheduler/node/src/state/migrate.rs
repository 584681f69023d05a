//! Reading state files of older versions ([`Versioned`] for [`NodeState`]).
//!
//! - Version 1 named a holder by its container id alone. Its holders and tickets already carry
//!   their namespace; its intents do not, and get the namespace of the holder with their id (a
//!   version-1 node had at most one holder per id). An intent whose holder is gone keeps an
//!   empty namespace: it matches no holder, exactly as it matched none before.
//! - Version 2 names every holder, intent and ticket by (namespace, id): [`super::HolderKey`].

use super::file::Versioned;
use super::NodeState;
use serde_json::Value;

impl Versioned for NodeState {
    const VERSION: u32 = 2;

    fn upgrade(from: u32, body: Value) -> Result<Value, String> {
        match from {
            1 => v1_to_v2(body),
            other => Err(format!("unknown state version {other}")),
        }
    }
}

fn v1_to_v2(mut body: Value) -> Result<Value, String> {
    let namespace_of = |id: &str| -> Result<String, String> {
        let holders = body.get("holders").and_then(Value::as_array);
        let found: Vec<&str> = holders
            .into_iter()
            .flatten()
            .filter(|h| h.get("id").and_then(Value::as_str) == Some(id))
            .filter_map(|h| h.get("namespace").and_then(Value::as_str))
            .collect();
        match found.as_slice() {
            [] => Ok(String::new()),
            [one] => Ok(one.to_string()),
            _ => Err(format!(
                "an intent names holder {id:?}, which is in more than one namespace"
            )),
        }
    };
    let Some(intents) = body.get("intents").and_then(Value::as_array) else {
        return Ok(body);
    };
    let mut upgraded = Vec::with_capacity(intents.len());
    for intent in intents {
        let mut intent = intent.clone();
        let id = intent
            .get("holder")
            .and_then(Value::as_str)
            .ok_or("an intent names no holder")?
            .to_string();
        let ns = namespace_of(&id)?;
        if let Some(o) = intent.as_object_mut() {
            o.entry("namespace").or_insert(Value::String(ns));
        }
        upgraded.push(intent);
    }
    body["intents"] = Value::Array(upgraded);
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::super::{file, HolderKey, Intent};
    use super::*;
    use dynamig_core::ids::GiId;

    /// A version-1 state file as dynamig 0.x wrote it: a holder `c1` in `default` with a
    /// release of it interrupted, and a ticket.
    const V1: &str = r#"{
      "backend": "sim", "next_seq": 2,
      "holders": [{"id": "c1", "namespace": "default", "priority": 100, "preemptible": true,
        "grace_period_ms": 10000, "request": "mig-profile 3g.20gb", "state": "active",
        "process": null, "creator": null, "seq": 1, "created_ms": 5,
        "instance": {"gpu": 0, "gpu_uuid": "GPU-0", "gi": 1, "ci": 0, "profile_id": 9,
          "profile": "3g.20gb", "start": 0, "size": 4, "uuid": "MIG-1"}}],
      "intents": [{"op": "destroy", "gpu": 0, "gi": 1, "holder": "c1"},
                  {"op": "create", "gpu": 0, "profile_id": 19, "start": 6, "holder": "gone"}]
    }"#;

    fn framed(version: u32, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "dynamig-state v{version} crc32={:08x} len={}\n",
            crc32fast::hash(body),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_version_1_file_reads_with_namespaced_intents() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("state.json");
        std::fs::write(&p, framed(1, V1.as_bytes())).unwrap();
        let s: NodeState = file::read(&p).unwrap().unwrap();
        let c1 = HolderKey::new("default", "c1");
        assert_eq!(
            s.holder(&c1).map(|h| h.request.as_str()),
            Some("mig-profile 3g.20gb")
        );
        assert!(s.holder(&HolderKey::new("tenant", "c1")).is_none());
        assert_eq!(s.intents.len(), 2);
        assert!(matches!(&s.intents[0], Intent::Destroy { gi: GiId(1), .. }));
        assert_eq!(s.intents[0].key(), c1);
        // an intent whose holder is gone matches no holder, as before
        assert_eq!(s.intents[1].key(), HolderKey::new("", "gone"));
        // written back in version 2, and read back the same
        file::write(&p, &s).unwrap();
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .starts_with("dynamig-state v2 "));
        assert_eq!(file::read::<NodeState>(&p).unwrap().unwrap(), s);
    }

    #[test]
    fn a_version_1_file_with_an_ambiguous_intent_is_refused_in_one_line() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("state.json");
        let mut v: Value = serde_json::from_str(V1).unwrap();
        let mut other = v["holders"][0].clone();
        other["namespace"] = "tenant".into();
        v["holders"].as_array_mut().unwrap().push(other);
        let bytes = framed(1, &serde_json::to_vec(&v).unwrap());
        std::fs::write(&p, &bytes).unwrap();
        let e = file::read::<NodeState>(&p).unwrap_err().to_string();
        assert!(
            e.contains("more than one namespace") && !e.contains('\n'),
            "{e}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "left as it is");
    }

    /// What a dynamig that reads only version 1 (the previous release) makes of this one's
    /// file: the same header check, so a clear refusal, never a misread.
    #[test]
    fn an_older_reader_refuses_a_version_2_file() {
        #[derive(Debug, serde::Serialize, serde::Deserialize)]
        struct OldReader(Value);
        impl Versioned for OldReader {
            const VERSION: u32 = 1;
        }
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("state.json");
        file::write(&p, &NodeState::default()).unwrap();
        let e = file::read::<OldReader>(&p).unwrap_err();
        assert!(
            matches!(
                e,
                file::StateFileError::FutureVersion {
                    found: 2,
                    reads: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("newer dynamig"), "{e}");
    }
}
