//! Prometheus metrics for node-exporter's textfile collector.
//!
//! There is no daemon to scrape, so every entry point that opens the node writes the metrics
//! file when it closes it (under the node lock): [`on_close`], called by `Node::close`. A leaf:
//! the node hands over a plain [`Snapshot`] of itself, its events and the decisions it timed;
//! nothing here knows the node. Gauges come from the snapshot; counters (preemptions, refusals,
//! events) and the decision-time histogram add up across processes in [`counters`]. The file
//! is written only when its text changes, to a temporary file renamed into place, so
//! node-exporter never reads a half-written file. See `docs/observability.md` for the names,
//! labels and the setup.
//!
//! - [`location`]: where the file goes (`DYNAMIG_METRICS_FILE`, node-exporter's directory, or
//!   `<state dir>/metrics/dynamig.prom`).
//! - [`counters`]: the persisted counters.
//! - [`histogram`]: fixed buckets, 10 µs to 1 s.
//! - [`decision`]: one node's planner decision times, until it closes.
//! - [`text`]: the text exposition format.

pub mod counters;
pub mod decision;
pub mod histogram;
pub mod location;
pub mod text;

use crate::events::Event;
use counters::{Counters, REFUSAL_REASONS};
use dynamig_core::ids::GpuIndex;
use histogram::Histogram;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use text::Text;

/// What the metrics show of a node: its GPUs, its holders by state, its waiting requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub gpus: Vec<GpuGauges>,
    /// Holders by state (`active`, `preempting`, `preempted`, `lost`), in that order.
    pub holders: Vec<(&'static str, u64)>,
    /// Requests waiting for room: the tickets of the wait queue (read under the node lock, so
    /// a ticket that reconcile just expired is not counted).
    pub waiting: u64,
    /// GPUs (a slice counts its share of memory slices) held by active holders, by
    /// containerd namespace and whether over quota (docs/policy.md), sorted.
    pub namespace_gpus: Vec<(String, bool, f64)>,
    /// Active or preempting holders admitted beyond their namespace's quota.
    pub over_quota_holders: u64,
}

/// One GPU, as the gauges show it.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuGauges {
    pub index: GpuIndex,
    pub name: String,
    /// The model key, or `unknown`.
    pub model: String,
    pub uuid: String,
    pub usable: bool,
    /// The profile name of each MIG instance on the GPU (dynamig's and any other).
    pub instances: Vec<String>,
    pub free_memory_slices: u8,
    pub free_compute_slices: u8,
}

/// The persisted counters of a state directory.
pub fn counters_file(dir: &Path) -> PathBuf {
    dir.join("counters.json")
}

/// Called when a node is closed (still under its lock): counts its events and decisions in the
/// counters of `state_dir`, and rewrites the metrics file (where `setting`, the configured
/// location, puts it) if its text changed. Never fails the caller.
pub fn on_close(
    state_dir: &Path,
    setting: Option<&Path>,
    snapshot: impl FnOnce() -> Snapshot,
    events: &[Event],
    decisions: &Histogram,
) {
    let cpath = counters_file(state_dir);
    let mut c = Counters::load(&cpath);
    if c.add(events, decisions) {
        if let Err(e) = c.save(&cpath) {
            tracing::warn!(path = %cpath.display(), error = %e, "cannot write the metrics counters");
        }
    }
    let Some(path) = location::metrics_file(setting, state_dir) else {
        return;
    };
    let body = render(&snapshot(), &c);
    if std::fs::read(&path).is_ok_and(|old| old == body.as_bytes()) {
        return;
    }
    let r = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| write_replace(&path, body.as_bytes(), 0o644));
    if let Err(e) = r {
        tracing::warn!(path = %path.display(), error = %e, "cannot write the metrics file");
    }
}

/// The metrics text for a node's snapshot and its counters.
pub fn render(s: &Snapshot, c: &Counters) -> String {
    let mut t = Text::default();
    gpu_gauges(&mut t, s);
    t.family(
        "dynamig_holders",
        "gauge",
        "Holders (containers) dynamig knows, by state: active, preempting, preempted, lost.",
    );
    for (state, n) in &s.holders {
        t.sample("dynamig_holders", &[("state", state)], *n as f64);
    }
    t.family(
        "dynamig_waiting_requests",
        "gauge",
        "Requests waiting for room.",
    );
    t.sample("dynamig_waiting_requests", &[], s.waiting as f64);
    t.family(
        "dynamig_over_quota_holders",
        "gauge",
        "Holders admitted beyond their namespace's GPU quota (preemptible, taken back first).",
    );
    t.sample(
        "dynamig_over_quota_holders",
        &[],
        s.over_quota_holders as f64,
    );
    t.family(
        "dynamig_namespace_gpus",
        "gauge",
        "GPUs held by a containerd namespace's active holders (a MIG slice counts its share of the GPU's memory slices), within its quota or over it.",
    );
    for (ns, over, gpus) in &s.namespace_gpus {
        let quota = if *over { "over" } else { "within" };
        t.sample(
            "dynamig_namespace_gpus",
            &[("namespace", ns), ("quota", quota)],
            *gpus,
        );
    }
    counter_samples(&mut t, c);
    t.finish()
}

