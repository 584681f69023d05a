//! `dynamigctl plan`: a dry run, where a request would go and whom it would evict.

use crate::cli::ReqArgs;
use crate::{bad_input, print_json, render, with_node, Failure};
use serde::Serialize;

/// What `plan --json` prints when the request is refused (bad input, no room, the policy): the
/// line `dynamigctl:` prints on stderr, as JSON on stdout, with the exit status it ends with.
#[derive(Serialize)]
struct Refusal {
    refused: bool,
    reason: String,
    exit_code: u8,
}

/// The same admission as `allocate` ([`dynamig_node::node::Node::dry_run`]), without acting.
pub fn run(req: &ReqArgs, namespace: &str, json: bool) -> Result<(), Failure> {
    match (plan(req, namespace), json) {
        (Ok(out), true) => print_json(&out),
        (Ok(out), false) => {
            println!("{}", render::plan_line(&out));
            Ok(())
        }
        (Err(f), true) => {
            print_json(&Refusal {
                refused: true,
                reason: format!("{:#}", f.err),
                exit_code: f.code,
            })?;
            Err(f)
        }
        (Err(f), false) => Err(f),
    }
}

fn plan(req: &ReqArgs, namespace: &str) -> Result<render::PlanOut, Failure> {
    let request = req.request().map_err(bad_input)?;
    let d = with_node(|node| Ok(node.dry_run(namespace, &request)?))?;
    Ok(render::PlanOut::from(&d))
}
