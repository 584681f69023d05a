//! `dynamigctl`: the command line that scripts, tests and people use to see and drive a node.
//! Exit status: 0 on success, 1 when a request cannot be met, 2 on bad input.
//!
//! [`cli`] holds the commands and their flags, [`cmd`] one module per command, [`render`] how
//! they print for people, [`failure`] how errors become exit statuses.

mod cli;
mod cmd;
mod failure;
mod render;
mod table;

use anyhow::{Context, Result};
use clap::Parser;
use cli::{Cli, Command};
use dynamig_node::config::NodeConfig;
use dynamig_node::node::Node;
use dynamig_node::state::StateDir;
use failure::{bad_input, refused, Failure};
use std::process::ExitCode;

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DYNAMIG_LOG")
        .unwrap_or_else(|_| "warn".into());
    // Colours only on a terminal: a log file or a pipe gets plain text.
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
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
    config();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            if f.err.downcast_ref::<failure::AlreadySaid>().is_none() {
                eprintln!("dynamigctl: {:#}", f.err);
            }
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

/// The node's configuration, read from the environment once, first thing in `main`.
fn config() -> &'static NodeConfig {
    static CONFIG: std::sync::OnceLock<NodeConfig> = std::sync::OnceLock::new();
    CONFIG.get_or_init(NodeConfig::from_env)
}

fn state_dir() -> Result<StateDir> {
    config()
        .open_state_dir()
        .context("cannot use the state directory")
}

/// Opens the node, runs `op` on it, and closes it (events and metrics written) whatever `op`
/// returned.
fn with_node<T>(op: impl FnOnce(&mut Node) -> Result<T, Failure>) -> Result<T, Failure> {
    let dir = state_dir()?;
    Node::session(config(), &dir, op)
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v).map_err(anyhow::Error::from)?;
    println!("{s}");
    Ok(())
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Sim(c) => cmd::sim::run(c),
        Command::Dra(c) => cmd::dra::run(c),
        Command::Profiles { model, json } => cmd::profiles::run(model.as_deref(), json),
        Command::Status {
            json,
            wide,
            watch,
            count,
        } => cmd::status::run(json, wide, watch, count),
        Command::Plan {
            req,
            namespace,
            json,
        } => cmd::plan::run(&req, &namespace, json),
        Command::Allocate {
            id,
            req,
            namespace,
            pid,
            json,
        } => cmd::allocate::run(id, &req, namespace, pid, json),
        Command::Release { id, namespace } => cmd::release::run(id, namespace),
        Command::Gc { json } => cmd::gc::run(json),
        Command::Doctor => cmd::doctor::run(),
        Command::Events { json, since } => cmd::events::run(json, since.as_deref()),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Runtime(c) => cmd::runtime::run(c),
    }
}
