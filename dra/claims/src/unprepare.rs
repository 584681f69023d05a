//! Unprepare one claim: mark it `unpreparing` (forced to disk), destroy its instances (retried
//! while NVML says they are in use, then answered retryable), remove its CDI spec, forget it.
//! An unknown claim is success: the kubelet may unprepare twice, or after a reboot.

use crate::prepare::teardown;
use crate::preparer::ClaimsPreparer;
use dynamig_dra_api::claim::{ClaimError, ClaimRef};

pub(crate) fn unprepare(p: &ClaimsPreparer, claim: &ClaimRef) -> Result<(), ClaimError> {
    p.with_node(|node| {
        let Some(rec) = node
            .state
            .dra
            .as_ref()
            .and_then(|d| d.claim(&claim.uid))
            .cloned()
        else {
            return Ok(());
        };
        teardown(p, node, &rec, "unprepared")
    })
}
