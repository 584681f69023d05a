//! Fields the API server dropped. A feature-gated field of a ResourceSlice is silently dropped
//! by an API server whose gate is off: without `DRAPartitionableDevices` (alpha, off by default
//! in Kubernetes 1.33–1.35) the counter sets and each device's counter consumption vanish, and
//! the scheduler would then hand out overlapping placements of one GPU; without
//! `DRADeviceTaints` (off by default before 1.36) the taints of MIG-disabled GPUs vanish and
//! their devices look schedulable. The publisher compares what it wrote with what the server
//! kept and refuses to leave such slices published.

use k8s_openapi::api::resource::v1::ResourceSlice;

/// A field that was written but not kept, with the feature gate that keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub field: &'static str,
    pub gate: &'static str,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (feature gate {})", self.field, self.gate)
    }
}

fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// What of `sent` is missing from `kept`, the object the API server returned.
pub fn dropped_fields(sent: &ResourceSlice, kept: &ResourceSlice) -> Vec<Dropped> {
    let mut out = Vec::new();
    if non_empty(&sent.spec.shared_counters) && !non_empty(&kept.spec.shared_counters) {
        out.push(Dropped {
            field: "spec.sharedCounters",
            gate: "DRAPartitionableDevices",
        });
    }
    let sent_devices = sent.spec.devices.as_deref().unwrap_or_default();
    let kept_devices = kept.spec.devices.as_deref().unwrap_or_default();
    let kept_device = |name: &str| kept_devices.iter().find(|d| d.name == name);
    if sent_devices.iter().any(|d| {
        non_empty(&d.consumes_counters)
            && !kept_device(&d.name).is_some_and(|k| non_empty(&k.consumes_counters))
    }) {
        out.push(Dropped {
            field: "spec.devices[].consumesCounters",
            gate: "DRAPartitionableDevices",
        });
    }
    if sent_devices.iter().any(|d| {
        non_empty(&d.taints) && !kept_device(&d.name).is_some_and(|k| non_empty(&k.taints))
    }) {
        out.push(Dropped {
            field: "spec.devices[].taints",
            gate: "DRADeviceTaints",
        });
    }
    out
}
