//! Reaped children become process exits and `/tasks/exit` events; an exit that comes before
//! its process's pid is known waits in the table's `unclaimed` until it is claimed.

use super::{lock, Table};
use crate::events::Events;
use crate::process::Process;
use containerd_shim::monitor::{monitor_subscribe, ExitEvent, Subject, Topic};
use containerd_shim::protos::events::task::TaskExit;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::topics::TASK_EXIT_EVENT_TOPIC;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Turns reaped children into process exits and `/tasks/exit` events.
pub(super) fn watch(table: Arc<Mutex<Table>>, events: Events) {
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
pub(super) fn report_exit(events: &Events, cid: &str, p: &Arc<Process>, pid: u32, code: i32) {
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
