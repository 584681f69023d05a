//! `dynamigctl status` for people, laid out like `nvidia-smi`: a banner, one box per GPU (name,
//! MIG mode, memory in MIG devices, slices) with notes on pending MIG modes, GPUs dynamig does
//! not use and persistence, the MIG devices with their holders, the holders that lost their
//! device (preempted, lost), the wait queue and the evictions in flight. The last three appear
//! only when they have rows.
//!
//! Two forms ([`Form`]): the default fits an 80-column terminal, as `nvidia-smi` does, every box
//! exactly [`NARROW`] characters wide whatever its rows (so `--watch` redraws do not jitter);
//! long holder names are cut with `...`. `--wide` adds the GPU and MIG UUIDs and puts each
//! device's fields on one line; its columns are as wide as their longest cell.

use super::dash;
use crate::table::{fit, Table};
use dynamig_node::status::{GpuStatus, HolderInfo, InstanceStatus, Status};

/// The default form's width: an 80-column terminal.
pub const NARROW: usize = 80;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Form {
    /// Fits [`NARROW`] columns.
    Narrow,
    /// Every field, UUIDs included; as wide as it needs.
    Wide,
}

impl Form {
    /// The fixed width of every box, if any.
    fn width(self) -> Option<usize> {
        match self {
            Form::Narrow => Some(NARROW),
            Form::Wide => None,
        }
    }
}

/// The whole text, each part a blank line after the one above (the notes follow the GPUs
/// directly).
pub fn status(st: &Status, form: Form) -> String {
    let mut out = vec![gpus(st, form)];
    out.extend(notes(st));
    out.push(String::new());
    out.push(mig_devices(st, form));
    let optional = [
        (!st.ended.is_empty()).then(|| ended(st, form)),
        (!st.queue.is_empty()).then(|| queue(st, form)),
        (!st.evictions.is_empty()).then(|| evictions(st, form)),
    ];
    for part in optional.into_iter().flatten() {
        out.push(String::new());
        out.push(part);
    }
    out.join("\n")
}

/// The banner: one line, or in the narrow form two when the state directory makes it too long
/// (the directory then cut at its start, as `nvidia-smi` cuts process names).
fn banner(st: &Status, form: Form) -> String {
    let first = format!(
        "DYNAMIG {}    Backend: {}    Mode: {}",
        env!("CARGO_PKG_VERSION"),
        st.backend,
        st.mode
    );
    let state = format!("State: {}", st.state_dir);
    let one = format!("{first}    {state}");
    match form.width() {
        // `| ` before the text and ` |` after it.
        Some(w) if one.chars().count() + 4 > w => {
            let room = w - 4;
            let n = st.state_dir.chars().count();
            let state = if state.chars().count() > room {
                let keep = room.saturating_sub("State: ...".len());
                let tail: String = st.state_dir.chars().skip(n.saturating_sub(keep)).collect();
                format!("State: ...{tail}")
            } else {
                state
            };
            format!("{first}\n{state}")
        }
        _ => one,
    }
}

/// `used` MiB of `total`, the used figure padded to the total's width (the column keeps its
/// width as instances come and go).
fn memory_usage(used: u64, total: u64) -> String {
    let w = total.to_string().len();
    format!("{used:>w$}MiB / {total}MiB")
}

/// The widest `memory_usage` any GPU can show.
fn memory_usage_width(st: &Status) -> usize {
    st.gpus
        .iter()
        .map(|g| memory_usage(g.memory_mib, g.memory_mib).len())
        .max()
        .unwrap_or(0)
}

/// The widest `NNNMiB` a MIG device can show: that of the largest GPU.
fn device_memory_width(st: &Status) -> usize {
    st.gpus
        .iter()
        .map(|g| format!("{}MiB", g.memory_mib).len())
        .max()
        .unwrap_or(0)
}

/// `3 MIG devices`, `1 MIG device`.
fn devices(n: usize) -> String {
    format!("{n} MIG device{}", if n == 1 { "" } else { "s" })
}

