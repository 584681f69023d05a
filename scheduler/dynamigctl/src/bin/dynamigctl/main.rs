//! `dynamigctl`: the command line that scripts, tests and people use to see and drive a node.
//! Exit status: 0 on success, 1 when a request cannot be met, 2 on bad input.

mod render;
mod replay;
mod runtime;
mod table;
mod watch;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use dynamig_core::ids::{GiId, GpuIndex};
use dynamig_core::request::{self, Request};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::node::{AllocSpec, Node, NodeError};
use dynamig_node::process::ProcRef;
use dynamig_node::state::{HolderKey, NodeLock, StateDir};
use std::collections::BTreeMap;
use std::process::ExitCode;

/// The namespace of holders that `dynamigctl allocate` makes (and `release` looks in).
const DEFAULT_NAMESPACE: &str = "dynamigctl";

#[derive(Parser)]
#[command(
    name = "dynamigctl",
    version,
    about = "Dynamic MIG slices for containers: see and drive a node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage a simulated node (for demos and tests; no GPU needed).
    #[command(subcommand)]
    Sim(SimCmd),
    /// The MIG profile catalog, like `nvidia-smi mig -lgip`, with placements.
    Profiles {
        /// A model key (a100-40gb, a100-80gb, a30-24gb, h100-80gb, h100-94gb, h200-141gb).
        model: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// GPUs, instances, placements, holders and their states, like `nvidia-smi`'s MIG tables.
    Status {
        #[arg(long)]
        json: bool,
        /// Redraw every SECS seconds (default 2) until interrupted (SIGINT/SIGTERM), like
        /// `watch`. With --json: one JSON object per line per refresh.
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
        watch: Option<f64>,
        /// With --watch: stop after N refreshes.
        #[arg(long, value_name = "N", requires = "watch")]
        count: Option<u64>,
    },
    /// Dry run: where a request would go and whom it would evict.
    Plan {
        #[command(flatten)]
        req: ReqArgs,
        /// Namespace the request would come from (the admission policy applies to it).
        #[arg(long, default_value = DEFAULT_NAMESPACE)]
        namespace: String,
        #[arg(long)]
        json: bool,
    },
    /// Allocate a MIG instance for holder ID.
    Allocate {
        id: String,
        #[command(flatten)]
        req: ReqArgs,
        /// Namespace of the holder.
        #[arg(long, default_value = DEFAULT_NAMESPACE)]
        namespace: String,
        /// A process whose life is the holder's life; it is signalled on eviction and the
        /// instance is released when it exits.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// Release holder ID's instance (the holder of that id in that namespace only).
    Release {
        id: String,
        /// Namespace of the holder: a container's containerd namespace (`default`, `k8s.io`,
        /// `moby`); the default is the one `allocate` gives.
        #[arg(long, default_value = DEFAULT_NAMESPACE)]
        namespace: String,
    },
    /// Reconcile now: release holders whose process is gone, finish interrupted operations.
    Gc {
        #[arg(long)]
        json: bool,
    },
    /// Read-only check of this node (NVML, driver, GPUs and MIG modes, catalog, nvidia-caps,
    /// device nodes, state directory, runtimes). Exit 0 when ready, 1 when not. Changes nothing.
    Doctor,
    /// Allocations, preemptions, releases and errors.
    Events {
        #[arg(long)]
        json: bool,
        /// Only events since then: seconds ago (600), a duration ago (10m, 1h30m, 2d) or an
        /// RFC 3339 time (2026-11-24T21:00:00Z).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
    /// Replay workloads against the planner and baseline policies; print the comparison.
    Replay(replay::ReplayArgs),
    /// Register dynamig with a container engine (containerd, Docker).
    #[command(subcommand)]
    Runtime(runtime::RuntimeCmd),
}

#[derive(Args)]
#[group(required = false, multiple = false)]
struct SizeArgs {
    /// Memory wanted, e.g. 10GB, 20G, 10GiB, 512MiB.
    #[arg(long, value_name = "M")]
    gpu_memory: Option<String>,
    /// An exact MIG profile, e.g. 2g.10gb.
    #[arg(long, value_name = "P")]
    mig_profile: Option<String>,
}

#[derive(Args)]
struct ReqArgs {
    #[command(flatten)]
    size: SizeArgs,
    /// interactive, inference, training (default) or an integer.
    #[arg(long, value_name = "C")]
    priority: Option<String>,
    /// true or false; overrides the class default.
    #[arg(long, value_name = "B")]
    preemptible: Option<String>,
    /// How long an evicted holder gets between SIGTERM and SIGKILL, e.g. 10s.
    #[arg(long, value_name = "D")]
    grace_period: Option<String>,
    /// How long to wait in the queue for room when there is none now, e.g. 30s (default 0:
    /// fail at once). SIGINT/SIGTERM stop the wait and leave nothing behind.
    #[arg(long, value_name = "D")]
    wait: Option<String>,
    /// A container annotation, as a runtime would see it (repeatable), e.g.
    /// `dynamig.io/gpu-memory=10GB` or `io.kubernetes.cri.sandbox-namespace=team-a`.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    annotations: Vec<String>,
    /// A container env entry, as Docker would pass it (repeatable), e.g. `DYNAMIG_PRIORITY=training`.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
}

impl ReqArgs {
    /// The request, through the same parser as container annotations: the flags are read as
    /// their annotations, next to any `--annotation` and `--env` given.
    fn request(&self) -> Result<Request, request::RequestError> {
        let mut a = BTreeMap::new();
        for entry in &self.annotations {
            let (k, v) = entry.split_once('=').ok_or_else(|| {
                request::RequestError::Other(format!("--annotation {entry:?} is not KEY=VALUE"))
            })?;
            a.insert(k.to_string(), v.to_string());
        }
        let flags = [
            ("--gpu-memory", request::GPU_MEMORY, &self.size.gpu_memory),
            (
                "--mig-profile",
                request::MIG_PROFILE,
                &self.size.mig_profile,
            ),
            ("--priority", request::PRIORITY, &self.priority),
            ("--preemptible", request::PREEMPTIBLE, &self.preemptible),
            ("--grace-period", request::GRACE_PERIOD, &self.grace_period),
            ("--wait", request::WAIT, &self.wait),
        ];
        for (flag, key, v) in flags {
            let Some(v) = v else { continue };
            match a.get(key.annotation) {
                Some(old) if old != v => {
                    return Err(request::RequestError::Other(format!(
                        "{flag} {v:?} and --annotation {}={old:?} disagree; give one",
                        key.annotation
                    )))
                }
                _ => {
                    a.insert(key.annotation.to_string(), v.clone());
                }
            }
        }
        request::parse(&a, &self.env)?.ok_or_else(|| {
            request::RequestError::Other(
                "give --gpu-memory or --mig-profile (or a dynamig.io/ annotation)".into(),
            )
        })
    }
}

#[derive(Subcommand)]
enum SimCmd {
    /// Create a simulated node with one GPU per MODEL (replaces any existing one).
    Init {
        #[arg(required = true)]
        models: Vec<String>,
        /// The NVIDIA driver version the node claims (checked against the host's CDI spec).
        #[arg(long, default_value = dynamig_node::backend::sim::DEFAULT_DRIVER_VERSION)]
        driver_version: String,
    },
    /// Set a simulated GPU's MIG mode: on, off, pending-on (on after a reset), pending-off.
    Mig { gpu: u32, mode: String },
    /// Create an instance as an administrator would (dynamig treats it as foreign).
    Create {
        gpu: u32,
        profile: String,
        start: u8,
    },
    /// Destroy an instance as an administrator would.
    Destroy { gpu: u32, gi: u32 },
    /// Mark processes as running on an instance (destroy is refused while they live).
    Busy { gpu: u32, gi: u32, pids: Vec<u32> },
}

/// An error with the exit status it maps to.
struct Failure {
    code: u8,
    err: anyhow::Error,
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        let code = match err.downcast_ref::<NodeError>() {
            Some(e) => u8::try_from(e.exit_code()).unwrap_or(1),
            None if err.downcast_ref::<request::RequestError>().is_some() => 2,
            None => 1,
        };
        Failure { code, err }
    }
}

fn bad_input(err: impl Into<anyhow::Error>) -> Failure {
    Failure {
        code: 2,
        err: err.into(),
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DYNAMIG_LOG")
        .unwrap_or_else(|_| "warn".into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("DYNAMIG_LOG_FORMAT").is_ok_and(|v| v == "json") {
        b.json().init();
    } else {
        b.init();
    }
}

fn main() -> ExitCode {
    default_sigpipe();
    init_logging();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("dynamigctl: {:#}", f.err);
            ExitCode::from(f.code)
        }
    }
}

/// Like other command-line tools, end quietly when the reader of stdout goes away
/// (`dynamigctl status | head -1`, `... | grep -q`) instead of panicking in `println!`: Rust
/// starts programs with SIGPIPE ignored, so put back the default action.
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL installs no
    // Rust handler, so nothing can run in signal context.
    if let Err(e) = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) } {
        eprintln!("dynamigctl: cannot restore SIGPIPE: {e}");
    }
}

