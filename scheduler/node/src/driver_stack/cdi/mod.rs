//! The host's NVIDIA CDI spec: found in the CDI spec directories, read (YAML or JSON), checked
//! against the host, and its spec-level `containerEdits` made ready to apply.
//!
//! Precedence follows the CDI project's cache: directories are scanned in order and a later
//! directory has the higher priority (by default `/var/run/cdi`, where `nvidia-ctk cdi generate`
//! writes, over `/etc/cdi`), so the spec of kind [`KIND`] in the latest directory that has one
//! is used. Two such specs in that directory conflict (the CDI cache drops both): an error.
//! Only files ending in `.yaml` or `.json` are read, directories are not recursed.

pub mod spec;
pub mod version;

pub use spec::{ContainerEdits, DeviceNode, Hook, Mount, SpecFile};

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The kind NVIDIA's container toolkit gives its GPU spec.
pub const KIND: &str = "nvidia.com/gpu";
/// What to run when the spec is missing, stale or broken.
pub const REGENERATE: &str = "nvidia-ctk cdi generate --output=/var/run/cdi/nvidia.yaml";

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CdiError {
    #[error("CDI spec {}: {why}; fix it or regenerate it: {REGENERATE}", path.display())]
    Bad { path: PathBuf, why: String },
    #[error("CDI spec directory {}: {why}", dir.display())]
    Dir { dir: PathBuf, why: String },
    #[error("CDI specs {} and {} both have kind {KIND} in the same directory; keep one ({REGENERATE})", a.display(), b.display())]
    Conflict { a: PathBuf, b: PathBuf },
}

/// A checked NVIDIA CDI spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvidiaSpec {
    pub path: PathBuf,
    pub cdi_version: String,
    /// The spec-level edits, device nodes completed from the host (type, major, minor, mode).
    pub edits: ContainerEdits,
}

fn one_line(s: impl std::fmt::Display) -> String {
    s.to_string().replace('\n', " ")
}

/// What a file in a spec directory holds, as far as dynamig cares.
enum Found {
    Nvidia(Box<SpecFile>),
    Other,
    Broken(String),
}

/// Reads a spec file: [`Found::Other`] for another kind; [`Found::Broken`] when it cannot be read
/// and may be NVIDIA's (a file that does not parse is taken for NVIDIA's when its text names
/// [`KIND`]; another vendor's broken file is not dynamig's business).
fn read(path: &Path) -> Found {
    #[derive(serde::Deserialize)]
    struct KindOnly {
        #[serde(default)]
        kind: Option<String>,
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Found::Broken(one_line(e)),
    };
    let json = path.extension().is_some_and(|e| e == "json");
    let kind: Result<KindOnly, String> = if json {
        serde_json::from_str(&text).map_err(one_line)
    } else {
        serde_norway::from_str(&text).map_err(one_line)
    };
    match kind {
        Ok(k) if k.kind.as_deref() != Some(KIND) => return Found::Other,
        Ok(_) => {}
        Err(_) if !text.contains(KIND) => return Found::Other,
        Err(e) => return Found::Broken(e),
    }
    let spec: Result<SpecFile, String> = if json {
        serde_json::from_str(&text).map_err(one_line)
    } else {
        serde_norway::from_str(&text).map_err(one_line)
    };
    match spec {
        Ok(s) => Found::Nvidia(Box::new(s)),
        Err(e) => Found::Broken(e),
    }
}

/// The NVIDIA spec of the latest directory that has one; `Ok(None)` when none has. A missing
/// directory is skipped, as the CDI cache does.
pub fn find(dirs: &[PathBuf]) -> Result<Option<NvidiaSpec>, CdiError> {
    for dir in dirs.iter().rev() {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(CdiError::Dir {
                    dir: dir.clone(),
                    why: one_line(e),
                })
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "json"))
            .collect();
        files.sort();
        let mut chosen: Option<(PathBuf, Result<Box<SpecFile>, String>)> = None;
        for path in files {
            let got = match read(&path) {
                Found::Other => continue,
                Found::Nvidia(s) => Ok(s),
                Found::Broken(why) => Err(why),
            };
            if let Some((a, _)) = &chosen {
                return Err(CdiError::Conflict {
                    a: a.clone(),
                    b: path,
                });
            }
            chosen = Some((path, got));
        }
        match chosen {
            None => continue,
            Some((path, Err(why))) => return Err(CdiError::Bad { path, why }),
            Some((path, Ok(spec))) => return validate(path, *spec).map(Some),
        }
    }
    Ok(None)
}

/// Checks a parsed spec against the CDI rules (version, fields); the host is not looked at
/// here ([`NvidiaSpec::check_host`]).
pub fn validate(path: PathBuf, spec: SpecFile) -> Result<NvidiaSpec, CdiError> {
    let bad = |why: String| CdiError::Bad {
        path: path.clone(),
        why,
    };
    version::check(&spec).map_err(bad)?;
    let edits = spec.container_edits;
    check_env(&edits.env, "env").map_err(bad)?;
    if edits
        .mounts
        .iter()
        .any(|m| m.host_path.is_empty() || m.container_path.is_empty())
    {
        return Err(bad("a mount without hostPath or containerPath".into()));
    }
    for h in &edits.hooks {
        if !spec::HOOK_STAGES.contains(&h.hook_name.as_str()) {
            return Err(bad(format!("unknown hookName {:?}", h.hook_name)));
        }
        if !h.path.starts_with('/') {
            return Err(bad(format!("hook path {:?} is not absolute", h.path)));
        }
        if h.timeout.is_some_and(|t| t <= 0) {
            return Err(bad(format!(
                "hook {} has a timeout of {:?}",
                h.path, h.timeout
            )));
        }
        check_env(&h.env, "hook env").map_err(bad)?;
    }
    for d in &edits.device_nodes {
        check_device(d).map_err(bad)?;
    }
    for n in &edits.net_devices {
        if n.host_interface_name.is_empty() || n.name.is_empty() {
            return Err(bad("a netDevice without hostInterfaceName or name".into()));
        }
    }
    Ok(NvidiaSpec {
        path,
        cdi_version: spec.cdi_version,
        edits,
    })
}

