//! Whether the node is DRA-managed or standalone (docs/dra-node.md), read from the state file
//! without the lock (it is replaced whole by rename, never seen half written).

use super::report::{Report, Verdict};
use dynamig_node::config::NodeConfig;
use dynamig_node::state::dra::is_claim_namespace;
use dynamig_node::state::{file, NodeState};
use std::path::Path;

pub(super) fn check(r: &mut Report, cfg: &NodeConfig, state_dir: Option<&Path>) {
    let path = state_dir
        .map_or_else(|| cfg.state_dir.clone(), Path::to_path_buf)
        .join("state.json");
    let what = "mode";
    match file::read::<NodeState>(&path) {
        Err(e) => r.line(
            Verdict::Warn,
            what,
            &format!("cannot tell DRA-managed from standalone: {e}"),
        ),
        Ok(Some(NodeState { dra: Some(d), holders, .. })) => {
            let standalone = holders
                .iter()
                .filter(|h| !is_claim_namespace(&h.namespace))
                .count();
            let text = format!(
                "DRA-managed (mig.dynamig.io): {} claim(s) prepared; the shim, dynamig-runc and dynamigctl allocate refuse to allocate and nothing is evicted; `dynamigctl dra standalone` ends it once no claim is prepared",
                d.claims.len()
            );
            if standalone > 0 {
                r.line(
                    Verdict::Warn,
                    what,
                    &format!("{text}; {standalone} standalone holder(s) still hold MIG devices the DRA scheduler counts as free"),
                );
            } else {
                r.line(Verdict::Info, what, &text);
            }
        }
        Ok(_) => r.line(
            Verdict::Info,
            what,
            "standalone: the shim, dynamig-runc and dynamigctl allocate allocate here (no DRA plugin manages the node)",
        ),
    }
}
