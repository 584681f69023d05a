//! The text of `policy.toml`, parsed (reading the file is the node's: `dynamig_node::policy_file`).

use super::quota::GpuShare;
use crate::priority::Priority;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The wildcard entry: any name not listed.
pub const ANY: &str = "*";

/// What one namespace may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub max_priority: Priority,
    pub may_evict: bool,
    /// How much the namespace may hold within its quota; `None`: no quota (as before quotas).
    pub gpu_quota: Option<GpuShare>,
    /// Whether preemptible requests may run beyond `gpu_quota`, marked over quota.
    pub over_quota: bool,
}

impl Rule {
    /// No limit: the rule of a node without a policy file.
    pub const OPEN: Rule = Rule {
        max_priority: Priority(crate::priority::MAX),
        may_evict: true,
        gpu_quota: None,
        over_quota: true,
    };
    /// A namespace a policy file does not mention (and has no `"*"` entry for).
    pub const RESTRICTED: Rule = Rule {
        max_priority: Priority(crate::priority::TRAINING),
        may_evict: false,
        gpu_quota: None,
        over_quota: false,
    };
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    max_priority: Option<RawPriority>,
    may_evict: Option<bool>,
    gpu_quota: Option<RawNumber>,
    over_quota: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawNumber {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPriority {
    Name(String),
    Int(i64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    namespace: BTreeMap<String, RawRule>,
    #[serde(default)]
    kubernetes: BTreeMap<String, RawRule>,
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The file it came from; `None` when no file exists (everything allowed).
    pub path: Option<PathBuf>,
    pub namespace: BTreeMap<String, Rule>,
    pub kubernetes: BTreeMap<String, Rule>,
}

impl Policy {
    /// The policy of a node without a policy file.
    pub fn open() -> Policy {
        Policy {
            path: None,
            namespace: BTreeMap::new(),
            kubernetes: BTreeMap::new(),
        }
    }

    /// Parses the text of a policy file; the error is one line.
    pub fn parse(text: &str) -> Result<Policy, String> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
            let msg = e.message().replace(['\n', '\r'], " ");
            match line {
                Some(l) => format!("line {l}: {}", msg.trim()),
                None => msg.trim().to_string(),
            }
        })?;
        let convert = |table: &str, m: BTreeMap<String, RawRule>| {
            m.into_iter()
                .map(|(name, r)| {
                    let at = format!("[{table}.{name:?}]");
                    if name.is_empty() {
                        return Err(format!("{at}: an empty name"));
                    }
                    let max_priority = match r.max_priority {
                        None => Rule::RESTRICTED.max_priority,
                        Some(RawPriority::Name(s)) => Priority::parse(&s).map_err(|_| {
                            format!(
                                "{at} max_priority = {s:?} is not a priority; use {}",
                                crate::priority::ACCEPTED
                            )
                        })?,
                        Some(RawPriority::Int(n)) => i32::try_from(n)
                            .ok()
                            .filter(|n| (crate::priority::MIN..=crate::priority::MAX).contains(n))
                            .map(Priority)
                            .ok_or_else(|| {
                                format!(
                                    "{at} max_priority = {n} is not a priority; use {}",
                                    crate::priority::ACCEPTED
                                )
                            })?,
                    };
                    let gpu_quota = match r.gpu_quota {
                        None => None,
                        Some(n) => {
                            let (gpus, shown) = match n {
                                // A quota's whole GPUs are far below f64's exact integers.
                                #[allow(clippy::cast_precision_loss)]
                                RawNumber::Int(i) => (i as f64, i.to_string()),
                                RawNumber::Float(f) => (f, f.to_string()),
                            };
                            Some(GpuShare::from_gpus(gpus).ok_or_else(|| {
                                format!(
                                    "{at} gpu_quota = {shown} is not a number of GPUs; use a \
                                     number from 0 to 100000 in steps of 0.001, such as 2 or 0.5"
                                )
                            })?)
                        }
                    };
                    Ok((
                        name,
                        Rule {
                            max_priority,
                            may_evict: r.may_evict.unwrap_or(Rule::RESTRICTED.may_evict),
                            gpu_quota,
                            over_quota: r.over_quota.unwrap_or(Rule::RESTRICTED.over_quota),
                        },
                    ))
                })
                .collect::<Result<BTreeMap<_, _>, String>>()
        };
        Ok(Policy {
            path: None,
            namespace: convert("namespace", raw.namespace)?,
            kubernetes: convert("kubernetes", raw.kubernetes)?,
        })
    }
}
