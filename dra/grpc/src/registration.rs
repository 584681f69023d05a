//! The pluginregistration v1 `Registration` service: tells the kubelet this is the DRA plugin
//! of `mig.dynamig.io`, where its DRA socket is and which service versions it serves, and keeps
//! what the kubelet answered.

use crate::proto::pluginregistration::registration_server::Registration;
use crate::proto::pluginregistration::{
    InfoRequest, PluginInfo, RegistrationStatus, RegistrationStatusResponse,
};
use crate::version::{Version, PLUGIN_TYPE};
use dynamig_dra_api::DRIVER_NAME;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use tonic::{Request, Response, Status};

/// What the kubelet last said of this plugin's registration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KubeletRegistration {
    /// No `NotifyRegistrationStatus` yet.
    #[default]
    Pending,
    /// The kubelet registered the plugin.
    Registered,
    /// The kubelet refused it, with its error message.
    Refused(String),
}

/// The shared, readable registration state (see [`crate::PluginServer::registration`]).
#[derive(Debug, Clone, Default)]
pub struct RegistrationState(Arc<Mutex<KubeletRegistration>>);

impl RegistrationState {
    pub fn get(&self) -> KubeletRegistration {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, s: KubeletRegistration) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = s;
    }
}

pub(crate) struct RegistrationService {
    info: PluginInfo,
    state: RegistrationState,
}

impl RegistrationService {
    pub(crate) fn new(dra_socket: &Path, state: RegistrationState) -> RegistrationService {
        RegistrationService {
            info: PluginInfo {
                r#type: PLUGIN_TYPE.to_string(),
                name: DRIVER_NAME.to_string(),
                endpoint: dra_socket.display().to_string(),
                supported_versions: Version::ALL
                    .iter()
                    .map(|v| v.service_name().to_string())
                    .collect(),
            },
            state,
        }
    }
}

#[tonic::async_trait]
impl Registration for RegistrationService {
    async fn get_info(&self, _: Request<InfoRequest>) -> Result<Response<PluginInfo>, Status> {
        tracing::debug!(
            endpoint = %self.info.endpoint,
            versions = ?self.info.supported_versions,
            "kubelet asked for plugin info"
        );
        Ok(Response::new(self.info.clone()))
    }

    async fn notify_registration_status(
        &self,
        request: Request<RegistrationStatus>,
    ) -> Result<Response<RegistrationStatusResponse>, Status> {
        let status = request.into_inner();
        if status.plugin_registered {
            tracing::info!(driver = DRIVER_NAME, "kubelet registered the plugin");
            self.state.set(KubeletRegistration::Registered);
        } else {
            tracing::error!(driver = DRIVER_NAME, error = %status.error, "kubelet refused the plugin's registration");
            self.state.set(KubeletRegistration::Refused(status.error));
        }
        Ok(Response::new(RegistrationStatusResponse {}))
    }
}
