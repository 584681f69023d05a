//! A container process's stdio. containerd names FIFOs (or `file://` URIs) for stdin, stdout
//! and stderr; the shim copies between them and the process, as `io.containerd.runc.v2` does:
//!
//! - without a terminal, the process gets pipes; once runc has started it, one thread per
//!   stream copies (output pipe -> FIFO, stdin FIFO -> pipe). What runc itself writes to the
//!   pipes when it fails (its error line) is dropped with them, not shown as the container's
//!   output. Outputs are opened read-write, which never blocks and never fails with EPIPE when
//!   containerd's reader goes away (the stock shim keeps a reader open for the same reason);
//! - with a terminal, runc hands the pty's master over a console socket; two threads copy
//!   stdin to it and its output to stdout.
//!
//! An output FIFO is closed when the process and everything that inherited its stdio are gone,
//! and the exit is told only after that (bounded), so a process's last words come first.

use crate::error::{Result, ShimError};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fs::{File, OpenOptions};
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
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

/// The shim's side of a running process's stdio: the copy threads, and what `CloseIO` and
/// `ResizePty` act on.
pub struct Copying {
    outputs_done: Vec<mpsc::Receiver<()>>,
    /// Where the stdin copy writes (a pipe, or the terminal's master); `None` once closed.
    stdin: Arc<Mutex<Option<File>>>,
    master: Option<File>,
}

/// Copies `from` to `to` until `from` ends; then closes `to` and says so.
fn copy_out(mut from: File, to: Option<File>) -> mpsc::Receiver<()> {
    let (done, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 32 * 1024];
        let mut to = to;
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Some(o) = to.as_mut() {
                        if o.write_all(&buf[..n]).is_err() {
                            to = None;
                        }
                    }
                }
            }
        }
        drop(to);
        let _ = done.send(());
    });
    rx
}

/// Copies the stdin FIFO to `to` until the FIFO ends or `to` is closed.
fn copy_in(mut from: File, to: Arc<Mutex<Option<File>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut w = to.lock().unwrap_or_else(|p| p.into_inner());
            let written = w.as_mut().is_some_and(|f| f.write_all(&buf[..n]).is_ok());
            if !written {
                break;
            }
        }
        // EOF for the process (unless CloseIO did it already)
        to.lock().unwrap_or_else(|p| p.into_inner()).take();
    });
}

fn pipe() -> Result<(File, File)> {
    let (r, w) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| ShimError::Other(format!("pipe: {e}")))?;
    Ok((File::from(r), File::from(w)))
}

/// Pipes for a process without a terminal: runc's ends, and the shim's ends waiting for the
/// process to be created.
pub struct Piped {
    pub runc: crate::runc::ProcessStdio,
    outputs: Vec<(File, Option<File>)>,
    stdin: Option<(File, File)>,
}

impl Piped {
    /// Opens the FIFOs and makes the pipes (a stream containerd did not ask for is /dev/null).
    pub fn new(names: &StdioNames) -> Result<Piped> {
        let mut runc = crate::runc::ProcessStdio::default();
        let mut outputs = Vec::new();
        for (name, slot) in [
            (&names.stdout, &mut runc.stdout),
            (&names.stderr, &mut runc.stderr),
        ] {
            if let Some(fifo) = open_output(name)? {
                let (r, w) = pipe()?;
                *slot = Some(w);
                outputs.push((r, Some(fifo)));
            }
        }
        let mut stdin = None;
        if let Some(fifo) = open_input(&names.stdin)? {
            let (r, w) = pipe()?;
            runc.stdin = Some(r);
            stdin = Some((fifo, w));
        }
        Ok(Piped {
            runc,
            outputs,
            stdin,
        })
    }

    /// The process exists: start copying. (Dropping a `Piped` instead discards what runc wrote.)
    pub fn start(self) -> Copying {
        let outputs_done = self
            .outputs
            .into_iter()
            .map(|(r, fifo)| copy_out(r, fifo))
            .collect();
        let writer = Arc::new(Mutex::new(None));
        if let Some((fifo, w)) = self.stdin {
            *writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
            copy_in(fifo, writer.clone());
        }
        Copying {
            outputs_done,
            stdin: writer,
            master: None,
        }
    }
}

impl Copying {
    /// Copies between a terminal's master and the FIFOs.
    pub fn terminal(master: File, names: &StdioNames) -> Result<Copying> {
        let out = open_output(&names.stdout)?;
        let from = master
            .try_clone()
            .map_err(ShimError::io("terminal master"))?;
        let outputs_done = vec![copy_out(from, out)];
        let writer = Arc::new(Mutex::new(None));
        if let Some(input) = open_input(&names.stdin)? {
            let to = master
                .try_clone()
                .map_err(ShimError::io("terminal master"))?;
            *writer.lock().unwrap_or_else(|p| p.into_inner()) = Some(to);
            copy_in(input, writer.clone());
        }
        Ok(Copying {
            outputs_done,
            stdin: writer,
            master: Some(master),
        })
    }

    /// Stops forwarding stdin (`CloseIO`): the process reads EOF (from a pipe).
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Waits, at most `limit` in all, for the outputs to be copied out and closed.
    pub fn wait_output(&self, limit: Duration) {
        let end = std::time::Instant::now() + limit;
        for rx in &self.outputs_done {
            let left = end.saturating_duration_since(std::time::Instant::now());
            let _ = rx.recv_timeout(left);
        }
    }

    pub fn resize(&self, width: u32, height: u32) -> Result<()> {
        let Some(master) = &self.master else {
            return Err(ShimError::FailedPrecondition(
                "the process has no terminal".into(),
            ));
        };
        let ws = libc::winsize {
            ws_row: u16::try_from(height).unwrap_or(u16::MAX),
            ws_col: u16::try_from(width).unwrap_or(u16::MAX),
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives across the call.
        let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
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

    #[test]
    fn pipes_copy_only_once_started_and_close_the_fifo_at_the_end() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let inp = t.path().join("in");
        for f in [&out, &inp] {
            nix::unistd::mkfifo(f, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        let names = StdioNames {
            stdin: inp.display().to_string(),
            stdout: out.display().to_string(),
            stderr: String::new(),
            terminal: false,
        };
        // containerd's ends
        let mut reader = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&out)
            .unwrap();
        let mut writer = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&inp)
            .unwrap();

        // runc fails: what it wrote is dropped, never copied
        let mut failed = Piped::new(&names).unwrap();
        failed
            .runc
            .stdout
            .take()
            .unwrap()
            .write_all(b"runc: error\n")
            .unwrap();
        drop(failed);

        let mut piped = Piped::new(&names).unwrap();
        assert!(
            piped.runc.stderr.is_none(),
            "no stderr asked for: /dev/null"
        );
        let mut proc_out = piped.runc.stdout.take().unwrap();
        let mut proc_in = piped.runc.stdin.take().unwrap();
        let copying = piped.start();
        writer.write_all(b"typed\n").unwrap();
        let mut got = [0u8; 6];
        proc_in.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"typed\n");
        proc_out.write_all(b"said\n").unwrap();
        drop(proc_out);
        copying.wait_output(Duration::from_secs(5));
        let mut seen = Vec::new();
        let _ = reader.read_to_end(&mut seen);
        assert_eq!(seen, b"said\n");
        // CloseIO: the process reads EOF
        copying.close_stdin();
        let mut rest = Vec::new();
        proc_in.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        assert!(copying.resize(80, 24).is_err(), "no terminal to resize");
    }
}
