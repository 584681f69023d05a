//! A map-backed preparer whose claims can also fail, panic or block, and a plugin served from
//! a temporary directory.

#![allow(dead_code)]

use dynamig_dra_api::claim::{ClaimError, ClaimRef, PreparedDevice, Preparer};
use dynamig_dra_grpc::{start, PluginServer, ServeConfig};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use tempfile::TempDir;

/// What the fake does with a claim uid.
#[derive(Clone)]
pub enum Behaviour {
    /// Prepares these devices (the same ones again on a second prepare).
    Devices(Vec<PreparedDevice>),
    Fail(ClaimError),
    Panic(&'static str),
    /// Waits for [`FakePreparer::release`], then prepares these devices.
    Block(Vec<PreparedDevice>),
}

#[derive(Default)]
pub struct FakePreparer {
    claims: Mutex<HashMap<String, Behaviour>>,
    prepared: Mutex<HashMap<String, Vec<PreparedDevice>>>,
    calls: Mutex<Vec<(&'static str, String)>>,
    released: (Mutex<bool>, Condvar),
}

impl FakePreparer {
    pub fn with(claims: &[(&str, Behaviour)]) -> Arc<FakePreparer> {
        let f = FakePreparer::default();
        *f.claims.lock().unwrap() = claims
            .iter()
            .map(|(uid, b)| (uid.to_string(), b.clone()))
            .collect();
        Arc::new(f)
    }

    /// Releases the blocked claims when dropped, so a failing test does not leave a blocking
    /// thread that the runtime would wait for forever.
    pub fn release_on_drop(self: &Arc<Self>) -> ReleaseOnDrop {
        ReleaseOnDrop(Arc::clone(self))
    }

    pub fn release(&self) {
        *self.released.0.lock().unwrap() = true;
        self.released.1.notify_all();
    }

    /// How many times `op` ("prepare", "unprepare") was called for `uid`.
    pub fn calls(&self, op: &str, uid: &str) -> usize {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|(o, u)| *o == op && u == uid).count()
    }

    pub fn is_prepared(&self, uid: &str) -> bool {
        self.prepared.lock().unwrap().contains_key(uid)
    }
}

impl Preparer for FakePreparer {
    fn prepare(&self, claim: &ClaimRef) -> Result<Vec<PreparedDevice>, ClaimError> {
        self.calls
            .lock()
            .unwrap()
            .push(("prepare", claim.uid.clone()));
        if let Some(devices) = self.prepared.lock().unwrap().get(&claim.uid) {
            return Ok(devices.clone());
        }
        let behaviour = self.claims.lock().unwrap().get(&claim.uid).cloned();
        let devices = match behaviour {
            None => return Err(ClaimError::Invalid(format!("no claim {}", claim.uid))),
            Some(Behaviour::Fail(e)) => return Err(e),
            Some(Behaviour::Panic(msg)) => panic!("{msg}"),
            Some(Behaviour::Devices(d)) => d,
            Some(Behaviour::Block(d)) => {
                let mut released = self.released.0.lock().unwrap();
                while !*released {
                    released = self.released.1.wait(released).unwrap();
                }
                d
            }
        };
        self.prepared
            .lock()
            .unwrap()
            .insert(claim.uid.clone(), devices.clone());
        Ok(devices)
    }

    fn unprepare(&self, claim: &ClaimRef) -> Result<(), ClaimError> {
        self.calls
            .lock()
            .unwrap()
            .push(("unprepare", claim.uid.clone()));
        self.prepared.lock().unwrap().remove(&claim.uid);
        Ok(())
    }
}

pub struct ReleaseOnDrop(Arc<FakePreparer>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release();
    }
}

pub fn claim(uid: &str) -> ClaimRef {
    ClaimRef {
        namespace: "team-a".into(),
        name: format!("claim-{uid}"),
        uid: uid.into(),
    }
}

/// One MIG device of a claim, as dra/claims would answer.
pub fn device(uid: &str, name: &str) -> PreparedDevice {
    PreparedDevice {
        requests: vec!["gpu".into()],
        pool: "node-1".into(),
        device: name.into(),
        cdi_device_ids: vec![format!("mig.dynamig.io/claim={uid}-{name}")],
    }
}

/// A plugin serving `preparer`, its sockets in a fresh temporary directory.
pub struct Plugin {
    pub dir: TempDir,
    pub cfg: ServeConfig,
    pub server: PluginServer,
}

pub async fn serve(preparer: Arc<dyn Preparer>) -> Plugin {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig::new(
        dir.path().join("plugins_registry"),
        dir.path().join("plugins/mig.dynamig.io"),
    );
    let server = start(&cfg, preparer).await.unwrap();
    Plugin { dir, cfg, server }
}
