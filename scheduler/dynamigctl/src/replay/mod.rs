//! Trace replay: feed the planner (and baseline policies) a stream of arrivals and departures on
//! a simulated node and measure what each policy makes of it.
//!
//! - [`workload`]: seeded synthetic mixes and a loader for the Alibaba GPU-sharing trace.
//! - [`policy`]: the policies compared side by side: first-fit, best-fit, a static mig-parted
//!   layout, dynamig's planner and an exhaustive per-decision optimum.
//! - [`sim`]: the event-driven replay, which checks every decision against the NVML rules.
//! - [`report`]: the comparison table.
//! - [`queued`]: the replay with the wait queue and requeued victims, judged by job completion
//!   time ([`jct`]); [`layouts`]: the static mig-parted layouts it compares against.
//! - [`projects`]: projects with GPU quotas, each one's share of GPU time against its quota.
//!
//! Every policy obeys the same contract as the planner: a memory request may use only the
//! profiles of the smallest fitting memory, only placements NVML accepts, and a victim must be a
//! preemptible holder of strictly lower priority. They differ only in which choice they make.

pub mod compare;
mod fixed;
pub mod jct;
pub mod layouts;
mod optimum;
pub mod policy;
pub mod projects;
pub mod queued;
pub mod report;
mod rng;
pub mod sim;
pub mod workload;

pub use compare::{compare_queued, QUEUED_POLICIES};
pub use fixed::Static;
pub use jct::{render_jct_table, JctStats};
pub use layouts::Layout;
pub use optimum::Optimum;
pub use policy::{policy_by_name, BestFit, Dynamig, FirstFit, Policy, POLICY_NAMES};
pub use queued::{replay_queued, JobResult, QueueSettings};
pub use report::{render_table, Stats};
pub use rng::SplitMix64;
pub use sim::{replay, Replay};
pub use workload::{load_trace, Job, Mix, TracePod, Workload};

use dynamig_core::catalog::{model_by_key, model_keys, GpuModel};
use thiserror::Error;

/// What can go wrong setting up a replay.
#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("node {0:?}: expected MODEL[:COUNT][,MODEL[:COUNT]...], e.g. a100-40gb:2")]
    BadNode(String),
    #[error("unknown GPU model {0:?}; known: {1}")]
    UnknownModel(String, String),
    #[error("unknown workload {0:?}; known: uniform, small-heavy, seed, alibaba, alibaba-frac")]
    UnknownWorkload(String),
    #[error("unknown policy {0:?}; known: {1}")]
    UnknownPolicy(String, String),
    #[error("cannot read trace {path}: {source}")]
    TraceIo {
        path: String,
        source: std::io::Error,
    },
    #[error("trace {path} line {line}: {what}")]
    TraceFormat {
        path: String,
        line: usize,
        what: String,
    },
    #[error("trace {0} has no single-GPU pods")]
    TraceEmpty(String),
    #[error("the optimum searches every placement and victim set; it takes at most {max} GPUs, the node has {got}")]
    NodeTooLarge { max: usize, got: usize },
}

/// Parses `a100-40gb:2` or `a100-40gb:1,h100-80gb:1` into one model per GPU.
pub fn parse_node(spec: &str) -> Result<Vec<&'static GpuModel>, ReplayError> {
    let mut gpus = Vec::new();
    for part in spec.split(',') {
        let (key, count) = match part.split_once(':') {
            Some((k, n)) => (
                k,
                n.parse::<usize>()
                    .map_err(|_| ReplayError::BadNode(spec.into()))?,
            ),
            None => (part, 1),
        };
        if count == 0 || count > 64 {
            return Err(ReplayError::BadNode(spec.into()));
        }
        let m = model_by_key(key.trim())
            .ok_or_else(|| ReplayError::UnknownModel(key.into(), model_keys().join(", ")))?;
        gpus.extend(std::iter::repeat_n(m, count));
    }
    if gpus.is_empty() {
        return Err(ReplayError::BadNode(spec.into()));
    }
    Ok(gpus)
}

#[cfg(test)]
mod queued_tests;
#[cfg(test)]
mod tests;
