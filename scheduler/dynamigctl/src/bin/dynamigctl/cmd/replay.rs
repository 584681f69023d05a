//! `dynamigctl replay`: replay workloads against the planner and the baseline policies.

use crate::{bad_input, print_json, refused, Failure};
use clap::Args;
use dynamig_core::catalog::GpuModel;
use dynamigctl::replay::{
    self, compare_queued, load_trace, parse_node, policy_by_name, render_jct_table, render_table,
    workload, JctStats, Mix, Optimum, Policy, QueueSettings, Replay, ReplayError, Stats, TracePod,
    Workload, POLICY_NAMES, QUEUED_POLICIES,
};
use std::path::{Path, PathBuf};

/// The trace's file name, where the package installs it, and where the source tree keeps it.
const TRACE_NAME: &str = "alibaba-openb-gpu-requests.csv";
const PACKAGED_TRACES: &str = "/usr/share/dynamig/traces";
const SOURCE_TRACES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/data");

#[derive(Args)]
pub struct ReplayArgs {
    /// Workloads, comma-separated: uniform, small-heavy, seed, alibaba (single-GPU pods of the
    /// trace), alibaba-frac (only its fractional-GPU pods), or all; or `projects` alone (two
    /// projects with GPU quotas, each one's share of GPU time against its quota).
    #[arg(long, default_value = "all")]
    workload: String,
    /// The node, MODEL[:COUNT][,MODEL[:COUNT]...]; repeat to compare nodes.
    #[arg(long, default_value = "a100-40gb:2")]
    node: Vec<String>,
    /// Requests per workload.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Offered load: demanded memory slices over the node's (1.0 = exactly its capacity).
    #[arg(long, default_value_t = 1.2)]
    load: f64,
    /// Policies, comma-separated.
    #[arg(long, default_value = "first-fit,best-fit,static,dynamig,optimum")]
    policies: String,
    /// The trace for the `alibaba` workloads [default: the package's
    /// /usr/share/dynamig/traces/alibaba-openb-gpu-requests.csv, else the one in the source tree
    /// dynamigctl was built from].
    #[arg(long, value_name = "PATH")]
    trace: Option<PathBuf>,
    /// Print one JSON object per (node, workload, policy) instead of the table.
    #[arg(long)]
    json: bool,
    /// Replay with the wait queue: refused requests wait (dynamig.io/wait's rules), preempted
    /// jobs requeue and lose the work since their last checkpoint; report job completion times
    /// for first-fit, best-fit, dynamig, no partitioning and the best static layout.
    #[arg(long)]
    queue: bool,
    /// With --queue: run time between checkpoints, in the workload's time unit (default: 1800
    /// s for the trace workloads, 0.5 mean job lives for the synthetic mixes).
    #[arg(long, value_name = "T")]
    checkpoint: Option<f64>,
    /// With --queue: also print every static layout tried.
    #[arg(long)]
    every_layout: bool,
}

pub fn run(a: ReplayArgs) -> Result<(), Failure> {
    if a.workload == "projects" {
        return projects(&a);
    }
    let names = workload_names(&a.workload)?;
    let policies = policies(&a.policies)?;
    if !(a.load > 0.0 && a.load.is_finite()) || a.requests == 0 {
        return Err(bad_input(anyhow::anyhow!(
            "--load must be positive and --requests at least 1"
        )));
    }
    let trace = if names.iter().any(|n| n.starts_with("alibaba")) {
        let path = trace_path(a.trace.as_deref())?;
        // The error's text already holds its cause: print it once.
        Some(load_trace(&path).map_err(|e| bad_input(anyhow::anyhow!("{e}")))?)
    } else {
        None
    };
    if a.queue {
        return run_queued(&a, &names, trace.as_deref());
    }
    let mut rows: Vec<Stats> = Vec::new();
    for spec in &a.node {
        let gpus = parse_node(spec).map_err(bad_input)?;
        let node = Replay {
            gpus: &gpus,
            node_name: spec.clone(),
        };
        for n in &names {
            let wl = build_workload(&a, n, &gpus, trace.as_deref())?;
            for p in &policies {
                if p.name() == "optimum" && gpus.len() > Optimum::MAX_GPUS {
                    eprintln!(
                        "dynamigctl: {}",
                        ReplayError::NodeTooLarge {
                            max: Optimum::MAX_GPUS,
                            got: gpus.len()
                        }
                    );
                    continue;
                }
                rows.push(replay::replay(&node, &wl, p.as_ref()));
            }
        }
    }
    if a.json {
        print_json(&rows)
    } else {
        print!("{}", render_table(&rows));
        Ok(())
    }
}

/// Checkpoint interval of the trace workloads, in seconds.
const TRACE_CHECKPOINT_S: f64 = 1800.0;
/// Checkpoint interval of the synthetic mixes, in mean job lives.
const MIX_CHECKPOINT: f64 = 0.5;

