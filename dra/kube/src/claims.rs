//! [`KubeClaimSource`]: claims as the API server has them (`resource.k8s.io/v1` ResourceClaims).
//!
//! [`ClaimSource`] is a synchronous trait (the preparer runs on a blocking thread: the node
//! lock and NVML block), while the kube client is async. The source keeps a
//! [`tokio::runtime::Handle`] of the plugin's runtime and blocks on it: call
//! [`ClaimSource::allocation`] from a thread that is not a runtime worker — inside
//! `tokio::task::spawn_blocking`, as the gRPC service calls the preparer, or from a plain
//! thread. (On a worker thread, `Handle::block_on` panics.) Async code calls
//! [`KubeClaimSource::get`] directly.

use dynamig_dra_api::claim::{AllocatedDevice, ClaimAllocation, ClaimError, ClaimRef, ClaimSource};
use k8s_openapi::api::resource::v1::ResourceClaim;
use kube::api::Api;
use kube::Client;
use std::time::Duration;
use tokio::runtime::Handle;

/// How long one claim read may take: well inside the kubelet's 45 s for a prepare, so a slow
/// API server gives a retryable error the kubelet retries, not a prepare that times out.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct KubeClaimSource {
    client: Client,
    runtime: Handle,
    timeout: Duration,
}

impl KubeClaimSource {
    /// `runtime`: a handle of the runtime the client's connections live on
    /// (`Handle::current()` where the plugin starts).
    pub fn new(client: Client, runtime: Handle) -> KubeClaimSource {
        KubeClaimSource {
            client,
            runtime,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> KubeClaimSource {
        self.timeout = timeout;
        self
    }

    /// `GET /apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/{name}`.
    pub async fn get(&self, claim: &ClaimRef) -> Result<Option<ClaimAllocation>, ClaimError> {
        let api: Api<ResourceClaim> = Api::namespaced(self.client.clone(), &claim.namespace);
        let what = || format!("reading ResourceClaim {}/{}", claim.namespace, claim.name);
        let got = tokio::time::timeout(self.timeout, api.get_opt(&claim.name))
            .await
            .map_err(|_| {
                ClaimError::Retryable(format!("{}: no answer in {:?}", what(), self.timeout))
            })?
            .map_err(|e| ClaimError::Retryable(format!("{}: {e}", what())))?;
        match got {
            None => Ok(None),
            Some(rc) => allocation_of(rc)
                .map(Some)
                .map_err(|m| ClaimError::Retryable(format!("{}: {m}", what()))),
        }
    }
}

impl ClaimSource for KubeClaimSource {
    fn allocation(&self, claim: &ClaimRef) -> Result<Option<ClaimAllocation>, ClaimError> {
        self.runtime.block_on(self.get(claim))
    }
}

/// The claim's UID and allocated devices; no devices when it is not allocated (yet, or any
/// more).
pub fn allocation_of(claim: ResourceClaim) -> Result<ClaimAllocation, String> {
    let uid = claim
        .metadata
        .uid
        .ok_or_else(|| "the claim has no metadata.uid".to_string())?;
    let devices = claim
        .status
        .and_then(|s| s.allocation)
        .and_then(|a| a.devices)
        .and_then(|d| d.results)
        .unwrap_or_default()
        .into_iter()
        .map(|r| AllocatedDevice {
            request: r.request,
            driver: r.driver,
            pool: r.pool,
            device: r.device,
        })
        .collect();
    Ok(ClaimAllocation { uid, devices })
}
