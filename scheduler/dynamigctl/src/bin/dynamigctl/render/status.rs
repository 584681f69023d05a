//! `dynamigctl status` for people, laid out like `nvidia-smi`: a banner, one box per GPU (name,
//! UUID, MIG mode, memory in MIG devices, slices) with notes on pending MIG modes and
//! persistence, the MIG devices with their holders, the holders that lost their device
//! (preempted, lost), the wait queue and the evictions in flight. The last three appear only
//! when they have rows.

use super::dash;
use crate::table::Table;
use dynamig_node::status::{GpuStatus, InstanceStatus, Status};

/// The whole text, each part a blank line after the one above (the notes follow the GPUs
/// directly).
pub fn status(st: &Status) -> String {
    let mut out = vec![gpus(st)];
    out.extend(notes(st));
    out.push(String::new());
    out.push(mig_devices(st));
    let optional = [
        (!st.ended.is_empty()).then(|| ended(st)),
        (!st.queue.is_empty()).then(|| queue(st)),
        (!st.evictions.is_empty()).then(|| evictions(st)),
    ];
    for part in optional.into_iter().flatten() {
        out.push(String::new());
        out.push(part);
    }
    out.join("\n")
}

/// The banner and one box per GPU.
fn gpus(st: &Status) -> String {
    Table {
        title: Some(format!(
            "DYNAMIG {}    Backend: {}    State: {}",
            env!("CARGO_PKG_VERSION"),
            st.backend,
            st.state_dir
        )),
        header: [
            "GPU",
            "Name\nUUID",
            "MIG M.\n",
            "MIG Memory-Usage\n",
            "Memory slices\nCompute slices",
        ]
        .map(String::from)
        .to_vec(),
        rows: st.gpus.iter().map(gpu_row).collect(),
        right: vec![0, 3],
        bars: vec![1, 2, 3],
        empty: "No GPUs found".into(),
    }
    .render()
}

fn gpu_row(g: &GpuStatus) -> Vec<String> {
    let used: u64 = g.instances.iter().map(|i| i.memory_mib).sum();
    vec![
        g.index.to_string(),
        format!("{}\n{}", g.name, g.uuid),
        format!(
            "{}\n{}",
            mig_mode(g),
            if g.usable { "usable" } else { "not used" }
        ),
        format!(
            "{used}MiB / {}MiB\n{} instance(s)",
            g.memory_mib,
            g.instances.len()
        ),
        format!(
            "[{}] {}/{}\n{}/{}",
            slice_bar(g),
            g.memory_slices.used,
            g.memory_slices.total,
            g.compute_slices.used,
            g.compute_slices.total
        ),
    ]
}

/// `Enabled`, `Disabled`, with a `*` while a change waits for a GPU reset.
fn mig_mode(g: &GpuStatus) -> &'static str {
    match (g.mig_enabled, g.mig_pending) {
        (true, false) => "Enabled",
        (false, false) => "Disabled",
        (true, true) => "Enabled*",
        (false, true) => "Disabled*",
    }
}

/// A bar of memory slices: `#` dynamig's, `F` foreign, `.` free.
fn slice_bar(st: &GpuStatus) -> String {
    let mut bar = vec!['.'; st.memory_slices.total as usize];
    for i in &st.instances {
        for s in i.placement.start..i.placement.start.saturating_add(i.placement.size) {
            if let Some(c) = bar.get_mut(s as usize) {
                *c = if i.state == "foreign" { 'F' } else { '#' };
            }
        }
    }
    bar.into_iter().collect()
}

/// The footnotes under the GPUs: a MIG mode pending a reset, persistence mode off.
fn notes(st: &Status) -> Vec<String> {
    let mut out = Vec::new();
    if st.gpus.iter().any(|g| g.mig_pending) {
        out.push("* MIG mode change pending a GPU reset: that GPU is not used until then.".into());
    }
    let no_pm: Vec<String> = st
        .gpus
        .iter()
        .filter(|g| g.persistence_mode == Some(false))
        .map(|g| g.index.to_string())
        .collect();
    if !no_pm.is_empty() {
        out.push(format!(
            "* Persistence mode is off on GPU {}: each dynamig call can pay the GPU's \
             initialisation; enable it with `nvidia-smi -pm 1` or nvidia-persistenced.",
            no_pm.join(", ")
        ));
    }
    out
}

