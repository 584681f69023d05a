//! Reading the node's admission policy file (`/etc/dynamig/policy.toml`, or the file
//! `DYNAMIG_POLICY` names); its rules are `dynamig_core::policy`'s. A file that cannot be read,
//! is not a regular file, or is writable by group or others, is an error that fails every
//! allocation; it is never silently ignored.

use dynamig_core::policy::{Policy, PolicyError};
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const DEFAULT_PATH: &str = "/etc/dynamig/policy.toml";
pub const ENV: &str = "DYNAMIG_POLICY";

/// Reads `path`. When it does not exist: the open policy, unless `must_exist`.
pub fn load(path: &Path, must_exist: bool) -> Result<Policy, PolicyError> {
    let err = |why: String| PolicyError::File {
        path: path.to_path_buf(),
        why,
    };
    let md = match std::fs::metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
            return Ok(Policy::open())
        }
        Err(e) => return Err(err(e.to_string())),
    };
    if !md.is_file() {
        return Err(err("not a regular file".into()));
    }
    if md.mode() & 0o022 != 0 {
        return Err(err(format!(
            "writable by group or others (mode {:o}); chmod 0644 it",
            md.mode() & 0o7777
        )));
    }
    let me = nix::unistd::Uid::effective().as_raw();
    if md.uid() != 0 && md.uid() != me {
        return Err(err(format!(
            "owned by uid {}, not by root or this user (uid {me})",
            md.uid()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    Policy::parse(&text)
        .map(|mut p| {
            p.path = Some(path.to_path_buf());
            p
        })
        .map_err(err)
}

/// `DYNAMIG_POLICY=none`: no policy file, everything allowed, whatever `/etc` holds (tests, demos).
pub const NONE: &str = "none";

/// Which policy file the node reads (`DYNAMIG_POLICY`, read by
/// [`crate::config::NodeConfig::from_env`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyFile {
    /// `DYNAMIG_POLICY=none`: no file; everything is allowed.
    None,
    /// The file at `path`; `must_exist` when `DYNAMIG_POLICY` named it (a typo must not open
    /// the node), not for the default `/etc/dynamig/policy.toml`.
    At { path: PathBuf, must_exist: bool },
}

impl PolicyFile {
    /// From `DYNAMIG_POLICY`'s value: `none`, a path, or unset (or empty) for the default file.
    pub fn from_setting(value: Option<OsString>) -> PolicyFile {
        match value {
            Some(v) if v == NONE => PolicyFile::None,
            Some(v) if !v.is_empty() => PolicyFile::At {
                path: PathBuf::from(v),
                must_exist: true,
            },
            _ => PolicyFile::At {
                path: PathBuf::from(DEFAULT_PATH),
                must_exist: false,
            },
        }
    }

    /// The node's policy. A missing default file is the permissive policy; a missing file that
    /// `DYNAMIG_POLICY` names explicitly is an error.
    pub fn load(&self) -> Result<Policy, PolicyError> {
        match self {
            PolicyFile::None => Ok(Policy::open()),
            PolicyFile::At { path, must_exist } => load(path, *must_exist),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[namespace.\"k8s.io\"]\nmax_priority = \"inference\"\n[namespace.tenant]\n[namespace.\"*\"]\n";

    #[test]
    fn load_checks_existence_mode_and_content() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("policy.toml");
        assert_eq!(load(&p, false).unwrap(), Policy::open());
        assert!(matches!(load(&p, true), Err(PolicyError::File { .. })));
        std::fs::write(&p, FILE).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load(&p, true).unwrap();
        assert_eq!(loaded.path.as_deref(), Some(p.as_path()));
        assert_eq!(loaded.namespace.len(), 3);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = load(&p, true).unwrap_err().to_string();
        assert!(e.contains("writable by group or others"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&p, "[namespace.x]\nmax_priority = \"urgent\"\n").unwrap();
        let e = load(&p, false).unwrap_err().to_string();
        assert!(
            e.contains("urgent") && e.contains(&p.display().to_string()),
            "{e}"
        );
        assert!(load(Path::new("/"), false).is_err());
    }
}
