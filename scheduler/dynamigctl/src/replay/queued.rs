//! The replay with the wait queue: nobody is dropped. A request that finds no room waits in the
//! node's queue under the real `dynamig.io/wait` rules ([`dynamig_core::queue`]: priority, then
//! first come; reservations with backfill), and a preempted training job goes back to the queue
//! and loses the work done since its last checkpoint. Every job runs to completion (or, when no
//! slot on the node can ever hold it, is counted as never served), so the replay measures what
//! users feel: job completion time (completion − arrival), time spent waiting, and work lost.
//!
//! # Rules
//!
//! - Events in time order; at equal times completions come before arrivals.
//! - An arrival is admitted as a request without a ticket (`queue::arrival_key`: behind every
//!   ticket of its priority or above, ahead of lower ones); refused, it takes a ticket.
//! - After every change (a completion, an admission, a new ticket) the queue is served:
//!   the first ticket in serving order that the rule admits ([`queue::first_admitted`]) is
//!   carried out, and so on until none is. The real node's waiters poll every ≤ 200 ms; the
//!   replay serves them at once.
//! - An evicted job takes a new ticket at the time of its eviction (as the recreated container
//!   of a job controller would: a new arrival number), keeping its priority. It resumes from its
//!   last checkpoint: a job checkpoints every `checkpoint` units of its own run time, counted
//!   from each (re)start, so an eviction after `r` units of running loses `r mod checkpoint`.
//! - Every preemptible job declares its checkpoint interval (`dynamig.io/checkpoint-interval`):
//!   before each decision every holder in the view gets its run time and that interval, as the
//!   node gives them from its state, so dynamig's planner evicts the set with the least work at
//!   risk (docs/eviction.md, "Who is evicted"). The baselines and static layouts keep their own
//!   victim order (lowest priority, then youngest).
//! - Waiting has no deadline here (the real `dynamig.io/wait` stops at 1 h; the replay assumes
//!   the job is resubmitted until it runs, so every job has a completion time).
//! - Each decision is checked against the NVML rules as in [`super::sim`] before it is applied.
//! - No quotas: every request is within quota, no holder over it ([`super::projects`] replays
//!   quotas).

use super::jct::JctStats;
use super::sim::{check_with, Replay};
use super::workload::Workload;
use super::Policy;
use dynamig_core::ids::GpuIndex;
use dynamig_core::planner::{
    Decision, GpuView, HolderRef, NodeView, Owner, PlacedInstance, PlanRequest, Refusal,
};
use dynamig_core::queue::{self, Admission, Queued};
use dynamig_core::request::Request;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

/// Settings of a queued replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueSettings {
    /// Run time between two checkpoints of a preemptible job, in the workload's time unit.
    /// Infinite: never checkpoints (an eviction loses the whole run).
    /// Every preemptible job declares it as its checkpoint interval
    /// (`dynamig.io/checkpoint-interval`), so the planner weighs each victim's work at risk.
    pub checkpoint: f64,
    /// How many tickets hold a reservation: `usize::MAX` is the node's rule (every ticket);
    /// fewer is an experiment ([`queue::first_admitted_reserving`]).
    pub max_reservations: usize,
}

/// A waiting request.
#[derive(Clone)]
struct Ticket {
    id: String,
    request: Request,
    seq: u64,
    job: usize,
    since: f64,
}

impl Queued for Ticket {
    fn id(&self) -> &str {
        &self.id
    }
    fn namespace(&self) -> &str {
        ""
    }
    fn request(&self) -> &Request {
        &self.request
    }
    fn seq(&self) -> u64 {
        self.seq
    }
}

/// A job's progress.
#[derive(Debug, Clone, Default)]
struct Progress {
    /// Work still to do as of its last checkpoint.
    remaining: f64,
    /// While it runs: (start of this run, end if not evicted, share of its GPU).
    run: Option<(f64, f64, f64)>,
    waited: f64,
    completion: Option<f64>,
}

