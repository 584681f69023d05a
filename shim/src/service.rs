//! The task service containerd talks to (ttrpc, task API v2): one shim serves one container,
//! or every container of a Kubernetes pod.

use crate::container::spawn::start_process;
use crate::container::{slice, Container, ContainerFactory};
use crate::error::{Result, ShimError};
use crate::events::Events;
use crate::io::StdioNames;
use crate::process::Process;
use crate::runc::{self, Runc};
use crate::{mount, oom};
use containerd_shim::monitor::{monitor_subscribe, ExitEvent, Subject, Topic};
use containerd_shim::protos::api::*;
use containerd_shim::protos::events::task::*;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics::*;
use containerd_shim::protos::ttrpc::{self, TtrpcContext};
use containerd_shim::protos::types::task::{ProcessInfo, Status};
use containerd_shim::{ExitSignal, Task};
use dynamig_hook::lifecycle;
use dynamig_hook::HolderKey;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Table {
    containers: HashMap<String, Container>,
    /// Exits of children not (yet) known as a container process: an exec can exit before its
    /// pid is read back; runc's own exits land here too and age out.
    unclaimed: HashMap<u32, (i32, Instant)>,
}

pub struct Service {
    namespace: String,
    factory: ContainerFactory,
    events: Events,
    exit: Arc<ExitSignal>,
    table: Arc<Mutex<Table>>,
}

fn lock(t: &Mutex<Table>) -> MutexGuard<'_, Table> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

fn valid_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ShimError::InvalidArgument(format!("invalid id {id:?}")))
    }
}

impl Service {
    pub fn new(namespace: &str, events: Events, exit: Arc<ExitSignal>) -> Service {
        let table = Arc::new(Mutex::new(Table::default()));
        let s = Service {
            namespace: namespace.to_string(),
            factory: ContainerFactory::new(namespace),
            events,
            exit,
            table,
        };
        s.watch_exits();
        s
    }

    /// The holder of container `id`: this shim's namespace and that id.
    fn key(&self, id: &str) -> HolderKey {
        HolderKey::new(&self.namespace, id)
    }

    /// Turns reaped children into process exits and `/tasks/exit` events.
    fn watch_exits(&self) {
        let table = self.table.clone();
        let events = self.events.clone();
        let Ok(sub) = monitor_subscribe(Topic::Pid) else {
            tracing::error!("cannot watch process exits");
            return;
        };
        std::thread::spawn(move || {
            for ExitEvent { subject, exit_code } in sub.rx.iter() {
                let Subject::Pid(pid) = subject else { continue };
                let Ok(pid) = u32::try_from(pid) else {
                    continue;
                };
                let found = {
                    let mut t = lock(&table);
                    let found = find_pid(&t, pid);
                    if found.is_none() {
                        t.unclaimed
                            .retain(|_, (_, at)| at.elapsed() < Duration::from_secs(60));
                        t.unclaimed.insert(pid, (exit_code, Instant::now()));
                    }
                    found
                };
                if let Some((cid, p)) = found {
                    report_exit(&events, &cid, &p, pid, exit_code);
                }
            }
        });
    }

    fn container<T>(&self, id: &str, f: impl FnOnce(&mut Container) -> Result<T>) -> Result<T> {
        let mut t = lock(&self.table);
        let c = t
            .containers
            .get_mut(id)
            .ok_or_else(|| ShimError::NotFound(format!("container {id} not found")))?;
        f(c)
    }

    fn process(&self, id: &str, exec_id: &str) -> Result<(Runc, Arc<Process>)> {
        self.container(id, |c| {
            let p = if exec_id.is_empty() {
                c.init.clone()
            } else {
                c.execs.get(exec_id).cloned().ok_or_else(|| {
                    ShimError::NotFound(format!("exec {exec_id} of {id} not found"))
                })?
            };
            Ok((c.runc.clone(), p))
        })
    }

    /// Takes an exit that came before the process's pid was known.
    fn claim(&self, pid: u32) -> Option<i32> {
        lock(&self.table).unclaimed.remove(&pid).map(|(c, _)| c)
    }