/// The banner and one box per GPU.
fn gpus(st: &Status, form: Form) -> String {
    let mem_w = memory_usage_width(st);
    // `MIG M.` or the widest mode shown: the name gets the rest (the box stays 80 wide; only a
    // GPU's MIG mode changing moves a column boundary).
    let mode_w = st
        .gpus
        .iter()
        .map(|g| mig_mode(g).len())
        .chain(["MIG M.".len()])
        .max()
        .unwrap_or(0);
    match form {
        Form::Wide => Table {
            title: Some(banner(st, form)),
            header: [
                "GPU",
                "Name\nUUID",
                "MIG M.",
                "MIG Memory-Usage\nMIG devices",
                "Memory slices\nCompute slices",
            ]
            .map(String::from)
            .to_vec(),
            rows: st.gpus.iter().map(|g| gpu_row(g, Some(&g.uuid))).collect(),
            right: vec![0, 3],
            bars: vec![1, 2, 3],
            empty: "No GPUs found".into(),
            min: vec![0, 0, mode_w, mem_w],
            ..Table::default()
        }
        .render(),
        Form::Narrow => {
            // What the name may take: the width less the other columns, borders and gaps.
            let name_w = NARROW.saturating_sub(3 + mode_w + mem_w + SLICES_WIDTH + 15);
            Table {
                title: Some(banner(st, form)),
                header: [
                    "GPU",
                    "Name",
                    "MIG M.",
                    "MIG Memory-Usage\nMIG devices",
                    "Memory slices\nCompute slices",
                ]
                .map(String::from)
                .to_vec(),
                rows: st
                    .gpus
                    .iter()
                    .map(|g| {
                        let mut row = gpu_row(g, None);
                        row[1] = short_name(&g.name, name_w);
                        row
                    })
                    .collect(),
                right: vec![0, 3],
                bars: vec![1, 2, 3],
                empty: "No GPUs found".into(),
                tight: true,
                min: vec![3, 0, mode_w, mem_w, SLICES_WIDTH],
                fill: Some((1, NARROW)),
            }
            .render()
        }
    }
}

/// `[########] 8/8`: eight memory slices and their count.
const SLICES_WIDTH: usize = 14;

/// The GPU's name in `n` characters: without the `NVIDIA ` every name starts with when that
/// is what it takes, cut with `...` when even that is too long.
fn short_name(name: &str, n: usize) -> String {
    if name.chars().count() <= n {
        return name.to_string();
    }
    fit(name.strip_prefix("NVIDIA ").unwrap_or(name), n)
}