/// The per-GPU gauges: info, usable, instances by profile, free memory and compute slices.
fn gpu_gauges(t: &mut Text, s: &Snapshot) {
    t.family(
        "dynamig_gpu_info",
        "gauge",
        "A GPU of this node (always 1), with its name, model key and UUID.",
    );
    for g in &s.gpus {
        let idx = g.index.to_string();
        t.sample(
            "dynamig_gpu_info",
            &[
                ("gpu", &idx),
                ("name", &g.name),
                ("model", &g.model),
                ("uuid", &g.uuid),
            ],
            1.0,
        );
    }
    t.family(
        "dynamig_gpu_usable",
        "gauge",
        "1 when the GPU's MIG mode is on with no change pending and its model is known.",
    );
    for g in &s.gpus {
        t.sample(
            "dynamig_gpu_usable",
            &[("gpu", &g.index.to_string())],
            f64::from(u8::from(g.usable)),
        );
    }

    t.family(
        "dynamig_instances",
        "gauge",
        "MIG instances on the GPU by profile (dynamig's and any an administrator created).",
    );
    for g in &s.gpus {
        let mut per: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(m) = dynamig_core::catalog::model_by_key(&g.model) {
            for p in m.profiles {
                per.insert(p.name.to_string(), 0);
            }
        }
        for i in &g.instances {
            *per.entry(i.clone()).or_default() += 1;
        }
        let idx = g.index.to_string();
        for (p, n) in per {
            t.sample(
                "dynamig_instances",
                &[("gpu", &idx), ("profile", &p)],
                n as f64,
            );
        }
    }
    t.family(
        "dynamig_free_memory_slices",
        "gauge",
        "Memory slices of the GPU that no MIG instance uses.",
    );
    for g in &s.gpus {
        t.sample(
            "dynamig_free_memory_slices",
            &[("gpu", &g.index.to_string())],
            f64::from(g.free_memory_slices),
        );
    }
    t.family(
        "dynamig_free_compute_slices",
        "gauge",
        "Compute slices of the GPU that no MIG instance uses.",
    );
    for g in &s.gpus {
        t.sample(
            "dynamig_free_compute_slices",
            &[("gpu", &g.index.to_string())],
            f64::from(g.free_compute_slices),
        );
    }
}

/// The counters: preemptions, refusals by reason, events by kind, the decision histogram.
fn counter_samples(t: &mut Text, c: &Counters) {
    t.family(
        "dynamig_preemptions_total",
        "counter",
        "Holders evicted to make room for a higher-priority request (or taken back from over quota).",
    );
    t.sample("dynamig_preemptions_total", &[], c.preemptions as f64);
    t.family(
        "dynamig_refusals_total",
        "counter",
        "Requests refused by the planner, by reason: no_room, too_large, unknown_profile, no_gpus.",
    );
    let mut refusals: BTreeMap<&str, u64> = REFUSAL_REASONS.iter().map(|r| (*r, 0)).collect();
    for (r, n) in &c.refusals {
        *refusals.entry(r.as_str()).or_default() += n;
    }
    for (r, n) in refusals {
        t.sample("dynamig_refusals_total", &[("reason", r)], n as f64);
    }
    t.family(
        "dynamig_events_total",
        "counter",
        "Events written to the event log, by kind (allocated, released, preempted, refused, ...).",
    );
    for (k, n) in &c.events {
        t.sample("dynamig_events_total", &[("kind", k)], *n as f64);
    }
    t.family(
        "dynamig_decision_seconds",
        "histogram",
        "Time the planner took to decide (placement and victims), per decision.",
    );
    t.histogram("dynamig_decision_seconds", &c.decisions);
    t.family(
        "dynamig_phase_seconds",
        "histogram",
        "Time of each phase of allocations and releases: lock_wait, decision, eviction_wait, destroy, gi_create, ci_create, spec_edit (a phase that did not happen is not observed).",
    );
    for name in crate::phases::NAMES {
        let h = c.phases.get(name).cloned().unwrap_or_default();
        t.labelled_histogram("dynamig_phase_seconds", &[("phase", name)], &h);
    }
}

/// Writes `body` to a temporary file beside `path` (not named `*.prom`, so node-exporter never
/// reads it half-written) and renames it over `path`.
fn write_replace(path: &Path, body: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("metrics");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let r = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .and_then(|mut f| f.write_all(body))
        .and_then(|()| std::fs::rename(&tmp, path));
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}
