//! Create: before `runc create`, give a container whose spec asks for a MIG slice one, and edit
//! its spec so the container sees it. Read top to bottom, [`create`] is the whole sequence:
//!
//! 1. read the spec (a spec without a request, or one already edited, is left untouched);
//! 2. parse the request (a bad annotation fails here, before anything is allocated);
//! 3. find the driver stack (the driver's user space the container gets, docs/driver-stack.md);
//! 4. open the node (lock, backend, reconcile) and check the stack against its driver;
//! 5. allocate under the lock, or wait in the queue (`dynamig.io/wait`, docs/wait-queue.md);
//! 6. edit the spec (driver stack, MIG device, the `dynamig.io/injected` record, hooks);
//! 7. save it; on a failed edit or save, release what step 5 allocated. The edit's time is the
//!    allocation's `spec_edit` phase.
//!
//! Nothing is allocated on any error. The calling process is the holder's creator until the
//! container's process is recorded ([`super::record`]).

use super::{hooks, Caller, LifecycleError, Prepared};
use crate::spec::{self, Config, HookConfig};
use dynamig_core::request::Request;
use dynamig_node::config::NodeConfig;
use dynamig_node::driver_stack::{self, Stack};
use dynamig_node::node::{AllocSpec, Allocation, Node};
use dynamig_node::process::ProcRef;
use dynamig_node::state::{HolderKey, StateDir};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Never set: the shim's waits end by their own timeout (the shim's signals are its own).
static NEVER_CANCELLED: AtomicBool = AtomicBool::new(false);

/// For `runc create` (the wrapper, without `runc run`): [`create`] with
/// [`Caller::Wrapper`]` { run: false }`.
pub fn create_for_runc(
    cfg: &NodeConfig,
    bundle: &Path,
    id: &str,
    namespace: &str,
) -> Result<Prepared, LifecycleError> {
    create(cfg, bundle, id, namespace, Caller::Wrapper { run: false })
}

/// Reads the bundle's spec; when it makes a request, allocates under the node lock and writes
/// the edited spec. A spec that already carries the `dynamig.io/injected` annotation was
/// prepared by an earlier entry point (the shim, with a runc `BinaryName` of `dynamig-runc`):
/// it is left as it is. `cfg` is the node's configuration, read once by the entry point.
pub fn create(
    cfg: &NodeConfig,
    bundle: &Path,
    id: &str,
    namespace: &str,
    caller: Caller,
) -> Result<Prepared, LifecycleError> {
    let Some(mut config) = read_spec(bundle)? else {
        return Ok(Prepared::Untouched);
    };
    let Some(request) = config.request()? else {
        return Ok(Prepared::Untouched);
    };
    let dir = cfg.open_state_dir()?;
    let mut stack = driver_stack::discover(cfg.driver_stack()?)?;
    let hooks = hooks_for(caller, &dir)?;
    let started = Instant::now();
    let spec = alloc_spec(id, namespace, request);
    let (mut node, mut alloc) = open_and_allocate(cfg, &dir, &mut stack, spec, caller)?;
    let edit_started = Instant::now();
    if let Err(e) = edit_and_save(&mut config, &stack, &alloc, hooks.as_ref()) {
        release_after_failed_edit(&mut node, &HolderKey::new(namespace, id));
        node.close();
        return Err(e);
    }
    alloc.phases = node.note_spec_edit(&HolderKey::new(namespace, id), edit_started.elapsed());
    log_injected(&alloc, &stack, started);
    node.close();
    Ok(Prepared::Injected(Box::new(alloc)))
}

/// Step 1: the spec, when it makes a request and was not edited yet.
fn read_spec(bundle: &Path) -> Result<Option<Config>, LifecycleError> {
    let Some(config) = Config::load_if_request(bundle)? else {
        return Ok(None);
    };
    if spec::annotations(&config.spec).contains_key(spec::INJECTED) {
        return Ok(None);
    }
    Ok(Some(config))
}

