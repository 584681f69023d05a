//! The state directory: absent (created on first use), or a directory of this user's that
//! nobody else can write.

use super::report::{Report, Verdict};
use super::root_from_env;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub(super) fn check(r: &mut Report, state_dir: Option<&Path>) {
    let path = state_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        root_from_env(
            dynamig_node::state::dir::ENV,
            dynamig_node::state::dir::DEFAULT,
        )
    });
    let what = "state directory";
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => r.line(
            Verdict::Ok,
            what,
            &format!(
                "{} does not exist yet; the first dynamig command creates it with mode 0700",
                path.display()
            ),
        ),
        Err(e) => r.line(Verdict::Fail, what, &format!("{}: {e}", path.display())),
        Ok(md) if !md.file_type().is_dir() => r.line(
            Verdict::Fail,
            what,
            &format!("{} is not a directory", path.display()),
        ),
        Ok(md) => {
            let mode = md.mode() & 0o7777;
            let me = nix::unistd::Uid::effective().as_raw();
            if mode & 0o022 != 0 {
                r.line(
                    Verdict::Fail,
                    what,
                    &format!(
                        "{} has mode {mode:04o}: writable by others (want 0700)",
                        path.display()
                    ),
                );
            } else if md.uid() != me {
                r.line(
                    Verdict::Fail,
                    what,
                    &format!(
                        "{} is owned by uid {}, not by this user (uid {me})",
                        path.display(),
                        md.uid()
                    ),
                );
            } else {
                r.line(
                    Verdict::Ok,
                    what,
                    &format!("{} mode {mode:04o}, owner uid {me}", path.display()),
                );
            }
        }
    }
}
