//! The event-driven replay of one workload under one policy.
//!
//! Jobs arrive in order; before each arrival every job whose life ended by then departs and its
//! instance is freed. The policy sees the node as the planner would (every instance held by a job,
//! with its priority and arrival order) and decides. Each decision is checked before it is
//! applied: the GPU is usable, the profile is one the request may use, every victim is an
//! instance of an evictable holder on that GPU, and with the victims gone NVML would accept the
//! placement ([`Usage::check`]). A decision that fails the check is counted as `invalid` and not
//! applied. Evicted jobs are counted as victims and dropped, as are refused requests: this replay
//! judges single decisions. [`super::queued`] replays with the wait queue and requeued victims.
//!
//! Utilization is the time-weighted share of the node's memory slices held by instances, from
//! the first arrival to the last (the drain after the last arrival is not counted).

use super::report::Stats;
use super::workload::{Job, Workload};
use super::Policy;
use dynamig_core::catalog::GpuModel;
use dynamig_core::ids::GpuIndex;
use dynamig_core::layout::Usage;
use dynamig_core::planner::{
    candidate_profiles, Decision, GpuView, HolderRef, NodeView, Owner, PlacedInstance, PlanRequest,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Buckets of the utilization timeline.
const TIMELINE_BUCKETS: usize = 10;

/// A node to replay on.
pub struct Replay<'a> {
    pub gpus: &'a [&'static GpuModel],
    pub node_name: String,
}

/// Time-weighted utilization, overall and per bucket.
struct Meter {
    start: f64,
    end: f64,
    last: f64,
    used: u32,
    total: u32,
    area: f64,
    buckets: [f64; TIMELINE_BUCKETS],
}

impl Meter {
    // `a` is at or after `start`: the bucket is a small non-negative whole number, clamped.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn advance(&mut self, t: f64) {
        let (t0, t1) = (self.last.max(self.start), t.min(self.end));
        if t1 > t0 && self.used > 0 {
            let w = (self.end - self.start) / TIMELINE_BUCKETS as f64;
            let mut a = t0;
            while a < t1 {
                let b = (((a - self.start) / w).floor() as usize).min(TIMELINE_BUCKETS - 1);
                let edge = (self.start + (b + 1) as f64 * w).min(t1);
                let edge = if edge <= a { t1 } else { edge };
                let part = (edge - a) * f64::from(self.used);
                self.buckets[b] += part;
                self.area += part;
                a = edge;
            }
        }
        self.last = self.last.max(t);
    }

    /// A meter over the workload's arrivals, from the first to the last, on `total` slices.
    fn new(wl: &Workload, total: u32) -> Meter {
        let first = wl.jobs.first().map_or(0.0, |j| j.arrival);
        Meter {
            start: first,
            end: wl.jobs.last().map_or(first, |j| j.arrival),
            last: first,
            used: 0,
            total,
            area: 0.0,
            buckets: [0.0; TIMELINE_BUCKETS],
        }
    }

    fn mean(&self) -> f64 {
        let span = (self.end - self.start) * f64::from(self.total);
        if span > 0.0 {
            self.area / span
        } else {
            0.0
        }
    }

    fn timeline(&self) -> Vec<f64> {
        let span = (self.end - self.start) / TIMELINE_BUCKETS as f64 * f64::from(self.total);
        self.buckets
            .iter()
            .map(|a| if span > 0.0 { a / span } else { 0.0 })
            .collect()
    }
}

/// Jobs running, by end time: (end time bits, job id). f64 times are non-negative, so their
/// bits order like the values.
type Departures = BinaryHeap<Reverse<(u64, u64)>>;

/// Replays `wl` under `policy` on the node.
pub fn replay(node: &Replay, wl: &Workload, policy: &dyn Policy) -> Stats {
    let mut view = empty_view(node);
    let mut stats = Stats::new(&wl.name, &node.node_name, policy.name());
    let total = node.gpus.iter().map(|m| u32::from(m.memory_slices)).sum();
    let mut meter = Meter::new(wl, total);
    let mut departures = Departures::new();
    let mut times = Vec::with_capacity(wl.jobs.len());

    for job in &wl.jobs {
        depart_until(job.arrival, &mut departures, &mut meter, &mut view);
        meter.advance(job.arrival);
        stats.requests += 1;
        let req = PlanRequest {
            size: job.size.clone(),
            priority: job.priority,
            within_quota: true,
        };
        let t0 = Instant::now();
        let d = policy.decide(&view, &req);
        times.push(t0.elapsed().as_secs_f64() * 1e6);
        let Some(d) = d else {
            stats.refused += 1;
            continue;
        };
        if admit(&mut view, &mut stats, &mut meter, &req, &d, job) {
            departures.push(Reverse(((job.arrival + job.duration).to_bits(), job.id)));
        }
    }
    meter.advance(meter.end);
    stats.utilization = meter.mean();
    stats.timeline = meter.timeline();
    stats.set_times(times);
    stats
}

/// The node with no instances.
fn empty_view(node: &Replay) -> NodeView {
    NodeView {
        gpus: node
            .gpus
            .iter()
            .zip(0u32..)
            .map(|(m, i)| GpuView {
                index: GpuIndex(i),
                model: m,
                usable: true,
                instances: Vec::new(),
            })
            .collect(),
    }
}