/// What one job came to.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResult {
    pub id: u64,
    pub arrival: f64,
    /// None: never served (no slot on the node can hold it).
    pub completion: Option<f64>,
    /// Total time in the queue, over all its waits.
    pub waited: f64,
    pub evictions: u32,
    /// Run time thrown away by its evictions.
    pub lost: f64,
}

/// Completions by end time: (end bits, job index). Times are non-negative, so bits order.
type Ends = BinaryHeap<Reverse<(u64, usize)>>;

struct Sim<'a> {
    wl: &'a Workload,
    policy: &'a dyn Policy,
    settings: QueueSettings,
    view: NodeView,
    queue: Vec<Ticket>,
    next_seq: u64,
    next_alloc: u64,
    ends: Ends,
    jobs: Vec<Progress>,
    /// Job id → position in the workload.
    index: HashMap<u64, usize>,
    results: Vec<JobResult>,
    stats: JctStats,
    /// Memory slices held now, and the time-weighted integral of it.
    used: u32,
    area: f64,
    last: f64,
}

/// Replays `wl` under `policy` with the wait queue and requeued victims.
pub fn replay_queued(
    node: &Replay,
    wl: &Workload,
    policy: &dyn Policy,
    settings: QueueSettings,
) -> (JctStats, Vec<JobResult>) {
    let total: u32 = node.gpus.iter().map(|m| u32::from(m.memory_slices)).sum();
    let start = wl.jobs.first().map_or(0.0, |j| j.arrival);
    let mut sim = Sim {
        wl,
        policy,
        settings,
        view: empty_view(node),
        queue: Vec::new(),
        next_seq: 0,
        next_alloc: 0,
        ends: Ends::new(),
        jobs: wl
            .jobs
            .iter()
            .map(|j| Progress {
                remaining: j.duration,
                ..Progress::default()
            })
            .collect(),
        index: wl.jobs.iter().enumerate().map(|(i, j)| (j.id, i)).collect(),
        results: wl
            .jobs
            .iter()
            .map(|j| JobResult {
                id: j.id,
                arrival: j.arrival,
                completion: None,
                waited: 0.0,
                evictions: 0,
                lost: 0.0,
            })
            .collect(),
        stats: JctStats::new(&wl.name, &node.node_name, &policy.label()),
        used: 0,
        area: 0.0,
        last: start,
    };
    let mut next = 0;
    loop {
        let end = sim.next_end();
        let arrival = wl.jobs.get(next).map(|j| j.arrival);
        match (end, arrival) {
            (Some((t, j)), a) if a.is_none_or(|a| t <= a) => {
                sim.ends.pop();
                sim.complete(t, j);
            }
            (_, Some(a)) => {
                sim.arrive(a, next);
                next += 1;
            }
            (_, None) => break,
        }
    }
    sim.finish(start, total)
}

