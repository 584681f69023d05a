//! Delete: an exited exec, or the container (`runc delete`, unmount, release its holder once,
//! `/tasks/delete`).

use super::{lock, Service};
use crate::container::slice;
use crate::error::{Result, ShimError};
use crate::mount;
use crate::process::Process;
use containerd_shim::protos::api::{DeleteRequest, DeleteResponse};
use containerd_shim::protos::events::task::TaskDelete;
use containerd_shim::protos::topics::TASK_DELETE_EVENT_TOPIC;
use containerd_shim::protos::types::task::Status;

impl Service {
    pub(super) fn do_delete(&self, req: DeleteRequest) -> Result<DeleteResponse> {
        if req.exec_id.is_empty() {
            self.delete_container(&req.id)
        } else {
            self.delete_exec(&req.id, &req.exec_id)
        }
    }

    fn delete_exec(&self, id: &str, exec_id: &str) -> Result<DeleteResponse> {
        let p = self.container(id, |c| {
            let p =
                c.execs.get(exec_id).cloned().ok_or_else(|| {
                    ShimError::NotFound(format!("exec {exec_id} of {id} not found"))
                })?;
            if p.state().status == Status::RUNNING {
                return Err(ShimError::FailedPrecondition(format!(
                    "exec {exec_id} of {id} is still running"
                )));
            }
            c.execs.remove(exec_id);
            Ok(p)
        })?;
        let s = p.state();
        Ok(DeleteResponse {
            pid: s.pid,
            exit_status: s.exit.as_ref().map(|e| e.status).unwrap_or(0),
            exited_at: Process::exited_at(&s.exit),
            ..Default::default()
        })
    }

    fn delete_container(&self, id: &str) -> Result<DeleteResponse> {
        let (runc, init, bundle, mounted, injected) = self.container(id, |c| {
            Ok((
                c.runc.clone(),
                c.init.clone(),
                c.bundle.clone(),
                c.rootfs_mounted,
                c.slice.is_some(),
            ))
        })?;
        let (status, pid) = {
            let s = init.state();
            (s.status, s.pid)
        };
        if matches!(status, Status::RUNNING | Status::PAUSED) {
            return Err(ShimError::FailedPrecondition(format!(
                "container {id} is still running; stop it first"
            )));
        }
        let args: &[&str] = if status == Status::CREATED {
            &["delete", "--force", id]
        } else {
            &["delete", id]
        };
        if let Err(e) = runc.run(args, None) {
            // Gone already (runc's record removed): nothing left to delete there.
            let gone = runc.root.join(id).join("state.json");
            if gone.exists() {
                return Err(e);
            }
            tracing::debug!(container = %id, error = %e, "runc delete: no record left");
        }
        if mounted {
            mount::unmount_rootfs(&bundle);
        }
        if injected {
            slice::release(&self.key(id));
        }
        if status == Status::CREATED {
            init.set_exited(128 + libc::SIGKILL);
        }
        lock(&self.table).containers.remove(id);
        let exit = init.state().exit.clone();
        let exit_status = exit.as_ref().map(|e| e.status).unwrap_or(0);
        self.events.send(
            TASK_DELETE_EVENT_TOPIC,
            TaskDelete {
                container_id: id.to_string(),
                pid,
                exit_status,
                exited_at: Process::exited_at(&exit),
                id: id.to_string(),
                ..Default::default()
            },
        );
        Ok(DeleteResponse {
            pid,
            exit_status,
            exited_at: Process::exited_at(&exit),
            ..Default::default()
        })
    }
}
