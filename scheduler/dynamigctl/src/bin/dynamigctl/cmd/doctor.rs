//! `dynamigctl doctor`: the read-only readiness check (`dynamigctl::doctor`); exit 1 when the
//! node is not ready.

use crate::failure::already_said;
use crate::Failure;

pub fn run() -> Result<(), Failure> {
    // Never opens the node: no lock taken, no state written, no GPU touched.
    if dynamigctl::doctor::run(crate::config(), None, &mut std::io::stdout()) {
        Ok(())
    } else {
        // Its last line (`node: NOT ready ...`) said so on stdout; stderr does not repeat it.
        Err(already_said(1))
    }
}
