//! The `DRAPlugin` service in its two versions. `v1` and `v1beta1` have the same messages (v1
//! adds `Device.share_id`, which dynamig never sets: its devices are not shared between
//! claims), so one macro writes both from [`Runner`]'s answers.

use crate::deadline;
use crate::error_text::claim_error_text;
use crate::runner::{Done, Op, Outcome, Runner};
use crate::version::Version;
use dynamig_dra_api::claim::{ClaimError, ClaimRef};
use std::time::Duration;
use tracing::Instrument;

/// One version's service: the runner, the version (for the logs) and the timeout of a call
/// without `grpc-timeout`.
pub(crate) struct DraService {
    runner: Runner,
    version: Version,
    default_timeout: Duration,
}

impl DraService {
    pub(crate) fn new(runner: Runner, version: Version, default_timeout: Duration) -> DraService {
        DraService {
            runner,
            version,
            default_timeout,
        }
    }

    async fn run(
        &self,
        op: Op,
        metadata: &tonic::metadata::MetadataMap,
        claims: Vec<ClaimRef>,
    ) -> Vec<(ClaimRef, Outcome)> {
        let timeout = deadline::grpc_timeout(metadata).unwrap_or(self.default_timeout);
        let span = tracing::info_span!("dra", version = %self.version, %op, claims = claims.len(), timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX));
        self.runner
            .run(op, claims, deadline::budget(timeout))
            .instrument(span)
            .await
    }
}

fn wrong_answer(op: Op) -> ClaimError {
    ClaimError::Internal(format!("the {op} gave another operation's answer"))
}

macro_rules! dra_service {
    ($module:ident $(, $field:ident: $value:expr)*) => {
        pub(crate) mod $module {
            use super::{claim_error_text, wrong_answer, DraService, Done, Op};
            use crate::proto::$module as pb;
            use dynamig_dra_api::claim::ClaimRef;
            use std::collections::HashMap;
            use tonic::{Request, Response, Status};

            fn claims(claims: Vec<pb::Claim>) -> Vec<ClaimRef> {
                claims
                    .into_iter()
                    .map(|c| ClaimRef {
                        namespace: c.namespace,
                        name: c.name,
                        uid: c.uid,
                    })
                    .collect()
            }

            #[tonic::async_trait]
            impl pb::dra_plugin_server::DraPlugin for DraService {
                async fn node_prepare_resources(
                    &self,
                    request: Request<pb::NodePrepareResourcesRequest>,
                ) -> Result<Response<pb::NodePrepareResourcesResponse>, Status> {
                    let (metadata, _, body) = request.into_parts();
                    let done = self.run(Op::Prepare, &metadata, claims(body.claims)).await;
                    let mut out = HashMap::with_capacity(done.len());
                    for (claim, outcome) in done {
                        let answer = match outcome {
                            Ok(Done::Prepared(devices)) => pb::NodePrepareResourceResponse {
                                devices: devices
                                    .into_iter()
                                    .map(|d| pb::Device {
                                        request_names: d.requests,
                                        pool_name: d.pool,
                                        device_name: d.device,
                                        cdi_device_ids: d.cdi_device_ids,
                                        $($field: $value,)*
                                    })
                                    .collect(),
                                error: String::new(),
                            },
                            Ok(Done::Unprepared) => pb::NodePrepareResourceResponse {
                                devices: Vec::new(),
                                error: claim_error_text(&wrong_answer(Op::Prepare)),
                            },
                            Err(e) => pb::NodePrepareResourceResponse {
                                devices: Vec::new(),
                                error: claim_error_text(&e),
                            },
                        };
                        out.insert(claim.uid, answer);
                    }
                    Ok(Response::new(pb::NodePrepareResourcesResponse { claims: out }))
                }

                async fn node_unprepare_resources(
                    &self,
                    request: Request<pb::NodeUnprepareResourcesRequest>,
                ) -> Result<Response<pb::NodeUnprepareResourcesResponse>, Status> {
                    let (metadata, _, body) = request.into_parts();
                    let done = self.run(Op::Unprepare, &metadata, claims(body.claims)).await;
                    let mut out = HashMap::with_capacity(done.len());
                    for (claim, outcome) in done {
                        let error = match outcome {
                            Ok(Done::Unprepared) => String::new(),
                            Ok(Done::Prepared(_)) => claim_error_text(&wrong_answer(Op::Unprepare)),
                            Err(e) => claim_error_text(&e),
                        };
                        out.insert(claim.uid, pb::NodeUnprepareResourceResponse { error });
                    }
                    Ok(Response::new(pb::NodeUnprepareResourcesResponse { claims: out }))
                }
            }
        }
    };
}

// share_id: dynamig's devices are never shared between claims (docs/dra-grpc.md).
dra_service!(dra_v1, share_id: None);
dra_service!(dra_v1beta1);