impl Sim<'_> {
    /// The next live completion (stale ones, of evicted runs, are dropped).
    fn next_end(&mut self) -> Option<(f64, usize)> {
        while let Some(&Reverse((bits, j))) = self.ends.peek() {
            let t = f64::from_bits(bits);
            match self.jobs[j].run {
                Some((_, end, _)) if end.to_bits() == bits => return Some((t, j)),
                _ => {
                    self.ends.pop();
                }
            }
        }
        None
    }

    fn advance(&mut self, t: f64) {
        if t > self.last {
            self.area += (t - self.last) * f64::from(self.used);
            self.last = t;
        }
    }

    fn complete(&mut self, t: f64, j: usize) {
        self.advance(t);
        self.used -= remove(&mut self.view, &self.wl.jobs[j].id.to_string());
        self.jobs[j].run = None;
        self.jobs[j].remaining = 0.0;
        self.jobs[j].completion = Some(t);
        self.serve(t);
    }

    fn arrive(&mut self, t: f64, j: usize) {
        self.advance(t);
        self.refresh(t);
        let job = &self.wl.jobs[j];
        let req = PlanRequest {
            size: job.size.clone(),
            priority: job.priority,
            within_quota: true,
        };
        let key = queue::arrival_key(job.priority);
        let mut plan = plan_fn(self.policy);
        // With fewer reservations (the experiment), only the first tickets in serving order
        // hold room against a newcomer.
        let ahead: Vec<Ticket>;
        let tickets = if self.settings.max_reservations < self.queue.len() {
            ahead = queue::ordered(&self.queue)
                .into_iter()
                .take(self.settings.max_reservations)
                .cloned()
                .collect();
            &ahead
        } else {
            &self.queue
        };
        let admitted = match queue::admit_with(&self.view, tickets, &req, key, &mut plan) {
            Admission::Admit(d) => self.start(t, j, &req, &d),
            Admission::Reserved(_) | Admission::NoRoom(_) => false,
        };
        if !admitted {
            self.enqueue(t, j);
        }
        self.serve(t);
    }

    /// Gives every holder in the view its run time at `t` and its checkpoint interval, as the
    /// node does from its state ([`HolderRef::run_time`]): what the planner weighs as each
    /// victim's work at risk. The baselines and static layouts do not read them.
    fn refresh(&mut self, t: f64) {
        let every = interval(self.settings.checkpoint);
        for g in &mut self.view.gpus {
            for i in &mut g.instances {
                let Owner::Holder(h) = &mut i.owner else {
                    continue;
                };
                let Some(&j) = h.id.parse::<u64>().ok().and_then(|k| self.index.get(&k)) else {
                    continue;
                };
                if let Some((began, _, _)) = self.jobs[j].run {
                    h.run_time = seconds(t - began);
                    h.checkpoint_interval = if h.preemptible { every } else { None };
                }
            }
        }
    }

    fn enqueue(&mut self, t: f64, j: usize) {
        let job = &self.wl.jobs[j];
        let mut request = Request::new(job.size.clone());
        request.priority = job.priority;
        request.preemptible = job.preemptible;
        self.queue.push(Ticket {
            id: job.id.to_string(),
            request,
            seq: self.next_seq,
            job: j,
            since: t,
        });
        self.next_seq += 1;
    }

    /// Serves the queue until no ticket is admitted.
    fn serve(&mut self, t: f64) {
        loop {
            self.refresh(t);
            let mut plan = plan_fn(self.policy);
            let Some((ticket, d)) = queue::first_admitted_reserving(
                &self.view,
                &self.queue,
                &mut plan,
                self.settings.max_reservations,
            ) else {
                return;
            };
            let (j, since, seq) = (ticket.job, ticket.since, ticket.seq);
            let req = PlanRequest {
                size: ticket.request.size.clone(),
                priority: ticket.request.priority,
                within_quota: true,
            };
            if !self.start(t, j, &req, &d) {
                // Never expected (counted as invalid): stop serving for now.
                return;
            }
            self.queue.retain(|x| x.seq != seq);
            self.jobs[j].waited += t - since;
        }
    }

    /// Carries out `d` for job `j` at `t` (evicting and requeueing its victims) when it obeys
    /// the rules. False when it does not (counted as invalid, nothing changed).
    fn start(&mut self, t: f64, j: usize, req: &PlanRequest, d: &Decision) -> bool {
        if let Err(why) = check_with(&self.view, req, d, self.policy.takes_larger()) {
            self.stats.invalid += 1;
            self.stats
                .first_invalid
                .get_or_insert_with(|| format!("job {}: {why}", self.wl.jobs[j].id));
            return false;
        }
        for v in &d.victims {
            self.evict(t, &v.id);
        }
        let job = &self.wl.jobs[j];
        let share = self
            .view
            .gpus
            .iter()
            .find(|g| g.index == d.gpu)
            .map_or(0.0, |g| {
                f64::from(d.profile.memory_slices) / f64::from(g.model.memory_slices)
            });
        place(
            &mut self.view,
            d,
            job.id,
            job.priority,
            job.preemptible,
            self.next_alloc,
        );
        self.next_alloc += 1;
        self.used += u32::from(d.profile.memory_slices);
        let end = t + self.jobs[j].remaining;
        self.jobs[j].run = Some((t, end, share));
        self.ends.push(Reverse((end.to_bits(), j)));
        true
    }

    /// Evicts the job holding `id`: its work since the last checkpoint is lost, it waits again.
    fn evict(&mut self, t: f64, id: &str) {
        let Some(&j) = id.parse::<u64>().ok().and_then(|k| self.index.get(&k)) else {
            return;
        };
        let Some((began, _, share)) = self.jobs[j].run.take() else {
            return;
        };
        self.used -= remove(&mut self.view, id);
        let ran = t - began;
        let lost = lost_work(ran, self.settings.checkpoint);
        self.jobs[j].remaining -= ran - lost;
        self.results[j].evictions += 1;
        self.results[j].lost += lost;
        self.stats.evictions += 1;
        self.stats.lost_gpu_time += lost * share;
        self.enqueue(t, j);
    }

    fn finish(mut self, start: f64, total: u32) -> (JctStats, Vec<JobResult>) {
        for (r, p) in self.results.iter_mut().zip(&self.jobs) {
            r.completion = p.completion;
            r.waited = p.waited;
        }
        // Tickets left when nothing runs and nobody arrives can never be served.
        for t in &self.queue {
            self.results[t.job].waited += self.last - t.since;
        }
        self.stats
            .set_results(&self.results, start, self.last, self.area, total);
        self.stats.jct_by_kind = jct_by_kind(&self.results, self.wl);
        (self.stats, self.results)
    }
}

