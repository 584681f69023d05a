//! The node's configuration: everything the node crate would otherwise look up in the
//! environment, read once by [`NodeConfig::from_env`] at an entry point (`dynamigctl`'s main,
//! `dynamig-runc`, `dynamig-hook`, the shim) and handed down as `&NodeConfig`. No other code
//! of this crate reads the environment, with one exception: the crash points of [`crate::fault`]
//! read `DYNAMIG_FAULT` where they fire, because they are a debug-build test device compiled out
//! of release builds, and threading them through every call would put test plumbing into every
//! signature.
//!
//! A setting whose value is wrong is kept as read and refused where it is used, as before the
//! configuration was read in one place: a bad `DYNAMIG_BACKEND` fails only what opens the node,
//! a bad `DYNAMIG_DRIVER_STACK` only a container that asks for a slice.

use crate::backend::nvml::caps::{ProcTree, PROC_ROOT_ENV};
use crate::backend::nvml::NvmlSession;
use crate::backend::{BackendChoice, SelectError, BACKEND_ENV};
use crate::driver_stack::{self, DriverStackError, Settings};
use crate::policy_file::{self, PolicyFile};
use crate::state::dir::{self as state_dir, StateDir, StateDirError};
use crate::state::lock::{DEFAULT_TIMEOUT, STATS_ENV, TIMEOUT_ENV};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the node's files are, which backend it uses, how long it waits for its lock, where it
/// reports, and where containers' driver stack comes from.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// `DYNAMIG_STATE_DIR`, else `/run/dynamig`.
    pub state_dir: PathBuf,
    /// `DYNAMIG_BACKEND` (`auto`, `sim`, `nvml`); a value that is none of them, as given.
    pub backend: Result<BackendChoice, String>,
    /// Not read from the environment: the NVML initialisation a long-lived entry point (the
    /// shim) shares between the nodes it opens ([`NodeConfig::with_nvml_session`]); `None`
    /// (one-shot entry points): each node opens NVML for itself.
    pub nvml_session: Option<NvmlSession>,
    /// `DYNAMIG_LOCK_TIMEOUT_MS`, else 60 s.
    pub lock_timeout: Duration,
    /// `DYNAMIG_LOCK_STATS`: a file the lock's figures are appended to (the stress test's).
    pub lock_stats: Option<PathBuf>,
    /// `DYNAMIG_POLICY`: which admission policy file, if any.
    pub policy: PolicyFile,
    /// `DYNAMIG_METRICS_FILE` as given (`off`, a path); `None` for the default location
    /// ([`crate::metrics::location`]).
    pub metrics_file: Option<PathBuf>,
    /// `DYNAMIG_DRIVER_STACK`, `DYNAMIG_CDI_SPEC_DIRS` and `PATH`.
    pub driver_stack: Result<Settings, DriverStackError>,
    /// `DYNAMIG_PROC_ROOT`, else `/proc`: where the NVIDIA modules' capability files are.
    pub proc_root: PathBuf,
    /// `DYNAMIG_WARM_MAX` and `DYNAMIG_WARM_TTL`: how many released instances are kept warm,
    /// and for how long (docs/warm-instances.md).
    pub warm: crate::warm::WarmSettings,
}

/// A variable's value, `None` when unset or empty.
fn non_empty(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The state directory: `DYNAMIG_STATE_DIR`, else `/run/dynamig` (also where the runtime
/// entry points' log goes before they read the rest of the configuration).
pub fn state_dir_from_env() -> PathBuf {
    non_empty(state_dir::ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(state_dir::DEFAULT))
}

impl NodeConfig {
    /// Reads the configuration from this process's environment.
    pub fn from_env() -> NodeConfig {
        NodeConfig {
            state_dir: state_dir_from_env(),
            backend: BackendChoice::parse(std::env::var(BACKEND_ENV).ok().as_deref()),
            nvml_session: None,
            lock_timeout: std::env::var(TIMEOUT_ENV)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis)
                .unwrap_or(DEFAULT_TIMEOUT),
            lock_stats: non_empty(STATS_ENV).map(PathBuf::from),
            policy: PolicyFile::from_setting(std::env::var_os(policy_file::ENV)),
            metrics_file: std::env::var_os(crate::metrics::location::ENV).map(PathBuf::from),
            driver_stack: Settings::parse(
                std::env::var(driver_stack::MODE_ENV).ok().as_deref(),
                non_empty(driver_stack::CDI_DIRS_ENV),
                std::env::var_os("PATH"),
            ),
            proc_root: non_empty(PROC_ROOT_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/proc")),
            warm: crate::warm::WarmSettings::parse(
                std::env::var(crate::warm::MAX_ENV).ok().as_deref(),
                std::env::var(crate::warm::TTL_ENV).ok().as_deref(),
            ),
        }
    }

    /// The defaults (what an empty environment gives: auto backend, 60 s lock timeout, the
    /// default metrics location, no `PATH`), with the state directory `state_dir` and, unlike
    /// an empty environment, no policy file (`DYNAMIG_POLICY=none`): for tests and tools that
    /// open a node of their own.
    pub fn at(state_dir: &Path) -> NodeConfig {
        NodeConfig {
            state_dir: state_dir.to_path_buf(),
            backend: Ok(BackendChoice::Auto),
            nvml_session: None,
            lock_timeout: DEFAULT_TIMEOUT,
            lock_stats: None,
            policy: PolicyFile::None,
            metrics_file: None,
            driver_stack: Settings::parse(None, None, None),
            proc_root: PathBuf::from("/proc"),
            warm: crate::warm::WarmSettings::default(),
        }
    }

    /// This configuration with one NVML session shared by every node opened with it (and its
    /// clones): NVML is initialised at the first node and kept (docs/architecture.md).
    pub fn with_nvml_session(mut self) -> NodeConfig {
        self.nvml_session = Some(NvmlSession::new());
        self
    }

    /// Opens (creating if missing) and checks the state directory.
    pub fn open_state_dir(&self) -> Result<StateDir, StateDirError> {
        StateDir::open(&self.state_dir)
    }

    /// The backend choice, or the error a bad `DYNAMIG_BACKEND` is.
    pub fn backend_choice(&self) -> Result<BackendChoice, SelectError> {
        self.backend.clone().map_err(SelectError::BadChoice)
    }

    /// The driver-stack settings, or the error a bad `DYNAMIG_DRIVER_STACK` is.
    pub fn driver_stack(&self) -> Result<&Settings, DriverStackError> {
        self.driver_stack.as_ref().map_err(Clone::clone)
    }

    /// The NVIDIA modules' `/proc` files.
    pub fn proc_tree(&self) -> ProcTree {
        ProcTree::at(&self.proc_root)
    }
}