fn state_dir() -> Result<StateDir> {
    StateDir::from_env().context("cannot use the state directory")
}

fn open_node() -> Result<Node, Failure> {
    let dir = state_dir()?;
    Node::open(&dir).map_err(|e| Failure::from(anyhow::Error::new(e)))
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(anyhow::Error::from)?;
    println!("{s}");
    Ok(())
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Sim(cmd) => sim(cmd),
        Command::Profiles { model, json } => render::profiles(model.as_deref(), json),
        Command::Status {
            watch: Some(every),
            count,
            json,
        } => watch::run(every, count, json),
        Command::Status { json, .. } => {
            let st = dynamig_node::status::status(&open_node()?);
            if json {
                print_json(&st)
            } else {
                println!("{}", render::status(&st));
                Ok(())
            }
        }
        Command::Plan {
            req,
            namespace,
            json,
        } => {
            let request = req.request().map_err(bad_input)?;
            let node = open_node()?;
            let policy_err = |e| Failure::from(anyhow::Error::new(NodeError::Policy(e)));
            let allowance = dynamig_node::policy_file::from_env()
                .map_err(policy_err)?
                .allowance(&namespace, request.k8s_namespace.as_deref());
            allowance.admit(&request).map_err(policy_err)?;
            let d = node
                .plan_queued(&request)
                .map_err(|e| Failure::from(anyhow::Error::new(e)))?;
            let victims: Vec<String> = d.victims.iter().map(|v| v.id.clone()).collect();
            allowance.admit_victims(&victims).map_err(policy_err)?;
            let out = render::PlanOut::from(&d);
            if json {
                print_json(&out)
            } else {
                println!("{}", render::plan_line(&out));
                Ok(())
            }
        }
        Command::Allocate {
            id,
            req,
            namespace,
            pid,
            json,
        } => {
            let request = req.request().map_err(bad_input)?;
            let process = match pid {
                Some(p) => Some(
                    ProcRef::of(p)
                        .ok_or_else(|| bad_input(anyhow::anyhow!("--pid {p}: no such process")))?,
                ),
                None => None,
            };
            let spec = AllocSpec {
                id,
                namespace,
                request,
                process,
                creator: None,
            };
            let a = if spec.request.wait.is_zero() {
                open_node()?.allocate(spec)
            } else {
                let cancel = dynamig_node::node::cancel_on_signals();
                dynamig_node::node::allocate_waiting(&state_dir()?, spec, cancel).map(|(_, a)| a)
            }
            .map_err(|e| Failure::from(anyhow::Error::new(e)))?;
            if json {
                print_json(&a)
            } else {
                println!("{}", render::allocation_line(&a));
                Ok(())
            }
        }
        Command::Release { id, namespace } => {
            let mut node = open_node()?;
            let key = HolderKey::new(namespace, id);
            let released = node
                .release(&key)
                .map_err(|e| Failure::from(anyhow::Error::new(e)))?;
            if released {
                println!("released {key}");
                return Ok(());
            }
            let elsewhere = node.state.namespaces_holding(&key.id);
            if elsewhere.is_empty() {
                println!("{key} holds nothing; nothing to release");
            } else {
                println!(
                    "{key} holds nothing; nothing to release (namespace {} has a holder {}: give --namespace)",
                    elsewhere.join(", "),
                    key.id
                );
            }
            Ok(())
        }
        Command::Gc { json } => {
            let node = open_node()?;
            if json {
                print_json(&node.reconciled)
            } else {
                let r = &node.reconciled;
                let temps = match r.temp_files.len() {
                    0 => String::new(),
                    n => format!(", {n} stale temp files removed"),
                };
                println!(
                    "reconciled: {} released, {} reclaimed, {} lost, {} forgotten{temps}",
                    r.released.len(),
                    r.reclaimed.len(),
                    r.lost.len(),
                    r.forgotten.len()
                );
                Ok(())
            }
        }
        Command::Doctor => {
            // Never opens the node: no lock taken, no state written, no GPU touched.
            if dynamigctl::doctor::run(None, &mut std::io::stdout()) {
                Ok(())
            } else {
                Err(Failure {
                    code: 1,
                    err: anyhow::anyhow!("the node is not ready for dynamig"),
                })
            }
        }
        Command::Events { json, since } => {
            let dir = state_dir()?;
            let since_ms = match since {
                Some(s) => dynamigctl::since::parse_since(&s, dynamig_node::events::now_ms())
                    .map_err(bad_input)?,
                None => 0,
            };
            let evs = dynamig_node::events::read(&dir.events_file(), since_ms);
            if json {
                print_json(&evs)
            } else {
                println!("{}", render::events(&evs));
                Ok(())
            }
        }
        Command::Replay(args) => replay::run(args),
        Command::Runtime(cmd) => runtime::run(cmd),
    }
}