/// One GPU's box: its UUID under its name where given (the wide form).
fn gpu_row(g: &GpuStatus, uuid: Option<&str>) -> Vec<String> {
    let used: u64 = g.instances.iter().map(|i| i.memory_mib).sum();
    vec![
        g.index.to_string(),
        match uuid {
            Some(u) => format!("{}\n{u}", g.name),
            None => g.name.clone(),
        },
        mig_mode(g).to_string(),
        format!(
            "{}\n{}",
            memory_usage(used, g.memory_mib),
            devices(g.instances.len())
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

/// `Enabled`, `Disabled`, with a `*` while a change waits for a GPU reset (as `nvidia-smi`
/// shows its MIG mode; the pending mode is in the note under the GPUs).
fn mig_mode(g: &GpuStatus) -> &'static str {
    match (g.mig_enabled, g.mig_pending) {
        (true, false) => "Enabled",
        (false, false) => "Disabled",
        (true, true) => "Enabled*",
        (false, true) => "Disabled*",
    }
}

/// A bar of memory slices: `#` dynamig's, `w` warm (dynamig's, free for its profile), `F`
/// foreign, `.` free.
fn slice_bar(st: &GpuStatus) -> String {
    let mut bar = vec!['.'; st.memory_slices.total as usize];
    for i in &st.instances {
        for s in i.placement.start..i.placement.start.saturating_add(i.placement.size) {
            if let Some(c) = bar.get_mut(s as usize) {
                *c = match i.state.as_str() {
                    "foreign" => 'F',
                    "warm" => 'w',
                    _ => '#',
                };
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
    // A GPU dynamig does not place on, for a reason the MIG mode column does not show.
    for g in st.gpus.iter().filter(|g| !g.usable && !g.mig_pending) {
        let why = if g.mig_enabled {
            "dynamig does not know its model or cannot use its driver's MIG tables \
             (`dynamigctl doctor` says which)"
                .to_string()
        } else {
            format!(
                "MIG is disabled (`nvidia-smi -i {} -mig 1` enables it)",
                g.index
            )
        };
        out.push(format!("* GPU {} is not used: {why}.", g.index));
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
fn mig_devices(st: &Status, form: Form) -> String {
    let rows = st
        .gpus
        .iter()
        .flat_map(|g| {
            g.instances
                .iter()
                .enumerate()
                .map(move |(dev, i)| instance_row(g, dev, i, form))
        })
        .collect();
    let mem_w = device_memory_width(st);
    match form {
        Form::Wide => Table {
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
            min: vec![0, 0, 0, 0, 0, 0, mem_w],
            ..Table::default()
        }
        .render(),
        Form::Narrow => Table {
            title: Some("MIG devices:".into()),
            header: [
                "GPU",
                "GI\nID",
                "CI\nID",
                "MIG\nDev",
                "Profile\nStart:Size",
                "Memory\nSM",
                "Holder\nPriority",
                "State\nPID",
            ]
            .map(String::from)
            .to_vec(),
            rows,
            right: vec![0, 1, 2, 3, 5],
            bars: vec![3, 5],
            empty: "No MIG devices found".into(),
            tight: true,
            // `preempting`, the longest state.
            min: vec![3, 2, 2, 3, 10, mem_w, 0, 10],
            fill: Some((6, NARROW)),
        }
        .render(),
    }
}

/// `ns/id`: how a holder is named in every table.
fn holder_name(namespace: &str, id: &str) -> String {
    format!("{namespace}/{id}")
}

/// `training`, `training, preemptible`, `training, over quota` (over quota is always
/// preemptible: docs/policy.md).
fn priority(h: &HolderInfo, sep: &str) -> String {
    if h.over_quota {
        format!("{}{sep}over quota", h.priority_class)
    } else if h.preemptible {
        format!("{}{sep}preemptible", h.priority_class)
    } else {
        h.priority_class.clone()
    }
}

/// One MIG device: `dev` is its index among its GPU's instances.
fn instance_row(g: &GpuStatus, dev: usize, i: &InstanceStatus, form: Form) -> Vec<String> {
    let (holder, prio, pid) = match &i.holder {
        Some(h) => (
            holder_name(&h.namespace, &h.id),
            Some(h),
            dash(h.pid.map(|p| p.to_string())),
        ),
        // A warm instance: how long it stays (`status --json` says who released it).
        None => match &i.warm {
            Some(w) => (
                format!("warm, {}s left", w.remaining_ms.div_ceil(1000)),
                None,
                "-".into(),
            ),
            None => ("-".into(), None, "-".into()),
        },
    };
    let ids = vec![
        g.index.to_string(),
        i.gi.to_string(),
        dash(i.ci.map(|c| c.to_string())),
        dev.to_string(),
    ];
    let placement = format!("{}:{}", i.placement.start, i.placement.size);
    let memory = format!("{}MiB", i.memory_mib);
    let rest = match form {
        Form::Wide => vec![
            i.profile.clone(),
            placement,
            memory,
            i.sms.to_string(),
            format!("{holder}\n{}", i.uuid),
            prio.map_or_else(|| "-".into(), |h| priority(h, "\n")),
            pid,
            i.state.clone(),
        ],
        Form::Narrow => vec![
            format!("{}\n{placement}", i.profile),
            format!("{memory}\n{}", i.sms),
            format!(
                "{holder}\n{}",
                prio.map_or_else(|| "-".into(), |h| priority(h, ", "))
            ),
            format!("{}\n{pid}", i.state),
        ],
    };
    ids.into_iter().chain(rest).collect()
}

/// Holders without a MIG device: preempted or lost.
fn ended(st: &Status, form: Form) -> String {
    let rows = st
        .ended
        .iter()
        .map(|e| {
            vec![
                holder_name(&e.holder.namespace, &e.id),
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
        fill: form.width().map(|w| (0, w)),
        ..Table::default()
    }
    .render()
}

/// `12.3s`: milliseconds to tenths of a second.
fn secs(ms: u64) -> String {
    format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
}

/// The wait queue, in serving order.
fn queue(st: &Status, form: Form) -> String {
    let wide = form == Form::Wide;
    let rows = st
        .queue
        .iter()
        .map(|q| {
            let holder = holder_name(&q.namespace, &q.id);
            let prio = if q.over_quota {
                format!("{} (over quota)", q.priority_class)
            } else {
                q.priority_class.clone()
            };
            let waited = secs(q.waited_ms);
            let deadline = format!("in {}", secs(q.remaining_ms));
            let reserved = q.reserved.clone().unwrap_or_else(|| "-".into());
            if wide {
                vec![
                    q.position.to_string(),
                    holder,
                    q.request.clone(),
                    prio.clone(),
                    q.pid.to_string(),
                    waited,
                    deadline,
                    reserved,
                ]
            } else {
                vec![
                    q.position.to_string(),
                    format!("{holder}\n{}", q.request),
                    format!("{prio}\n{}", q.pid),
                    format!("{waited}\n{deadline}"),
                    reserved,
                ]
            }
        })
        .collect();
    let (header, right, fill): (&[&str], _, _) = if wide {
        (
            &[
                "Pos", "Holder", "Request", "Priority", "PID", "Waited", "Deadline", "Reserved",
            ],
            vec![0, 4, 5],
            None,
        )
    } else {
        (
            &[
                "Pos",
                "Holder\nRequest",
                "Priority\nPID",
                "Waited\nDeadline",
                // `GPU 0 7g.141gb@0`
                "Reserved",
            ],
            vec![0, 3],
            Some((1, NARROW)),
        )
    };
    Table {
        title: Some("Waiting:".into()),
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
        right,
        min: if wide { vec![] } else { vec![3, 0, 11, 9, 16] },
        fill,
        ..Table::default()
    }
    .render()
}

/// Evictions in flight: the room each reserves while its victims leave.
fn evictions(st: &Status, form: Form) -> String {
    let wide = form == Form::Wide;
    let rows = st
        .evictions
        .iter()
        .map(|e| {
            let holder = holder_name(&e.namespace, &e.id);
            let victims = e.victims.join(", ");
            if wide {
                vec![
                    holder,
                    e.pid.to_string(),
                    e.reserved.clone(),
                    victims,
                    secs(e.waited_ms),
                ]
            } else {
                vec![
                    format!("{holder}\n{victims}"),
                    e.pid.to_string(),
                    e.reserved.clone(),
                    secs(e.waited_ms),
                ]
            }
        })
        .collect();
    let (header, right, min): (&[&str], _, _) = if wide {
        (
            &["Holder", "PID", "Reserved", "Victims", "Waited"],
            vec![1, 4],
            vec![],
        )
    } else {
        (
            &["Holder\nVictims", "PID", "Reserved", "Waited"],
            vec![1, 3],
            vec![0, 7, 16, 7],
        )
    };
    Table {
        title: Some("Evicting (room reserved while the victims leave):".into()),
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
        right,
        min,
        fill: (!wide).then_some((0, NARROW)),
        ..Table::default()
    }
    .render()
}
