//! Start: the container's init (`runc start`; a container evicted between its create and its
//! start says so) or an exec (`runc exec --detach` with its process spec).

use super::exits::report_exit;
use super::Service;
use crate::container::spawn::start_process;
use crate::error::{Result, ShimError};
use crate::process::Process;
use crate::runc::{self, Runc};
use containerd_shim::protos::api::{StartRequest, StartResponse};
use containerd_shim::protos::events::task::{TaskExecStarted, TaskStart};
use containerd_shim::protos::topics::{TASK_EXEC_STARTED_EVENT_TOPIC, TASK_START_EVENT_TOPIC};
use dynamig_hook::lifecycle;
use std::sync::{Arc, MutexGuard};

impl Service {
    pub(super) fn do_start(&self, req: StartRequest) -> Result<StartResponse> {
        let (runc, p) = self.process(&req.id, &req.exec_id)?;
        // Held until this start is told: the process's exit is reported after it.
        let starting = p.starting.lock().unwrap_or_else(|e| e.into_inner());
        if p.state().exit.is_some() {
            return Err(ShimError::FailedPrecondition(format!(
                "process {} of {} has already exited",
                req.exec_id, req.id
            )));
        }
        let pid = if req.exec_id.is_empty() {
            self.start_init(&runc, &p, &req.id)?
        } else {
            self.start_exec(&runc, &p, &req, starting)?
        };
        Ok(StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn start_init(&self, runc: &Runc, p: &Process, id: &str) -> Result<u32> {
        if let Err(e) = runc.run(&["start", id], None) {
            // Evicted between Create and Start: runc only says the container has stopped.
            let given = self.container(id, |c| Ok(c.slice.is_some()))?;
            if let Some(why) = given
                .then(|| lifecycle::preemption(&self.key(id)))
                .flatten()
            {
                return Err(ShimError::FailedPrecondition(format!(
                    "dynamig: container {} {why}",
                    self.key(id)
                )));
            }
            return Err(e);
        }
        let pid = p.pid();
        p.set_running(pid);
        self.events.send(
            TASK_START_EVENT_TOPIC,
            TaskStart {
                container_id: id.to_string(),
                pid,
                ..Default::default()
            },
        );
        Ok(pid)
    }

    fn start_exec(
        &self,
        runc: &Runc,
        p: &Arc<Process>,
        req: &StartRequest,
        starting: MutexGuard<'_, ()>,
    ) -> Result<u32> {
        let bundle = self.container(&req.id, |c| Ok(c.bundle.clone()))?;
        let spec_file = bundle.join(format!(".dynamig-exec-{}.json", req.exec_id));
        let pid_file = bundle.join(format!(".dynamig-exec-{}.pid", req.exec_id));
        std::fs::write(&spec_file, &p.spec).map_err(ShimError::io(format!(
            "cannot write {}",
            spec_file.display()
        )))?;
        let started = (|| -> Result<u32> {
            let spec_s = spec_file.to_string_lossy();
            let pid_s = pid_file.to_string_lossy();
            let mut args = vec![
                "exec",
                "--detach",
                "--process",
                &spec_s,
                "--pid-file",
                &pid_s,
            ];
            start_process(runc, &mut args, &req.id, &p.stdio, p)?;
            runc::read_pid(&pid_file)
        })();
        let _ = std::fs::remove_file(&spec_file);
        let _ = std::fs::remove_file(&pid_file);
        let pid = started?;
        p.set_running(pid);
        self.events.send(
            TASK_EXEC_STARTED_EVENT_TOPIC,
            TaskExecStarted {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                pid,
                ..Default::default()
            },
        );
        if let Some(code) = self.claim(pid) {
            drop(starting);
            report_exit(&self.events, &req.id, p, pid, code);
        }
        Ok(pid)
    }
}
