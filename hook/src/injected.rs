//! The durable record that a container was given a MIG slice: the `dynamig.io/injected`
//! annotation that the entry point which allocated writes into the container's spec, naming the
//! holder (`holder`, `namespace`). It lives as long as the container does: in the bundle's
//! `config.json` (the shim's `delete` after a shim crash reads it there) and in runc's own record
//! of the container (`dynamig-runc delete` reads it there, before runc removes it).
//!
//! An entry point releases a holder only on this positive evidence, and only the holder that
//! the record names: a container that asked for nothing, or whose create was refused, carries no
//! record and releases nothing, whatever another namespace's container of the same id holds.
//! When the record cannot be read, nothing is released there: once the container's process is
//! gone, the next reconciliation releases its holder anyway.

use crate::spec::INJECTED;
use dynamig_node::state::HolderKey;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Whose slice a container's spec says it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Injected {
    pub holder: String,
    /// `None` in a record written before holders had namespaces.
    pub namespace: Option<String>,
    /// The MIG device's UUID.
    pub uuid: Option<String>,
}

impl Injected {
    /// The annotation's value (a JSON object); `None` when it is not one dynamig wrote.
    pub fn parse(value: &str) -> Option<Injected> {
        let v: Value = serde_json::from_str(value).ok()?;
        Some(Injected {
            holder: v.get("holder")?.as_str()?.to_string(),
            namespace: match v.get("namespace") {
                None => None,
                Some(n) => Some(n.as_str()?.to_string()),
            },
            uuid: v.get("uuid").and_then(Value::as_str).map(str::to_string),
        })
    }

    /// From a spec's annotations.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Option<Injected> {
        Injected::parse(annotations.get(INJECTED)?)
    }

    /// From a bundle's `config.json`.
    pub fn from_bundle(bundle: &Path) -> Option<Injected> {
        let bytes = std::fs::read(bundle.join("config.json")).ok()?;
        if !contains(&bytes, INJECTED.as_bytes()) {
            return None;
        }
        let spec: Value = serde_json::from_slice(&bytes).ok()?;
        Injected::parse(spec.get("annotations")?.get(INJECTED)?.as_str()?)
    }

    /// From runc's record of container `id` under its `--root` (`<root>/<id>/state.json`):
    /// runc keeps the spec's annotations as `key=value` labels, and the bundle as `bundle=`.
    pub fn from_runc_state(root: &Path, id: &str) -> Option<Injected> {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return None;
        }
        let bytes = std::fs::read(root.join(id).join("state.json")).ok()?;
        if !contains(&bytes, INJECTED.as_bytes()) {
            return None;
        }
        let state: Value = serde_json::from_slice(&bytes).ok()?;
        let labels = state.pointer("/config/labels")?.as_array()?;
        let label = |prefix: &str| {
            labels
                .iter()
                .filter_map(Value::as_str)
                .find_map(|l| l.strip_prefix(prefix))
        };
        match label(&format!("{INJECTED}=")) {
            Some(v) => Injected::parse(v),
            None => Injected::from_bundle(Path::new(label("bundle=")?)),
        }
    }

    /// Whether this record says holder `key` was given the slice: the same id and the same
    /// namespace (a record without one names the id in whatever namespace the container is).
    pub fn is_for(&self, key: &HolderKey) -> bool {
        self.holder == key.id && self.namespace.as_deref().is_none_or(|n| n == key.namespace)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_holder_in_its_namespace() {
        let r = Injected::parse(r#"{"holder":"c1","namespace":"default","uuid":"MIG-1"}"#).unwrap();
        assert!(r.is_for(&HolderKey::new("default", "c1")));
        assert!(!r.is_for(&HolderKey::new("tenant", "c1")));
        assert!(!r.is_for(&HolderKey::new("default", "c2")));
        // written before namespaces: the id, in the container's own namespace
        let old = Injected::parse(r#"{"holder":"c1","uuid":"MIG-1"}"#).unwrap();
        assert!(old.is_for(&HolderKey::new("tenant", "c1")));
        for bad in [
            "",
            "x",
            "{}",
            r#"{"holder":1}"#,
            r#"{"holder":"c1","namespace":2}"#,
        ] {
            assert_eq!(Injected::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn read_from_a_bundle_and_from_runcs_record() {
        let t = tempfile::tempdir().unwrap();
        let bundle = t.path().join("bundle");
        std::fs::create_dir_all(&bundle).unwrap();
        assert_eq!(Injected::from_bundle(&bundle), None, "no config.json");
        std::fs::write(bundle.join("config.json"), r#"{"annotations":{"a":"b"}}"#).unwrap();
        assert_eq!(Injected::from_bundle(&bundle), None, "not given a slice");
        let ann = r#"{"holder":"c1","namespace":"ns1"}"#;
        let spec = serde_json::json!({"annotations": {INJECTED: ann}});
        std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
        let want = Some(Injected {
            holder: "c1".into(),
            namespace: Some("ns1".into()),
            uuid: None,
        });
        assert_eq!(Injected::from_bundle(&bundle), want);

        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("c1")).unwrap();
        let state = serde_json::json!({"id": "c1", "config": {"labels": [
            format!("bundle={}", bundle.display()), format!("{INJECTED}={ann}")]}});
        std::fs::write(root.join("c1/state.json"), state.to_string()).unwrap();
        assert_eq!(Injected::from_runc_state(&root, "c1"), want);
        // labels without the annotation but with the bundle: the bundle's spec says it
        let state = serde_json::json!({"id": "c1", "config": {"labels": [
            format!("bundle={}", bundle.display()), format!("x={INJECTED}")]}});
        std::fs::write(root.join("c1/state.json"), state.to_string()).unwrap();
        assert_eq!(Injected::from_runc_state(&root, "c1"), want);
        assert_eq!(Injected::from_runc_state(&root, "c2"), None);
        assert_eq!(Injected::from_runc_state(&root, "../root/c1"), None);
    }
}
