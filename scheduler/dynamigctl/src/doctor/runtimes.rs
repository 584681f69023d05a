//! The container engines' configuration files: does containerd's or Docker's name dynamig.

use super::report::{Report, Verdict};
use std::path::Path;

/// containerd's `config.toml` and Docker's `daemon.json` under `etc`.
pub(super) fn check(r: &mut Report, etc: &Path) {
    let mut configured = 0;
    for (what, rel, marker, engine) in [
        (
            "containerd",
            "containerd/config.toml",
            "io.containerd.dynamig.v2",
            "containerd",
        ),
        ("Docker", "docker/daemon.json", "dynamig", "docker"),
    ] {
        let path = etc.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(text) if text.contains(marker) || text.contains("dynamig-runc") => {
                configured += 1;
                r.line(
                    Verdict::Ok,
                    what,
                    &format!("configured for dynamig ({})", path.display()),
                );
            }
            Ok(_) => r.line(
                Verdict::Info,
                what,
                &format!(
                    "{} has no dynamig runtime: `dynamigctl runtime configure --runtime {engine}` \
                     adds it (the snippet alone: /usr/share/dynamig/{engine}/)",
                    path.display()
                ),
            ),
            Err(_) => r.line(
                Verdict::Info,
                what,
                &format!("not configured ({} not found)", path.display()),
            ),
        }
    }
    if configured == 0 {
        r.line(
            Verdict::Warn,
            "runtimes",
            "no container runtime is configured for dynamig yet; `dynamigctl` works, containers will not get slices",
        );
    }
}
