//! `dynamig-dra`, the DRA kubelet plugin (docs/kubernetes.md). In order:
//!
//! 1. the node's configuration from the environment, once, and the command line;
//! 2. a client of the API server (the pod's service account, else a kubeconfig);
//! 3. the node side ([`ClaimsPreparer`]), started before anything is served: the node becomes
//!    DRA-managed, and claims left half done by a crash, dropped by a reboot or deleted while
//!    the plugin was down are reconciled (docs/dra-node.md);
//! 4. the node's ResourceSlices published (docs/dra-slices.md), then kept true every
//!    `--resync`;
//! 5. registration with the kubelet and the DRA service (docs/dra-grpc.md), until SIGTERM or
//!    SIGINT. The slices stay published and the claims prepared across a restart: a stop is
//!    not a withdrawal.

mod cli;
mod publish;

use anyhow::{Context, Result};
use clap::Parser;
use dynamig_dra_claims::{ClaimsPreparer, Options};
use dynamig_dra_grpc::ServeConfig;
use dynamig_dra_kube::{KubeClaimSource, Publisher};
use dynamig_node::config::NodeConfig;
use publish::Slices;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::signal::unix::{signal, SignalKind};

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DYNAMIG_LOG")
        .unwrap_or_else(|_| "info".into());
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr);
    // A DaemonSet's logs are read by machines: JSON unless asked for text.
    if std::env::var("DYNAMIG_LOG_FORMAT").is_ok_and(|v| v == "text") {
        b.init();
    } else {
        b.json().init();
    }
}

fn main() -> ExitCode {
    init_logging();
    let cfg = NodeConfig::from_env();
    let args = cli::Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("dynamig-dra: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cfg, args));
    // A prepare still running past its deadline holds a blocking thread: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "dynamig-dra stopped");
            eprintln!("dynamig-dra: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cfg: NodeConfig, args: cli::Args) -> Result<()> {
    let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let dir = cfg
        .open_state_dir()
        .with_context(|| format!("state directory {}", cfg.state_dir.display()))?;
    let boot_id = dynamig_dra_claims::boot_id::read(&args.boot_id_file)
        .with_context(|| format!("this boot's id ({})", args.boot_id_file.display()))?;
    let client = dynamig_dra_kube::connect()
        .await
        .context("connecting to the API server")?;

    let source = Arc::new(KubeClaimSource::new(
        client.clone(),
        tokio::runtime::Handle::current(),
    ));
    let mut opts = Options::new(&args.node_name, boot_id);
    opts.cdi_dir = args.cdi_dir.clone();
    let preparer = Arc::new(ClaimsPreparer::new(&cfg, dir.clone(), opts, source));
    let starting = Arc::clone(&preparer);
    let started = tokio::task::spawn_blocking(move || starting.start())
        .await
        .context("the start thread")?
        .map_err(|e| anyhow::anyhow!("reconciling the node's claims at start: {e}"))?;
    tracing::info!(
        node = args.node_name,
        rebooted = started.rebooted,
        kept = started.kept.len(),
        rolled_back = started.rolled_back.len(),
        finished = started.finished.len(),
        stale_claims = started.stale_claims.len(),
        dropped = started.dropped.len(),
        failed = started.failed.len(),
        "node reconciled; it is DRA-managed"
    );
    for line in &started.failed {
        tracing::warn!(what = line.as_str(), "left for the kubelet's next call");
    }

    let slices = Arc::new(Slices {
        cfg,
        dir,
        publisher: Publisher::new(client, args.node_name.clone()),
    });
    slices.sync().await.context("publishing ResourceSlices")?;
    let resyncing = Arc::clone(&slices);
    let every = args.resync;
    let resync = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = resyncing.sync().await {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "ResourceSlices not synced; next try in one interval"
                );
            }
        }
    });

    let serve = ServeConfig::new(&args.registry_dir, &args.plugin_dir);
    let server = dynamig_dra_grpc::start(&serve, preparer)
        .await
        .context("serving the kubelet")?;
    tracing::info!(
        registry = %serve.registration_socket().display(),
        dra = %serve.dra_socket().display(),
        "serving"
    );
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = int.recv() => tracing::info!("SIGINT: stopping"),
    }
    resync.abort();
    server.shutdown().await.context("stopping the servers")?;
    Ok(())
}
