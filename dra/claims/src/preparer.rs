//! [`ClaimsPreparer`]: the plugin's [`Preparer`] on this node.

use crate::error;
use dynamig_dra_api::claim::{ClaimError, ClaimRef, ClaimSource, PreparedDevice, Preparer};
use dynamig_node::config::NodeConfig;
use dynamig_node::node::{Node, NodeError};
use dynamig_node::state::StateDir;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest a prepare or an unprepare waits for the node lock: well inside the kubelet's
/// 45 s for a whole `NodePrepareResources`, leaving room for the work itself; past it the claim
/// is answered retryable.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(15);

/// What the plugin's entry point reads and hands down.
#[derive(Debug, Clone)]
pub struct Options {
    /// This node's name: the pool every device of this node is allocated from.
    pub node_name: String,
    /// Where the per-claim CDI specs go ([`crate::cdi::DEFAULT_DIR`]).
    pub cdi_dir: PathBuf,
    /// This boot's id ([`crate::boot_id::read`]).
    pub boot_id: String,
    /// [`DEFAULT_LOCK_WAIT`], or less than the node configuration's lock timeout.
    pub lock_wait: Duration,
}

impl Options {
    /// The defaults: CDI specs in `/var/run/cdi`, [`DEFAULT_LOCK_WAIT`].
    pub fn new(node_name: impl Into<String>, boot_id: impl Into<String>) -> Options {
        Options {
            node_name: node_name.into(),
            cdi_dir: PathBuf::from(crate::cdi::DEFAULT_DIR),
            boot_id: boot_id.into(),
            lock_wait: DEFAULT_LOCK_WAIT,
        }
    }
}

/// Prepares and unprepares claims on this node through the node core. Call
/// [`ClaimsPreparer::start`] once before serving: until it has run, every prepare and unprepare
/// is answered retryable.
pub struct ClaimsPreparer {
    pub(crate) cfg: NodeConfig,
    pub(crate) dir: StateDir,
    pub(crate) opts: Options,
    pub(crate) source: Arc<dyn ClaimSource>,
    started: AtomicBool,
}

impl ClaimsPreparer {
    /// `cfg` as the entry point read it ([`NodeConfig::from_env`]); `dir` its state directory
    /// ([`NodeConfig::open_state_dir`]). The lock timeout is capped at `opts.lock_wait`.
    pub fn new(
        cfg: &NodeConfig,
        dir: StateDir,
        opts: Options,
        source: Arc<dyn ClaimSource>,
    ) -> ClaimsPreparer {
        let mut cfg = cfg.clone();
        cfg.lock_timeout = cfg.lock_timeout.min(opts.lock_wait);
        ClaimsPreparer {
            cfg,
            dir,
            opts,
            source,
            started: AtomicBool::new(false),
        }
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Makes the node DRA-managed, records this boot, reconciles the claims with the hardware
    /// and the API server (`reconcile.rs`), and from then on serves.
    pub fn start(&self) -> Result<crate::Started, ClaimError> {
        let started = self.reconcile()?;
        self.started.store(true, Ordering::SeqCst);
        Ok(started)
    }

    pub(crate) fn check_started(&self) -> Result<(), ClaimError> {
        if self.started.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(ClaimError::Retryable(
                "the DRA plugin is still reconciling the node at start".into(),
            ))
        }
    }

    /// Opens the node, runs `op`, closes it (its events written) whatever `op` returned.
    pub(crate) fn with_node<T>(
        &self,
        op: impl FnOnce(&mut Node) -> Result<T, ClaimError>,
    ) -> Result<T, ClaimError> {
        let mut node = Node::open(&self.cfg, &self.dir).map_err(error::node)?;
        let out = op(&mut node);
        node.close();
        out
    }
}

impl Preparer for ClaimsPreparer {
    fn prepare(&self, claim: &ClaimRef) -> Result<Vec<PreparedDevice>, ClaimError> {
        self.check_started()?;
        let out = crate::prepare::prepare(self, claim);
        match &out {
            Ok(d) => {
                tracing::info!(claim = %claim.uid, namespace = %claim.namespace, name = %claim.name, devices = d.len(), "prepared")
            }
            Err(e) => {
                tracing::warn!(claim = %claim.uid, namespace = %claim.namespace, name = %claim.name, error = %e, "prepare failed")
            }
        }
        out
    }

    fn unprepare(&self, claim: &ClaimRef) -> Result<(), ClaimError> {
        self.check_started()?;
        let out = crate::unprepare::unprepare(self, claim);
        match &out {
            Ok(()) => tracing::info!(claim = %claim.uid, "unprepared"),
            Err(e) => tracing::warn!(claim = %claim.uid, error = %e, "unprepare failed"),
        }
        out
    }
}

/// A node error as it ends a prepare or an unprepare.
pub(crate) fn node_err(e: NodeError) -> ClaimError {
    error::node(e)
}
