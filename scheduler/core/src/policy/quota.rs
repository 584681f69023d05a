//! Quotas: how much of the node's GPUs a namespace may hold within its quota (docs/policy.md).
//!
//! A quota is a number of GPUs, as an operator sets it for a project ("allocate 2 GPUs to the
//! project"). A MIG slice counts as the share of its GPU's memory slices it takes: on an
//! A100-40GB (8 memory slices) `1g.5gb` is 1/8 GPU, `2g.10gb` 1/4, `3g.20gb` and `4g.20gb` 1/2,
//! `7g.40gb` the whole GPU; on an A30 (4 memory slices) `1g.6gb` is 1/4. A quota of 2 GPUs
//! therefore holds two whole GPUs of any model, or eight `2g.10gb` slices, or any mix that adds
//! up to 2. Shares are kept in thousandths of a GPU, which every model's slices divide exactly.

use super::allowance::{Allowance, Limit, Scope};
use super::PolicyError;
use crate::catalog::{GpuModel, Profile};
use crate::request::Request;
use std::fmt;
use std::ops::Add;

/// Thousandths of a GPU.
const MILLI: u32 = 1000;
/// The largest quota accepted, in GPUs.
const MAX_GPUS: u32 = 100_000;

/// A share of GPUs, in thousandths of a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct GpuShare(pub u32);

impl GpuShare {
    pub const ZERO: GpuShare = GpuShare(0);

    /// Whole GPUs.
    pub fn gpus(n: u32) -> GpuShare {
        GpuShare(n.saturating_mul(MILLI))
    }

    /// What one instance of `profile` on a GPU of `model` counts against a quota: its share of
    /// the GPU's memory slices.
    pub fn of(model: &GpuModel, profile: &Profile) -> GpuShare {
        let total = u32::from(model.memory_slices.max(1));
        GpuShare(u32::from(profile.memory_slices) * MILLI / total)
    }

    /// A quota as the policy file writes it, in GPUs (`2`, `0.5`): non-negative, at most
    /// 100000, in steps of a thousandth.
    pub fn from_gpus(gpus: f64) -> Option<GpuShare> {
        if !gpus.is_finite() || !(0.0..=f64::from(MAX_GPUS)).contains(&gpus) {
            return None;
        }
        let milli = (gpus * f64::from(MILLI)).round();
        if (milli - gpus * f64::from(MILLI)).abs() > 1e-6 {
            return None;
        }
        // In range: checked above, at most MAX_GPUS * MILLI.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(GpuShare(milli as u32))
    }

    /// In GPUs, for metrics and reports.
    pub fn as_gpus(self) -> f64 {
        f64::from(self.0) / f64::from(MILLI)
    }

    pub fn saturating_sub(self, other: GpuShare) -> GpuShare {
        GpuShare(self.0.saturating_sub(other.0))
    }
}

impl Add for GpuShare {
    type Output = GpuShare;
    fn add(self, other: GpuShare) -> GpuShare {
        GpuShare(self.0.saturating_add(other.0))
    }
}

impl std::iter::Sum for GpuShare {
    fn sum<I: Iterator<Item = GpuShare>>(iter: I) -> GpuShare {
        iter.fold(GpuShare::ZERO, Add::add)
    }
}

impl fmt::Display for GpuShare {
    /// `2 GPUs`, `1 GPU`, `0.25 GPU`, `1.5 GPUs`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / MILLI, self.0 % MILLI);
        if frac == 0 {
            write!(f, "{whole}")?;
        } else {
            let digits = format!("{frac:03}");
            write!(f, "{whole}.{}", digits.trim_end_matches('0'))?;
        }
        f.write_str(if self.0 > MILLI { " GPUs" } else { " GPU" })
    }
}

/// What a request asks for, against a quota: its share, and the profile it gets (`3g.20gb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub share: GpuShare,
    pub what: String,
}

/// A request beyond its namespace's quota that may not run there (one line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{scope} has a quota of {quota} under {path} and uses {used} of it; this request asks for {asked}, beyond the quota: {why}")]
pub struct BeyondQuota {
    pub scope: Scope,
    pub quota: String,
    pub used: String,
    pub asked: String,
    pub path: String,
    pub why: String,
}

/// Where a request stands against its namespace's quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Within every quota that applies (or none applies): as without quotas, and it may take
    /// back room held over quota.
    Within,
    /// Beyond a quota: admitted only as preemptible work, marked over quota, the first victim.
    Over,
}

impl Allowance {
    /// Whether a request that asks for `ask` is within its quotas, given what each scope's
    /// namespace holds within its quota now (`used`). A request beyond a quota is refused unless
    /// it is preemptible and the namespace may run over quota.
    pub fn admit_quota(
        &self,
        request: &Request,
        ask: &Ask,
        used: impl Fn(&Scope) -> GpuShare,
    ) -> Result<Standing, PolicyError> {
        let Some((quota, in_use)) = self
            .quotas
            .iter()
            .map(|q| (q, used(&q.scope)))
            .find(|(q, in_use)| *in_use + ask.share > q.value)
        else {
            return Ok(Standing::Within);
        };
        let beyond = |why: String| {
            PolicyError::BeyondQuota(Box::new(BeyondQuota {
                scope: quota.scope.clone(),
                quota: quota.value.to_string(),
                used: in_use.to_string(),
                asked: format!("{} ({})", ask.share, ask.what),
                path: self.source.clone(),
                why,
            }))
        };
        if !request.preemptible {
            return Err(beyond(
                "only a preemptible request may run beyond a quota, and this one is not".into(),
            ));
        }
        if !self.over_quota.value {
            return Err(beyond(format!(
                "{} may not run beyond its quota (over_quota = false)",
                self.over_quota.scope
            )));
        }
        Ok(Standing::Over)
    }

    /// The quotas that apply, each with the namespace it belongs to.
    pub fn quotas(&self) -> &[Limit<GpuShare>] {
        &self.quotas
    }
}
