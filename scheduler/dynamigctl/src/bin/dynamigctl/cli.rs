//! `dynamigctl`'s command line: the commands, their flags and their help text (clap), and how
//! the request flags become a [`Request`] through the same parser as container annotations.

use crate::cmd;
use clap::{Args, Parser, Subcommand};
use dynamig_core::request::{self, Request};
use std::collections::BTreeMap;

/// The namespace of holders that `dynamigctl allocate` makes (and `release` looks in).
const DEFAULT_NAMESPACE: &str = "dynamigctl";
#[derive(Parser)]
#[command(
    name = "dynamigctl",
    version,
    about = "Dynamic MIG slices for containers: see and drive a node"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Manage a simulated node (for demos and tests; no GPU needed).
    #[command(subcommand)]
    Sim(SimCmd),
    /// The MIG profile catalog, like `nvidia-smi mig -lgip`, with placements.
    Profiles {
        /// A model key (a100-40gb, a100-80gb, a30-24gb, h100-80gb, h100-94gb, h200-141gb).
        model: Option<String>,
        /// Print the catalog as JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// The node's DRA mode (docs/dra-node.md): `dynamigctl dra standalone` ends it.
    #[command(subcommand)]
    Dra(DraCmd),
    /// GPUs, instances, placements, holders and their states, like `nvidia-smi`'s MIG tables.
    Status {
        /// Print the node as one JSON object instead of tables.
        #[arg(long)]
        json: bool,
        /// Every field on one line per MIG device, with the GPU and MIG UUIDs, as wide as it
        /// needs (the default fits 80 columns).
        #[arg(long, conflicts_with = "json")]
        wide: bool,
        /// Redraw every SECS seconds (default 2) until interrupted (SIGINT/SIGTERM), like
        /// `watch`. With --json: one JSON object per line per refresh.
        #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
        watch: Option<f64>,
        /// With --watch: stop after N refreshes (at least 1).
        #[arg(long, value_name = "N", requires = "watch", value_parser = refresh_count)]
        count: Option<u64>,
    },
    /// Dry run: where a request would go and whom it would evict.
    Plan {
        #[command(flatten)]
        req: ReqArgs,
        /// Namespace the request would come from (the admission policy applies to it).
        #[arg(long, default_value = DEFAULT_NAMESPACE)]
        namespace: String,
        /// Print the plan as JSON; a refusal as {"refused": true, "reason": ..., "exit_code": ...}
        /// (with the same exit status).
        #[arg(long)]
        json: bool,
    },
    /// Allocate a MIG instance for holder ID.
    Allocate {
        /// The holder's id (with --namespace, who holds the instance; `release ID` frees it).
        #[arg(value_name = "ID")]
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
        /// Print the allocation (GPU, profile, placement, UUID, evicted holders) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Release holder ID's instance (the holder of that id in that namespace only).
    Release {
        /// The holder's id, as given to `allocate` (or a container's id).
        #[arg(value_name = "ID")]
        id: String,
        /// Namespace of the holder: a container's containerd namespace (`default`, `k8s.io`,
        /// `moby`); the default is the one `allocate` gives.
        #[arg(long, default_value = DEFAULT_NAMESPACE)]
        namespace: String,
    },
    /// Reconcile now: release holders whose process is gone, finish interrupted operations.
    Gc {
        /// Print what was released and finished as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Read-only check of this node (NVML, driver, GPUs and MIG modes, catalog, nvidia-caps,
    /// device nodes, state directory, runtimes). Exit 0 when ready, 1 when not. Changes nothing.
    Doctor,
    /// Allocations, preemptions, releases and errors.
    Events {
        /// Print the events as JSON, one object each.
        #[arg(long)]
        json: bool,
        /// Only events since then: seconds ago (600), a duration ago (10m, 1h30m, 2d) or an
        /// RFC 3339 time (2026-11-24T21:00:00Z).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
    },
    /// Replay workloads against the planner and baseline policies; print the comparison.
    Replay(cmd::replay::ReplayArgs),
    /// Register dynamig with a container engine (containerd, Docker).
    #[command(subcommand)]
    Runtime(cmd::runtime::RuntimeCmd),
}

/// `--count N`: a whole number of refreshes, at least one (zero would draw nothing, and
/// `status` without `--watch` already draws once).
fn refresh_count(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("must be at least 1 (leave --count out to redraw until interrupted)".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of refreshes, at least 1".into()),
    }
}

#[derive(Args)]
#[group(required = false, multiple = false)]
struct SizeArgs {
    /// Memory wanted, e.g. 10GB, 20G, 10GiB, 512MiB.
    #[arg(long, value_name = "M", allow_hyphen_values = true)]
    gpu_memory: Option<String>,
    /// An exact MIG profile, e.g. 2g.10gb.
    #[arg(long, value_name = "P", allow_hyphen_values = true)]
    mig_profile: Option<String>,
}

#[derive(Args)]
pub struct ReqArgs {
    #[command(flatten)]
    size: SizeArgs,
    /// interactive, inference, training (default) or an integer from -1000 to 1000.
    #[arg(long, value_name = "C", allow_hyphen_values = true)]
    priority: Option<String>,
    /// true or false; overrides the class default.
    #[arg(long, value_name = "B", allow_hyphen_values = true)]
    preemptible: Option<String>,
    /// How long an evicted holder gets between SIGTERM and SIGKILL, e.g. 10s (at most 1h).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    grace_period: Option<String>,
    /// How long to wait in the queue for room when there is none now, e.g. 30s (default 0:
    /// fail at once; at most 1h). SIGINT/SIGTERM stop the wait and leave nothing behind.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    wait: Option<String>,
    /// How often the job checkpoints, e.g. 30m (at most 24h): among victims of equal priority
    /// the planner prefers the one that loses the least work since its last checkpoint.
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    checkpoint_interval: Option<String>,
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
    pub fn request(&self) -> Result<Request, request::RequestError> {
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
            (
                "--checkpoint-interval",
                request::CHECKPOINT_INTERVAL,
                &self.checkpoint_interval,
            ),
        ];
        let mut given = request::Flags::new(&flags.map(|(flag, key, _)| (key, flag)));
        for (flag, key, v) in flags {
            let Some(v) = v else { continue };
            missing_value(flag, v)?;
            given.given(key);
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
        request::parse_flagged(&a, &self.env, &given)?.ok_or_else(|| {
            request::RequestError::Other(
                "give --gpu-memory or --mig-profile (or a dynamig.io/ annotation)".into(),
            )
        })
    }
}

/// The request flags take values that start with `-` (`--priority -20`), so `--gpu-memory
/// --json` would read `--json` as the memory: say that the flag lacks its value instead.
fn missing_value(flag: &str, v: &str) -> Result<(), request::RequestError> {
    let looks_like_flag = v
        .strip_prefix("--")
        .is_some_and(|rest| rest.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
    if looks_like_flag {
        return Err(request::RequestError::Other(format!(
            "{flag} needs a value, but is followed by {v:?}; e.g. {flag} {}",
            match flag {
                "--gpu-memory" => "10GB",
                "--mig-profile" => "2g.10gb",
                "--priority" => "interactive",
                "--preemptible" => "true",
                "--checkpoint-interval" => "30m",
                _ => "10s",
            }
        )));
    }
    Ok(())
}

#[derive(Subcommand)]
pub enum DraCmd {
    /// Make a DRA-managed node standalone again, once the DRA plugin (mig.dynamig.io) is
    /// removed and no claim is prepared: the shim, dynamig-runc and `dynamigctl allocate`
    /// allocate (and evict) here again. Refused while a claim is prepared.
    Standalone,
}

#[derive(Subcommand)]
pub enum SimCmd {
    /// Create a simulated node with one GPU per MODEL (replaces any existing one).
    Init {
        #[arg(required = true)]
        models: Vec<String>,
        /// The NVIDIA driver version the node claims (checked against the host's CDI spec).
        #[arg(long, default_value = dynamig_node::backend::sim::DEFAULT_DRIVER_VERSION)]
        driver_version: String,
    },
    /// Set a simulated GPU's MIG mode: on, off, pending-on (on after a reset), pending-off.
    /// Refused, as the driver refuses it, when turning MIG off while GPU instances exist.
    Mig {
        /// The GPU's index.
        gpu: u32,
        /// on, off, pending-on or pending-off.
        mode: String,
    },
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