/// The OCI hooks the wrapper adds (the shim records and releases in process: none).
fn hooks_for(caller: Caller, dir: &StateDir) -> Result<Option<HookConfig>, LifecycleError> {
    match caller {
        Caller::Wrapper { run } => {
            crate::logging::init("dynamig-runc");
            Ok(Some(hooks::hook_config(dir, run)?))
        }
        Caller::Shim => Ok(None),
    }
}

fn alloc_spec(id: &str, namespace: &str, request: Request) -> AllocSpec {
    AllocSpec {
        id: id.to_string(),
        namespace: namespace.to_string(),
        request,
        process: None,
        creator: Some(ProcRef::current()),
    }
}

/// Steps 4 and 5: open the node, check the driver stack against it (a stale or missing stack
/// allocates nothing), then allocate, or wait when the request asks to. A wait stays below the
/// caller's own create timeout (kubelet's runtime-request-timeout, 2m). The node comes back
/// open (the caller closes it); on an error it is closed here, so its events are written.
fn open_and_allocate(
    cfg: &NodeConfig,
    dir: &StateDir,
    stack: &mut Stack,
    spec: AllocSpec,
    caller: Caller,
) -> Result<(Node, Allocation), LifecycleError> {
    if spec.request.wait.is_zero() {
        let mut node = Node::open(cfg, dir)?;
        let alloc = check_stack(stack, &node).and_then(|()| Ok(node.allocate(spec)?));
        return match alloc {
            Ok(a) => Ok((node, a)),
            Err(e) => {
                node.close();
                Err(e)
            }
        };
    }
    Node::session(cfg, dir, |node| check_stack(stack, node))?;
    let cancel = match caller {
        Caller::Wrapper { .. } => dynamig_node::node::cancel_on_signals(),
        Caller::Shim => &NEVER_CANCELLED,
    };
    Ok(dynamig_node::node::allocate_waiting(
        cfg, dir, spec, cancel,
    )?)
}

/// Whether containers may get `stack` on this node's backend (a stale spec, or no stack on
/// `nvml`, is refused).
fn check_stack(stack: &mut Stack, node: &Node) -> Result<(), LifecycleError> {
    Ok(stack.check(node.backend_kind(), node.driver_version().as_deref())?)
}

/// Steps 6 and 7: the driver stack, then the device and the record, then the file.
fn edit_and_save(
    config: &mut Config,
    stack: &Stack,
    alloc: &Allocation,
    hooks: Option<&HookConfig>,
) -> Result<(), LifecycleError> {
    spec::driver::apply(&mut config.spec, stack)?;
    spec::inject(&mut config.spec, alloc, hooks)?;
    config.save()?;
    Ok(())
}

fn release_after_failed_edit(node: &mut Node, key: &HolderKey) {
    if let Err(r) = node.release(key) {
        tracing::error!(holder = %key.id, error = %r, "cannot release after a failed spec edit");
    }
}

/// The `injected` line: what was given, and where the time went (docs/observability.md).
fn log_injected(alloc: &Allocation, stack: &Stack, started: Instant) {
    let p = &alloc.phases;
    tracing::info!(
        holder = %alloc.id,
        namespace = %alloc.namespace,
        gpu = alloc.gpu.get(),
        profile = %alloc.profile,
        placement = %format!("{}:{}", alloc.placement.start, alloc.placement.size),
        uuid = %alloc.uuid,
        evicted = ?alloc.evict,
        lock_wait_us = p.lock_wait_us,
        decision_us = p.decision_us,
        eviction_wait_us = p.eviction_wait_us,
        destroy_us = p.destroy_us,
        gi_create_us = p.gi_create_us,
        ci_create_us = p.ci_create_us,
        spec_edit_us = p.spec_edit_us,
        driver_stack = %stack.describe(),
        total_us = dynamig_core::duration::micros(started.elapsed()),
        "injected"
    );
}
