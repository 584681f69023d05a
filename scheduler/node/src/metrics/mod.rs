//! Prometheus metrics for node-exporter's textfile collector.
//!
//! There is no daemon to scrape, so every entry point that opens the node writes the metrics
//! file when it closes it (under the node lock): [`on_close`], called from the node's `Drop`.
//! Gauges come from the node as it is; counters (preemptions, refusals, events) and the
//! decision-time histogram add up across processes in [`counters`]. The file is written only
//! when its text changes, to a temporary file renamed into place, so node-exporter never reads a
//! half-written file. See `docs/observability.md` for the names, labels and the setup.
//!
//! - [`location`]: where the file goes (`DYNAMIG_METRICS_FILE`, node-exporter's directory, or
//!   `<state dir>/metrics/dynamig.prom`).
//! - [`counters`]: the persisted counters.
//! - [`histogram`]: fixed buckets, 10 µs to 1 s.
//! - [`decision`]: planner decision times, per thread, until the node closes.
//! - [`text`]: the text exposition format.

pub mod counters;
pub mod decision;
pub mod histogram;
pub mod location;
pub mod text;

use crate::events::Event;
use crate::node::Node;
use crate::state::HolderState;
use counters::{Counters, REFUSAL_REASONS};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use text::Text;

/// The persisted counters of a state directory.
pub fn counters_file(dir: &Path) -> PathBuf {
    dir.join("counters.json")
}

/// Requests waiting for room: the tickets of the node state's wait queue (read under the node
/// lock, so a ticket that reconcile just expired is not counted).
pub fn waiting_requests(node: &Node) -> u64 {
    node.state.queue.len() as u64
}

/// Called once when a node is closed (still under its lock): counts this process's events and
/// decisions, and rewrites the metrics file if its text changed. Never fails the caller.
pub fn on_close(node: &Node, events: &[Event]) {
    let decisions = decision::take();
    let cpath = counters_file(node.dir().path());
    let mut c = Counters::load(&cpath);
    if c.add(events, &decisions) {
        if let Err(e) = c.save(&cpath) {
            tracing::warn!(path = %cpath.display(), error = %e, "cannot write the metrics counters");
        }
    }
    let Some(path) = location::metrics_file(node.dir()) else {
        return;
    };
    let body = render(node, &c);
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

/// The metrics text for a node and its counters.
pub fn render(node: &Node, c: &Counters) -> String {
    let st = crate::status::status(node);
    let mut t = Text::default();

    t.family(
        "dynamig_gpu_info",
        "gauge",
        "A GPU of this node (always 1), with its name, model key and UUID.",
    );
    for g in &st.gpus {
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
    for g in &st.gpus {
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
    for g in &st.gpus {
        let mut per: BTreeMap<String, u64> = BTreeMap::new();
        if let Some(m) = dynamig_core::catalog::model_by_key(&g.model) {
            for p in m.profiles {
                per.insert(p.name.to_string(), 0);
            }
        }
        for i in &g.instances {
            *per.entry(i.profile.clone()).or_default() += 1;
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
    for g in &st.gpus {
        let free = g.memory_slices.total.saturating_sub(g.memory_slices.used);
        t.sample(
            "dynamig_free_memory_slices",
            &[("gpu", &g.index.to_string())],
            f64::from(free),
        );
    }
    t.family(
        "dynamig_free_compute_slices",
        "gauge",
        "Compute slices of the GPU that no MIG instance uses.",
    );
    for g in &st.gpus {
        let free = g.compute_slices.total.saturating_sub(g.compute_slices.used);
        t.sample(
            "dynamig_free_compute_slices",
            &[("gpu", &g.index.to_string())],
            f64::from(free),
        );
    }

    t.family(
        "dynamig_holders",
        "gauge",
        "Holders (containers) dynamig knows, by state: active, preempting, preempted, lost.",
    );
    for s in [
        HolderState::Active,
        HolderState::Preempting,
        HolderState::Preempted,
        HolderState::Lost,
    ] {
        let n = node.state.holders.iter().filter(|h| h.state == s).count();
        t.sample("dynamig_holders", &[("state", s.as_str())], n as f64);
    }
    t.family(
        "dynamig_waiting_requests",
        "gauge",
        "Requests waiting for room.",
    );
    t.sample(
        "dynamig_waiting_requests",
        &[],
        waiting_requests(node) as f64,
    );

    t.family(
        "dynamig_preemptions_total",
        "counter",
        "Holders evicted to make room for a higher-priority request.",
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
    t.finish()
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
