//! The driver stack containers get (docs/driver-stack.md): a CDI spec, the legacy hook, or
//! device nodes only.

use super::report::{Report, Verdict};
use dynamig_node::backend::BackendKind;
use dynamig_node::config::NodeConfig;

/// Which driver user space containers will get (docs/driver-stack.md), judged as a creation on
/// `backend`, whose driver is `driver`, judges it.
pub(super) fn check(r: &mut Report, cfg: &NodeConfig, backend: BackendKind, driver: Option<&str>) {
    use dynamig_node::driver_stack::{discover, Stack};
    let what = "driver stack";
    let mut stack = match cfg.driver_stack().and_then(discover) {
        Ok(s) => s,
        Err(e) => return r.line(Verdict::Fail, what, &e.to_string()),
    };
    match (stack.check(backend, driver), &stack) {
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
