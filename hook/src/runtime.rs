//! What the runtime entry points do under the node lock: allocate for a bundle and edit its
//! spec (`dynamig-runc create`), record the container's process (`dynamig-hook
//! create-runtime`), release (`dynamig-runc delete`; `dynamig-hook poststop` after `runc run`).

use crate::spec::{self, Config, HookConfig, SpecError};
use dynamig_node::driver_stack::{self, DriverStackError, Stack};
use dynamig_node::node::{AllocSpec, Allocation, Node, NodeError};
use dynamig_node::process::ProcRef;
use dynamig_node::state::dir::StateDirError;
use dynamig_node::state::{HolderKey, StateDir};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Env entries handed through to the hooks (runc runs hooks with the spec's hook env only).
/// `LD_LIBRARY_PATH` and `DYNAMIG_PROC_ROOT` make the hooks find `libnvidia-ml.so.1` and the
/// capability files where the runtime found them.
pub const PASS_ENV: &[&str] = &[
    "DYNAMIG_BACKEND",
    "DYNAMIG_LOG",
    "DYNAMIG_LOG_FILE",
    "DYNAMIG_LOCK_TIMEOUT_MS",
    "DYNAMIG_PROC_ROOT",
    "LD_LIBRARY_PATH",
    HOOK_ENV,
    "DYNAMIG_METRICS_FILE",
];

/// A comma-separated list of further variable names to hand through to the hooks, for an NVML
/// library that needs its own environment (the tests' fake `libnvidia-ml.so.1` reads
/// `FAKE_NVML_STATE` and `FAKE_NVML_PROC_ROOT`).
pub const HOOK_ENV: &str = "DYNAMIG_HOOK_ENV";

/// The names of the variables handed to the hooks: [`PASS_ENV`] and those `DYNAMIG_HOOK_ENV`
/// lists (names only: letters, digits and `_`).
pub fn pass_env_names() -> Vec<String> {
    let mut names: Vec<String> = PASS_ENV.iter().map(|s| s.to_string()).collect();
    if let Ok(extra) = std::env::var(HOOK_ENV) {
        for n in extra.split(',').map(str::trim) {
            let valid = !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid && !names.iter().any(|x| x == n) {
                names.push(n.to_string());
            }
        }
    }
    names
}

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Dir(#[from] StateDirError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    DriverStack(#[from] DriverStackError),
    #[error("container process {pid} of {id} is already gone")]
    ProcessGone { id: String, pid: u32 },
    #[error("cannot find the dynamig-hook binary next to {0}; set DYNAMIG_HOOK")]
    NoHook(String),
}

/// The `dynamig-hook` binary: `$DYNAMIG_HOOK`, else next to the running executable.
pub fn hook_bin() -> Result<PathBuf, RuntimeError> {
    if let Some(p) = std::env::var_os("DYNAMIG_HOOK").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| RuntimeError::NoHook(e.to_string()))?;
    let dir = exe
        .parent()
        .ok_or_else(|| RuntimeError::NoHook(exe.display().to_string()))?;
    let hook = dir.join("dynamig-hook");
    if hook.is_file() {
        Ok(hook)
    } else {
        Err(RuntimeError::NoHook(exe.display().to_string()))
    }
}

/// The hooks' configuration for a state directory; `poststop` for `runc run`.
pub fn hook_config(dir: &StateDir, poststop: bool) -> Result<HookConfig, RuntimeError> {
    let state = std::fs::canonicalize(dir.path()).unwrap_or_else(|_| dir.path().to_path_buf());
    let mut env = vec![format!(
        "{}={}",
        dynamig_node::state::dir::ENV,
        state.display()
    )];
    for k in pass_env_names() {
        if let Some(v) = std::env::var(&k).ok().filter(|v| !v.is_empty()) {
            env.push(format!("{k}={v}"));
        }
    }
    Ok(HookConfig {
        hook_bin: hook_bin()?,
        env,
        poststop,
    })
}

