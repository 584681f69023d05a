//! Quotas on the node (docs/policy.md): what a namespace holds within its quota now, what a
//! request asks for against it, and where the request stands. The rules are
//! [`dynamig_core::policy`]'s; this file only counts the node's holders.

use super::Node;
use crate::state::{Holder, HolderState};
use dynamig_core::catalog::{GpuModel, Profile};
use dynamig_core::ids::GpuIndex;
use dynamig_core::planner::candidate_profiles;
use dynamig_core::policy::{Allowance, Ask, GpuShare, Scope, Standing};
use dynamig_core::request::Request;

impl Node {
    /// The model of GPU `gpu`, when it has one.
    fn model_of(&self, gpu: GpuIndex) -> Option<&'static GpuModel> {
        self.gpus.get(gpu.slot()).and_then(|g| g.model)
    }

    /// What holder `h`'s instance counts against a quota.
    pub(crate) fn share_of(&self, h: &Holder) -> GpuShare {
        h.instance
            .as_ref()
            .and_then(|i| {
                let model = self.model_of(i.planned.gpu)?;
                Some(GpuShare::of(
                    model,
                    model.profile_by_id(i.planned.profile_id)?,
                ))
            })
            .unwrap_or(GpuShare::ZERO)
    }

    /// What `scope`'s namespace holds within its quota: its active holders not marked over
    /// quota, and the room that evictions in flight reserve for its requests within quota.
    pub(crate) fn used_within_quota(&self, scope: &Scope) -> GpuShare {
        let held: GpuShare = self
            .state
            .holders
            .iter()
            .filter(|h| h.state == HolderState::Active && !h.over_quota)
            .filter(|h| match scope {
                Scope::Containerd(n) => h.namespace == *n,
                Scope::Kubernetes(k) => h.k8s_namespace.as_deref() == Some(k.as_str()),
            })
            .map(|h| self.share_of(h))
            .sum();
        let reserved: GpuShare = self
            .state
            .evictions
            .iter()
            .filter(|e| !e.over_quota)
            .filter(|e| match scope {
                Scope::Containerd(n) => e.namespace == *n,
                Scope::Kubernetes(k) => e.k8s_namespace.as_deref() == Some(k.as_str()),
            })
            .filter_map(|e| {
                let model = self.model_of(e.gpu)?;
                Some(GpuShare::of(model, model.profile_by_id(e.profile_id)?))
            })
            .sum();
        held + reserved
    }

    /// What `request` asks for before a GPU is chosen: the least any usable GPU's preferred
    /// profile for it counts (on a node of one model, exactly what it will count). `None` when
    /// no GPU could take it (the planner says why).
    fn estimated_ask(&self, request: &Request) -> Option<Ask> {
        self.gpus
            .iter()
            .filter_map(|g| g.model)
            .filter_map(|m| {
                let p = *candidate_profiles(m, &request.size).first()?;
                Some(ask_for(m, p))
            })
            .min_by_key(|a| a.share)
    }

    /// Where `request` stands against `allowance`'s quotas, asking for `ask` (or its estimate).
    pub(crate) fn quota_standing(
        &self,
        allowance: &Allowance,
        request: &Request,
        ask: Option<Ask>,
    ) -> Result<Standing, dynamig_core::policy::PolicyError> {
        if allowance.quotas().is_empty() {
            return Ok(Standing::Within);
        }
        let Some(ask) = ask.or_else(|| self.estimated_ask(request)) else {
            return Ok(Standing::Within);
        };
        allowance.admit_quota(request, &ask, |s| self.used_within_quota(s))
    }

    /// What `profile` on GPU `gpu` asks for against a quota.
    pub(crate) fn ask_on(&self, gpu: GpuIndex, profile: &'static Profile) -> Option<Ask> {
        Some(ask_for(self.model_of(gpu)?, profile))
    }
}

fn ask_for(model: &GpuModel, profile: &Profile) -> Ask {
    Ask {
        share: GpuShare::of(model, profile),
        what: format!("{} on {}", profile.name, model.name),
    }
}
