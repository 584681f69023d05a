//! `containerd-shim-dynamig-v2` (runtime type `io.containerd.dynamig.v2`): a containerd task
//! shim (task API v2) that runs containers with runc, in process, and gives each container the
//! MIG slice its spec asks for.
//!
//! - **Create**: mounts the rootfs, then — when the bundle's `config.json` makes a request
//!   (`dynamig.io/*` annotations or `DYNAMIG_*` env) — allocates under the node lock and edits
//!   the spec (the same code as `dynamig-runc create`), runs `runc create`, and records the
//!   container's init process on its holder. This happens for every container, also the app
//!   containers of a pod that containerd 2.x sends to the pod's running shim without a
//!   `shim start`. A bad request fails Create with one line; nothing is allocated.
//! - **Delete**: `runc delete`, unmount, release the holder (once).
//! - `shim delete` (containerd's clean-up after a shim died): `runc delete --force`, unmount,
//!   release.
//!
//! A container without a request costs nothing more than with `io.containerd.runc.v2`: no
//! extra process, no lock, no state read; `config.json` is scanned for `dynamig.io/`,
//! `DYNAMIG_` and `\u` and not parsed when none is there.
//!
//! The real runc: the runc options' `BinaryName`, else `$DYNAMIG_RUNC`, else `runc` on `PATH`.

pub mod container;
pub mod error;
pub mod events;
pub mod io;
pub mod manager;
pub mod mount;
pub mod oom;
pub mod process;
pub mod runc;
pub mod service;

/// The runtime type containerd names this shim by.
pub const RUNTIME_ID: &str = "io.containerd.dynamig.v2";