/// What `create` did for a bundle.
#[derive(Debug)]
pub enum Prepared {
    /// No request: the bundle was not touched.
    Untouched,
    /// Allocated, and the spec was edited.
    Injected(Box<Allocation>),
}

/// Who prepares a bundle, which decides the hooks added to the spec and how a wait is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    /// `dynamig-runc create` (`run: false`: `dynamig-runc delete` releases) or `runc run`
    /// (`run: true`: no delete call follows, a `poststop` hook releases). A `createRuntime`
    /// hook records the container's process; SIGINT/SIGTERM cancel a wait.
    Wrapper { run: bool },
    /// `containerd-shim-dynamig-v2`: no hooks (the shim records the container's process after
    /// `runc create` and releases on the task's deletion); signals are left to the shim.
    Shim,
}

/// Never set: the shim's waits end by their own timeout (the shim's signals are its own).
static NEVER_CANCELLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// For `runc create`: reads the bundle's spec; when it makes a request, allocates under the
/// node lock (the calling process is the holder's creator until the container's process is
/// recorded) and writes the edited spec. Allocates nothing on any error.
pub fn prepare_create(bundle: &Path, id: &str, namespace: &str) -> Result<Prepared, RuntimeError> {
    prepare(bundle, id, namespace, Caller::Wrapper { run: false })
}

/// [`prepare_create`] for any [`Caller`]. A spec that already carries the
/// `dynamig.io/injected` annotation was prepared by an earlier entry point (the shim, with a
/// runc `BinaryName` of `dynamig-runc`): it is left as it is.
pub fn prepare(
    bundle: &Path,
    id: &str,
    namespace: &str,
    caller: Caller,
) -> Result<Prepared, RuntimeError> {
    let Some(mut config) = Config::load_if_request(bundle)? else {
        return Ok(Prepared::Untouched);
    };
    if spec::annotations(&config.spec).contains_key(spec::INJECTED) {
        return Ok(Prepared::Untouched);
    }
    let Some(request) = config.request()? else {
        return Ok(Prepared::Untouched);
    };
    let dir = StateDir::from_env()?;
    // The driver's user space for the container (docs/driver-stack.md): found and checked
    // before anything is allocated, so a bad or stale spec allocates nothing.
    let mut stack = driver_stack::discover(&driver_stack::Settings::from_env()?)?;
    let hooks = match caller {
        Caller::Wrapper { run } => {
            crate::logging::init("dynamig-runc");
            Some(hook_config(&dir, run)?)
        }
        Caller::Shim => None,
    };
    let started = std::time::Instant::now();
    let key = HolderKey::new(namespace, id);
    let spec = AllocSpec {
        id: id.to_string(),
        namespace: namespace.to_string(),
        request,
        process: None,
        creator: Some(ProcRef::current()),
    };
    // With dynamig.io/wait, `create` blocks in the wait queue (docs/wait-queue.md): keep the
    // wait below the caller's own create timeout (kubelet's runtime-request-timeout, 2m).
    let (mut node, alloc) = if spec.request.wait.is_zero() {
        let mut node = Node::open(&dir)?;
        check_stack(&mut stack, &node)?;
        let alloc = node.allocate(spec)?;
        (node, alloc)
    } else {
        check_stack(&mut stack, &Node::open(&dir)?)?;
        let cancel = match caller {
            Caller::Wrapper { .. } => dynamig_node::node::cancel_on_signals(),
            Caller::Shim => &NEVER_CANCELLED,
        };
        dynamig_node::node::allocate_waiting(&dir, spec, cancel)?
    };
    let lock_wait_us = dynamig_core::duration::micros(node.lock_waited());
    let edited = spec::driver::apply(&mut config.spec, &stack)
        .and_then(|()| spec::inject(&mut config.spec, &alloc, hooks.as_ref()))
        .and_then(|()| config.save());
    if let Err(e) = edited {
        if let Err(r) = node.release(&key) {
            tracing::error!(holder = id, error = %r, "cannot release after a failed spec edit");
        }
        return Err(e.into());
    }
    tracing::info!(
        holder = id,
        namespace,
        gpu = alloc.gpu.get(),
        profile = %alloc.profile,
        placement = %format!("{}:{}", alloc.placement.start, alloc.placement.size),
        uuid = %alloc.uuid,
        evicted = ?alloc.evict,
        decision_us = dynamig_node::metrics::decision::last()
            .map(dynamig_core::duration::micros)
            .unwrap_or(0),
        lock_wait_us,
        driver_stack = %stack.describe(),
        total_us = dynamig_core::duration::micros(started.elapsed()),
        "injected"
    );
    Ok(Prepared::Injected(Box::new(alloc)))
}

