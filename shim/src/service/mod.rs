//! The task service containerd talks to (ttrpc, task API v2): one shim serves one container,
//! or every container of a Kubernetes pod. The service keeps the table of containers and
//! their processes and answers the Task API; making a container is the
//! [`ContainerFactory`]'s. Here: create, kill, exec, state, pause, pids, update, stats, stdio;
//! `start.rs` and `delete.rs` the two longer calls; `exits.rs` reaped children; `task.rs` the
//! ttrpc trait.

mod delete;
mod exits;
mod start;
mod task;

use crate::container::{Container, ContainerFactory};
use crate::error::{Result, ShimError};
use crate::events::Events;
use crate::io::StdioNames;
use crate::oom;
use crate::process::Process;
use crate::runc::{self, Runc};
use containerd_shim::protos::api::*;
use containerd_shim::protos::events::task::*;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics::*;
use containerd_shim::protos::types::task::{ProcessInfo, Status};
use containerd_shim::ExitSignal;
use dynamig_hook::HolderKey;
use dynamig_node::config::NodeConfig;
use exits::report_exit;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

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
            // One NVML initialisation for the life of this shim, shared by every create and
            // delete it serves (docs/architecture.md, "One NVML session per shim").
            factory: ContainerFactory::new(
                namespace,
                Arc::new(NodeConfig::from_env().with_nvml_session()),
            ),
            events,
            exit,
            table,
        };
        exits::watch(s.table.clone(), s.events.clone());
        s
    }

    /// The holder of container `id`: this shim's namespace and that id.
    fn key(&self, id: &str) -> HolderKey {
        HolderKey::new(&self.namespace, id)
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
