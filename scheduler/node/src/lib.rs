//! dynamig on one node: every entry point (`dynamigctl`, the runc wrapper, the OCI hook, the
//! containerd shim) goes through [`node::Node`], which holds the node lock while it decides
//! (with `dynamig_core`'s planner), acts on the GPU backend and writes the state file.
//!
//! - [`config`]: [`config::NodeConfig`], the environment read once by the entry points.
//! - [`state`]: the state directory, lock, checksummed state file and intents.
//! - [`node`]: allocate, evict, release, reconcile, wait.
//! - [`backend`]: the `sim` and `nvml` GPU backends behind one trait.
//! - [`driver_stack`]: the NVIDIA driver's user space a container gets (CDI).
//! - [`events`], [`metrics`], [`status`], [`phases`]: what the node reports.
//! - [`policy_file`], [`process`], [`fault`]: the policy file, process identity, crash points.

pub mod backend;
pub mod config;
pub mod driver_stack;
pub mod events;
pub mod fault;
pub mod metrics;
pub mod node;
pub mod phases;
pub mod policy_file;
pub mod process;
pub mod record;
pub mod state;
pub mod status;
pub mod warm;