/// Whether containers may get `stack` on this node's backend (a stale spec, or no stack on
/// `nvml`, is refused).
fn check_stack(stack: &mut Stack, node: &Node) -> Result<(), RuntimeError> {
    Ok(stack.check(node.backend_kind(), node.driver_version().as_deref())?)
}

/// Records the container's process for a holder (the createRuntime hook).
pub fn record_process(key: &HolderKey, pid: u32) -> Result<(), RuntimeError> {
    let dir = StateDir::from_env()?;
    let mut node = Node::open(&dir)?;
    let p = ProcRef::of(pid).ok_or_else(|| RuntimeError::ProcessGone {
        id: key.to_string(),
        pid,
    })?;
    node.set_process(key, p)?;
    tracing::info!(holder = %key.id, namespace = %key.namespace, pid, "recorded the container process");
    Ok(())
}

/// Whether the node may have a holder `key` (lock-free, see [`dynamig_node::node::may_hold`]).
pub fn may_hold(key: &HolderKey) -> bool {
    dynamig_node::node::may_hold(&StateDir::env_path(), key)
}

/// Why holder `key` no longer has its slice, when it does not: `it was preempted (evicted for
/// NS/ID at TIME)` or `its MIG instance was lost`. For a start that runc refused ("cannot start
/// a container that has stopped"): the container was evicted between its create and its start.
/// Read without the lock (the state file and the event log).
pub fn preemption(key: &HolderKey) -> Option<String> {
    use dynamig_node::state::{HolderState, NodeState};
    let dir = StateDir::env_path();
    let state: NodeState = dynamig_node::state::file::read(&dir.join("state.json")).ok()??;
    match state.holder(key)?.state {
        HolderState::Active => None,
        HolderState::Lost => {
            Some("lost its MIG instance before it started (destroyed outside dynamig)".to_string())
        }
        HolderState::Preempted | HolderState::Preempting => {
            let events = dynamig_node::events::read(&dir.join("events.jsonl"), 0);
            let by = events.iter().rev().find(|e| {
                e.kind == "preempted"
                    && e.holder.as_deref() == Some(key.id.as_str())
                    && e.namespace.as_deref().is_none_or(|n| n == key.namespace)
            });
            Some(match by {
                Some(e) => format!(
                    "was preempted before it started: {} at {} (its MIG slice is gone; see `dynamigctl events`)",
                    e.message,
                    dynamig_core::rfc3339::format_ms(e.time_ms)
                ),
                None => "was preempted before it started (its MIG slice is gone; see `dynamigctl events`)".to_string(),
            })
        }
    }
}

/// Releases holder `key` (never another namespace's holder of the same id); `Ok(false)` when
/// it held nothing. The caller has checked that this container was given that holder's slice
/// ([`crate::injected`]). When a lock-free read of the state proves there is no such holder
/// ([`dynamig_node::node::may_hold`]), that answer comes without the lock, the backend or a write.
pub fn release(key: &HolderKey) -> Result<bool, RuntimeError> {
    if !may_hold(key) {
        return Ok(false);
    }
    crate::logging::init("dynamig-runc");
    let dir = StateDir::from_env()?;
    let mut node = Node::open(&dir)?;
    let released = node.release(key)?;
    if released {
        tracing::info!(holder = %key.id, namespace = %key.namespace, "released");
    }
    Ok(released)
}