/// Ends every job that ends at or before `t`, in end order.
fn depart_until(t: f64, departures: &mut Departures, meter: &mut Meter, view: &mut NodeView) {
    while let Some(&Reverse((end_bits, id))) = departures.peek() {
        let end = f64::from_bits(end_bits);
        if end > t {
            break;
        }
        departures.pop();
        meter.advance(end);
        meter.used -= remove(view, &id.to_string());
    }
}

/// Carries out decision `d` for `job` when it obeys the rules (an invalid one is counted and
/// dropped): evicts its victims and places the job. True when the job now runs.
fn admit(
    view: &mut NodeView,
    stats: &mut Stats,
    meter: &mut Meter,
    req: &PlanRequest,
    d: &Decision,
    job: &Job,
) -> bool {
    if let Err(why) = check(view, req, d) {
        stats.invalid += 1;
        stats
            .first_invalid
            .get_or_insert_with(|| format!("job {}: {why}", job.id));
        return false;
    }
    if d.victims.is_empty() {
        stats.admitted_free += 1;
    } else {
        stats.admitted_evict += 1;
        if room_somewhere(view, req) {
            stats.evict_with_room += 1;
        }
        stats.victims += d.victims.len() as u64;
    }
    for v in &d.victims {
        meter.used -= remove(view, &v.id);
    }
    place(view, d, job);
    meter.used += u32::from(d.profile.memory_slices);
    true
}

/// Whether some usable GPU has as many free memory slices as the smallest profile the request
/// may use there. An eviction made while this holds was forced by the layout (fragmentation,
/// compute slices or instance limits), not by a full node: a better placement history might
/// have avoided it. One made while it fails was unavoidable for any placement policy.
fn room_somewhere(view: &NodeView, req: &PlanRequest) -> bool {
    view.gpus.iter().filter(|g| g.usable).any(|g| {
        let free = Usage::of(g.model, g.instances.iter().map(|i| (i.profile, i.start)))
            .free_slices(g.model);
        candidate_profiles(g.model, &req.size)
            .iter()
            .any(|p| p.memory_slices <= free)
    })
}

/// Removes the instance held by `id`; returns the memory slices freed.
fn remove(view: &mut NodeView, id: &str) -> u32 {
    for g in &mut view.gpus {
        if let Some(i) = g
            .instances
            .iter()
            .position(|inst| matches!(&inst.owner, Owner::Holder(h) if h.id == id))
        {
            return u32::from(g.instances.remove(i).profile.memory_slices);
        }
    }
    0
}

fn place(view: &mut NodeView, d: &Decision, job: &Job) {
    if let Some(g) = view.gpus.iter_mut().find(|g| g.index == d.gpu) {
        g.instances.push(PlacedInstance {
            profile: d.profile,
            start: d.start,
            owner: Owner::Holder(HolderRef {
                id: job.id.to_string(),
                namespace: String::new(),
                priority: job.priority,
                preemptible: job.preemptible,
                seq: job.id,
                over_quota: false,
                // This replay drops victims, so it has no use for their work at risk: with none
                // anywhere, the victims are the youngest, as they have always been here.
                run_time: Duration::ZERO,
                checkpoint_interval: None,
            }),
        });
    }
}

/// Whether a decision obeys the rules on this view.
pub fn check(view: &NodeView, req: &PlanRequest, d: &Decision) -> Result<(), String> {
    check_with(view, req, d, false)
}

/// [`check`]; with `larger`, the profile may also be any one of at least the requested memory
/// (a static layout's slot, [`Policy::takes_larger`]).
pub fn check_with(
    view: &NodeView,
    req: &PlanRequest,
    d: &Decision,
    larger: bool,
) -> Result<(), String> {
    let g = view
        .gpus
        .iter()
        .find(|g| g.index == d.gpu)
        .ok_or_else(|| format!("no GPU {}", d.gpu))?;
    if !g.usable {
        return Err(format!("GPU {} is not usable", d.gpu));
    }
    let allowed = if larger {
        super::layouts::slot_serves(d.profile, &req.size)
    } else {
        candidate_profiles(g.model, &req.size)
            .iter()
            .any(|p| p.id == d.profile.id)
    };
    if !allowed {
        return Err(format!("{} may not serve {}", d.profile.name, req.size));
    }
    let mut gone = Vec::new();
    for v in &d.victims {
        let i = g
            .instances
            .iter()
            .position(|inst| matches!(&inst.owner, Owner::Holder(h) if h.id == v.id))
            .ok_or_else(|| format!("victim {} is not on GPU {}", v.id, d.gpu))?;
        match &g.instances[i].owner {
            Owner::Holder(h) if h.evictable_by(req.priority) => gone.push(i),
            _ => return Err(format!("victim {} may not be evicted", v.id)),
        }
    }
    let usage = super::policy::usage_without(g, &gone);
    usage
        .check(g.model, d.profile, d.start)
        .map_err(|c| format!("{}@{} on GPU {}: {c}", d.profile.name, d.start, d.gpu))
}