/// Mean JCT of the served jobs of each request size and class, sorted by name.
fn jct_by_kind(results: &[JobResult], wl: &Workload) -> Vec<(String, f64)> {
    let mut kinds: Vec<(String, f64, u32)> = Vec::new();
    for (r, j) in results.iter().zip(&wl.jobs) {
        let Some(c) = r.completion else { continue };
        let class = if j.preemptible {
            "training"
        } else {
            "interactive"
        };
        let kind = format!("{} {class}", j.size);
        match kinds.iter_mut().find(|(k, _, _)| *k == kind) {
            Some(e) => {
                e.1 += c - r.arrival;
                e.2 += 1;
            }
            None => kinds.push((kind, c - r.arrival, 1)),
        }
    }
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    kinds
        .into_iter()
        .map(|(k, sum, n)| (k, sum / f64::from(n)))
        .collect()
}

/// Work lost by an eviction after `ran` units of running, checkpointing every `every`.
pub fn lost_work(ran: f64, every: f64) -> f64 {
    if every.is_finite() && every > 0.0 {
        ran % every
    } else if every <= 0.0 {
        0.0
    } else {
        ran
    }
}

/// A time in the workload's unit as the planner's duration (one unit, one second).
fn seconds(x: f64) -> Duration {
    Duration::try_from_secs_f64(x.max(0.0)).unwrap_or(Duration::MAX)
}

/// The checkpoint interval a job declares: none when it never checkpoints (infinite).
fn interval(every: f64) -> Option<Duration> {
    every.is_finite().then(|| seconds(every))
}

/// The policy as the queue rule's plan function: `None` is a refusal.
fn plan_fn(
    policy: &dyn Policy,
) -> impl FnMut(&NodeView, &PlanRequest) -> Result<Decision, Refusal> + '_ {
    move |v: &NodeView, r: &PlanRequest| {
        policy.decide(v, r).ok_or_else(|| Refusal::NoRoom {
            request: r.size.to_string(),
            priority: r.priority.0,
            gpus: Vec::new(),
        })
    }
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

fn place(
    view: &mut NodeView,
    d: &Decision,
    id: u64,
    priority: dynamig_core::priority::Priority,
    preemptible: bool,
    seq: u64,
) {
    if let Some(g) = view.gpus.iter_mut().find(|g| g.index == d.gpu) {
        g.instances.push(PlacedInstance {
            profile: d.profile,
            start: d.start,
            owner: Owner::Holder(HolderRef {
                id: id.to_string(),
                namespace: String::new(),
                priority,
                preemptible,
                seq,
                over_quota: false,
                // Set before each decision ([`Sim::refresh`]).
                run_time: Duration::ZERO,
                checkpoint_interval: None,
            }),
        });
    }
}
