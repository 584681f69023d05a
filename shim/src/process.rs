//! One process of a task: the container's init (`exec_id` empty) or an exec. Its status, its
//! exit, and waiting for that exit.

use crate::io::{Copying, StdioNames};
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::MessageField;
use containerd_shim::protos::types::task::Status;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Exit {
    pub status: u32,
    pub at: Timestamp,
}

#[derive(Debug)]
pub struct ProcState {
    pub pid: u32,
    pub status: Status,
    pub exit: Option<Exit>,
}

pub struct Process {
    pub exec_id: String,
    pub stdio: StdioNames,
    /// An exec's process spec (JSON), as containerd sent it.
    pub spec: Vec<u8>,
    state: Mutex<ProcState>,
    exited: Condvar,
    /// The stdio copying, once the process runs.
    pub io: Mutex<Option<Copying>>,
    /// Held while the process is being started: its exit is not reported before its start.
    pub starting: Mutex<()>,
}

pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut t = Timestamp::new();
    t.seconds = d.as_secs() as i64;
    t.nanos = d.subsec_nanos() as i32;
    t
}

impl Process {
    pub fn new(exec_id: &str, stdio: StdioNames, spec: Vec<u8>) -> Process {
        Process {
            exec_id: exec_id.to_string(),
            stdio,
            spec,
            state: Mutex::new(ProcState {
                pid: 0,
                status: Status::CREATED,
                exit: None,
            }),
            exited: Condvar::new(),
            io: Mutex::new(None),
            starting: Mutex::new(()),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, ProcState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn pid(&self) -> u32 {
        self.state().pid
    }

    pub fn set_running(&self, pid: u32) {
        let mut s = self.state();
        s.pid = pid;
        if s.exit.is_none() {
            s.status = Status::RUNNING;
        }
    }

    pub fn set_status(&self, status: Status) {
        let mut s = self.state();
        if s.exit.is_none() {
            s.status = status;
        }
    }

    /// Records the exit (once); returns the exit when this call recorded it.
    pub fn set_exited(&self, code: i32) -> Option<Exit> {
        // The last output goes out before the exit is told.
        if let Some(c) = self.io.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            c.wait_output(Duration::from_secs(2));
        }
        let mut s = self.state();
        if s.exit.is_some() {
            return None;
        }
        let exit = Exit {
            status: code.max(0).unsigned_abs(),
            at: now(),
        };
        s.exit = Some(exit.clone());
        s.status = Status::STOPPED;
        self.exited.notify_all();
        Some(exit)
    }

    /// Blocks until the process has exited.
    pub fn wait(&self) -> Exit {
        let mut s = self.state();
        loop {
            if let Some(e) = &s.exit {
                return e.clone();
            }
            s = self.exited.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn exited_at(e: &Option<Exit>) -> MessageField<Timestamp> {
        match e {
            Some(e) => MessageField::some(e.at.clone()),
            None => MessageField::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn exit_is_recorded_once_and_wakes_waiters() {
        let p = Arc::new(Process::new("", StdioNames::default(), vec![]));
        p.set_running(42);
        assert_eq!(p.state().status, Status::RUNNING);
        let w = {
            let p = p.clone();
            std::thread::spawn(move || p.wait().status)
        };
        assert_eq!(p.set_exited(3).map(|e| e.status), Some(3));
        assert!(p.set_exited(9).is_none());
        assert_eq!(w.join().unwrap(), 3);
        assert_eq!(p.state().status, Status::STOPPED);
        p.set_status(Status::PAUSED);
        assert_eq!(p.state().status, Status::STOPPED);
    }
}
