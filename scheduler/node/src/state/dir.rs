//! The state directory (`DYNAMIG_STATE_DIR`, else `/run/dynamig`: see
//! [`crate::config::NodeConfig`]).

use nix::unistd::Uid;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const DEFAULT: &str = "/run/dynamig";
pub const ENV: &str = "DYNAMIG_STATE_DIR";

#[derive(Debug, Error)]
pub enum StateDirError {
    #[error("state directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "state directory {path} is writable by group or others (mode {mode:o}); chmod 0700 it"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("state directory {path} is owned by uid {owner}, not by this user (uid {me})")]
    WrongOwner { path: PathBuf, owner: u32, me: u32 },
    #[error("state directory {path} is not a directory (a symbolic link or a file)")]
    NotADirectory { path: PathBuf },
}

/// A checked state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Opens (creating with mode 0700 if missing) and checks a state directory.
    pub fn open(path: &Path) -> Result<StateDir, StateDirError> {
        let io = |source| StateDirError::Io {
            path: path.to_path_buf(),
            source,
        };
        match fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent).map_err(io)?;
                }
                match fs::DirBuilder::new().mode(0o700).create(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(io(e)),
                }
                // The umask may have narrowed the mode; make it exactly 0700.
                fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io)?;
            }
            Err(e) => return Err(io(e)),
            Ok(_) => {}
        }
        let md = fs::symlink_metadata(path).map_err(io)?;
        if !md.file_type().is_dir() {
            return Err(StateDirError::NotADirectory {
                path: path.to_path_buf(),
            });
        }
        let mode = md.mode() & 0o7777;
        if mode & 0o022 != 0 {
            return Err(StateDirError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        let me = Uid::effective().as_raw();
        if md.uid() != me {
            return Err(StateDirError::WrongOwner {
                path: path.to_path_buf(),
                owner: md.uid(),
                me,
            });
        }
        Ok(StateDir {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn state_file(&self) -> PathBuf {
        self.path.join("state.json")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.path.join("lock")
    }

    pub fn events_file(&self) -> PathBuf {
        self.path.join("events.jsonl")
    }

    pub fn sim_file(&self) -> PathBuf {
        self.path.join("sim.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_0700_and_refuses_open_modes() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("s");
        let d = StateDir::open(&p).unwrap();
        assert_eq!(fs::metadata(d.path()).unwrap().mode() & 0o777, 0o700);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(
            StateDir::open(&p),
            Err(StateDirError::TooOpen { .. })
        ));
        let link = t.path().join("l");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(matches!(
            StateDir::open(&link),
            Err(StateDirError::NotADirectory { .. })
        ));
    }
}