impl NvidiaSpec {
    /// Checks that what the spec mounts and runs exists on the host, and completes its device
    /// nodes from the host's (type, numbers, mode). Called after the driver version check: a
    /// driver upgrade removes the old version's libraries, and "stale" is the better answer.
    pub fn check_host(&mut self) -> Result<(), CdiError> {
        let path = self.path.clone();
        let bad = |why: String| CdiError::Bad {
            path: path.clone(),
            why,
        };
        for m in &self.edits.mounts {
            // Followed: a dangling link is as missing to runc as no file.
            if !Path::new(&m.host_path).exists() {
                return Err(bad(format!(
                    "mount host path {} does not exist",
                    m.host_path
                )));
            }
        }
        for h in &self.edits.hooks {
            if !Path::new(&h.path).exists() {
                return Err(bad(format!("hook {} does not exist", h.path)));
            }
        }
        for d in &mut self.edits.device_nodes {
            complete_device(d).map_err(bad)?;
        }
        Ok(())
    }
}

fn check_device(d: &DeviceNode) -> Result<(), String> {
    if d.path.is_empty() {
        return Err("a device node without path".into());
    }
    let kind = d.kind.as_deref().unwrap_or_default();
    if !["", "b", "c", "u", "p"].contains(&kind) {
        return Err(format!("device {}: unknown type {kind:?}", d.path));
    }
    if let Some(p) = d.permissions.as_deref() {
        if p != "none" && !p.chars().all(|c| "rwm".contains(c)) {
            return Err(format!("device {}: bad permissions {p:?}", d.path));
        }
    }
    Ok(())
}

fn check_env(env: &[String], what: &str) -> Result<(), String> {
    match env.iter().find(|e| e.find('=').is_none_or(|i| i == 0)) {
        Some(e) => Err(format!("{what} entry {e:?} is not NAME=VALUE")),
        None => Ok(()),
    }
}

/// The device numbers in a `st_rdev` (glibc's `gnu_dev_major` / `gnu_dev_minor`).
fn major_minor(rdev: u64) -> (i64, i64) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as i64, minor as i64)
}

/// Fills a device node's type, numbers and mode from its host node, as the CDI project does: a
/// node given with its type and major (or a fifo) may be missing on the host; any other must
/// exist and be a device of the type given.
fn complete_device(d: &mut DeviceNode) -> Result<(), String> {
    let kind = d.kind.clone().unwrap_or_default();
    let minimal = !kind.is_empty() && (d.major.is_some_and(|m| m != 0) || kind == "p");
    let host = d.host_path().to_string();
    let md = match std::fs::symlink_metadata(&host) {
        Ok(md) => md,
        Err(_) if minimal => return Ok(()),
        Err(_) => return Err(format!("device node {host} does not exist")),
    };
    let ft = md.file_type();
    let host_kind = if ft.is_block_device() {
        "b"
    } else if ft.is_char_device() {
        "c"
    } else if ft.is_fifo() {
        "p"
    } else {
        return Err(format!("{host} is not a device node"));
    };
    if d.file_mode.is_none() {
        d.file_mode = Some(md.mode() & 0o7777);
    }
    if minimal {
        return Ok(());
    }
    if kind.is_empty() {
        d.kind = Some(host_kind.to_string());
    } else if kind != host_kind && !(kind == "u" && host_kind == "c") {
        return Err(format!(
            "device {}: type {kind} but {host} is of type {host_kind}",
            d.path
        ));
    }
    if host_kind != "p" && d.major.unwrap_or(0) == 0 {
        let (major, minor) = major_minor(md.rdev());
        d.major = Some(major);
        d.minor = Some(minor);
    }
    Ok(())
}

/// The driver versions a spec was generated for: the `<version>` of the `libcuda.so.<version>`
/// and `libnvidia-ml.so.<version>` it mounts, and of a `--host-driver-version=<version>` hook
/// argument (`enable-cuda-compat`). Other libraries carry versions of their own
/// (`libnvidia-egl-wayland.so.1.1.13`) and are not looked at.
pub fn driver_versions(edits: &ContainerEdits) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |v: &str| {
        if v.split('.').count() >= 2
            && v.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            && !out.iter().any(|x| x == v)
        {
            out.push(v.to_string());
        }
    };
    for m in &edits.mounts {
        let name = Path::new(&m.host_path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for lib in ["libcuda.so.", "libnvidia-ml.so."] {
            if let Some(v) = name.strip_prefix(lib) {
                add(v);
            }
        }
    }
    for h in &edits.hooks {
        for a in &h.args {
            if let Some(v) = a.strip_prefix("--host-driver-version=") {
                add(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
