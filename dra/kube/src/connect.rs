//! The API client.

use crate::error::KubeError;
use kube::Client;

/// A client as `kubectl` would make it: the pod's service account (in the DaemonSet), else
/// `$KUBECONFIG` or `~/.kube/config`. TLS is rustls on ring.
pub async fn connect() -> Result<Client, KubeError> {
    Client::try_default()
        .await
        .map_err(|e| KubeError::Config(e.to_string()))
}
