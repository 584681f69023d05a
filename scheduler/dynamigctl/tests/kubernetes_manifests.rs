//! The Kubernetes manifests in packaging/kubernetes: every YAML document parses, has the fields
//! the API server requires, and says what dynamig needs (RuntimeClass handler `dynamig`, pods on
//! that runtime class with requests dynamig's own parser accepts, a DaemonSet whose selector
//! matches its pods and which configures containerd). A schema check, not a cluster run.

use dynamig_core::request::{self, Size};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/kubernetes")
}

/// Every document of every .yaml file, with its file name.
fn documents() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .expect("packaging/kubernetes exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "manifests: {files:?}");
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        for d in serde_norway::Deserializer::from_str(&text) {
            let v = Value::deserialize(d).unwrap_or_else(|e| panic!("{name}: {e}"));
            if !v.is_null() {
                docs.push((name.clone(), v));
            }
        }
    }
    docs
}

fn str_at<'a>(v: &'a Value, ptr: &str, what: &str) -> &'a str {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| panic!("{what}: {ptr} missing or not a string"))
}

fn of_kind<'a>(docs: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    docs.iter()
        .map(|(_, v)| v)
        .filter(|v| v["kind"] == kind)
        .collect()
}

#[test]
fn every_document_has_api_version_kind_and_a_valid_name() {
    let docs = documents();
    for (file, d) in &docs {
        let api = str_at(d, "/apiVersion", file);
        let kind = str_at(d, "/kind", file);
        let name = str_at(d, "/metadata/name", file);
        // RFC 1123 subdomain, as the API server demands of these names
        assert!(
            name.len() <= 253
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                && name.starts_with(|c: char| c.is_ascii_alphanumeric())
                && name.ends_with(|c: char| c.is_ascii_alphanumeric()),
            "{file}: bad name {name:?}"
        );
        let known = matches!(
            (api, kind),
            ("node.k8s.io/v1", "RuntimeClass") | ("v1", "Pod") | ("apps/v1", "DaemonSet")
        );
        assert!(known, "{file}: unexpected {api} {kind}");
        // annotations and labels are string maps
        for m in ["/metadata/annotations", "/metadata/labels"] {
            if let Some(o) = d.pointer(m) {
                let o = o.as_object().unwrap_or_else(|| panic!("{file}: {m}"));
                assert!(o.values().all(Value::is_string), "{file}: {m} not strings");
            }
        }
    }
}

#[test]
fn runtime_class_names_the_dynamig_handler() {
    let docs = documents();
    let rc = of_kind(&docs, "RuntimeClass");
    assert_eq!(rc.len(), 1);
    assert_eq!(rc[0]["metadata"]["name"], "dynamig");
    assert_eq!(rc[0]["handler"], "dynamig");
    // the handler is the containerd runtime name `dynamigctl runtime configure` writes
    assert_eq!(rc[0]["handler"], dynamigctl::runtime_config::RUNTIME_NAME);
    // and its node selector matches the installer's
    let ds = of_kind(&docs, "DaemonSet");
    assert_eq!(
        rc[0]["scheduling"]["nodeSelector"],
        ds[0]["spec"]["template"]["spec"]["nodeSelector"]
    );
}

#[test]
fn seed_pods_make_the_seed_requests_through_dynamig() {
    let docs = documents();
    let pods = of_kind(&docs, "Pod");
    let mut seen = BTreeMap::new();
    for p in &pods {
        let name = str_at(p, "/metadata/name", "pod");
        assert_eq!(p["spec"]["runtimeClassName"], "dynamig", "{name}");
        let containers = p["spec"]["containers"].as_array().expect("containers");
        assert!(!containers.is_empty(), "{name}");
        for c in containers {
            str_at(c, "/name", name);
            str_at(c, "/image", name);
        }
        let ann: BTreeMap<String, String> = p["metadata"]["annotations"]
            .as_object()
            .expect("annotations")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        let req = request::parse(&ann, &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name}: makes no request"));
        seen.insert(name.to_string(), req);
    }
    let names: Vec<&str> = seen.keys().map(String::as_str).collect();
    assert_eq!(names, ["mig1", "mig1-int", "mig2", "mig3"]);
    let memory = |n: &str| match &seen[n].size {
        Size::Memory { bytes, .. } => Some(*bytes),
        Size::Profile { .. } => None,
    };
    let profile = |n: &str| match &seen[n].size {
        Size::Profile { name } => Some(name.clone()),
        Size::Memory { .. } => None,
    };
    assert_eq!(memory("mig1"), Some(10_000_000_000));
    assert_eq!(profile("mig2").as_deref(), Some("2g.10gb"));
    assert_eq!(profile("mig3").as_deref(), Some("2g.10gb"));
    assert_eq!(memory("mig1-int"), Some(20_000_000_000));
    // the interactive pod outranks the three training pods, which are preemptible
    for n in ["mig1", "mig2", "mig3"] {
        assert!(seen["mig1-int"].priority > seen[n].priority, "{n}");
        assert!(seen[n].preemptible, "{n}");
    }
    assert!(!seen["mig1-int"].preemptible);
}

#[test]
fn installer_daemonset_selects_its_pods_and_configures_containerd() {
    let docs = documents();
    let ds = of_kind(&docs, "DaemonSet");
    assert_eq!(ds.len(), 1);
    let d = ds[0];
    let sel = d["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(!sel.is_empty());
    let labels = &d["spec"]["template"]["metadata"]["labels"];
    for (k, v) in sel {
        assert_eq!(&labels[k], v, "selector {k} does not match the template");
    }
    let spec = &d["spec"]["template"]["spec"];
    let init = &spec["initContainers"][0];
    assert_eq!(init["securityContext"]["privileged"], true);
    let script = init["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(script.contains("runtime configure --runtime containerd"));
    assert!(script.contains("--config /host/etc/containerd/config.toml"));
    for b in [
        "dynamigctl",
        "dynamig-runc",
        "dynamig-hook",
        "containerd-shim-dynamig-v2",
    ] {
        assert!(script.contains(b), "installer does not copy {b}");
    }
    // every volume mount names a declared volume
    let vols: Vec<&str> = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| str_at(v, "/name", "volume"))
        .collect();
    for c in spec["initContainers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(spec["containers"].as_array().unwrap())
    {
        str_at(c, "/image", "container");
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let n = str_at(m, "/name", "mount");
            assert!(vols.contains(&n), "mount {n} has no volume");
            str_at(m, "/mountPath", n);
        }
    }
    assert!(spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["hostPath"]["path"] == "/etc/containerd"));
}