fn sim(cmd: SimCmd) -> Result<(), Failure> {
    let dir = state_dir()?;
    let _lock = NodeLock::acquire(&dir.lock_file(), NodeLock::timeout_from_env())
        .map_err(anyhow::Error::from)?;
    let path = dir.sim_file();
    if let SimCmd::Init {
        models,
        driver_version,
    } = &cmd
    {
        let keys: Vec<&str> = models.iter().map(String::as_str).collect();
        let mut node = SimNode::new(&keys).map_err(bad_input)?;
        node.driver_version = driver_version.clone();
        node.save(&path).map_err(anyhow::Error::from)?;
        // A new node starts with no holders.
        let _ = std::fs::remove_file(dir.state_file());
        println!(
            "simulated node in {}: {}",
            dir.path().display(),
            keys.join(", ")
        );
        return Ok(());
    }
    let mut node = SimNode::load(&path)
        .map_err(anyhow::Error::from)?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no simulated node in {}; run `dynamigctl sim init MODEL`",
                dir.path().display()
            )
        })?;
    match cmd {
        SimCmd::Init { .. } => {}
        SimCmd::Mig { gpu, mode } => {
            let g = node.gpu_mut(GpuIndex(gpu)).map_err(bad_input)?;
            (g.mig.current, g.mig.pending) = match mode.as_str() {
                "on" => (true, true),
                "off" => (false, false),
                "pending-on" => (false, true),
                "pending-off" => (true, false),
                _ => {
                    return Err(bad_input(anyhow::anyhow!(
                        "mode {mode:?}: use on, off, pending-on or pending-off"
                    )))
                }
            };
        }
        SimCmd::Create {
            gpu,
            profile,
            start,
        } => {
            let gpu = GpuIndex(gpu);
            let m = node.gpu(gpu).and_then(|g| g.model()).map_err(bad_input)?;
            let p = m.profile(&profile).ok_or_else(|| {
                bad_input(anyhow::anyhow!("{} has no profile {profile:?}", m.key))
            })?;
            let gi = node.create_gi(gpu, p.id, start).map_err(|e| Failure {
                code: 1,
                err: e.into(),
            })?;
            node.create_ci(gpu, gi).map_err(anyhow::Error::from)?;
            println!("created GPU instance {gi} ({profile}) at {start} on GPU {gpu}");
        }
        SimCmd::Destroy { gpu, gi } => {
            node.destroy(GpuIndex(gpu), GiId(gi)).map_err(|e| Failure {
                code: 1,
                err: e.into(),
            })?
        }
        SimCmd::Busy { gpu, gi, pids } => {
            let inst = node
                .gpu_mut(GpuIndex(gpu))
                .map_err(bad_input)?
                .instances
                .iter_mut()
                .find(|i| i.gi == GiId(gi))
                .ok_or_else(|| bad_input(anyhow::anyhow!("GPU {gpu} has no GPU instance {gi}")))?;
            inst.pids = pids;
        }
    }
    node.save(&path).map_err(anyhow::Error::from)?;
    Ok(())
}
