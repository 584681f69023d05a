//! The shim binary's three roles (containerd's shim v2 protocol): `start` (find or launch this
//! container's shim and print its address), the daemon (serve the task API), and `delete`
//! (clean up after a shim that is gone).

use crate::container::slice;
use crate::events::Events;
use crate::mount;
use crate::runc::Runc;
use crate::service::Service;
use containerd_shim::protos::shim::oci::Options;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{DeleteResponse, ExitSignal, Flags, StartOpts};
use dynamig_hook::HolderKey;
use std::path::Path;
use std::sync::Arc;

/// Annotations that put a container into an existing shim: one shim per Kubernetes pod, as
/// `io.containerd.runc.v2` does.
pub const GROUP_LABELS: &[&str] = &[
    "io.containerd.runc.v2.group",
    "io.kubernetes.cri.sandbox-id",
];

pub struct DynamigShim {
    id: String,
    namespace: String,
    exit: Arc<ExitSignal>,
}

/// The shim group of the bundle in `dir`: its group annotation, else the container's own id.
pub fn grouping(dir: &Path, id: &str) -> String {
    let Ok(bytes) = std::fs::read(dir.join("config.json")) else {
        return id.to_string();
    };
    let spec: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    GROUP_LABELS
        .iter()
        .find_map(|k| {
            spec.pointer(&format!("/annotations/{}", k.replace('/', "~1")))
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| id.to_string())
}

impl containerd_shim::Shim for DynamigShim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut containerd_shim::Config) -> Self {
        DynamigShim {
            id: args.id.clone(),
            namespace: args.namespace.clone(),
            exit: Arc::new(ExitSignal::default()),
        }
    }

    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let dir = std::env::current_dir().unwrap_or_default();
        let group = grouping(&dir, &opts.id);
        let (pid, address) = containerd_shim::spawn(opts, &group, Vec::new())?;
        if pid != 0 {
            containerd_shim::cgroup::set_cgroup_and_oom_score(pid)?;
        }
        containerd_shim::util::write_address(&address)?;
        Ok(address)
    }

    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = std::env::current_dir().unwrap_or_default();
        let opts: Options = containerd_shim::util::read_options(&bundle).unwrap_or_default();
        let runc = Runc::new(&opts, &self.namespace, &bundle);
        if let Err(e) = runc.run(&["delete", "--force", &self.id], None) {
            tracing::debug!(container = %self.id, error = %e, "runc delete --force");
        }
        mount::unmount_rootfs(&bundle);
        // Only what this very container was given: a container that asked for nothing, or
        // whose create was refused, has no record in its bundle and releases nothing, whatever
        // another namespace's container of the same id holds.
        let key = HolderKey::new(&self.namespace, &self.id);
        if slice::given_in_bundle(&bundle, &key) {
            slice::release(&key);
        }
        Ok(DeleteResponse {
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: containerd_shim::protos::protobuf::MessageField::some(crate::process::now()),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        dynamig_hook::logging::init("containerd-shim-dynamig-v2");
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        let events = Events::start(publisher, address, self.namespace.clone());
        Service::new(&self.namespace, events, self.exit.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_share_a_shim() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(grouping(t.path(), "c1"), "c1");
        std::fs::write(
            t.path().join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}"#,
        )
        .unwrap();
        assert_eq!(grouping(t.path(), "c1"), "pod1");
        std::fs::write(t.path().join("config.json"), r#"{"annotations":{}}"#).unwrap();
        assert_eq!(grouping(t.path(), "c1"), "c1");
    }
}
