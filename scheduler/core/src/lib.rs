//! dynamig's pure core: what a request means and where it goes, as functions of plain data.
//!
//! - [`catalog`]: NVIDIA's MIG profile tables per GPU model; [`layout`]: which placements fit.
//! - [`request`] ([`quantity`], [`priority`], [`duration`]): the annotation grammar.
//! - [`planner`]: the placement decision, with its victims and refusals; [`queue`]: the wait
//!   queue's order and reservations.
//! - [`policy`]: the admission policy's rules (the node reads the file).
//! - [`holder`], [`ids`], [`excerpt`], [`rfc3339`]: small shared vocabulary.
//!
//! No I/O, no environment, no clock: the node crate (`dynamig-node`) does those and calls in.

pub mod catalog;
pub mod duration;
pub mod excerpt;
pub mod holder;
pub mod ids;
pub mod layout;
pub mod planner;
pub mod policy;
pub mod priority;
pub mod quantity;
pub mod queue;
pub mod request;
pub mod rfc3339;
