//! dynamig's OCI glue: reading a container's request from its runtime spec and injecting its MIG
//! device ([`spec`]), the record in a spec of whose slice it was given ([`injected`]), the
//! runc-compatible wrapper's command line ([`runc_args`]), the create/record/release lifecycle
//! that the wrapper, the hook and the shim all call ([`lifecycle`]), and
//! runc-style error reporting ([`errlog`]).
//!
//! Binaries: `dynamig-runc` (a runc wrapper for Docker, podman, CRI-O and containerd
//! `BinaryName`, and what `containerd-shim-dynamig-v2` puts in front of runc) and `dynamig-hook`
//! (the OCI `createRuntime` / `poststop` hook the wrapper adds to edited specs).

pub mod errlog;
pub mod exec_env;
pub mod injected;
pub mod lifecycle;
pub mod logging;
pub mod runc_args;
pub mod spec;

/// Who a holder is: (namespace, container id).
pub use dynamig_node::state::HolderKey;