/// `--queue`: the job-completion-time comparison.
fn run_queued(a: &ReplayArgs, names: &[&str], trace: Option<&[TracePod]>) -> Result<(), Failure> {
    if a.checkpoint.is_some_and(|c| c.is_nan() || c < 0.0) {
        return Err(bad_input(anyhow::anyhow!(
            "--checkpoint must be a non-negative time (inf: never)"
        )));
    }
    let policies: Vec<&str> = a
        .policies
        .split(',')
        .map(str::trim)
        .filter(|p| QUEUED_POLICIES.contains(p))
        .collect();
    let mut rows: Vec<JctStats> = Vec::new();
    for spec in &a.node {
        let gpus = parse_node(spec).map_err(bad_input)?;
        let node = Replay {
            gpus: &gpus,
            node_name: spec.clone(),
        };
        for n in names {
            let wl = build_workload(a, n, &gpus, trace)?;
            let default = if n.starts_with("alibaba") {
                TRACE_CHECKPOINT_S
            } else {
                MIX_CHECKPOINT
            };
            let settings = QueueSettings {
                checkpoint: a.checkpoint.unwrap_or(default),
                max_reservations: usize::MAX,
            };
            rows.extend(compare_queued(
                &node,
                &wl,
                &policies,
                settings,
                a.every_layout,
            ));
        }
    }
    if a.json {
        print_json(&rows)
    } else {
        let unit = |w: &str| if w.starts_with("alibaba") { "s" } else { "u" };
        print!("{}", render_jct_table(&rows, &unit));
        Ok(())
    }
}

/// `--trace`, or the first default that exists: the package's, then the source tree's (not the
/// working directory's).
fn trace_path(given: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let candidates = [PACKAGED_TRACES, SOURCE_TRACES].map(|d| Path::new(d).join(TRACE_NAME));
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            refused(anyhow::anyhow!(
                "the alibaba workloads replay the trace {TRACE_NAME}, which is neither where the \
                 package installs it ({}) nor in the source tree ({}); give --trace PATH, or \
                 leave alibaba out of --workload",
                candidates[0].display(),
                candidates[1].display()
            ))
        })
}

/// `--workload`: `all` or known names, comma-separated.
fn workload_names(list: &str) -> Result<Vec<&str>, Failure> {
    let names: Vec<&str> = if list == "all" {
        vec!["uniform", "small-heavy", "seed", "alibaba", "alibaba-frac"]
    } else {
        list.split(',').map(str::trim).collect()
    };
    for n in &names {
        if !n.starts_with("alibaba") && Mix::by_name(n).is_none() {
            return Err(bad_input(ReplayError::UnknownWorkload((*n).into())));
        }
    }
    Ok(names)
}

/// `--policies`: known names, comma-separated.
fn policies(list: &str) -> Result<Vec<Box<dyn Policy>>, Failure> {
    list.split(',')
        .map(|p| {
            policy_by_name(p.trim()).ok_or_else(|| {
                bad_input(ReplayError::UnknownPolicy(
                    p.into(),
                    POLICY_NAMES.join(", "),
                ))
            })
        })
        .collect()
}

/// Workload `name` on `gpus`: a synthetic mix, or the trace's single-GPU (`alibaba`) or
/// fractional-GPU (`alibaba-frac`) pods.
fn build_workload(
    a: &ReplayArgs,
    name: &str,
    gpus: &[&'static GpuModel],
    trace: Option<&[TracePod]>,
) -> Result<Workload, Failure> {
    let unknown = || bad_input(ReplayError::UnknownWorkload(name.into()));
    match (Mix::by_name(name), trace) {
        (Some(mix), _) => Ok(workload::synthetic(mix, gpus, a.requests, a.seed, a.load)),
        (None, Some(pods)) => {
            let frac = match name {
                "alibaba" => false,
                "alibaba-frac" => true,
                _ => return Err(unknown()),
            };
            workload::from_trace(pods, frac, gpus, a.requests, a.seed, a.load, name)
                .map_err(bad_input)
        }
        (None, None) => Err(unknown()),
    }
}

/// `--workload projects`: two projects with quotas of half the node each, `team-b` submitting
/// only in the second half (`replay/projects.rs`); each one's share of GPU time.
fn projects(a: &ReplayArgs) -> Result<(), Failure> {
    use dynamigctl::replay::projects;
    for spec in &a.node {
        let gpus = parse_node(spec).map_err(bad_input)?;
        let wl = projects::two_projects(&gpus, a.requests, a.seed);
        let policy = projects::two_projects_policy(gpus.len());
        println!("{spec}, quotas:");
        print!(
            "{}",
            projects::replay_projects(&gpus, &wl, &policy).render()
        );
        println!("{spec}, no quotas:");
        let open = dynamig_core::policy::Policy::open();
        print!("{}", projects::replay_projects(&gpus, &wl, &open).render());
    }
    Ok(())
}
