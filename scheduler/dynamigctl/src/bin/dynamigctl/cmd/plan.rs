//! `dynamigctl plan`: a dry run, where a request would go and whom it would evict.

use crate::cli::ReqArgs;
use crate::{bad_input, print_json, render, with_node, Failure};

/// The same admission as `allocate` ([`dynamig_node::node::Node::dry_run`]), without acting.
pub fn run(req: &ReqArgs, namespace: &str, json: bool) -> Result<(), Failure> {
    let request = req.request().map_err(bad_input)?;
    let d = with_node(|node| Ok(node.dry_run(namespace, &request)?))?;
    let out = render::PlanOut::from(&d);
    if json {
        print_json(&out)
    } else {
        println!("{}", render::plan_line(&out));
        Ok(())
    }
}
