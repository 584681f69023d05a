//! The simulated node (`dynamigctl sim init`), when it is the backend this node uses
//! (`DYNAMIG_BACKEND=sim`, or no NVIDIA library at all): its file, its GPUs and their MIG modes.

use super::report::{Report, Verdict};
use dynamig_node::backend::sim::SimNode;
use std::path::Path;

/// The simulated node in `sim_file`, chosen because of `why`. Returns how many of its GPUs
/// dynamig can use, and the driver version it claims.
pub(super) fn check(r: &mut Report, sim_file: &Path, why: &str) -> (usize, Option<String>) {
    let node = match SimNode::load(sim_file) {
        Ok(Some(n)) => n,
        Ok(None) => {
            r.line(
                Verdict::Fail,
                "backend",
                &format!(
                    "{why}, but there is no simulated node ({} not found); create one with \
                     `dynamigctl sim init a100-40gb`",
                    sim_file.display()
                ),
            );
            return (0, None);
        }
        Err(e) => {
            r.line(Verdict::Fail, "backend", &format!("{why}: {e}"));
            return (0, None);
        }
    };
    r.line(
        Verdict::Ok,
        "backend",
        &format!(
            "{why}: the simulated node in {} ({} GPU(s), driver {}); no GPU is touched",
            sim_file.display(),
            node.gpus.len(),
            node.driver_version
        ),
    );
    let mut usable = 0;
    for g in &node.gpus {
        let what = format!("GPU {}", g.index);
        let (verdict, mode) = match (g.mig.current, g.mig.pending) {
            (true, true) => {
                usable += 1;
                (Verdict::Ok, "MIG enabled".to_string())
            }
            (false, false) => (
                Verdict::Warn,
                format!(
                    "MIG disabled: not used (`dynamigctl sim mig {} on`)",
                    g.index
                ),
            ),
            (true, false) => (
                Verdict::Warn,
                "MIG enabled, but disabling is pending a GPU reset: not used".into(),
            ),
            (false, true) => (
                Verdict::Warn,
                "MIG enabling is pending a GPU reset: not used until then".into(),
            ),
        };
        r.line(
            verdict,
            &what,
            &format!(
                "{} (simulated) {}, {} instance(s): {mode}",
                g.model,
                g.uuid,
                g.instances.len()
            ),
        );
    }
    if usable == 0 {
        r.line(Verdict::Fail, "GPUs", "no GPU has MIG enabled and usable");
    }
    (usable, Some(node.driver_version))
}
