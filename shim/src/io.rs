//! A container process's stdio. containerd names FIFOs (or `file://` URIs) for stdin, stdout
//! and stderr.
//!
//! - Without a terminal, the process gets the FIFOs themselves as its stdio: no copying in the
//!   shim, no pipe in between. Outputs are opened read-write, which never blocks and never
//!   fails with EPIPE when containerd's reader goes away (as the stock shim, which keeps a
//!   reader open for the same reason); the shim closes its own copies once runc has started
//!   the process, so containerd's reader sees EOF when the process and its children are gone.
//! - With a terminal, runc hands the pty's master over a console socket; two threads copy
//!   stdin to it and its output to stdout.

use crate::error::{Result, ShimError};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fs::{File, OpenOptions};
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The stdio containerd asked for, as it names it (kept for `State`).
#[derive(Debug, Clone, Default)]
pub struct StdioNames {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// The path an stdio name stands for: a plain path (a FIFO) or a `file://` URI. Other URI
/// schemes (containerd's `binary://` logging) are not supported.
pub fn target(name: &str) -> Result<Option<PathBuf>> {
    if name.is_empty() {
        return Ok(None);
    }
    if let Some(p) = name.strip_prefix("file://") {
        return Ok(Some(PathBuf::from(p)));
    }
    if let Some((scheme, _)) = name.split_once("://") {
        return Err(ShimError::Unimplemented(format!(
            "{scheme}:// stdio is not supported by {}; use FIFOs or file://",
            crate::RUNTIME_ID
        )));
    }
    Ok(Some(PathBuf::from(name)))
}

/// Opens an output for writing: read-write (a FIFO then opens at once), appending to a file.
pub fn open_output(name: &str) -> Result<Option<File>> {
    let Some(path) = target(name)? else {
        return Ok(None);
    };
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(!is_fifo(&path))
        .mode(0o640)
        .open(&path)
        .map(Some)
        .map_err(ShimError::io(format!("cannot open {}", path.display())))
}

/// Opens stdin for reading without waiting for a writer, then makes reads blocking again.
pub fn open_input(name: &str) -> Result<Option<File>> {
    let Some(path) = target(name)? else {
        return Ok(None);
    };
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(ShimError::io(format!("cannot open {}", path.display())))?;
    let flags = fcntl(f.as_raw_fd(), FcntlArg::F_GETFL)
        .map_err(|e| ShimError::Other(format!("fcntl {}: {e}", path.display())))?;
    let mut flags = OFlag::from_bits_truncate(flags);
    flags.remove(OFlag::O_NONBLOCK);
    fcntl(f.as_raw_fd(), FcntlArg::F_SETFL(flags))
        .map_err(|e| ShimError::Other(format!("fcntl {}: {e}", path.display())))?;
    Ok(Some(f))
}

fn is_fifo(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_fifo())
}

static SOCKETS: AtomicU64 = AtomicU64::new(0);

/// The socket runc sends a terminal's master to (`runc create/exec --console-socket`).
pub struct ConsoleSocket {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn new() -> Result<ConsoleSocket> {
        let n = SOCKETS.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("dynamig-pty-{}-{n}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(ShimError::io(format!("cannot create {}", dir.display())))?;
        let path = dir.join("pty.sock");
        let listener = UnixListener::bind(&path).map_err(ShimError::io(format!(
            "cannot listen on {}",
            path.display()
        )))?;
        Ok(ConsoleSocket {
            dir,
            path,
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The master runc sent (it has, once `runc create`/`exec` returned successfully).
    pub fn receive(&self) -> Result<File> {
        self.listener
            .set_nonblocking(true)
            .map_err(ShimError::io("console socket"))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(ShimError::io("runc sent no terminal on the console socket"))?;
        conn.set_nonblocking(false)
            .map_err(ShimError::io("console socket"))?;
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| ShimError::Other(format!("cannot receive the terminal: {e}")))?;
        let cmsgs = msg
            .cmsgs()
            .map_err(|e| ShimError::Other(format!("cannot receive the terminal: {e}")))?;
        for c in cmsgs {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the kernel just gave this process the descriptor; nothing else owns it.
                    return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
        }
        Err(ShimError::Other("runc sent no terminal descriptor".into()))
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A terminal's copy threads.
pub struct Console {
    pub master: File,
    /// Signalled when the output copy ended (the process and every holder of the pty's other
    /// end are gone) and stdout was closed.
    pub output_done: mpsc::Receiver<()>,
    stdin_stop: Option<mpsc::Sender<()>>,
}

impl Console {
    /// Starts copying `stdin` to the master and the master to `stdout`.
    pub fn start(master: File, names: &StdioNames) -> Result<Console> {
        let (done_tx, output_done) = mpsc::channel();
        let out = open_output(&names.stdout)?;
        let mut from = master
            .try_clone()
            .map_err(ShimError::io("terminal master"))?;
        std::thread::spawn(move || {
            let mut buf = [0u8; 32 * 1024];
            let mut out = out;
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if let Some(o) = out.as_mut() {
                            if o.write_all(&buf[..n]).is_err() {
                                out = None;
                            }
                        }
                    }
                }
            }
            drop(out);
            let _ = done_tx.send(());
        });
        let mut stdin_stop = None;
        if let Some(mut input) = open_input(&names.stdin)? {
            let mut to = master
                .try_clone()
                .map_err(ShimError::io("terminal master"))?;
            let (tx, rx) = mpsc::channel::<()>();
            stdin_stop = Some(tx);
            std::thread::spawn(move || {
                let mut buf = [0u8; 32 * 1024];
                loop {
                    match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if rx.try_recv().is_ok() || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
        Ok(Console {
            master,
            output_done,
            stdin_stop,
        })
    }

    /// Stops forwarding stdin (`CloseIO`).
    pub fn close_stdin(&mut self) {
        if let Some(tx) = self.stdin_stop.take() {
            let _ = tx.send(());
        }
    }

    /// Waits (a little) for the output to be copied out, so that a process's last words reach
    /// containerd before its exit does.
    pub fn wait_output(&self, limit: Duration) {
        let _ = self.output_done.recv_timeout(limit);
    }

    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let ws = libc::winsize {
            ws_row: height as u16,
            ws_col: width as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives across the call.
        let r = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        if r != 0 {
            return Err(ShimError::io("resize the terminal")(
                std::io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdio_names() {
        assert_eq!(target("").unwrap(), None);
        assert_eq!(target("/a/b").unwrap(), Some(PathBuf::from("/a/b")));
        assert_eq!(target("file:///l").unwrap(), Some(PathBuf::from("/l")));
        assert!(matches!(
            target("binary:///x?a=b"),
            Err(ShimError::Unimplemented(_))
        ));
    }

    #[test]
    fn fifo_outputs_open_without_a_reader_and_stdin_reads_blocking() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("out");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut o = open_output(fifo.to_str().unwrap()).unwrap().unwrap();
        o.write_all(b"x").unwrap();
        let i = open_input(fifo.to_str().unwrap()).unwrap().unwrap();
        let fl = fcntl(i.as_raw_fd(), FcntlArg::F_GETFL).unwrap();
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        let file = t.path().join("log");
        open_output(&format!("file://{}", file.display()))
            .unwrap()
            .unwrap()
            .write_all(b"y")
            .unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"y");
    }
}
