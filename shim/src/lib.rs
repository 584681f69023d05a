//! `containerd-shim-dynamig-v2` (runtime type `io.containerd.dynamig.v2`): a launcher for the
//! host's stock `containerd-shim-runc-v2` that makes it run `dynamig-runc` where it would run
//! `runc`.
//!
//! It puts a private directory holding `runc -> dynamig-runc` first on `PATH`, sets
//! `DYNAMIG_RUNC` to the real runc, and execs `containerd-shim-runc-v2` with the same argv and
//! environment. The runc shim then calls `runc create` (our wrapper allocates and edits the
//! bundle's `config.json` at Task API Create time, for every container, also containers of a pod
//! sent to an already running shim) and `runc delete` (our wrapper releases). Being the stock
//! shim, it speaks exactly the task API of the host's containerd (1.6, 1.7, 2.x).
//!
//! Where things are found:
//! - the wrapper: `$DYNAMIG_RUNC_WRAPPER`, else `dynamig-runc` next to this binary;
//! - the private directory: `<state dir>/shim-bin` (`$DYNAMIG_STATE_DIR`, default
//!   `/run/dynamig`), created 0700 with the `runc` link (re-pointed if it points elsewhere);
//! - the real runc: `$DYNAMIG_RUNC`, else the first `runc` on `PATH` that is not the wrapper,
//!   else `/usr/bin/runc`, `/usr/sbin/runc`;
//! - the runc shim: `$DYNAMIG_RUNC_SHIM`, else the first `containerd-shim-runc-v2` on `PATH`
//!   that is not this binary, else `/usr/bin/containerd-shim-runc-v2`.
//!
//! A runtime configured with runc options `BinaryName` bypasses the `PATH` lookup; leave
//! `BinaryName` unset for `io.containerd.dynamig.v2`.

pub mod logging;

use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const RUNC_SHIM: &str = "containerd-shim-runc-v2";
pub const LINK_DIR: &str = "shim-bin";

fn is_executable(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn canon(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

/// The first executable `name` in `path` (then in `fallback`) that does not resolve to one of
/// `avoid` and is not in a directory of `skip_dirs`.
pub fn find_in_path(
    name: &str,
    path: &std::ffi::OsStr,
    fallback: &[&str],
    avoid: &[PathBuf],
    skip_dirs: &[PathBuf],
) -> Option<PathBuf> {
    let avoid: Vec<PathBuf> = avoid.iter().filter_map(|p| canon(p)).collect();
    let skip: Vec<PathBuf> = skip_dirs.iter().filter_map(|p| canon(p)).collect();
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .filter(|d| canon(d).is_none_or(|c| !skip.contains(&c)))
        .map(|d| d.join(name))
        .chain(fallback.iter().map(PathBuf::from))
        .find(|c| is_executable(c) && canon(c).is_some_and(|c| !avoid.contains(&c)))
}

/// Makes `dir` (0700) hold `runc -> target`.
pub fn ensure_link(dir: &Path, target: &Path) -> Result<PathBuf> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let link = dir.join("runc");
    if std::fs::read_link(&link).is_ok_and(|t| t == target) {
        return Ok(link);
    }
    let tmp = dir.join(format!(".runc.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create the link {}", tmp.display()))?;
    std::fs::rename(&tmp, &link).with_context(|| format!("cannot create {}", link.display()))?;
    Ok(link)
}

/// What to exec, and with which environment changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub shim: PathBuf,
    pub path: OsString,
    pub runc: PathBuf,
    pub link_dir: PathBuf,
}

