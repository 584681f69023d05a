//! Opening the node's append-only files (`events.jsonl`, `runtime.log`) the way the state file
//! and the lock are opened: never through a symbolic link (`O_NOFOLLOW`), never a FIFO or a
//! device (`O_NONBLOCK` for the open, then only a regular file is kept), so a link planted in
//! the state directory cannot make dynamig append to, or read from, a file elsewhere.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

const FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;

/// Opens `path` to append, creating it 0600.
pub fn open_append(path: &Path) -> io::Result<File> {
    checked(
        path,
        OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(FLAGS)
            .open(path),
    )
}

/// Opens `path` to read.
pub fn open_read(path: &Path) -> io::Result<File> {
    checked(
        path,
        OpenOptions::new().read(true).custom_flags(FLAGS).open(path),
    )
}

fn checked(path: &Path, opened: io::Result<File>) -> io::Result<File> {
    let refuse = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is {what}; refusing to open it", path.display()),
        )
    };
    let f = match opened {
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(refuse("a symbolic link")),
        other => other?,
    };
    if !f.metadata()?.file_type().is_file() {
        return Err(refuse("not a regular file"));
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn links_fifos_and_directories_are_refused_files_are_not() {
        let t = tempfile::tempdir().unwrap();
        let target = t.path().join("elsewhere");
        std::fs::write(&target, "secret\n").unwrap();
        let link = t.path().join("events.jsonl");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = open_append(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(open_read(&link)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "secret\n");

        let fifo = t.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        // would block forever on a FIFO without a reader, were it not refused
        assert!(open_read(&fifo)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
        assert!(open_append(&t.path().join(".")).is_err());

        let plain = t.path().join("runtime.log");
        open_append(&plain).unwrap().write_all(b"a\n").unwrap();
        open_append(&plain).unwrap().write_all(b"b\n").unwrap();
        let mut s = String::new();
        open_read(&plain).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "a\nb\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
