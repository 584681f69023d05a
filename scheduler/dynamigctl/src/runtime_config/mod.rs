//! `dynamigctl runtime configure`: registers dynamig with a container engine by editing the
//! engine's own configuration file, the way `nvidia-ctk runtime configure` does.
//!
//! - containerd ([`containerd`]): the CRI runtime `dynamig` (runtime type
//!   `io.containerd.dynamig.v2`, `pod_annotations = ["dynamig.io/*"]`) in the 1.x (`version = 2`)
//!   or 2.x (`version = 3`) layout;
//! - Docker ([`docker`]): `"runtimes": {"dynamig": {"path": "/usr/bin/dynamig-runc"}}` in
//!   `daemon.json`.
//!
//! Everything else in the file is kept as it was (comments and order included). A second run
//! changes nothing. A changed file is first copied to a backup ([`file`]); a missing file is
//! created.

pub mod containerd;
pub mod docker;
pub mod file;

use std::path::{Path, PathBuf};
use thiserror::Error;

/// The runtime name dynamig registers under.
pub const RUNTIME_NAME: &str = "dynamig";
/// containerd's runtime type for `containerd-shim-dynamig-v2`.
pub const SHIM_RUNTIME_TYPE: &str = "io.containerd.dynamig.v2";
/// The annotations Kubernetes pods may pass through to the runtime.
pub const POD_ANNOTATIONS: &str = "dynamig.io/*";
/// Where the packages install the runc wrapper.
pub const DEFAULT_RUNC_WRAPPER: &str = "/usr/bin/dynamig-runc";

/// Which engine to configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Containerd,
    Docker,
}

impl Engine {
    /// The engine's configuration file on a standard install.
    fn default_config(self) -> &'static Path {
        match self {
            Engine::Containerd => Path::new("/etc/containerd/config.toml"),
            Engine::Docker => Path::new("/etc/docker/daemon.json"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Engine::Containerd => "containerd",
            Engine::Docker => "docker",
        }
    }

    /// What the user must do for the engine to read the new file.
    pub fn restart_hint(self) -> &'static str {
        match self {
            Engine::Containerd => "restart containerd to load it (systemctl restart containerd)",
            Engine::Docker => "restart dockerd to load it (systemctl restart docker)",
        }
    }
}

/// What to write.
#[derive(Debug, Clone)]
pub struct Options {
    pub engine: Engine,
    /// The engine's configuration file.
    pub config: PathBuf,
    /// Also make dynamig the engine's default runtime.
    pub set_as_default: bool,
    /// Docker only: the path of `dynamig-runc`.
    pub runc_wrapper: PathBuf,
}

impl Options {
    pub fn new(engine: Engine) -> Self {
        Options {
            engine,
            config: engine.default_config().to_path_buf(),
            set_as_default: false,
            runc_wrapper: PathBuf::from(DEFAULT_RUNC_WRAPPER),
        }
    }
}

/// The result of editing a configuration's text (nothing written yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new text.
    pub text: String,
    /// One line per change, e.g. `set runtime_type = "io.containerd.dynamig.v2"`; empty when the
    /// file already says everything.
    pub changes: Vec<String>,
    /// Things the user should know that dynamig does not change (e.g. a disabled CRI plugin).
    pub warnings: Vec<String>,
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error(transparent)]
    Containerd(#[from] containerd::ContainerdError),
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    #[error(transparent)]
    File(#[from] file::FileError),
}

/// What [`configure`] did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The file (symbolic links resolved).
    pub path: PathBuf,
    /// Whether the file existed before.
    pub existed: bool,
    pub edit: Edit,
    /// The copy of the old file, when one was written.
    pub backup: Option<PathBuf>,
    /// Whether the file was written (false for a dry run and when nothing changed).
    pub written: bool,
}

/// Computes the edit for `opts`' file, and unless `dry_run`, writes it (backup first).
pub fn configure(opts: &Options, dry_run: bool) -> Result<Outcome, ConfigError> {
    let current = file::read(&opts.config)?;
    let (path, existed, old) = match current {
        Some(c) => (c.path, true, c.text),
        None => (opts.config.clone(), false, String::new()),
    };
    let edit = match opts.engine {
        Engine::Containerd => containerd::edit(&old, opts.set_as_default)?,
        Engine::Docker => docker::edit(&old, &opts.runc_wrapper, opts.set_as_default)?,
    };
    let mut out = Outcome {
        path,
        existed,
        edit,
        backup: None,
        written: false,
    };
    if dry_run || (existed && out.edit.changes.is_empty()) {
        return Ok(out);
    }
    if existed {
        out.backup = Some(file::backup(&out.path)?);
    }
    file::write_atomic(&out.path, out.edit.text.as_bytes())?;
    out.written = true;
    Ok(out)
}
