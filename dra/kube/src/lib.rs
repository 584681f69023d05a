//! dynamig's DRA plugin and the Kubernetes API server (docs/kubernetes.md):
//!
//! - [`publisher`]: publishes this node's ResourceSlices (one pool, named after the node), and
//!   republishes them under a new pool generation when they change;
//! - [`claims`]: [`KubeClaimSource`], the [`ClaimSource`](dynamig_dra_api::claim::ClaimSource)
//!   that reads `resource.k8s.io/v1` ResourceClaims;
//! - [`connect`]: the client, from the pod's service account or a kubeconfig.
//!
//! The slices themselves are built elsewhere (`dra/slices`); the publisher takes them from a
//! closure of the pool generation, so this crate does not depend on how they are built.

pub mod claims;
pub mod connect;
pub mod dropped;
pub mod error;
pub mod plan;
pub mod publisher;
pub mod quantity;

pub use claims::KubeClaimSource;
pub use connect::connect;
pub use error::KubeError;
pub use publisher::{Published, Publisher};
