//! dynamig's part of a container's life, as the runtime entry points call it: `dynamig-runc`
//! and `dynamig-hook` (through their processes and OCI hooks) and `containerd-shim-dynamig-v2`
//! (in process). One file per step, each read top to bottom:
//!
//! - [`create()`] (`create.rs`): before `runc create`: read the spec → parse the request → find
//!   the driver stack → open the node → check the stack → allocate (or wait) → edit the spec →
//!   save (release on a failed edit).
//! - [`record()`] (`record.rs`): after `runc create`: the container's init process becomes the
//!   holder's life (the node lock and the state file only).
//! - [`release()`] (`release.rs`): on deletion: the holder's slice goes back.
//! - [`preemption()`] (`preemption.rs`): why a container that runc cannot start lost its slice.
//!
//! Every step fails with a [`LifecycleError`], whose [`ErrorKind`] the edges map to their own
//! codes (`error.rs`); the hooks the wrapper adds to a spec are in `hooks.rs`.

mod create;
mod error;
mod hooks;
mod preemption;
mod record;
mod release;

pub use create::{create, create_for_runc};
pub use error::{node_kind, ErrorKind, LifecycleError};
pub use hooks::{hook_bin, hook_config, pass_env_names, HOOK_ENV, PASS_ENV};
pub use preemption::preemption;
pub use record::record;
pub use release::{may_hold, release};

use dynamig_node::node::Allocation;

/// What [`create`] did for a bundle.
#[derive(Debug)]
pub enum Prepared {
    /// No request: the bundle was not touched.
    Untouched,
    /// Allocated, and the spec was edited.
    Injected(Box<Allocation>),
}

/// Who creates a container, which decides the hooks added to the spec and how a wait is
/// cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `dynamig-runc create` (`run: false`: `dynamig-runc delete` releases) or `runc run`
    /// (`run: true`: no delete call follows, a `poststop` hook releases). A `createRuntime`
    /// hook records the container's process; SIGINT/SIGTERM cancel a wait.
    Wrapper { run: bool },
    /// `containerd-shim-dynamig-v2`: no hooks (the shim records the container's process after
    /// `runc create` and releases on the task's deletion); signals are left to the shim.
    Shim,
}
