//! How `dynamigctl` prints things for people (and the JSON shapes of `plan`).

use super::table::Table;
use super::Failure;
use dynamig_core::catalog::{self, GpuModel};
use dynamig_core::ids::GpuIndex;
use dynamig_core::planner::Decision;
use dynamig_node::events::Event;
use dynamig_node::node::{Allocation, Placement};
use dynamig_node::state::HolderKey;
use dynamig_node::status::Status;
use serde::Serialize;

#[derive(Serialize)]
pub struct PlanOut {
    pub gpu: GpuIndex,
    pub profile: String,
    pub placement: Placement,
    /// Holder ids, as before namespaces; `evict_holders` says whose.
    pub evict: Vec<String>,
    pub evict_holders: Vec<HolderKey>,
}

impl From<&Decision> for PlanOut {
    fn from(d: &Decision) -> Self {
        PlanOut {
            gpu: d.gpu,
            profile: d.profile.name.to_string(),
            placement: Placement {
                start: d.start,
                size: d.profile.memory_slices,
            },
            evict: d.victims.iter().map(|v| v.id.clone()).collect(),
            evict_holders: d.victims.iter().map(|v| v.key()).collect(),
        }
    }
}

pub fn plan_line(p: &PlanOut) -> String {
    let ev = if p.evict_holders.is_empty() {
        "no eviction".to_string()
    } else {
        format!("evicts {}", names(&p.evict_holders))
    };
    format!(
        "GPU {} {} at {}:{} ({ev})",
        p.gpu, p.profile, p.placement.start, p.placement.size
    )
}

pub fn allocation_line(a: &Allocation) -> String {
    let ev = if a.evict_holders.is_empty() {
        String::new()
    } else {
        format!(", evicted {}", names(&a.evict_holders))
    };
    format!(
        "{}: GPU {} {} at {}:{} GI {} CI {} {}{ev}",
        a.id, a.gpu, a.profile, a.placement.start, a.placement.size, a.gi, a.ci, a.uuid
    )
}

/// `ns/a, ns/b`.
fn names(keys: &[HolderKey]) -> String {
    keys.iter()
        .map(HolderKey::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn placements(starts: &[u8], size: u8) -> String {
    let s: Vec<String> = starts.iter().map(u8::to_string).collect();
    format!("{{{}}}:{size}", s.join(","))
}

fn gib(mib: u64) -> String {
    format!("{:.2}", mib as f64 / 1024.0)
}

pub fn profiles(model: Option<&str>, json: bool) -> Result<(), Failure> {
    let models: Vec<&GpuModel> = match model {
        Some(k) => vec![catalog::model_by_key(k).ok_or_else(|| {
            super::bad_input(anyhow::anyhow!(
                "unknown GPU model {k:?}; known: {}",
                catalog::model_keys().join(" ")
            ))
        })?],
        None => catalog::models().iter().collect(),
    };
    if json {
        return super::print_json(&models);
    }
    let mut out = Vec::new();
    for m in models {
        let rows = m
            .profiles
            .iter()
            .map(|p| {
                vec![
                    p.name.to_string(),
                    p.id.to_string(),
                    format!("{}", p.max_count),
                    gib(p.memory_mib),
                    p.memory_mib.to_string(),
                    p.sms.to_string(),
                    format!("{}/{}", p.compute_slices, p.memory_slices),
                    format!(
                        "{} {} {} {} {}",
                        p.engines.ce, p.engines.dec, p.engines.enc, p.engines.jpg, p.engines.ofa
                    ),
                    placements(p.starts, p.memory_slices),
                ]
            })
            .collect();
        out.push(
            Table {
                title: Some(format!(
                    "{} ({}): {} MiB, {} compute / {} memory slices; memory as driver {}",
                    m.name, m.key, m.memory_mib, m.compute_slices, m.memory_slices, m.driver
                )),
                header: [
                    "Profile",
                    "ID",
                    "Max",
                    "GiB",
                    "MiB",
                    "SMs",
                    "CS/MS",
                    "CE DEC ENC JPG OFA",
                    "Placements",
                ]
                .map(String::from)
                .to_vec(),
                rows,
                right: vec![1, 2, 3, 4, 5],
                bars: vec![],
                empty: String::new(),
            }
            .render(),
        );
    }
    println!("{}", out.join("\n\n"));
    Ok(())
}

/// A bar of memory slices: `#` dynamig's, `F` foreign, `.` free.
fn slice_bar(st: &dynamig_node::status::GpuStatus) -> String {
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

fn mig_mode(g: &dynamig_node::status::GpuStatus) -> &'static str {
    match (g.mig_enabled, g.mig_pending) {
        (true, false) => "Enabled",
        (false, false) => "Disabled",
        (true, true) => "Enabled*",
        (false, true) => "Disabled*",
    }
}

fn dash(s: Option<String>) -> String {
    s.unwrap_or_else(|| "-".into())
}

/// `dynamigctl status` for people, laid out like `nvidia-smi`: a banner, one box per GPU (name,
/// UUID, MIG mode, memory in MIG devices, slices), the MIG devices with their holders, and the
/// holders that lost their device (preempted, lost).
pub fn status(st: &Status) -> String {
    let mut out = Vec::new();
    let gpu_rows = st
        .gpus
        .iter()
        .map(|g| {
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
        })
        .collect();
    out.push(
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
            rows: gpu_rows,
            right: vec![0, 3],
            bars: vec![1, 2, 3],
            empty: "No GPUs found".into(),
        }
        .render(),
    );
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
    let mut rows = Vec::new();
    for g in &st.gpus {
        for (dev, i) in g.instances.iter().enumerate() {
            let (holder, prio, pid) = match &i.holder {
                Some(h) => (
                    format!("{}/{}", h.namespace, h.id),
                    format!(
                        "{}{}",
                        h.priority_class,
                        if h.preemptible { "\npreemptible" } else { "" }
                    ),
                    dash(h.pid.map(|p| p.to_string())),
                ),
                None => ("-".into(), "-".into(), "-".into()),
            };
            rows.push(vec![
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
            ]);
        }
    }
    out.push(String::new());
    out.push(
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
        .render(),
    );
    if !st.ended.is_empty() {
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
        out.push(String::new());
        out.push(
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
            .render(),
        );
    }
    if !st.queue.is_empty() {
        out.push(String::new());
        out.push(queue(st));
    }
    if !st.evictions.is_empty() {
        out.push(String::new());
        out.push(evictions(st));
    }
    out.join("\n")
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
                format!("{}.{}s", e.waited_ms / 1000, (e.waited_ms % 1000) / 100),
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

/// The wait queue, in serving order.
fn queue(st: &Status) -> String {
    let secs = |ms: u64| format!("{}.{}s", ms / 1000, (ms % 1000) / 100);
    let rows = st
        .queue
        .iter()
        .map(|q| {
            vec![
                q.position.to_string(),
                format!("{}/{}", q.namespace, q.id),
                q.request.clone(),
                q.priority_class.clone(),
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

pub fn events(evs: &[Event]) -> String {
    if evs.is_empty() {
        return "no events".into();
    }
    evs.iter()
        .map(|e| {
            let place = match (e.gpu, &e.profile, e.start) {
                (Some(g), Some(p), Some(s)) => format!(" GPU {g} {p}@{s}"),
                _ => String::new(),
            };
            format!(
                "{} {:<10} {}{place}: {}",
                dynamig_core::rfc3339::format_ms(e.time_ms),
                e.kind,
                e.holder_name().as_deref().unwrap_or("-"),
                e.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
