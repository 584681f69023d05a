//! Checked, atomic state files.
//!
//! Format: one header line `dynamig-state v<N> crc32=<8 hex> len=<bytes>` and then exactly `len`
//! bytes of JSON body. Each kind of file has its own version ([`Versioned`]): a file of an older
//! version is upgraded as it is read (and written back in the current one), a newer one is
//! refused. A write goes to a temporary file in the same directory and is renamed over
//! the old file, so another process (or the next one, after a crash of this one) sees the old
//! file or the new one, never a mix. How much of it reaches the disk before `write` returns is
//! the caller's [`Durability`]. A read refuses a file that is a symbolic link, too short, of
//! another version, or whose checksum does not match: a damaged file is reported, never trusted
//! and never silently reset.

use serde::{de::DeserializeOwned, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

const MAX_SIZE: u64 = 64 << 20;

/// A kind of state file: the version it is written in, and how an older one is read.
pub trait Versioned: Serialize + DeserializeOwned {
    /// The version this program writes and the newest it reads.
    const VERSION: u32;

    /// Rewrites the JSON body of a file of version `from` (1 to `VERSION - 1`) into the
    /// current shape; `Err` (why) when it cannot be read faithfully.
    fn upgrade(from: u32, body: serde_json::Value) -> Result<serde_json::Value, String> {
        let _ = from;
        Ok(body)
    }
}

#[derive(Debug, Error)]
pub enum StateFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is damaged: {why}; it was left as it is. Inspect it, then move it away to start over (`dynamigctl gc` rebuilds what the hardware still has)")]
    Damaged { path: PathBuf, why: String },
    #[error("{path} was written by a newer dynamig (state version {found}, this one reads {reads}); upgrade dynamig")]
    FutureVersion {
        path: PathBuf,
        found: u32,
        reads: u32,
    },
    #[error(
        "{path} is a symbolic link or not a regular file; refusing to read or write through it"
    )]
    NotRegular { path: PathBuf },
}

fn damaged(path: &Path, why: impl Into<String>) -> StateFileError {
    StateFileError::Damaged {
        path: path.to_path_buf(),
        why: why.into(),
    }
}

