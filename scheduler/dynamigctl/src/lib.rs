//! `dynamigctl`'s library: what only the command line needs, kept out of the shim and the
//! runtime wrapper.
//!
//! - [`doctor`]: the node's readiness checks.
//! - [`replay`]: replaying a GPU-sharing trace through the planner.
//! - [`runtime_config`]: registering dynamig with containerd and Docker.
//! - [`since`]: `--since` times.

pub mod doctor;
pub mod replay;
pub mod runtime_config;
pub mod since;
