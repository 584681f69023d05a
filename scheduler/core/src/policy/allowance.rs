//! What one request's namespaces allow, and the checks made at admission.

use super::file::{Policy, Rule, ANY};
use super::quota::GpuShare;
use super::PolicyError;
use crate::priority::Priority;
use crate::request::Request;
use std::fmt;

/// Whose rule set a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Containerd(String),
    Kubernetes(String),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Containerd(n) => write!(f, "containerd namespace {n:?}"),
            Scope::Kubernetes(n) => write!(f, "Kubernetes namespace {n:?}"),
        }
    }
}

/// One field's limit and the scope that set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit<T> {
    pub value: T,
    pub scope: Scope,
}

/// The combined allowance of a request's containerd and Kubernetes namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub max_priority: Limit<Priority>,
    pub may_evict: Limit<bool>,
    /// Every quota that applies (the containerd namespace's, the Kubernetes namespace's): a
    /// request must be within each to be within quota.
    pub(super) quotas: Vec<Limit<GpuShare>>,
    /// Whether requests may run beyond a quota (both namespaces must allow it).
    pub over_quota: Limit<bool>,
    /// The policy file, for messages (`no policy file` when there is none).
    pub source: String,
}

fn lookup(table: &std::collections::BTreeMap<String, Rule>, name: &str, has_file: bool) -> Rule {
    if !has_file {
        return Rule::OPEN;
    }
    table
        .get(name)
        .or_else(|| table.get(ANY))
        .copied()
        .unwrap_or(Rule::RESTRICTED)
}

fn describe(p: Priority) -> String {
    match p.class_name() {
        Some(n) => format!("{n} ({})", p.0),
        None => p.0.to_string(),
    }
}

impl Policy {
    /// The allowance of a request from containerd namespace `namespace` carrying Kubernetes
    /// namespace `k8s` (if any): the stricter of the two rules on each field.
    pub fn allowance(&self, namespace: &str, k8s: Option<&str>) -> Allowance {
        // A file without a single rule (the packaged, comment-only one) restricts nothing.
        let has_file =
            self.path.is_some() && !(self.namespace.is_empty() && self.kubernetes.is_empty());
        let c = lookup(&self.namespace, namespace, has_file);
        let cs = Scope::Containerd(namespace.to_string());
        let mut a = Allowance {
            max_priority: Limit {
                value: c.max_priority,
                scope: cs.clone(),
            },
            may_evict: Limit {
                value: c.may_evict,
                scope: cs.clone(),
            },
            quotas: c
                .gpu_quota
                .map(|value| Limit {
                    value,
                    scope: cs.clone(),
                })
                .into_iter()
                .collect(),
            over_quota: Limit {
                value: c.over_quota,
                scope: cs,
            },
            source: self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "no policy file".into()),
        };
        if let Some(k) = k8s {
            let r = lookup(&self.kubernetes, k, has_file);
            let ks = Scope::Kubernetes(k.to_string());
            if r.max_priority < a.max_priority.value {
                a.max_priority = Limit {
                    value: r.max_priority,
                    scope: ks.clone(),
                };
            }
            if !r.may_evict && a.may_evict.value {
                a.may_evict = Limit {
                    value: false,
                    scope: ks.clone(),
                };
            }
            if let Some(value) = r.gpu_quota {
                a.quotas.push(Limit {
                    value,
                    scope: ks.clone(),
                });
            }
            if !r.over_quota && a.over_quota.value {
                a.over_quota = Limit {
                    value: false,
                    scope: ks,
                };
            }
        }
        a
    }
}

impl Allowance {
    /// The request's priority is within the allowance.
    pub fn admit(&self, request: &Request) -> Result<(), PolicyError> {
        if request.priority > self.max_priority.value {
            return Err(PolicyError::PriorityAbove {
                scope: self.max_priority.scope.clone(),
                max: describe(self.max_priority.value),
                asked: describe(request.priority),
                path: self.source.clone(),
            });
        }
        Ok(())
    }

    /// The plan's victims (if any) may be evicted by this request.
    pub fn admit_victims(&self, victims: &[String]) -> Result<(), PolicyError> {
        if victims.is_empty() || self.may_evict.value {
            return Ok(());
        }
        Err(PolicyError::MayNotEvict {
            scope: self.may_evict.scope.clone(),
            victims: victims.join(", "),
            path: self.source.clone(),
        })
    }
}
