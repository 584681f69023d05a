//! `dynamigctl allocate`: a MIG instance for a holder, at once or after waiting in the queue
//! (`--wait`, cancelled by SIGINT/SIGTERM).

use crate::cli::ReqArgs;
use crate::{bad_input, open_node, print_json, render, state_dir, Failure};
use dynamig_node::node::{self, AllocSpec};
use dynamig_node::process::ProcRef;

pub fn run(
    id: String,
    req: &ReqArgs,
    namespace: String,
    pid: Option<u32>,
    json: bool,
) -> Result<(), Failure> {
    let request = req.request().map_err(bad_input)?;
    let process = pid.map(process).transpose()?;
    let spec = AllocSpec {
        id,
        namespace,
        request,
        process,
        creator: None,
    };
    let a = if spec.request.wait.is_zero() {
        open_node()?.allocate(spec)
    } else {
        let cancel = node::cancel_on_signals();
        node::allocate_waiting(&state_dir()?, spec, cancel).map(|(_, a)| a)
    }?;
    if json {
        print_json(&a)
    } else {
        println!("{}", render::allocation_line(&a));
        Ok(())
    }
}

/// The `--pid` process, which must exist.
fn process(pid: u32) -> Result<ProcRef, Failure> {
    ProcRef::of(pid).ok_or_else(|| bad_input(anyhow::anyhow!("--pid {pid}: no such process")))
}
