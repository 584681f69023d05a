//! `dynamig-hook`: the OCI lifecycle hook that `dynamig-runc` adds to the specs it edits.
//!
//! - `dynamig-hook create-runtime [--namespace NS] [--id ID]` (OCI `createRuntime`, runs in the
//!   runtime namespace after the container's process exists): records that process (pid + start
//!   time) as the holder's life. Fails the creation if the holder is unknown: the container
//!   would otherwise run with a device nobody holds.
//! - `dynamig-hook poststop [--namespace NS] [--id ID]` (OCI `poststop`): releases the holder.
//!   Never fails: an unknown holder (already released) is logged and ignored.
//!
//! - `dynamig-hook guard` (for podman/CRI-O `hooks.d`, `packaging/hooks.d/dynamig.json`): an
//!   OCI hook cannot edit the spec, so it cannot hand a container its device. The guard fails a
//!   container that asks for a MIG slice but was not created through `dynamig-runc` (its spec
//!   lacks `dynamig.io/injected`), instead of letting it run without a GPU.
//!
//! All read the OCI state (`{"id": ..., "pid": ..., "bundle": ..., "annotations": ...}`) on
//! stdin; `--id` overrides the holder id. The holder is (namespace, id): `--namespace` (which
//! `dynamig-runc` writes into the hooks it adds), else the namespace that the spec's
//! `dynamig.io/injected` record names (in the state's annotations, else in the bundle).

use anyhow::{bail, Context, Result};
use dynamig_hook::injected::Injected;
use dynamig_hook::lifecycle;
use dynamig_hook::spec::{self, Config};
use dynamig_node::state::HolderKey;
use serde::Deserialize;
use std::io::Read;
use std::process::ExitCode;

#[derive(Debug, Deserialize)]
struct OciState {
    #[serde(default)]
    id: String,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    bundle: Option<std::path::PathBuf>,
    /// Any JSON: only the `dynamig.io/injected` string in it is read.
    #[serde(default)]
    annotations: serde_json::Value,
}

fn read_state() -> Result<OciState> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the OCI state on stdin")?;
    if s.trim().is_empty() {
        return Ok(OciState {
            id: String::new(),
            pid: None,
            bundle: None,
            annotations: serde_json::Value::Null,
        });
    }
    serde_json::from_str(&s).context("the OCI state on stdin is not valid JSON")
}

struct Args {
    stage: String,
    id: Option<String>,
    namespace: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let stage = it
        .next()
        .context("usage: dynamig-hook create-runtime|poststop|guard [--namespace NS] [--id ID]")?;
    let (mut id, mut namespace) = (None, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--id" => id = Some(it.next().context("--id needs a value")?),
            s if s.starts_with("--id=") => id = Some(s["--id=".len()..].to_string()),
            "--namespace" => namespace = Some(it.next().context("--namespace needs a value")?),
            s if s.starts_with("--namespace=") => {
                namespace = Some(s["--namespace=".len()..].to_string())
            }
            other => bail!("unexpected argument {other:?}"),
        }
    }
    Ok(Args {
        stage,
        id,
        namespace,
    })
}

/// The holder's namespace: `--namespace`, else the spec's `dynamig.io/injected` record.
fn namespace(args: &Args, state: &OciState) -> Option<String> {
    if let Some(ns) = args.namespace.clone().filter(|n| !n.is_empty()) {
        return Some(ns);
    }
    let in_state = state
        .annotations
        .get(spec::INJECTED)
        .and_then(|v| v.as_str())
        .and_then(Injected::parse);
    in_state
        .or_else(|| Injected::from_bundle(state.bundle.as_deref()?))?
        .namespace
}

fn run(args: &Args) -> Result<()> {
    let state = read_state()?;
    if args.stage == "guard" {
        return guard(&state);
    }
    let id = args.id.clone().unwrap_or_else(|| state.id.clone());
    if id.is_empty() {
        bail!("no container id (neither --id nor the OCI state names one)");
    }
    let Some(ns) = namespace(args, &state) else {
        bail!("no namespace for {id} (neither --namespace nor a dynamig.io/injected record names one); the next reconcile releases it once its process is gone");
    };
    let key = HolderKey::new(ns, &id);
    match args.stage.as_str() {
        "create-runtime" | "createRuntime" | "prestart" => {
            let pid = state
                .pid
                .filter(|&p| p > 0)
                .context("the OCI state has no container pid")?;
            lifecycle::record(&key, pid)
                .with_context(|| format!("cannot record the process of {key}"))
        }
        "poststop" => {
            match lifecycle::release(&key) {
                Ok(true) => {}
                Ok(false) => {
                    tracing::info!(holder = %id, namespace = %key.namespace, "poststop: holds nothing (already released)")
                }
                Err(e) => {
                    tracing::warn!(holder = %id, namespace = %key.namespace, error = %e, "poststop: release failed; the next reconcile releases it")
                }
            }
            Ok(())
        }
        other => bail!("unknown stage {other:?}; use create-runtime, poststop or guard"),
    }
}

/// Fails a container that asks for a MIG slice without going through `dynamig-runc`.
fn guard(state: &OciState) -> Result<()> {
    let bundle = state
        .bundle
        .as_deref()
        .context("the OCI state has no bundle")?;
    let config = Config::load(bundle)?;
    let injected = config
        .spec
        .pointer("/annotations")
        .and_then(|a| a.get(spec::INJECTED))
        .is_some();
    if injected {
        return Ok(());
    }
    match config.request() {
        Ok(None) => Ok(()),
        Ok(Some(r)) => bail!(
            "container {} asks for a MIG slice ({}) but its runtime is not dynamig-runc, so it would get no GPU; run it with the dynamig runtime (podman --runtime /usr/bin/dynamig-runc, CRI-O runtime_path)",
            state.id,
            r.size
        ),
        Err(e) => bail!("{e}"),
    }
}

fn main() -> ExitCode {
    dynamig_hook::logging::init("dynamig-hook");
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dynamig-hook: {e:#}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(stage = %args.stage, error = %format!("{e:#}"), "hook failed");
            eprintln!("dynamig-hook {}: {e:#}", args.stage);
            if args.stage == "poststop" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