/// Every GPU's MIG devices with their holders.
fn mig_devices(st: &Status) -> String {
    let rows = st
        .gpus
        .iter()
        .flat_map(|g| {
            g.instances
                .iter()
                .enumerate()
                .map(|(dev, i)| instance_row(g, dev, i))
        })
        .collect();
    Table {
        title: Some("MIG devices:".into()),
        header: [
            "GPU\n",
            "GI\nID",
            "CI\nID",
            "MIG\nDev",
            "Profile\n",
            "Placement\nStart:Size",
            "Memory\n",
            "SM\n",
            "Holder\nMIG UUID",
            "Priority\n",
            "PID\n",
            "State\n",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        right: vec![0, 1, 2, 3, 6, 7, 10],
        bars: vec![3, 7],
        empty: "No MIG devices found".into(),
    }
    .render()
}

/// One MIG device: `dev` is its index among its GPU's instances.
fn instance_row(g: &GpuStatus, dev: usize, i: &InstanceStatus) -> Vec<String> {
    let (holder, prio, pid) = match &i.holder {
        Some(h) => (
            format!("{}/{}", h.namespace, h.id),
            format!(
                "{}{}",
                h.priority_class,
                // Over quota is always preemptible (docs/policy.md).
                match (h.over_quota, h.preemptible) {
                    (true, _) => "\nover quota",
                    (false, true) => "\npreemptible",
                    (false, false) => "",
                }
            ),
            dash(h.pid.map(|p| p.to_string())),
        ),
        None => ("-".into(), "-".into(), "-".into()),
    };
    vec![
        g.index.to_string(),
        i.gi.to_string(),
        dash(i.ci.map(|c| c.to_string())),
        dev.to_string(),
        i.profile.clone(),
        format!("{}:{}", i.placement.start, i.placement.size),
        format!("{}MiB", i.memory_mib),
        i.sms.to_string(),
        format!("{holder}\n{}", i.uuid),
        prio,
        pid,
        i.state.clone(),
    ]
}

/// Holders without a MIG device: preempted or lost.
fn ended(st: &Status) -> String {
    let rows = st
        .ended
        .iter()
        .map(|e| {
            vec![
                format!("{}/{}", e.holder.namespace, e.id),
                e.holder.priority_class.clone(),
                dash(e.holder.pid.map(|p| p.to_string())),
                e.state.clone(),
                e.holder.request.clone(),
            ]
        })
        .collect();
    Table {
        title: Some("Holders without a MIG device:".into()),
        header: ["Holder", "Priority", "PID", "State", "Request"]
            .map(String::from)
            .to_vec(),
        rows,
        right: vec![2],
        bars: vec![],
        empty: String::new(),
    }
    .render()
}

/// `12.3s`: milliseconds to tenths of a second.
fn secs(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// The wait queue, in serving order.
fn queue(st: &Status) -> String {
    let rows = st
        .queue
        .iter()
        .map(|q| {
            vec![
                q.position.to_string(),
                format!("{}/{}", q.namespace, q.id),
                q.request.clone(),
                if q.over_quota {
                    format!("{} (over quota)", q.priority_class)
                } else {
                    q.priority_class.clone()
                },
                q.pid.to_string(),
                secs(q.waited_ms),
                format!("in {}", secs(q.remaining_ms)),
                q.reserved.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    Table {
        title: Some("Waiting:".into()),
        header: [
            "Pos", "Holder", "Request", "Priority", "PID", "Waited", "Deadline", "Reserved",
        ]
        .map(String::from)
        .to_vec(),
        rows,
        right: vec![0, 4, 5],
        bars: vec![],
        empty: String::new(),
    }
    .render()
}

/// Evictions in flight: the room each reserves while its victims leave.
fn evictions(st: &Status) -> String {
    let rows = st
        .evictions
        .iter()
        .map(|e| {
            vec![
                format!("{}/{}", e.namespace, e.id),
                e.pid.to_string(),
                e.reserved.clone(),
                e.victims.join(", "),
                secs(e.waited_ms),
            ]
        })
        .collect();
    Table {
        title: Some("Evicting (room reserved while the victims leave):".into()),
        header: ["Holder", "PID", "Reserved", "Victims", "Waited"]
            .map(String::from)
            .to_vec(),
        rows,
        right: vec![1, 4],
        bars: vec![],
        empty: String::new(),
    }
    .render()
}
