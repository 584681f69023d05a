//! The container's root filesystem: containerd's mounts (a snapshot) at `<bundle>/rootfs`.

use crate::error::{Result, ShimError};
use containerd_shim::protos::types::mount::Mount;
use std::path::Path;

/// Mounts `mounts` at `<bundle>/rootfs`; `Ok(false)` when there are none (the bundle has its
/// own rootfs).
pub fn mount_rootfs(bundle: &Path, mounts: &[Mount]) -> Result<bool> {
    if mounts.is_empty() {
        return Ok(false);
    }
    let target = bundle.join("rootfs");
    std::fs::create_dir_all(&target)
        .map_err(ShimError::io(format!("cannot create {}", target.display())))?;
    for (i, m) in mounts.iter().enumerate() {
        let r = containerd_shim::mount::mount_rootfs(
            Some(m.type_.as_str()),
            Some(m.source.as_str()),
            &m.options,
            &target,
        );
        if let Err(e) = r {
            if i > 0 {
                unmount_rootfs(bundle);
            }
            return Err(ShimError::Other(format!(
                "cannot mount the rootfs ({} {}): {e}",
                m.type_, m.source
            )));
        }
    }
    Ok(true)
}

/// Unmounts everything at `<bundle>/rootfs` (a no-op when nothing is mounted there).
pub fn unmount_rootfs(bundle: &Path) {
    let target = bundle.join("rootfs");
    // Each call takes off the top mount; a stack of mounts takes several.
    for _ in 0..16 {
        match nix::mount::umount2(&target, nix::mount::MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => break,
            Err(e) => {
                tracing::warn!(target = %target.display(), error = %e, "cannot unmount the rootfs");
                break;
            }
        }
    }
}
