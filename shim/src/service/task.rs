//! The ttrpc face of the task service: each Task API call answered by the service's own
//! method, its error mapped to a ttrpc status (`crate::error`).

use super::{lock, Service};
use crate::error::{Result, ShimError};
use containerd_shim::protos::api::*;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::ttrpc::{self, TtrpcContext};
use containerd_shim::Task;

fn reply<T>(r: Result<T>) -> ttrpc::Result<T> {
    r.map_err(Into::into)
}

/// The span every log line of a request carries (as the other entry points' lines do).
fn span() -> tracing::span::EnteredSpan {
    tracing::info_span!(
        "process",
        component = "containerd-shim-dynamig-v2",
        pid = std::process::id()
    )
    .entered()
}

impl Task for Service {
    fn create(
        &self,
        _: &TtrpcContext,
        req: CreateTaskRequest,
    ) -> ttrpc::Result<CreateTaskResponse> {
        let _span = span();
        reply(self.do_create(req))
    }

    fn start(&self, _: &TtrpcContext, req: StartRequest) -> ttrpc::Result<StartResponse> {
        reply(self.do_start(req))
    }

    fn delete(&self, _: &TtrpcContext, req: DeleteRequest) -> ttrpc::Result<DeleteResponse> {
        let _span = span();
        reply(self.do_delete(req))
    }

    fn pids(&self, _: &TtrpcContext, req: PidsRequest) -> ttrpc::Result<PidsResponse> {
        reply(self.do_pids(&req.id))
    }

    fn pause(&self, _: &TtrpcContext, req: PauseRequest) -> ttrpc::Result<Empty> {
        reply(self.do_pause(&req.id, true).map(|_| Empty::new()))
    }

    fn resume(&self, _: &TtrpcContext, req: ResumeRequest) -> ttrpc::Result<Empty> {
        reply(self.do_pause(&req.id, false).map(|_| Empty::new()))
    }

    fn checkpoint(&self, _: &TtrpcContext, _: CheckpointTaskRequest) -> ttrpc::Result<Empty> {
        reply(Err(ShimError::Unimplemented(format!(
            "checkpoint is not supported by {}",
            crate::RUNTIME_ID
        ))))
    }

    fn kill(&self, _: &TtrpcContext, req: KillRequest) -> ttrpc::Result<Empty> {
        reply(self.do_kill(req).map(|_| Empty::new()))
    }

    fn exec(&self, _: &TtrpcContext, req: ExecProcessRequest) -> ttrpc::Result<Empty> {
        reply(self.do_exec(req).map(|_| Empty::new()))
    }

    fn resize_pty(&self, _: &TtrpcContext, req: ResizePtyRequest) -> ttrpc::Result<Empty> {
        reply(self.do_resize(req).map(|_| Empty::new()))
    }

    fn close_io(&self, _: &TtrpcContext, req: CloseIORequest) -> ttrpc::Result<Empty> {
        reply(self.do_close_io(req).map(|_| Empty::new()))
    }

    fn update(&self, _: &TtrpcContext, req: UpdateTaskRequest) -> ttrpc::Result<Empty> {
        reply(self.do_update(req).map(|_| Empty::new()))
    }

    fn wait(&self, _: &TtrpcContext, req: WaitRequest) -> ttrpc::Result<WaitResponse> {
        let (_, p) = reply(self.process(&req.id, &req.exec_id))?;
        let exit = p.wait();
        Ok(WaitResponse {
            exit_status: exit.status,
            exited_at: MessageField::some(exit.at),
            ..Default::default()
        })
    }

    fn stats(&self, _: &TtrpcContext, req: StatsRequest) -> ttrpc::Result<StatsResponse> {
        reply(self.do_stats(&req.id))
    }

    fn connect(&self, _: &TtrpcContext, req: ConnectRequest) -> ttrpc::Result<ConnectResponse> {
        let task_pid = self.process(&req.id, "").map(|(_, p)| p.pid()).unwrap_or(0);
        Ok(ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _: &TtrpcContext, _: ShutdownRequest) -> ttrpc::Result<Empty> {
        if lock(&self.table).containers.is_empty() {
            self.exit.signal();
        }
        Ok(Empty::new())
    }

    fn state(&self, _: &TtrpcContext, req: StateRequest) -> ttrpc::Result<StateResponse> {
        reply(self.do_state(req))
    }
}
