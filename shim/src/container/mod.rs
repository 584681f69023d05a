//! A container as the task service keeps it, and how one comes to be: [`factory`] makes it
//! (rootfs, dynamig's create, `runc create`, the recorded pid; undone on failure), [`slice`] is
//! what dynamig gave it, [`spawn`] starts a process of it through runc with its stdio.

pub mod factory;
pub mod slice;
pub mod spawn;

use crate::process::Process;
use crate::runc::Runc;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use factory::ContainerFactory;
pub use slice::Slice;

/// One container of this shim: its runc, its init and exec processes, what to undo on its
/// deletion.
pub struct Container {
    pub bundle: PathBuf,
    pub runc: Runc,
    pub init: Arc<Process>,
    pub execs: HashMap<String, Arc<Process>>,
    pub rootfs_mounted: bool,
    /// What dynamig gave this container, if anything (its holder is released on deletion; its
    /// exec processes get its device env).
    pub slice: Option<Slice>,
}
