//! The node's admission policy (`/etc/dynamig/policy.toml`, or the file `DYNAMIG_POLICY` names):
//! per containerd namespace and per Kubernetes namespace (the `io.kubernetes.cri.sandbox-namespace`
//! annotation), the highest priority a request may claim and whether it may evict at all.
//!
//! A container's annotations are written by whoever creates it, so a priority is a claim, not a
//! right: this file is what the node's administrator allows. See `docs/policy.md`.
//!
//! - No file: every namespace may use every priority and may evict (the seed walkthrough works
//!   unchanged on a node without a policy).
//! - A file: a containerd namespace gets its own `[namespace."NAME"]` rule, else
//!   `[namespace."*"]`, else the restricted rule (`training`, no eviction). When the request
//!   carries a Kubernetes namespace, its `[kubernetes."NAME"]` / `[kubernetes."*"]` / restricted
//!   rule applies too, and the stricter of the two wins on each field: the annotation can only
//!   narrow what the containerd namespace allows, so forging it never gains anything.
//! - A rule may give a namespace a quota in GPUs (`gpu_quota`, [`GpuShare`]); beyond it only
//!   preemptible requests run, and only where `over_quota` allows, marked over quota.
//! - A file that cannot be read or parsed, has unknown keys or bad values, or is writable by
//!   group or others, is an error that fails every allocation; it is never silently ignored.

mod allowance;
mod file;
mod quota;

pub use allowance::{Allowance, Limit, Scope};
pub use file::{Policy, Rule};
pub use quota::{Ask, BeyondQuota, GpuShare, Standing};

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("policy file {path}: {why}; fix it (see docs/policy.md) — no request is admitted until it reads")]
    File { path: PathBuf, why: String },
    #[error("{scope} may claim priority at most {max} under {path}, but this request asks for {asked}; ask for {max} or lower")]
    PriorityAbove {
        scope: Scope,
        max: String,
        asked: String,
        path: String,
    },
    #[error("no room without evicting {victims}, and {scope} may not evict under {path}")]
    MayNotEvict {
        scope: Scope,
        victims: String,
        path: String,
    },
    #[error("{0}")]
    BeyondQuota(Box<BeyondQuota>),
}

impl PolicyError {
    /// A request above its allowance is refused as given (exit 2); a node whose policy is broken,
    /// or a request that would need a forbidden eviction, cannot be met now (exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(self, PolicyError::PriorityAbove { .. })
    }
}

#[cfg(test)]
mod tests;
