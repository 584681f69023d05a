//! Making a container for the task service's Create, apart from the service (as containerd
//! rust-extensions' runc shim keeps its container factory apart from its task service). Read top
//! to bottom, [`ContainerFactory::create`] is the whole sequence:
//!
//! 1. save the runc options in the bundle (for `shim delete` after this shim is gone);
//! 2. mount the rootfs;
//! 3. dynamig's create ([`lifecycle::create`]): when the spec asks for a MIG slice, allocate
//!    and edit the spec; a bad request fails here, with nothing allocated;
//! 4. `runc create`, and read the init's pid;
//! 5. record that pid as the holder's life ([`lifecycle::record`]).
//!
//! A failure at 3 or 4 undoes what came before it, in reverse: whatever runc left, the slice,
//! the rootfs mount.

use super::slice::{self, Slice};
use super::spawn::start_process;
use super::Container;
use crate::error::{Result, ShimError};
use crate::io::StdioNames;
use crate::mount;
use crate::process::Process;
use crate::runc::{self, Runc};
use containerd_shim::protos::api::CreateTaskRequest;
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::shim::oci::Options;
use dynamig_hook::lifecycle::{self, Caller, Prepared};
use dynamig_hook::HolderKey;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What containerd sends runc options as.
const RUNC_OPTIONS: &str = "containerd.runc.v1.Options";

/// Makes the containers of one shim's namespace.
pub struct ContainerFactory {
    namespace: String,
}

/// What a failed create leaves to undo, in reverse order of doing.
struct Undo<'a> {
    id: &'a str,
    bundle: &'a Path,
    mounted: bool,
    runc: Option<&'a Runc>,
    holder: Option<HolderKey>,
}

impl Undo<'_> {
    fn run(self) {
        if let Some(runc) = self.runc {
            // Whatever runc left of the container (its record, a cgroup) goes first.
            if let Err(d) = runc.run(&["delete", "--force", self.id], None) {
                tracing::debug!(container = %self.id, error = %d, "runc delete after a failed create");
            }
        }
        if let Some(key) = &self.holder {
            slice::release(key);
        }
        if self.mounted {
            mount::unmount_rootfs(self.bundle);
        }
    }
}

impl ContainerFactory {
    pub fn new(namespace: &str) -> ContainerFactory {
        ContainerFactory {
            namespace: namespace.to_string(),
        }
    }

    /// Creates container `req.id` (created, not started): its init's pid is
    /// [`Process::pid`] of the returned container's `init`.
    pub fn create(&self, req: &CreateTaskRequest) -> Result<Container> {
        let bundle = PathBuf::from(&req.bundle);
        let opts = runc_options(&req.options);
        save_options(&bundle, &opts, &req.id);
        let runc = Runc::new(&opts, &self.namespace, &bundle);
        let mounted = mount::mount_rootfs(&bundle, &req.rootfs)?;
        let mut undo = Undo {
            id: &req.id,
            bundle: &bundle,
            mounted,
            runc: None,
            holder: None,
        };
        let slice = match self.give_slice(&bundle, &req.id) {
            Ok(s) => s,
            Err(e) => return Err(undo_then(undo, e)),
        };
        let key = HolderKey::new(&self.namespace, &req.id);
        undo.holder = slice.is_some().then(|| key.clone());
        undo.runc = Some(&runc);
        let init = Arc::new(Process::new("", stdio_of(req), Vec::new()));
        let pid = match runc_create(&runc, &opts, &bundle, &req.id, &init) {
            Ok(pid) => pid,
            Err(e) => return Err(undo_then(undo, e)),
        };
        if slice.is_some() {
            record(&key, pid);
        }
        init.state().pid = pid;
        Ok(Container {
            bundle: bundle.clone(),
            runc,
            init,
            execs: HashMap::new(),
            rootfs_mounted: mounted,
            slice,
        })
    }

    /// Step 3: `Ok(Some)` when the spec asked for a slice and got one (its `config.json` is
    /// edited), `Ok(None)` when it asks for none (the bundle is not touched).
    fn give_slice(&self, bundle: &Path, id: &str) -> Result<Option<Slice>> {
        match lifecycle::create(bundle, id, &self.namespace, Caller::Shim) {
            Ok(Prepared::Untouched) => Ok(None),
            Ok(Prepared::Injected(a)) => Ok(Some(Slice::new(&a.uuid, &a.id))),
            Err(e) => {
                tracing::error!(holder = id, namespace = %self.namespace, error = %e, "create refused");
                Err(ShimError::Lifecycle(e))
            }
        }
    }
}

fn undo_then(undo: Undo<'_>, e: ShimError) -> ShimError {
    undo.run();
    e
}

/// Step 5: from now on the holder lives exactly as long as that process (reconciliation
/// releases it once the process is gone). On failure the holder keeps this shim as its
/// creator: it is released when the shim is gone.
fn record(key: &HolderKey, pid: u32) {
    if let Err(e) = lifecycle::record(key, pid) {
        tracing::error!(holder = %key.id, namespace = %key.namespace, pid, error = %e, "cannot record the container process");
    }
}

/// Step 4: `runc create` with the init's stdio; the pid runc wrote.
fn runc_create(
    runc: &Runc,
    opts: &Options,
    bundle: &Path,
    id: &str,
    init: &Process,
) -> Result<u32> {
    let pid_file = bundle.join("init.pid");
    let bundle_s = bundle.to_string_lossy();
    let pid_s = pid_file.to_string_lossy();
    let mut args = vec!["create", "--bundle", &bundle_s, "--pid-file", &pid_s];
    if opts.no_pivot_root {
        args.push("--no-pivot");
    }
    if opts.no_new_keyring {
        args.push("--no-new-keyring");
    }
    start_process(runc, &mut args, id, &init.stdio, init)?;
    runc::read_pid(&pid_file)
}

/// Step 1: for `shim delete` after this shim is gone.
fn save_options(bundle: &Path, opts: &Options, id: &str) {
    if let Some(b) = bundle.to_str() {
        if let Err(e) = containerd_shim::util::write_options(b, opts) {
            tracing::warn!(container = %id, error = %e, "cannot save the runc options");
        }
    }
}

fn stdio_of(req: &CreateTaskRequest) -> StdioNames {
    StdioNames {
        stdin: req.stdin.clone(),
        stdout: req.stdout.clone(),
        stderr: req.stderr.clone(),
        terminal: req.terminal,
    }
}

fn runc_options(any: &MessageField<Any>) -> Options {
    match any.as_ref() {
        Some(a) if a.type_url.ends_with(RUNC_OPTIONS) => {
            Options::parse_from_bytes(&a.value).unwrap_or_default()
        }
        _ => Options::new(),
    }
}
