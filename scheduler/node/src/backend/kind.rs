//! Which backend a process uses, and which one wrote a state file: [`BackendKind`].
//!
//! Invariant: on the wire and on screen it is the lowercase word (`sim`, `nvml`), as the state
//! file, `DYNAMIG_BACKEND` and `status` have always spelled it.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The exact simulation of MIG GPUs ([`super::sim`]).
    Sim,
    /// The real driver through NVML ([`super::nvml`]).
    Nvml,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Sim => "sim",
            BackendKind::Nvml => "nvml",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<str> for BackendKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for BackendKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
