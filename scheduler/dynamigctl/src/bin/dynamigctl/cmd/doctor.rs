//! `dynamigctl doctor`: the read-only readiness check (`dynamigctl::doctor`); exit 1 when the
//! node is not ready.

use crate::{refused, Failure};

pub fn run() -> Result<(), Failure> {
    // Never opens the node: no lock taken, no state written, no GPU touched.
    if dynamigctl::doctor::run(None, &mut std::io::stdout()) {
        Ok(())
    } else {
        Err(refused(anyhow::anyhow!(
            "the node is not ready for dynamig"
        )))
    }
}
