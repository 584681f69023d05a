//! A replay of projects with GPU quotas (docs/policy.md, the seed's "allocate 2 GPUs to the
//! project"): jobs of several projects arrive on one node; each is admitted against its
//! project's quota as the node admits it ([`dynamig_core::policy`]: within quota as without
//! quotas, beyond it only preemptible work where the policy allows, marked over quota), placed by
//! dynamig's planner (over-quota holders are the first victims of a request within its quota),
//! and the report gives each project's share of the node's GPU time against its quota.
//!
//! [`two_projects`] is the workload the issue asks for: `team-a` submits all along, `team-b` only
//! in the second half. While `team-b` is idle `team-a` runs beyond its quota on the idle GPUs;
//! once `team-b` submits it takes its quota back from `team-a`'s over-quota jobs, which a
//! request of the same priority could not do without quotas.
//!
//! Like [`super::sim`], a refused job is dropped (no queue) and an evicted job ends. GPU time is
//! counted from the first arrival to the last; a MIG slice counts its share of its GPU's memory
//! slices ([`GpuShare`]).

use super::rng::SplitMix64;
use dynamig_core::catalog::{GpuModel, Profile};
use dynamig_core::ids::GpuIndex;
use dynamig_core::planner::{
    self, candidate_profiles, GpuView, HolderRef, NodeView, Owner, PlacedInstance, PlanRequest,
};
use dynamig_core::policy::{Ask, GpuShare, Policy, Scope, Standing};
use dynamig_core::priority::Priority;
use dynamig_core::request::{Request, Size};
use std::fmt::Write as _;
use std::time::Duration;

/// One job of a project.
#[derive(Debug, Clone)]
pub struct ProjectJob {
    /// Index into the project names.
    pub project: usize,
    pub arrival: f64,
    pub duration: f64,
    pub profile: &'static str,
    pub priority: Priority,
    pub preemptible: bool,
}

/// A workload of projects: their names (containerd namespaces) and jobs by arrival.
#[derive(Debug, Clone)]
pub struct ProjectWorkload {
    pub projects: Vec<String>,
    pub jobs: Vec<ProjectJob>,
    /// Where the report's first part ends and its second begins.
    pub split: f64,
}

/// What one project got.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectStats {
    pub name: String,
    /// Its quota in GPUs (`None`: no quota).
    pub quota: Option<f64>,
    pub requests: u64,
    pub admitted: u64,
    /// Admitted beyond its quota, marked over quota.
    pub admitted_over: u64,
    pub refused: u64,
    /// Its jobs evicted by others.
    pub evicted: u64,
    /// Of those, over quota when evicted.
    pub evicted_over: u64,
    /// GPU-seconds held, before and after the workload's split.
    pub gpu_time: [f64; 2],
    /// GPU-seconds held over quota, in each part.
    pub over_time: [f64; 2],
}

/// The replay's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectsReport {
    pub node_gpus: f64,
    /// Seconds of each part (before and after the workload's split).
    pub spans: [f64; 2],
    pub projects: Vec<ProjectStats>,
}

impl ProjectsReport {
    /// A project's share of the node's GPU time in part `h` (0: before the split, 1: after).
    pub fn share(&self, project: usize, h: usize) -> f64 {
        let span = self.spans[h] * self.node_gpus;
        if span > 0.0 {
            self.projects[project].gpu_time[h] / span
        } else {
            0.0
        }
    }

    /// A project's over-quota share of the node's GPU time in part `h`.
    pub fn over_share(&self, project: usize, h: usize) -> f64 {
        let span = self.spans[h] * self.node_gpus;
        if span > 0.0 {
            self.projects[project].over_time[h] / span
        } else {
            0.0
        }
    }

