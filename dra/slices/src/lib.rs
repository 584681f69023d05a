//! The ResourceSlices (`resource.k8s.io/v1`, Kubernetes 1.35+) of a dynamig node, and a
//! validator of the API's limits on them (docs/dra-slices.md).
//!
//! - [`build`]: a node's [`Inventory`](dynamig_dra_api::inventory::Inventory) -> its pool's
//!   slices: per GPU a counter set ([`counters`]: memory slices, compute slices, engines, and
//!   instance counts where they bind) and as devices ([`devices`]) every MIG profile x placement
//!   plus the whole GPU, each consuming its GPU's counters so that the scheduler admits exactly
//!   the layouts the GPU can take; split into as many slices as [`limits`] require, named by
//!   [`names`].
//! - [`validate`]: the documented limits and rules of one pool's slices, as typed
//!   [`Violation`]s; [`pool::Pool`] is the pool as the scheduler sees it (its `admits` is the
//!   scheduler's counter check).
//!
//! No I/O, no client: `dra/kube` publishes what [`build`] returns.

mod build;
pub mod counters;
pub mod devices;
pub mod limits;
pub mod names;
pub mod pool;
pub mod quantity;
mod validate;
mod violation;

pub use build::{build, to_yaml_stream};
pub use validate::validate;
pub use violation::Violation;
