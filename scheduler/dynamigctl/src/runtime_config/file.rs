//! Reading, backing up and atomically replacing an engine's configuration file.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not UTF-8 text")]
    NotText { path: PathBuf },
    #[error("cannot back up {path} to {backup}: {source}")]
    Backup {
        path: PathBuf,
        backup: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A configuration file's resolved path and text.
#[derive(Debug, Clone)]
pub struct Current {
    pub path: PathBuf,
    pub text: String,
}

/// Reads `path` (following symbolic links: the link's target is what gets edited); `None` when
/// there is no such file.
pub fn read(path: &Path) -> Result<Option<Current>, FileError> {
    let resolved = match fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FileError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let bytes = fs::read(&resolved).map_err(|source| FileError::Read {
        path: resolved.clone(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| FileError::NotText {
        path: resolved.clone(),
    })?;
    Ok(Some(Current {
        path: resolved,
        text,
    }))
}

/// The first free backup name: `<file>.bak`, else `<file>.bak.1`, `<file>.bak.2`, ... (the first
/// backup keeps the original file).
fn backup_path(path: &Path) -> PathBuf {
    let base = path.as_os_str().to_os_string();
    let mut n = 0u32;
    loop {
        let mut candidate = base.clone();
        if n == 0 {
            candidate.push(".bak");
        } else {
            candidate.push(format!(".bak.{n}"));
        }
        let candidate = PathBuf::from(candidate);
        if fs::symlink_metadata(&candidate).is_err() {
            return candidate;
        }
        n += 1;
    }
}

/// Copies `path` to a fresh backup name (same permissions) and returns that name.
pub fn backup(path: &Path) -> Result<PathBuf, FileError> {
    let b = backup_path(path);
    let err = |source| FileError::Backup {
        path: path.to_path_buf(),
        backup: b.clone(),
        source,
    };
    let bytes = fs::read(path).map_err(err)?;
    let mode = fs::metadata(path).map_err(err)?.permissions().mode() & 0o7777;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&b)
        .map_err(err)?;
    f.write_all(&bytes).map_err(err)?;
    f.sync_all().map_err(err)?;
    Ok(b)
}

/// Replaces `path` with `bytes`: a temporary file beside it (the old file's permissions, else
/// 0644), fsync, rename, directory fsync. Creates the parent directory when missing.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let err = |source| FileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(err)?;
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o644);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "config".into());
    let tmp = dir.join(format!(".{name}.dynamig-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have narrowed the mode given to open.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_never_overwrite_an_older_one() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("config.toml");
        fs::write(&p, "one").unwrap();
        assert_eq!(backup(&p).unwrap(), t.path().join("config.toml.bak"));
        fs::write(&p, "two").unwrap();
        assert_eq!(backup(&p).unwrap(), t.path().join("config.toml.bak.1"));
        assert_eq!(
            fs::read_to_string(t.path().join("config.toml.bak")).unwrap(),
            "one"
        );
        assert_eq!(
            fs::read_to_string(t.path().join("config.toml.bak.1")).unwrap(),
            "two"
        );
    }

    #[test]
    fn write_keeps_the_mode_and_follows_links_on_read() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("real.json");
        fs::write(&real, "{}").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o600)).unwrap();
        let link = t.path().join("daemon.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let cur = read(&link).unwrap().unwrap();
        assert_eq!(cur.path, fs::canonicalize(&real).unwrap());
        write_atomic(&cur.path, b"{\"a\": 1}").unwrap();
        assert_eq!(fs::read_to_string(&link).unwrap(), "{\"a\": 1}");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(read(&t.path().join("missing")).unwrap().is_none());
        // a new file in a new directory
        let fresh = t.path().join("etc/docker/daemon.json");
        write_atomic(&fresh, b"{}").unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}
