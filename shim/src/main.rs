//! `containerd-shim-dynamig-v2`: see the library docs. Execs the stock
//! `containerd-shim-runc-v2` with `dynamig-runc` as its `runc`.

use anyhow::{Context, Result};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

fn launch() -> Result<std::convert::Infallible> {
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    let env = |k: &str| std::env::var_os(k);
    let l = dynamig_shim::plan(&exe, &env)?;
    dynamig_shim::ensure_link(&l.link_dir, &dynamig_shim::wrapper_for(&exe, &env))?;
    if dynamig_shim::logging::init(false) {
        tracing::debug!(
            shim = %l.shim.display(),
            runc = %l.runc.display(),
            link_dir = %l.link_dir.display(),
            args = ?std::env::args().skip(1).collect::<Vec<_>>(),
            "launching the runc shim with dynamig-runc as its runc"
        );
    }
    let e = Command::new(&l.shim)
        .args(std::env::args_os().skip(1))
        .env("PATH", &l.path)
        .env("DYNAMIG_RUNC", &l.runc)
        .exec();
    Err(e).with_context(|| format!("cannot execute {}", l.shim.display()))
}

fn main() -> ExitCode {
    match launch() {
        Ok(never) => match never {},
        Err(e) => {
            dynamig_shim::logging::init(true);
            tracing::error!(error = %format!("{e:#}"), "cannot launch the runc shim");
            // containerd shows a failed shim start's stderr to the user.
            eprintln!("containerd-shim-dynamig-v2: {e:#}");
            ExitCode::from(1)
        }
    }
}
