//! The node side of `dynamig-dra`, the DRA kubelet plugin (docs/dra-node.md): a
//! [`Preparer`](dynamig_dra_api::claim::Preparer) on the node core of `dynamig-node`, under
//! the same lock, intents and state file as the containerd shim.
//!
//! - [`ClaimsPreparer`] ([`preparer`]): built from the node's configuration, the state
//!   directory, [`Options`] (node name, CDI directory, boot id) and a
//!   [`ClaimSource`](dynamig_dra_api::claim::ClaimSource); [`ClaimsPreparer::start`] makes the
//!   node DRA-managed and reconciles before anything is served.
//! - [`prepare`] and [`unprepare`]: one claim each, all or nothing.
//! - [`resolve`]: an allocated device (pool, name) to what the node creates.
//! - [`cdi`]: the per-claim CDI spec, written atomically.
//! - [`reconcile`]: what [`ClaimsPreparer::start`] does after a crash or a reboot.
//! - [`inventory()`]: the node's GPUs, for the ResourceSlices.
//! - [`boot_id`], [`fault`], [`error`].

pub mod boot_id;
pub mod cdi;
pub mod error;
pub mod fault;
pub mod inventory;
pub mod prepare;
pub mod preparer;
pub mod reconcile;
pub mod resolve;
pub mod unprepare;

pub use inventory::inventory;
pub use preparer::{ClaimsPreparer, Options};
pub use reconcile::Started;