    fn do_create(&self, req: CreateTaskRequest) -> Result<CreateTaskResponse> {
        valid_id(&req.id)?;
        if lock(&self.table).containers.contains_key(&req.id) {
            return Err(ShimError::AlreadyExists(format!(
                "container {} already exists",
                req.id
            )));
        }
        if !req.checkpoint.is_empty() {
            return Err(ShimError::Unimplemented(format!(
                "restoring a checkpoint is not supported by {}",
                crate::RUNTIME_ID
            )));
        }
        let container = self.factory.create(&req)?;
        let init = container.init.clone();
        let pid = init.pid();
        let injected = container.slice.is_some();
        self.watch_oom(&req.id, pid);
        let early = {
            let mut t = lock(&self.table);
            t.containers.insert(req.id.clone(), container);
            t.unclaimed.remove(&pid).map(|(c, _)| c)
        };
        self.events.send(
            TASK_CREATE_EVENT_TOPIC,
            TaskCreate {
                container_id: req.id.clone(),
                bundle: req.bundle.clone(),
                rootfs: req.rootfs.clone(),
                io: MessageField::some(TaskIO {
                    stdin: req.stdin.clone(),
                    stdout: req.stdout.clone(),
                    stderr: req.stderr.clone(),
                    terminal: req.terminal,
                    ..Default::default()
                }),
                pid,
                ..Default::default()
            },
        );
        if let Some(code) = early {
            report_exit(&self.events, &req.id, &init, pid, code);
        }
        tracing::debug!(container = %req.id, pid, injected, "created");
        Ok(CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    /// `/tasks/oom` events for the container whose init is `pid`.
    fn watch_oom(&self, id: &str, pid: u32) {
        let (events, cid) = (self.events.clone(), id.to_string());
        let oom = oom::watch(pid, move || {
            events.send(
                TASK_OOM_EVENT_TOPIC,
                TaskOOM {
                    container_id: cid.clone(),
                    ..Default::default()
                },
            )
        });
        if let Err(e) = oom {
            tracing::warn!(container = %id, error = %e, "cannot watch for OOM kills");
        }
    }

    fn do_start(&self, req: StartRequest) -> Result<StartResponse> {
        let (runc, p) = self.process(&req.id, &req.exec_id)?;
        // Held until this start is told: the process's exit is reported after it.
        let starting = p.starting.lock().unwrap_or_else(|e| e.into_inner());
        if p.state().exit.is_some() {
            return Err(ShimError::FailedPrecondition(format!(
                "process {} of {} has already exited",
                req.exec_id, req.id
            )));
        }
        if req.exec_id.is_empty() {
            if let Err(e) = runc.run(&["start", &req.id], None) {
                // Evicted between Create and Start: runc only says the container has stopped.
                let given = self.container(&req.id, |c| Ok(c.slice.is_some()))?;
                if let Some(why) = given
                    .then(|| lifecycle::preemption(&self.key(&req.id)))
                    .flatten()
                {
                    return Err(ShimError::FailedPrecondition(format!(
                        "dynamig: container {} {why}",
                        self.key(&req.id)
                    )));
                }
                return Err(e);
            }
            let pid = p.pid();
            p.set_running(pid);
            self.events.send(
                TASK_START_EVENT_TOPIC,
                TaskStart {
                    container_id: req.id.clone(),
                    pid,
                    ..Default::default()
                },
            );
            return Ok(StartResponse {
                pid,
                ..Default::default()
            });
        }
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
            start_process(&runc, &mut args, &req.id, &p.stdio, &p)?;
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
            report_exit(&self.events, &req.id, &p, pid, code);
        }
        Ok(StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn do_delete(&self, req: DeleteRequest) -> Result<DeleteResponse> {
        if !req.exec_id.is_empty() {
            let p = self.container(&req.id, |c| {
                let p = c.execs.get(&req.exec_id).cloned().ok_or_else(|| {
                    ShimError::NotFound(format!("exec {} of {} not found", req.exec_id, req.id))
                })?;
                if p.state().status == Status::RUNNING {
                    return Err(ShimError::FailedPrecondition(format!(
                        "exec {} of {} is still running",
                        req.exec_id, req.id
                    )));
                }
                c.execs.remove(&req.exec_id);
                Ok(p)
            })?;
            let s = p.state();
            return Ok(DeleteResponse {
                pid: s.pid,
                exit_status: s.exit.as_ref().map(|e| e.status).unwrap_or(0),
                exited_at: Process::exited_at(&s.exit),
                ..Default::default()
            });
        }
        let (runc, init, bundle, mounted, injected) = self.container(&req.id, |c| {
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
                "container {} is still running; stop it first",
                req.id
            )));
        }
        let args: &[&str] = if status == Status::CREATED {
            &["delete", "--force", &req.id]
        } else {
            &["delete", &req.id]
        };
        if let Err(e) = runc.run(args, None) {
            // Gone already (runc's record removed): nothing left to delete there.
            let gone = runc.root.join(&req.id).join("state.json");
            if gone.exists() {
                return Err(e);
            }
            tracing::debug!(container = %req.id, error = %e, "runc delete: no record left");
        }
        if mounted {
            mount::unmount_rootfs(&bundle);
        }
        if injected {
            slice::release(&self.key(&req.id));
        }
        if status == Status::CREATED {
            init.set_exited(128 + libc::SIGKILL);
        }
        lock(&self.table).containers.remove(&req.id);
        let exit = init.state().exit.clone();
        let exit_status = exit.as_ref().map(|e| e.status).unwrap_or(0);
        self.events.send(
            TASK_DELETE_EVENT_TOPIC,
            TaskDelete {
                container_id: req.id.clone(),
                pid,
                exit_status,
                exited_at: Process::exited_at(&exit),
                id: req.id.clone(),
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

    fn do_kill(&self, req: KillRequest) -> Result<()> {
        let (runc, p) = self.process(&req.id, &req.exec_id)?;
        let (pid, exited, status) = {
            let s = p.state();
            (s.pid, s.exit.is_some(), s.status)
        };
        if exited || pid == 0 {
            return Err(ShimError::NotFound("process already finished".into()));
        }
        if req.exec_id.is_empty() && (req.all || status == Status::PAUSED) {
            let sig = req.signal.to_string();
            let mut args = vec!["kill"];
            if req.all {
                args.push("--all");
            }
            args.push(&req.id);
            args.push(&sig);
            runc.run(&args, None)?;
            return Ok(());
        }
        // The shim reaps its container processes, so `pid` is still this process (not
        // reused) until its exit has been recorded.
        let sig = nix::sys::signal::Signal::try_from(req.signal as i32)
            .map_err(|_| ShimError::InvalidArgument(format!("invalid signal {}", req.signal)))?;
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::ESRCH) => {
                Err(ShimError::NotFound("process already finished".into()))
            }
            Err(e) => Err(ShimError::Other(format!("kill {pid}: {e}"))),
        }
    }

    fn do_exec(&self, req: ExecProcessRequest) -> Result<()> {
        valid_id(&req.exec_id)?;
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .ok_or_else(|| ShimError::InvalidArgument("exec without a process spec".into()))?;
        self.container(&req.id, |c| {
            if c.execs.contains_key(&req.exec_id) {
                return Err(ShimError::AlreadyExists(format!(
                    "exec {} of {} already exists",
                    req.exec_id, req.id
                )));
            }
            if c.init.state().exit.is_some() {
                return Err(ShimError::FailedPrecondition(format!(
                    "container {} is not running",
                    req.id
                )));
            }
            let stdio = StdioNames {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
            };
            let spec = match &c.slice {
                Some(slice) => slice.exec_spec(&spec),
                None => spec,
            };
            c.execs.insert(
                req.exec_id.clone(),
                Arc::new(Process::new(&req.exec_id, stdio, spec)),
            );
            Ok(())
        })?;
        self.events.send(
            TASK_EXEC_ADDED_EVENT_TOPIC,
            TaskExecAdded {
                container_id: req.id.clone(),
                exec_id: req.exec_id.clone(),
                ..Default::default()
            },
        );
        Ok(())
    }

    fn do_state(&self, req: StateRequest) -> Result<StateResponse> {
        let bundle = self.container(&req.id, |c| Ok(c.bundle.clone()))?;
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        let s = p.state();
        Ok(StateResponse {
            id: if req.exec_id.is_empty() {
                req.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle: bundle.to_string_lossy().into_owned(),
            pid: s.pid,
            status: s.status.into(),
            stdin: p.stdio.stdin.clone(),
            stdout: p.stdio.stdout.clone(),
            stderr: p.stdio.stderr.clone(),
            terminal: p.stdio.terminal,
            exit_status: s.exit.as_ref().map(|e| e.status).unwrap_or(0),
            exited_at: Process::exited_at(&s.exit),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }

    fn do_pause(&self, id: &str, pause: bool) -> Result<()> {
        let (runc, p) = self.process(id, "")?;
        if pause {
            runc.run(&["pause", id], None)?;
            p.set_status(Status::PAUSED);
            self.events.send(
                TASK_PAUSED_EVENT_TOPIC,
                TaskPaused {
                    container_id: id.to_string(),
                    ..Default::default()
                },
            );
        } else {
            runc.run(&["resume", id], None)?;
            p.set_status(Status::RUNNING);
            self.events.send(
                TASK_RESUMED_EVENT_TOPIC,
                TaskResumed {
                    container_id: id.to_string(),
                    ..Default::default()
                },
            );
        }
        Ok(())
    }

    fn do_pids(&self, id: &str) -> Result<PidsResponse> {
        let (runc, _) = self.process(id, "")?;
        let out = runc.run(&["ps", "--format", "json", id], None)?;
        let processes = runc::parse_ps(&out)?
            .into_iter()
            .map(|pid| ProcessInfo {
                pid,
                ..Default::default()
            })
            .collect();
        Ok(PidsResponse {
            processes,
            ..Default::default()
        })
    }

    fn do_update(&self, req: UpdateTaskRequest) -> Result<()> {
        let (runc, _) = self.process(&req.id, "")?;
        let resources = req
            .resources
            .as_ref()
            .map(|a| a.value.clone())
            .ok_or_else(|| ShimError::InvalidArgument("update without resources".into()))?;
        runc.run(&["update", "--resources", "-", &req.id], Some(&resources))?;
        Ok(())
    }

    fn do_stats(&self, id: &str) -> Result<StatsResponse> {
        let (_, p) = self.process(id, "")?;
        let metrics = containerd_shim::cgroup::collect_metrics(p.pid())?;
        let any = containerd_shim::util::convert_to_any(Box::new(metrics))?;
        Ok(StatsResponse {
            stats: MessageField::some(any),
            ..Default::default()
        })
    }

    fn do_close_io(&self, req: CloseIORequest) -> Result<()> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        if req.stdin {
            if let Some(c) = p.io.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                c.close_stdin();
            }
        }
        Ok(())
    }

    fn do_resize(&self, req: ResizePtyRequest) -> Result<()> {
        let (_, p) = self.process(&req.id, &req.exec_id)?;
        let io = p.io.lock().unwrap_or_else(|e| e.into_inner());
        match io.as_ref() {
            Some(c) => c.resize(req.width, req.height),
            None => Err(ShimError::FailedPrecondition(
                "the process has no terminal".into(),
            )),
        }
    }
}

/// The container and process a reaped pid belongs to.
fn find_pid(t: &Table, pid: u32) -> Option<(String, Arc<Process>)> {
    for (id, c) in &t.containers {
        if c.init.pid() == pid && c.init.state().exit.is_none() {
            return Some((id.clone(), c.init.clone()));
        }
        for p in c.execs.values() {
            if p.pid() == pid && p.state().exit.is_none() {
                return Some((id.clone(), p.clone()));
            }
        }
    }
    None
}

/// Records an exit and tells containerd, after the process's start was told.
fn report_exit(events: &Events, cid: &str, p: &Arc<Process>, pid: u32, code: i32) {
    let events = events.clone();
    let cid = cid.to_string();
    let p = p.clone();
    // A terminal's output may still be draining: do not hold up the reaper.
    std::thread::spawn(move || {
        let _started = p.starting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(exit) = p.set_exited(code) {
            events.send(
                TASK_EXIT_EVENT_TOPIC,
                TaskExit {
                    container_id: cid.clone(),
                    id: if p.exec_id.is_empty() {
                        cid.clone()
                    } else {
                        p.exec_id.clone()
                    },
                    pid,
                    exit_status: exit.status,
                    exited_at: MessageField::some(exit.at),
                    ..Default::default()
                },
            );
        }
    });
}

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