/// Works out the launch from this binary's path and the environment.
pub fn plan(exe: &Path, env: &dyn Fn(&str) -> Option<OsString>) -> Result<Launch> {
    let var = |k: &str| env(k).filter(|v| !v.is_empty());
    let exe_dir = exe.parent().unwrap_or(Path::new("/"));
    let wrapper = var("DYNAMIG_RUNC_WRAPPER")
        .map(PathBuf::from)
        .unwrap_or_else(|| exe_dir.join("dynamig-runc"));
    if !is_executable(&wrapper) {
        bail!(
            "the runc wrapper {} is missing; install dynamig-runc next to {} or set DYNAMIG_RUNC_WRAPPER",
            wrapper.display(),
            exe.display()
        );
    }
    let state = var("DYNAMIG_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/run/dynamig"));
    let link_dir = state.join(LINK_DIR);
    let path = var("PATH")
        .unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    let runc = match var("DYNAMIG_RUNC") {
        Some(r) => PathBuf::from(r),
        None => find_in_path(
            "runc",
            &path,
            &["/usr/bin/runc", "/usr/sbin/runc"],
            std::slice::from_ref(&wrapper),
            std::slice::from_ref(&link_dir),
        )
        .context("cannot find the real runc on PATH or in /usr/bin, /usr/sbin; set DYNAMIG_RUNC")?,
    };
    let shim = match var("DYNAMIG_RUNC_SHIM") {
        Some(s) => PathBuf::from(s),
        None => find_in_path(
            RUNC_SHIM,
            &path,
            &["/usr/bin/containerd-shim-runc-v2"],
            &[exe.to_path_buf()],
            std::slice::from_ref(&link_dir),
        )
        .context(
            "cannot find containerd-shim-runc-v2 on PATH or in /usr/bin; set DYNAMIG_RUNC_SHIM",
        )?,
    };
    let mut dirs = vec![link_dir.clone()];
    dirs.extend(std::env::split_paths(&path).filter(|d| *d != link_dir));
    let path = std::env::join_paths(dirs).context("PATH holds a ':' in a directory name")?;
    Ok(Launch {
        shim,
        path,
        runc,
        link_dir,
    })
}

/// The `runc` link target for a launch: the wrapper.
pub fn wrapper_for(exe: &Path, env: &dyn Fn(&str) -> Option<OsString>) -> PathBuf {
    env("DYNAMIG_RUNC_WRAPPER")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| exe.parent().unwrap_or(Path::new("/")).join("dynamig-runc"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn exe_file(p: &Path) {
        std::fs::write(p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn finds_the_stock_shim_and_runc_not_ourselves() {
        let t = tempfile::tempdir().unwrap();
        let ours = t.path().join("ours");
        let sys = t.path().join("sys");
        let state = t.path().join("state");
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&sys).unwrap();
        let exe = ours.join("containerd-shim-dynamig-v2");
        exe_file(&exe);
        exe_file(&ours.join("dynamig-runc"));
        // a runc-shim name pointing at ourselves must be skipped
        std::os::unix::fs::symlink(&exe, ours.join(RUNC_SHIM)).unwrap();
        // a runc that is the wrapper must be skipped
        std::os::unix::fs::symlink(ours.join("dynamig-runc"), ours.join("runc")).unwrap();
        exe_file(&sys.join(RUNC_SHIM));
        exe_file(&sys.join("runc"));
        let path = std::env::join_paths([&ours, &sys]).unwrap();
        let env = |k: &str| match k {
            "PATH" => Some(path.clone()),
            "DYNAMIG_STATE_DIR" => Some(state.clone().into_os_string()),
            _ => None,
        };
        let l = plan(&exe, &env).unwrap();
        assert_eq!(l.shim, sys.join(RUNC_SHIM));
        assert_eq!(l.runc, sys.join("runc"));
        assert_eq!(l.link_dir, state.join(LINK_DIR));
        let first = std::env::split_paths(&l.path).next().unwrap();
        assert_eq!(first, state.join(LINK_DIR));
        let link = ensure_link(&l.link_dir, &wrapper_for(&exe, &env)).unwrap();
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            ours.join("dynamig-runc")
        );
        // re-pointing an old link
        let other = t.path().join("other-runc");
        ensure_link(&l.link_dir, &other).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), other);
        let mode = std::fs::metadata(&l.link_dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn missing_wrapper_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("containerd-shim-dynamig-v2");
        exe_file(&exe);
        let e = plan(&exe, &|_| None).unwrap_err().to_string();
        assert!(e.contains("dynamig-runc"), "{e}");
    }
}
