//! `dynamigctl plan`: a dry run, where a request would go and whom it would evict.

use crate::cli::ReqArgs;
use crate::{bad_input, open_node, print_json, render, Failure};
use dynamig_node::node::NodeError;

pub fn run(req: &ReqArgs, namespace: &str, json: bool) -> Result<(), Failure> {
    let request = req.request().map_err(bad_input)?;
    let node = open_node()?;
    let policy_err = |e| Failure::from(anyhow::Error::new(NodeError::Policy(e)));
    let allowance = dynamig_node::policy_file::from_env()
        .map_err(policy_err)?
        .allowance(namespace, request.k8s_namespace.as_deref());
    allowance.admit(&request).map_err(policy_err)?;
    let d = node
        .plan_queued(&request)
        .map_err(|e| Failure::from(anyhow::Error::new(e)))?;
    let victims: Vec<String> = d.victims.iter().map(|v| v.id.clone()).collect();
    allowance.admit_victims(&victims).map_err(policy_err)?;
    let out = render::PlanOut::from(&d);
    if json {
        print_json(&out)
    } else {
        println!("{}", render::plan_line(&out));
        Ok(())
    }
}
