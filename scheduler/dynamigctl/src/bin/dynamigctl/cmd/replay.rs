//! `dynamigctl replay`: replay workloads against the planner and the baseline policies.

use crate::{bad_input, print_json, Failure};
use clap::Args;
use dynamig_core::catalog::GpuModel;
use dynamigctl::replay::{
    self, compare_queued, load_trace, parse_node, policy_by_name, render_jct_table, render_table,
    workload, JctStats, Mix, Optimum, Policy, QueueSettings, Replay, ReplayError, Stats, TracePod,
    Workload, POLICY_NAMES, QUEUED_POLICIES,
};
use std::path::PathBuf;

#[derive(Args)]
pub struct ReplayArgs {
    /// Workloads, comma-separated: uniform, small-heavy, seed, alibaba (single-GPU pods of the
    /// trace), alibaba-frac (only its fractional-GPU pods), or all.
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
    /// The trace for the `alibaba` workload.
    #[arg(long, default_value = "tests/data/alibaba-openb-gpu-requests.csv")]
    trace: PathBuf,
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
    let names = workload_names(&a.workload)?;
    let policies = policies(&a.policies)?;
    if !(a.load > 0.0 && a.load.is_finite()) || a.requests == 0 {
        return Err(bad_input(anyhow::anyhow!(
            "--load must be positive and --requests at least 1"
        )));
    }
    let trace = if names.iter().any(|n| n.starts_with("alibaba")) {
        Some(load_trace(&a.trace).map_err(bad_input)?)
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
                victims_by_lost_work: false,
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
