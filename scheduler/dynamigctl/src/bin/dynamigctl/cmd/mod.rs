//! One module per `dynamigctl` command; each takes its parsed flags and prints its output.

pub mod allocate;
pub mod doctor;
pub mod dra;
pub mod events;
pub mod gc;
pub mod plan;
pub mod profiles;
pub mod release;
pub mod replay;
pub mod runtime;
pub mod sim;
pub mod status;
pub mod watch;
