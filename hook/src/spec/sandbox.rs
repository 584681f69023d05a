//! Kubernetes pod sandboxes. A CRI runtime copies the pod annotations it is allowed to pass
//! (containerd's `pod_annotations`, CRI-O's `allowed_annotations`) into the spec of the pod's
//! sandbox ("pause") container as well as into every app container's spec. A pod annotation
//! `dynamig.io/gpu-memory=10GB` is a request of each app container; the sandbox only holds the
//! pod's namespaces and never uses a GPU, so it must not get (and hold) a MIG slice of its own.

use std::collections::BTreeMap;

/// The annotations by which CRI runtimes mark a container's role in its pod, with the value
/// they give the sandbox: containerd CRI, then CRI-O.
pub const CONTAINER_TYPE: &[(&str, &str)] = &[
    ("io.kubernetes.cri.container-type", "sandbox"),
    ("io.kubernetes.cri-o.ContainerType", "sandbox"),
];

/// Whether a spec with these annotations is a pod's sandbox container.
pub fn is_pod_sandbox(annotations: &BTreeMap<String, String>) -> bool {
    CONTAINER_TYPE
        .iter()
        .any(|(k, v)| annotations.get(*k).is_some_and(|a| a == v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn containerd_and_crio_sandboxes_are_recognised() {
        assert!(is_pod_sandbox(&ann(&[(
            "io.kubernetes.cri.container-type",
            "sandbox"
        )])));
        assert!(is_pod_sandbox(&ann(&[(
            "io.kubernetes.cri-o.ContainerType",
            "sandbox"
        )])));
    }

    #[test]
    fn app_containers_and_plain_specs_are_not_sandboxes() {
        assert!(!is_pod_sandbox(&ann(&[(
            "io.kubernetes.cri.container-type",
            "container"
        )])));
        assert!(!is_pod_sandbox(&ann(&[(
            "io.kubernetes.cri-o.ContainerType",
            "container"
        )])));
        assert!(!is_pod_sandbox(&ann(&[("dynamig.io/gpu-memory", "10GB")])));
    }
}