    /// Each project's quota (as a share of the node) and share of GPU time, per half.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{:<10} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>6} {:>6} {:>7}\n",
            "project",
            "quota",
            "of node",
            "before",
            "(over)",
            "after",
            "(over)",
            "adm",
            "ref",
            "evicted"
        );
        for (i, p) in self.projects.iter().enumerate() {
            let quota = p.quota.map_or("-".to_string(), |q| {
                format!("{:.0}%", 100.0 * q / self.node_gpus.max(f64::MIN_POSITIVE))
            });
            let _ = writeln!(
                out,
                "{:<10} {:>7} {:>7} {:>8.1}% {:>8.1}% {:>8.1}% {:>8.1}% {:>6} {:>6} {:>7}",
                p.name,
                p.quota
                    .and_then(GpuShare::from_gpus)
                    .map_or("-".to_string(), |q| q.to_string()),
                quota,
                100.0 * self.share(i, 0),
                100.0 * self.over_share(i, 0),
                100.0 * self.share(i, 1),
                100.0 * self.over_share(i, 1),
                p.admitted,
                p.refused,
                p.evicted,
            );
        }
        out
    }
}

/// Two projects (`team-a`, `team-b`) with `requests` jobs between them on a node of `gpus`:
/// `team-a` submits a few long jobs over the whole span, `team-b` many short ones only in its
/// second half, each more than the node when it submits. Preemptible training jobs of 1g.5gb, 2g.10gb and
/// 3g.20gb.
pub fn two_projects(gpus: &[&'static GpuModel], requests: usize, seed: u64) -> ProjectWorkload {
    const PROFILES: [&str; 3] = ["1g.5gb", "2g.10gb", "3g.20gb"];
    let mut rng = SplitMix64::new(seed);
    // A job holds on average a quarter GPU. team-a runs few long jobs (a mean of half the
    // span: once it holds a GPU it keeps it), team-b many short ones; each, while it submits,
    // asks for about 1.5 times the node.
    #[allow(clippy::cast_precision_loss)]
    let node = gpus.len() as f64;
    #[allow(clippy::cast_precision_loss)]
    let n_a = (12.0 * node).min(requests as f64 / 2.0);
    #[allow(clippy::cast_precision_loss)]
    let n_b = (requests as f64 - n_a).max(1.0);
    let short = 100.0;
    let rate_b = 1.5 * node * 4.0 / short;
    let span = 2.0 * n_b / rate_b;
    let durations = [span / 2.0, short];
    let rates = [n_a / span, rate_b];
    let mut jobs = Vec::with_capacity(requests + 8);
    // team-a over the whole span, team-b over its second half.
    for (project, from) in [(0, 0.0), (1, span / 2.0)] {
        let mut t = from;
        loop {
            t += rng.exp(1.0 / rates[project]);
            if t >= span {
                break;
            }
            jobs.push(ProjectJob {
                project,
                arrival: t,
                duration: rng.exp(durations[project]),
                profile: PROFILES[rng.weighted(&[0.4, 0.4, 0.2])],
                priority: Priority(dynamig_core::priority::TRAINING),
                preemptible: true,
            });
        }
    }
    jobs.sort_by(|a, b| a.arrival.total_cmp(&b.arrival));
    ProjectWorkload {
        projects: vec!["team-a".into(), "team-b".into()],
        jobs,
        split: span / 2.0,
    }
}

/// A job on the node.
struct Running {
    project: usize,
    gpu: usize,
    profile: &'static Profile,
    start: u8,
    end: f64,
    seq: u64,
    over_quota: bool,
    share: GpuShare,
}

/// Replays `wl` on `gpus` under `policy` (its `[namespace."<project>"]` rules).
pub fn replay_projects(
    gpus: &[&'static GpuModel],
    wl: &ProjectWorkload,
    policy: &Policy,
) -> ProjectsReport {
    let first = wl.jobs.first().map_or(0.0, |j| j.arrival);
    let last = wl.jobs.last().map_or(first, |j| j.arrival);
    let mid = wl.split.clamp(first, last);
    let mut stats: Vec<ProjectStats> = wl
        .projects
        .iter()
        .map(|n| ProjectStats {
            name: n.clone(),
            quota: policy
                .allowance(n, None)
                .quotas()
                .first()
                .map(|q| q.value.as_gpus()),
            ..ProjectStats::default()
        })
        .collect();
    let mut running: Vec<Running> = Vec::new();
    let mut clock = first;
    let mut seq = 0u64;
    // Holds every running job's GPU time from `clock` to `t`, split at the middle.
    let advance = |running: &[Running], stats: &mut [ProjectStats], from: f64, to: f64| {
        for (h, (a, b)) in [(from, to.min(mid)), (from.max(mid), to)]
            .into_iter()
            .enumerate()
        {
            let dt = (b - a).max(0.0);
            for r in running {
                let g = dt * r.share.as_gpus();
                stats[r.project].gpu_time[h] += g;
                if r.over_quota {
                    stats[r.project].over_time[h] += g;
                }
            }
        }
    };
    for job in &wl.jobs {
        // Departures up to this arrival, in end order.
        running.sort_by(|a, b| a.end.total_cmp(&b.end));
        while running.first().is_some_and(|r| r.end <= job.arrival) {
            let end = running[0].end;
            advance(&running, &mut stats, clock, end);
            clock = clock.max(end);
            running.remove(0);
        }
        advance(&running, &mut stats, clock, job.arrival);
        clock = job.arrival;
        let st = &mut stats[job.project];
        st.requests += 1;
        let name = &wl.projects[job.project];
        let size = Size::Profile {
            name: job.profile.into(),
        };
        let mut request = Request::new(size.clone());
        request.priority = job.priority;
        request.preemptible = job.preemptible;
        let allowance = policy.allowance(name, None);
        let Some(ask) = gpus.iter().find_map(|m| {
            let p = *candidate_profiles(m, &size).first()?;
            Some(Ask {
                share: GpuShare::of(m, p),
                what: p.name.into(),
            })
        }) else {
            st.refused += 1;
            continue;
        };
        let used = |s: &Scope| -> GpuShare {
            running
                .iter()
                .filter(|r| !r.over_quota)
                .filter(|r| matches!(s, Scope::Containerd(n) if *n == wl.projects[r.project]))
                .map(|r| r.share)
                .sum()
        };
        let standing = if allowance.admit(&request).is_err() {
            None
        } else {
            allowance.admit_quota(&request, &ask, used).ok()
        };
        let Some(standing) = standing else {
            stats[job.project].refused += 1;
            continue;
        };
        let view = view_of(gpus, &running);
        let req = PlanRequest {
            size,
            priority: job.priority,
            within_quota: standing == Standing::Within,
        };
        let d = match planner::plan(&view, &req) {
            Ok(d) if allowance.may_evict.value || d.victims.is_empty() => d,
            _ => {
                stats[job.project].refused += 1;
                continue;
            }
        };
        let gpu = d.gpu.slot();
        running.retain(|r| {
            let gone = r.gpu == gpu && d.victims.iter().any(|v| v.start == r.start);
            if gone {
                stats[r.project].evicted += 1;
                if r.over_quota {
                    stats[r.project].evicted_over += 1;
                }
            }
            !gone
        });
        let st = &mut stats[job.project];
        st.admitted += 1;
        let over_quota = standing == Standing::Over;
        if over_quota {
            st.admitted_over += 1;
        }
        seq += 1;
        running.push(Running {
            project: job.project,
            gpu,
            profile: d.profile,
            start: d.start,
            end: job.arrival + job.duration,
            seq,
            over_quota,
            share: GpuShare::of(gpus[gpu], d.profile),
        });
    }
    ProjectsReport {
        #[allow(clippy::cast_precision_loss)]
        node_gpus: gpus.len() as f64,
        spans: [mid - first, last - mid],
        projects: stats,
    }
}

/// The planner's view of the running jobs.
fn view_of(gpus: &[&'static GpuModel], running: &[Running]) -> NodeView {
    NodeView {
        gpus: gpus
            .iter()
            .enumerate()
            .map(|(i, &model)| GpuView {
                index: GpuIndex(u32::try_from(i).unwrap_or(u32::MAX)),
                model,
                usable: true,
                instances: running
                    .iter()
                    .filter(|r| r.gpu == i)
                    .map(|r| PlacedInstance {
                        profile: r.profile,
                        start: r.start,
                        owner: Owner::Holder(HolderRef {
                            id: r.seq.to_string(),
                            namespace: String::new(),
                            priority: Priority(dynamig_core::priority::TRAINING),
                            preemptible: true,
                            seq: r.seq,
                            over_quota: r.over_quota,
                            // Victims are dropped here: the youngest go, as before.
                            run_time: Duration::ZERO,
                            checkpoint_interval: None,
                        }),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// The policy of [`two_projects`]: each project a quota of half the node's GPUs, over quota
/// allowed, training at most, may evict.
pub fn two_projects_policy(gpus: usize) -> Policy {
    let half = (gpus / 2).max(1);
    let text = format!(
        "[namespace.\"team-a\"]\nmax_priority = \"training\"\nmay_evict = true\n\
         gpu_quota = {half}\nover_quota = true\n\n\
         [namespace.\"team-b\"]\nmax_priority = \"training\"\nmay_evict = true\n\
         gpu_quota = {half}\nover_quota = true\n"
    );
    let mut p = Policy::parse(&text).unwrap_or_else(|_| Policy::open());
    p.path = Some("projects".into());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamig_core::catalog::model_by_key;

    fn node() -> Vec<&'static GpuModel> {
        vec![model_by_key("a100-40gb").unwrap(); 4]
    }

    #[test]
    fn a_project_borrows_idle_quota_and_gives_it_back() {
        let gpus = node();
        let wl = two_projects(&gpus, 1000, 7);
        assert!(wl.jobs.iter().any(|j| j.project == 1));
        let r = replay_projects(&gpus, &wl, &two_projects_policy(4));
        let (a, b) = (0, 1);
        assert_eq!(r.projects[a].quota, Some(2.0));
        // First half: team-b is idle; team-a runs beyond its half of the node, over quota.
        assert_eq!(r.projects[b].gpu_time[0], 0.0);
        assert!(r.share(a, 0) > 0.5, "{}", r.render());
        assert!(r.over_share(a, 0) > 0.0, "{}", r.render());
        // Second half: team-b takes its quota back from team-a's over-quota jobs, and only
        // from those: every team-a job evicted was over quota.
        assert!(r.projects[a].evicted > 0, "{}", r.render());
        assert_eq!(r.projects[a].evicted, r.projects[a].evicted_over);
        assert!(r.share(b, 1) > r.over_share(a, 1), "{}", r.render());
        // Over quota never pushes a project within its quota out of the node: team-b, within
        // its quota, holds no less than team-a's over-quota work in the second half.
        let quota = 0.5;
        assert!(
            r.share(b, 1) > quota * 0.75,
            "team-b's share {:.2} far below its quota {quota}: {}",
            r.share(b, 1),
            r.render()
        );
    }

    #[test]
    fn without_quotas_the_late_project_cannot_take_its_share_back() {
        let gpus = node();
        let wl = two_projects(&gpus, 1000, 7);
        let with = replay_projects(&gpus, &wl, &two_projects_policy(4));
        let without = replay_projects(&gpus, &wl, &Policy::open());
        // Same priority, no quotas: nobody may evict anybody; team-b gets what team-a leaves.
        assert_eq!(without.projects[0].evicted, 0);
        assert_eq!(without.projects[0].admitted_over, 0);
        assert!(
            with.share(1, 1) > without.share(1, 1),
            "with quotas:\n{}without:\n{}",
            with.render(),
            without.render()
        );
    }
}
