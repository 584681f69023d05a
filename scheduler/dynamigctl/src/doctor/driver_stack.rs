//! The driver stack containers get (docs/driver-stack.md): a CDI spec, the legacy hook, or
//! device nodes only.

use super::report::{Report, Verdict};
use dynamig_node::backend::nvml::NvmlBackend;
use dynamig_node::backend::BackendKind;
use dynamig_node::config::NodeConfig;

/// Which driver user space containers will get (docs/driver-stack.md), judged as a creation on
/// the `nvml` backend judges it.
pub(super) fn check(r: &mut Report, cfg: &NodeConfig) {
    use dynamig_node::driver_stack::{discover, Stack};
    let what = "driver stack";
    let mut stack = match cfg.driver_stack().and_then(discover) {
        Ok(s) => s,
        Err(e) => return r.line(Verdict::Fail, what, &e.to_string()),
    };
    let driver = NvmlBackend::open(cfg.proc_tree())
        .ok()
        .and_then(|b| b.driver_version().ok());
    match (stack.check(BackendKind::Nvml, driver.as_deref()), &stack) {
        (Err(e), _) => r.line(Verdict::Fail, what, &e.to_string()),
        (Ok(()), Stack::Nothing { .. }) => r.line(
            Verdict::Warn,
            what,
            &format!(
                "{}: containers get device nodes only, no driver libraries",
                stack.describe()
            ),
        ),
        (Ok(()), _) => r.line(
            Verdict::Ok,
            what,
            &format!("containers get {}", stack.describe()),
        ),
    }
}
