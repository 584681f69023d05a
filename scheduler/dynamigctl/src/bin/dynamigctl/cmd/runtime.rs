//! `dynamigctl runtime configure`: registers dynamig with containerd or Docker by editing their
//! configuration file (see `dynamigctl::runtime_config`).

use crate::Failure;
use clap::{Args, Subcommand, ValueEnum};
use dynamigctl::runtime_config::{self, ConfigError, Engine, Options, Outcome};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum RuntimeCmd {
    /// Add the `dynamig` runtime to containerd's config.toml (1.x `version = 2` or 2.x
    /// `version = 3`) or Docker's daemon.json, keeping everything else; backs the file up first.
    /// Idempotent. Restart the engine afterwards.
    Configure(ConfigureArgs),
}

#[derive(Clone, Copy, ValueEnum)]
pub enum EngineArg {
    Containerd,
    Docker,
}

#[derive(Args)]
pub struct ConfigureArgs {
    /// The engine to configure.
    #[arg(long, value_enum)]
    runtime: EngineArg,
    /// Its config file [default: /etc/containerd/config.toml or /etc/docker/daemon.json].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Print the resulting file on stdout and the changes on stderr; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Also make dynamig the default runtime (containerd CRI `default_runtime_name`, Docker
    /// `default-runtime`). Requests without dynamig.io annotations still run untouched.
    #[arg(long)]
    set_as_default: bool,
    /// Docker: the dynamig-runc binary dockerd runs [default: dynamig-runc next to this
    /// dynamigctl, else /usr/bin/dynamig-runc].
    #[arg(long, value_name = "PATH")]
    runc_wrapper: Option<PathBuf>,
}

/// `dynamig-runc` beside this binary (an install under /usr/local, or a build tree), else the
/// packaged path.
fn default_wrapper() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::canonicalize(exe).ok())
        .and_then(|exe| exe.parent().map(|d| d.join("dynamig-runc")))
        .filter(|w| w.is_file())
        .unwrap_or_else(|| PathBuf::from(runtime_config::DEFAULT_RUNC_WRAPPER))
}

pub fn run(cmd: RuntimeCmd) -> Result<(), Failure> {
    match cmd {
        RuntimeCmd::Configure(a) => configure(a),
    }
}

fn configure(a: ConfigureArgs) -> Result<(), Failure> {
    let engine = match a.runtime {
        EngineArg::Containerd => Engine::Containerd,
        EngineArg::Docker => Engine::Docker,
    };
    let mut opts = Options::new(engine);
    if let Some(c) = a.config {
        opts.config = c;
    }
    opts.set_as_default = a.set_as_default;
    opts.runc_wrapper = a.runc_wrapper.unwrap_or_else(default_wrapper);
    let out = runtime_config::configure(&opts, a.dry_run).map_err(|e| {
        let code = match e {
            // The file's content is the user's input.
            ConfigError::Containerd(_) | ConfigError::Docker(_) => 2,
            ConfigError::File(_) => 1,
        };
        Failure {
            code,
            err: anyhow::Error::new(e).context(format!(
                "cannot configure {} in {}",
                engine.name(),
                opts.config.display()
            )),
        }
    })?;
    for w in &out.edit.warnings {
        eprintln!("dynamigctl: warning: {w}");
    }
    if a.dry_run {
        print_dry_run(&out);
    } else {
        print_written(&out, engine);
    }
    Ok(())
}

/// A dry run: the resulting file on stdout, what would change on stderr.
fn print_dry_run(out: &Outcome) {
    let path = out.path.display();
    print!("{}", out.edit.text);
    if out.edit.changes.is_empty() && out.existed {
        eprintln!("dry run: {path} already configures dynamig; nothing would change");
    } else {
        let verb = if out.existed { "change" } else { "create" };
        eprintln!("dry run: would {verb} {path}:");
        for c in &out.edit.changes {
            eprintln!("  {c}");
        }
    }
}

/// What was written (and where the old file went), and how to restart the engine.
fn print_written(out: &Outcome, engine: Engine) {
    let path = out.path.display();
    if !out.written {
        println!("{path} already configures dynamig; nothing changed");
        return;
    }
    match &out.backup {
        Some(b) => println!("updated {path} (the old file is in {})", b.display()),
        None => println!("created {path}"),
    }
    for c in &out.edit.changes {
        println!("  {c}");
    }
    println!("{}", engine.restart_hint());
}
