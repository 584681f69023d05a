//! Recording a holder's process without opening the node: the light path a container's start
//! takes once `runc create` has made its init process (the shim after `runc create`, the
//! `createRuntime` hook).
//!
//! Under the node lock it reads the state file, sets the holder's process and clears its
//! creator (the same [`NodeState::set_process`] that [`crate::node::Node::set_process`] uses), and writes the state file
//! back. It opens no backend (no NVML init), reconciles nothing, appends no event and rewrites
//! no metrics: setting who a holder's life hangs on needs none of that, and the next full
//! opening of the node reconciles as always. A holder that is not in the state (never
//! allocated, released meanwhile, another namespace's) is [`NodeError::NoSuchHolder`].

use crate::node::NodeError;
use crate::process::ProcRef;
use crate::state::file::{self, Durability};
use crate::state::{HolderKey, NodeLock, NodeState, StateDir};
use std::time::Duration;

/// Sets `process` as the life of holder `key` in `dir`'s state, waiting at most `lock_timeout`
/// for the node lock.
pub fn set_process(
    dir: &StateDir,
    lock_timeout: Duration,
    key: &HolderKey,
    process: ProcRef,
) -> Result<(), NodeError> {
    let _lock = NodeLock::acquire(&dir.lock_file(), lock_timeout)?;
    let path = dir.state_file();
    let mut state: NodeState = file::read(&path)?.unwrap_or_default();
    if !state.set_process(key, process) {
        return Err(NodeError::NoSuchHolder(key.clone()));
    }
    file::write_with(&path, &state, Durability::Replace)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::sim::{SimBackend, SimNode};
    use crate::node::{AllocSpec, Node};
    use dynamig_core::request::{Request, Size};

    const WAIT: Duration = Duration::from_secs(5);

    fn allocate(dir: &StateDir, id: &str) {
        let lock = NodeLock::acquire(&dir.lock_file(), WAIT).unwrap();
        let b = SimBackend::open(&dir.sim_file()).unwrap().unwrap();
        let cfg = crate::config::NodeConfig::at(dir.path());
        let mut node = Node::with_backend(&cfg, dir, lock, Box::new(b)).unwrap();
        let request = Request::new(Size::Profile {
            name: "1g.5gb".into(),
        });
        node.allocate(AllocSpec {
            id: id.into(),
            namespace: "ns".into(),
            request,
            process: None,
            creator: Some(ProcRef::current()),
        })
        .unwrap();
        node.close();
    }

    #[test]
    fn sets_the_process_and_clears_the_creator_and_nothing_else() {
        let t = tempfile::tempdir().unwrap();
        let dir = StateDir::open(&t.path().join("state")).unwrap();
        SimNode::new(&["a100-40gb"])
            .unwrap()
            .save(&dir.sim_file())
            .unwrap();
        allocate(&dir, "a");
        let key = HolderKey::new("ns", "a");
        let before: NodeState = file::read(&dir.state_file()).unwrap().unwrap();
        let events = std::fs::read(dir.events_file()).unwrap();
        let me = ProcRef::current();

        set_process(&dir, WAIT, &key, me).unwrap();

        let after: NodeState = file::read(&dir.state_file()).unwrap().unwrap();
        let h = after.holder(&key).unwrap();
        assert_eq!(h.process, Some(me));
        assert_eq!(h.creator, None);
        let mut expected = before.clone();
        let e = expected.holder_mut(&key).unwrap();
        e.process = h.process;
        e.creator = None;
        assert_eq!(expected, after);
        assert_eq!(std::fs::read(dir.events_file()).unwrap(), events);

        let other = HolderKey::new("ns2", "a");
        let e = set_process(&dir, WAIT, &other, ProcRef::current()).unwrap_err();
        assert!(matches!(e, NodeError::NoSuchHolder(k) if k == other));
    }
}
