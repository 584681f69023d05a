//! dynamig's scheduler library: the MIG catalog, request parsing, the planner, the locked node
//! state, reconciliation and the GPU backends. Every entry point (`dynamigctl`, the runc wrapper,
//! the OCI hook, the containerd shim) goes through [`node::Node`].

pub mod backend;
pub mod catalog;
pub mod doctor;
pub mod duration;
pub mod events;
pub mod excerpt;
pub mod fault;
pub mod layout;
pub mod metrics;
pub mod node;
pub mod planner;
pub mod policy;
pub mod priority;
pub mod process;
pub mod quantity;
pub mod queue;
pub mod replay;
pub mod request;
pub mod rfc3339;
pub mod runtime_config;
pub mod since;
pub mod state;
pub mod status;
