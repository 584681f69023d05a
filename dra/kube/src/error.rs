//! What can go wrong talking to the API server.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum KubeError {
    /// No client configuration: neither the pod's service account nor a kubeconfig.
    #[error("no Kubernetes client configuration: {0}")]
    Config(String),
    /// The API server answered with an error status (`code` is the HTTP status).
    #[error("{what}: the API server answered {code}: {message}")]
    Api {
        what: String,
        code: u16,
        message: String,
    },
    /// No answer: connection refused, TLS, a timeout, a body that is not the expected object.
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
    /// The API server does not keep fields the slices need: a feature gate is off. The
    /// publisher has withdrawn this node's slices; the node cannot be DRA-managed until the
    /// cluster enables the gates (docs/kubernetes.md).
    #[error("the API server dropped {fields} of ResourceSlice {slice}: enable the feature gate(s) on the kube-apiserver, kube-scheduler and kube-controller-manager; this node's slices were withdrawn")]
    FieldsDropped { slice: String, fields: String },
    /// The slices to publish are not this node's pool (a bug in the caller).
    #[error("refusing to publish: {0}")]
    Invalid(String),
}

impl KubeError {
    /// Wraps a kube client error, saying what was being done.
    pub(crate) fn from_kube(what: impl Into<String>, e: kube::Error) -> KubeError {
        let what = what.into();
        match e {
            kube::Error::Api(status) => {
                let status = *status;
                KubeError::Api {
                    what,
                    code: status.code,
                    message: status.message,
                }
            }
            other => KubeError::Transport {
                what,
                message: other.to_string(),
            },
        }
    }

    /// True when another try may succeed as it is (a write raced with someone else's, the
    /// server was unavailable or throttled us, no answer came).
    pub fn is_retryable(&self) -> bool {
        match self {
            KubeError::Api { code, .. } => matches!(code, 409 | 429 | 500..=599),
            KubeError::Transport { .. } => true,
            KubeError::Config(_) | KubeError::Invalid(_) | KubeError::FieldsDropped { .. } => false,
        }
    }
}