/// Reads and checks a state file; `Ok(None)` when it does not exist.
pub fn read<T: Versioned>(path: &Path) -> Result<Option<T>, StateFileError> {
    let io = |source| StateFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(StateFileError::NotRegular {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io(e)),
    };
    let md = f.metadata().map_err(io)?;
    if !md.file_type().is_file() {
        return Err(StateFileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    if md.len() > MAX_SIZE {
        return Err(damaged(
            path,
            format!("{} bytes is larger than any state file", md.len()),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(md.len()).unwrap_or(0));
    f.read_to_end(&mut bytes).map_err(io)?;
    decode(path, &bytes).map(Some)
}

/// Checks and parses the bytes of a state file.
pub fn decode<T: Versioned>(path: &Path, bytes: &[u8]) -> Result<T, StateFileError> {
    if bytes.is_empty() {
        return Err(damaged(path, "it is empty (zero length)"));
    }
    let nl = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or_else(|| damaged(path, "no header line"))?;
    let header =
        std::str::from_utf8(&bytes[..nl]).map_err(|_| damaged(path, "header is not text"))?;
    let body = &bytes[nl + 1..];
    let mut parts = header.split(' ');
    if parts.next() != Some("dynamig-state") {
        return Err(damaged(path, "not a dynamig state file"));
    }
    let version: u32 = parts
        .next()
        .and_then(|v| v.strip_prefix('v'))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| damaged(path, "bad version field"))?;
    if version > T::VERSION {
        return Err(StateFileError::FutureVersion {
            path: path.to_path_buf(),
            found: version,
            reads: T::VERSION,
        });
    }
    if version < 1 {
        return Err(damaged(path, format!("unknown version {version}")));
    }
    let crc = parts
        .next()
        .and_then(|v| v.strip_prefix("crc32="))
        .and_then(|v| u32::from_str_radix(v, 16).ok())
        .ok_or_else(|| damaged(path, "bad checksum field"))?;
    let len: usize = parts
        .next()
        .and_then(|v| v.strip_prefix("len="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| damaged(path, "bad length field"))?;
    if body.len() != len {
        return Err(damaged(
            path,
            format!(
                "truncated or padded: {} body bytes, header says {len}",
                body.len()
            ),
        ));
    }
    if crc32fast::hash(body) != crc {
        return Err(damaged(path, "checksum mismatch"));
    }
    let parse_err = |e: serde_json::Error| damaged(path, format!("body does not parse: {e}"));
    if version == T::VERSION {
        return serde_json::from_slice(body).map_err(parse_err);
    }
    let old: serde_json::Value = serde_json::from_slice(body).map_err(parse_err)?;
    let new = T::upgrade(version, old).map_err(|why| {
        damaged(
            path,
            format!("cannot upgrade it from version {version}: {why}"),
        )
    })?;
    serde_json::from_value(new).map_err(|e| {
        damaged(
            path,
            format!("its version {version} body does not upgrade: {e}"),
        )
    })
}

/// The bytes of a state file for `value`.
pub fn encode<T: Versioned>(value: &T) -> Vec<u8> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut out = format!(
        "dynamig-state v{} crc32={:08x} len={}\n",
        T::VERSION,
        crc32fast::hash(&body),
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// How far a write must have reached the disk when [`write_with`] returns. Every level is atomic
/// for processes (rename over the old file); they differ only after a power loss or kernel crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` of the new file before the rename, `fsync` of the directory after it: the new
    /// file is on disk when `write` returns. For write-ahead intents, which must be on disk
    /// before the hardware change they announce.
    Barrier,
    /// `fdatasync` of the new file before the rename, no directory `fsync`: after a power loss
    /// the file is the old one or the new one, both complete (never empty or torn), but the
    /// rename may be lost. For outcomes whose loss recovery handles: the intent written before
    /// them is still on disk and is finished or undone by the next reconcile.
    Replace,
    /// Rename only: atomic for processes, nothing forced to disk. For the simulated GPU (a real
    /// GPU's MIG layout does not survive a power loss either) and for files whose owner is gone
    /// after a crash of the machine anyway.
    Volatile,
}

/// Writes atomically with full durability ([`Durability::Barrier`]).
pub fn write<T: Versioned>(path: &Path, value: &T) -> Result<(), StateFileError> {
    write_with(path, value, Durability::Barrier)
}

/// Writes atomically: temp file, (`fdatasync`), rename, (`fsync` of the directory).
pub fn write_with<T: Versioned>(
    path: &Path,
    value: &T,
    durability: Durability,
) -> Result<(), StateFileError> {
    let io = |source| StateFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Ok(md) = fs::symlink_metadata(path) {
        if !md.file_type().is_file() {
            return Err(StateFileError::NotRegular {
                path: path.to_path_buf(),
            });
        }
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = temp_path(dir, name, std::process::id());
    let bytes = encode(value);
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(io)?;
    let written = (|| {
        f.write_all(&bytes)?;
        if durability != Durability::Volatile {
            f.sync_data()?;
        }
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // A full disk (ENOSPC) or any other failure leaves no temp file behind.
        let _ = fs::remove_file(&tmp);
        return Err(io(e));
    }
    if durability == Durability::Barrier {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(())
}

/// The temporary file a write of `dir/name` by process `pid` goes through.
fn temp_path(dir: &Path, name: &str, pid: u32) -> PathBuf {
    dir.join(format!(".{name}.tmp.{pid}"))
}

/// Removes the temporary files in `dir` that a writer left behind and will not rename: those of
/// a process that is gone (killed mid-write by an older dynamig, or a crash of the machine).
/// A live process's temp file is its write in progress and is left alone. Returns the names
/// removed.
pub fn remove_stale_temps(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = stale_temp_pid(name) else {
            continue;
        };
        if pid == std::process::id() || process_exists(pid) {
            continue;
        }
        let is_file = e.file_type().is_ok_and(|t| t.is_file());
        if is_file && fs::remove_file(e.path()).is_ok() {
            removed.push(name.to_string());
        }
    }
    removed.sort();
    removed
}

/// The writer's pid of a name `.<file>.tmp.<pid>`.
fn stale_temp_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (file, pid) = rest.rsplit_once(".tmp.")?;
    if file.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok().filter(|&p| p > 0)
}

fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn stale_temp_files_of_dead_writers_are_removed_live_ones_kept() {
        let t = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        for n in [
            format!(".state.json.tmp.{dead}"),
            format!(".sim.json.tmp.{dead}"),
            format!(".state.json.tmp.{me}"),
            format!(".state.json.tmp.{}", live.id()),
            "state.json".into(),
            ".state.json.tmp.x1".into(),
            "events.jsonl".into(),
        ] {
            fs::write(t.path().join(n), b"").unwrap();
        }
        let removed = remove_stale_temps(t.path());
        assert_eq!(
            removed,
            vec![
                format!(".sim.json.tmp.{dead}"),
                format!(".state.json.tmp.{dead}")
            ]
        );
        let mut left: Vec<String> = fs::read_dir(t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want = vec![
            format!(".state.json.tmp.{me}"),
            format!(".state.json.tmp.{}", live.id()),
            "state.json".into(),
            ".state.json.tmp.x1".into(),
            "events.jsonl".into(),
        ];
        want.sort();
        assert_eq!(left, want);
        live.kill().unwrap();
        let _ = live.wait();
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct S {
        a: u32,
        b: String,
    }

    impl Versioned for S {
        const VERSION: u32 = 1;
    }

    /// `S` in version 2: `b` became `name`.
    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct S2 {
        a: u32,
        name: String,
    }

    impl Versioned for S2 {
        const VERSION: u32 = 2;
        fn upgrade(from: u32, mut body: serde_json::Value) -> Result<serde_json::Value, String> {
            assert_eq!(from, 1);
            let o = body.as_object_mut().ok_or("not an object")?;
            let b = o.remove("b").ok_or("no b")?;
            o.insert("name".into(), b);
            Ok(body)
        }
    }

    #[test]
    fn an_older_version_is_upgraded_and_a_newer_one_refused() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("state.json");
        write(
            &p,
            &S {
                a: 3,
                b: "x".into(),
            },
        )
        .unwrap();
        assert_eq!(
            read::<S2>(&p).unwrap(),
            Some(S2 {
                a: 3,
                name: "x".into()
            })
        );
        // a version-1 body that does not upgrade is damaged, in one line, and left alone
        let body = br#"{"a":1}"#;
        let mut v1 = format!(
            "dynamig-state v1 crc32={:08x} len={}\n",
            crc32fast::hash(body),
            body.len()
        )
        .into_bytes();
        v1.extend_from_slice(body);
        fs::write(&p, &v1).unwrap();
        let e = read::<S2>(&p).unwrap_err().to_string();
        assert!(
            e.contains("cannot upgrade it from version 1: no b") && !e.contains('\n'),
            "{e}"
        );
        assert_eq!(fs::read(&p).unwrap(), v1);
        write(
            &p,
            &S2 {
                a: 4,
                name: "y".into(),
            },
        )
        .unwrap();
        assert!(fs::read_to_string(&p)
            .unwrap()
            .starts_with("dynamig-state v2 "));
        // what a version-1 reader makes of a version-2 file: refused, never misread
        let e = read::<S>(&p).unwrap_err();
        assert!(
            matches!(
                e,
                StateFileError::FutureVersion {
                    found: 2,
                    reads: 1,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("upgrade dynamig"), "{e}");
    }

    #[test]
    fn round_trip_and_damage_detection() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("state.json");
        assert!(read::<S>(&p).unwrap().is_none());
        let v = S {
            a: 7,
            b: "x".into(),
        };
        write(&p, &v).unwrap();
        assert_eq!(read::<S>(&p).unwrap(), Some(v));
        let good = fs::read(&p).unwrap();

        fs::write(&p, &good[..good.len() - 3]).unwrap();
        assert!(matches!(read::<S>(&p), Err(StateFileError::Damaged { .. })));
        fs::write(&p, b"").unwrap();
        let e = read::<S>(&p).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 1;
        fs::write(&p, &flipped).unwrap();
        assert!(read::<S>(&p).unwrap_err().to_string().contains("checksum"));
        let future = String::from_utf8(good.clone())
            .unwrap()
            .replacen("v1", "v9", 1);
        fs::write(&p, future).unwrap();
        assert!(matches!(
            read::<S>(&p),
            Err(StateFileError::FutureVersion {
                found: 9,
                reads: 1,
                ..
            })
        ));
        // A damaged file is left as it is.
        assert_eq!(
            fs::read(&p).unwrap()[..20],
            String::from_utf8(good.clone())
                .unwrap()
                .replacen("v1", "v9", 1)
                .as_bytes()[..20]
        );

        let other = t.path().join("elsewhere");
        fs::write(&other, &good).unwrap();
        fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink(&other, &p).unwrap();
        assert!(matches!(
            read::<S>(&p),
            Err(StateFileError::NotRegular { .. })
        ));
        assert!(matches!(
            write(
                &p,
                &S {
                    a: 1,
                    b: "y".into()
                }
            ),
            Err(StateFileError::NotRegular { .. })
        ));
        assert_eq!(
            fs::read(&other).unwrap(),
            good,
            "never written through a link"
        );
    }
}
