//! The node state: one directory, one lock, one checksummed state file.
//!
//! - [`dir`]: the state directory (`/run/dynamig`, `DYNAMIG_STATE_DIR`), created 0700 and
//!   refused when others can write to it.
//! - [`lock`]: the node-wide `flock` every entry point holds around decide-act-write.
//! - [`file`]: atomic, versioned, checksummed writes and checked reads.
//! - [`model`]: what the file holds: holders, their instances, and write-ahead intents.
//! - [`dra`]: the DRA-managed mode, the boot id and the claims the DRA plugin prepared.
//! - `migrate`: reading a state file of an older version.
//! - [`regular`]: opening the event log and the runtime log, never through a link.

pub mod dir;
pub mod dra;
pub mod file;
pub mod lock;
mod migrate;
pub mod model;
pub mod regular;

pub use dir::StateDir;
pub use file::StateFileError;
pub use lock::{LockError, NodeLock};
pub use model::{
    Eviction, Holder, HolderKey, HolderState, InstanceRef, Intent, Live, NodeState, Planned,
    Ticket, Warm,
};
