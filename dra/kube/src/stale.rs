//! Stale claims: claims prepared on this node that the API server no longer has. At start the
//! plugin checks each claim its state says is prepared; a stale one is unprepared (the kubelet
//! may never call `NodeUnprepareResources` for a claim deleted while the plugin was down).

use dynamig_dra_api::claim::{ClaimError, ClaimRef, ClaimSource};

/// The claims of `prepared` that are gone: no claim of that namespace and name, or one of
/// another UID (deleted and recreated under the same name). A claim that still exists but is
/// no longer allocated is not stale here: its pod may still be running, and the kubelet
/// unprepares it when the pod is gone.
///
/// Any error of the source stops the check: a claim is never called stale because the API
/// server did not answer.
pub fn stale_claims(
    source: &dyn ClaimSource,
    prepared: &[ClaimRef],
) -> Result<Vec<ClaimRef>, ClaimError> {
    let mut stale = Vec::new();
    for claim in prepared {
        match source.allocation(claim)? {
            None => stale.push(claim.clone()),
            Some(a) if a.uid != claim.uid => stale.push(claim.clone()),
            Some(_) => {}
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dynamig_dra_api::claim::ClaimAllocation;
    use std::collections::HashMap;

    struct Map(HashMap<String, Result<Option<ClaimAllocation>, ClaimError>>);

    impl ClaimSource for Map {
        fn allocation(&self, claim: &ClaimRef) -> Result<Option<ClaimAllocation>, ClaimError> {
            self.0.get(&claim.name).cloned().unwrap_or(Ok(None))
        }
    }

    fn claim(name: &str, uid: &str) -> ClaimRef {
        ClaimRef {
            namespace: "ns".into(),
            name: name.into(),
            uid: uid.into(),
        }
    }

    fn alloc(uid: &str) -> Result<Option<ClaimAllocation>, ClaimError> {
        Ok(Some(ClaimAllocation {
            uid: uid.into(),
            devices: vec![],
        }))
    }

    #[test]
    fn gone_and_recreated_claims_are_stale_live_ones_are_not() {
        let source = Map(HashMap::from([
            ("live".to_string(), alloc("u1")),
            ("recreated".to_string(), alloc("u-new")),
        ]));
        let prepared = [
            claim("live", "u1"),
            claim("recreated", "u2"),
            claim("gone", "u3"),
        ];
        assert_eq!(
            stale_claims(&source, &prepared).unwrap(),
            [claim("recreated", "u2"), claim("gone", "u3")]
        );
    }

    #[test]
    fn an_unanswered_check_calls_nothing_stale() {
        let source = Map(HashMap::from([(
            "flaky".to_string(),
            Err(ClaimError::Retryable("503".into())),
        )]));
        assert!(stale_claims(&source, &[claim("gone", "u3"), claim("flaky", "u4")]).is_err());
    }
}
