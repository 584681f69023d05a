//! `dynamig-runc`: a runc-compatible wrapper. On `create`/`run` of a container whose spec asks for
//! a MIG slice (`dynamig.io/*` annotations or `DYNAMIG_*` env), it allocates one under the node
//! lock, edits the bundle's `config.json`, and execs the real runc with the same arguments. On
//! `delete` it runs runc, then releases the container's slice: only when runc's record of the
//! container says dynamig gave it one (`dynamig.io/injected`, naming this namespace and id),
//! and after a lock-free read of the state (a container that holds nothing costs no lock and
//! no write). Every other call, and
//! every container without a request, goes straight to runc untouched.
//!
//! The real runc: `$DYNAMIG_RUNC`, else the first `runc` on `PATH` that is not this program,
//! else `/usr/bin/runc` or `/usr/sbin/runc`.

use anyhow::{Context, Result};
use dynamig_hook::errlog;
use dynamig_hook::injected::Injected;
use dynamig_hook::lifecycle::{self, Caller, Prepared};
use dynamig_hook::runc_args::{Invocation, Verb};
use dynamig_node::state::HolderKey;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The real runc.
fn find_runc() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("DYNAMIG_RUNC").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().unwrap_or_default();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let fallback = [
        PathBuf::from("/usr/bin/runc"),
        PathBuf::from("/usr/sbin/runc"),
    ];
    std::env::split_paths(&path)
        .map(|d| d.join("runc"))
        .chain(fallback)
        .find(|c| is_executable(c) && !same_file(c, &me))
        .context("cannot find the real runc (not on PATH, not in /usr/bin or /usr/sbin); set DYNAMIG_RUNC")
}

/// Replaces this process with the real runc; returns only on failure.
fn exec_runc(args: &[OsString]) -> ExitCode {
    let err = match find_runc() {
        Ok(runc) => {
            let e = Command::new(&runc).args(args).exec();
            anyhow::Error::new(e).context(format!("cannot execute {}", runc.display()))
        }
        Err(e) => e,
    };
    eprintln!("dynamig-runc: {err:#}");
    ExitCode::from(127)
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let inv = match args
        .iter()
        .map(|a| a.to_str())
        .collect::<Option<Vec<&str>>>()
    {
        Some(s) => Invocation::parse(&s),
        None => return exec_runc(&args),
    };
    match &inv.verb {
        Verb::Other => exec_runc(&args),
        Verb::Create { bundle, id, run } => create(&inv, bundle.as_deref(), id, *run, &args),
        Verb::Delete { id } => delete(&inv, id, &args),
        Verb::Start { id } => start(&inv, id, &args),
        Verb::Exec { id, process } => {
            exec_env(&inv, id, process);
            exec_runc(&args)
        }
    }
}

/// `exec --process FILE`: when dynamig gave this container a slice, its exec process sees it
/// too (the engine built the process from its own copy of the spec, which lacks it). Anything
/// that goes wrong is logged and the exec goes on as asked.
fn exec_env(inv: &Invocation, id: &str, process: &Path) {
    let key = HolderKey::new(inv.namespace(), id);
    let Some(record) = Injected::from_runc_state(&inv.state_root(), id).filter(|r| r.is_for(&key))
    else {
        return;
    };
    let Some(env) = dynamig_hook::exec_env::from_record(&record) else {
        return;
    };
    let edited = std::fs::read(process).and_then(|p| {
        let new = dynamig_hook::exec_env::set(&p, &env);
        if new == p {
            return Ok(());
        }
        std::fs::write(process, new)
    });
    if let Err(e) = edited {
        dynamig_hook::logging::init("dynamig-runc");
        tracing::warn!(holder = id, namespace = %key.namespace, error = %e, "cannot give the exec process the container's device env");
    }
}

/// Runs the real runc as a child (for the verbs that act after it), or says why not (127).
fn run_runc(args: &[OsString]) -> Result<std::process::ExitStatus, ExitCode> {
    let runc = find_runc().map_err(|e| {
        eprintln!("dynamig-runc: {e:#}");
        ExitCode::from(127)
    })?;
    Command::new(&runc).args(args).status().map_err(|e| {
        eprintln!("dynamig-runc: cannot execute {}: {e}", runc.display());
        ExitCode::from(127)
    })
}

/// `start`: straight to runc, unless dynamig gave this container a slice: then runc runs as a
/// child, and when it fails and the container was preempted between its create and its start,
/// the error says so (runc's own is "cannot start a container that has stopped").
fn start(inv: &Invocation, id: &str, args: &[OsString]) -> ExitCode {
    let key = HolderKey::new(inv.namespace(), id);
    let given = Injected::from_runc_state(&inv.state_root(), id).is_some_and(|r| r.is_for(&key));
    if !given {
        return exec_runc(args);
    }
    let status = match run_runc(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if !status.success() {
        if let Some(why) = lifecycle::preemption(&key) {
            let msg = format!("dynamig: container {key} {why}");
            errlog::report(
                inv.global.log.as_deref(),
                inv.global.log_format.as_deref(),
                &msg,
            );
        }
    }
    ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1))
}

fn create(
    inv: &Invocation,
    bundle: Option<&Path>,
    id: &str,
    run: bool,
    args: &[OsString],
) -> ExitCode {
    let bundle = bundle.unwrap_or(Path::new("."));
    match lifecycle::create(bundle, id, &inv.namespace(), Caller::Wrapper { run }) {
        Ok(Prepared::Untouched) | Ok(Prepared::Injected(_)) => exec_runc(args),
        Err(e) => {
            dynamig_hook::logging::init("dynamig-runc");
            tracing::error!(holder = id, namespace = %inv.namespace(), error = %e, "create refused");
            errlog::report(
                inv.global.log.as_deref(),
                inv.global.log_format.as_deref(),
                &format!("dynamig: {e}"),
            );
            ExitCode::from(1)
        }
    }
}

fn delete(inv: &Invocation, id: &str, args: &[OsString]) -> ExitCode {
    let key = HolderKey::new(inv.namespace(), id);
    // Ask runc's own record, before runc removes it, whether dynamig gave this very container
    // (this namespace, this id) a slice. Nothing to release afterwards (a container dynamig
    // did not edit, one of another namespace, no record left, or no such holder, which nothing
    // can add now): hand the call straight to runc.
    let given = Injected::from_runc_state(&inv.state_root(), id).is_some_and(|r| r.is_for(&key));
    if !given || !lifecycle::may_hold(&key) {
        return exec_runc(args);
    }
    let status = match run_runc(args) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let code = status.code().unwrap_or(1);
    if status.success() {
        if let Err(e) = lifecycle::release(&key) {
            tracing::error!(holder = id, namespace = %key.namespace, error = %e, "release after delete failed; the next reconcile releases it");
            eprintln!(
                "dynamig-runc: release of {key} failed: {e} (the next dynamig call reconciles it)"
            );
        }
    }
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
