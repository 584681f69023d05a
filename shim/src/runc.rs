//! Running runc from the shim. The shim is the reaper of its children (a SIGCHLD loop waits on
//! every child and reports exits through `containerd_shim::monitor`), so a runc process is never
//! waited on directly: its exit comes through a monitor subscription taken before it starts.

use crate::error::{Result, ShimError};
use containerd_shim::monitor::{monitor_subscribe, ExitEvent, Subject, Topic};
use containerd_shim::protos::shim::oci::Options;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where runc keeps its container records when the runc options name no `Root`
/// (`<this>/<namespace>`), as `io.containerd.runc.v2` does.
pub const DEFAULT_ROOT: &str = "/run/containerd/runc";

/// How to call runc for one container.
#[derive(Debug, Clone)]
pub struct Runc {
    pub binary: PathBuf,
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// runc's `--log` (JSON): runc's error lines, read back to report a failure.
    pub log: PathBuf,
}

/// The stdio of a runc call that starts a container process (`create`, `exec`): the process
/// keeps these; `None` is `/dev/null`.
#[derive(Debug, Default)]
pub struct ProcessStdio {
    pub stdin: Option<std::fs::File>,
    pub stdout: Option<std::fs::File>,
    pub stderr: Option<std::fs::File>,
}

fn stdio(f: Option<std::fs::File>) -> Stdio {
    f.map(Stdio::from).unwrap_or_else(Stdio::null)
}

impl Runc {
    /// runc for a container of `namespace` whose bundle is `bundle`, per the runc options.
    pub fn new(opts: &Options, namespace: &str, bundle: &Path) -> Runc {
        let binary = if !opts.binary_name.is_empty() {
            PathBuf::from(&opts.binary_name)
        } else {
            std::env::var_os("DYNAMIG_RUNC")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("runc"))
        };
        let root = if opts.root.is_empty() {
            PathBuf::from(DEFAULT_ROOT)
        } else {
            PathBuf::from(&opts.root)
        };
        Runc {
            binary,
            root: root.join(namespace),
            systemd_cgroup: opts.systemd_cgroup,
            log: bundle.join("log.json"),
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c.arg("--log")
            .arg(&self.log)
            .arg("--log-format")
            .arg("json");
        if self.systemd_cgroup {
            c.arg("--systemd-cgroup");
        }
        c
    }

    /// Runs runc with `args`; returns its stdout. `input` goes to its stdin.
    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut c = self.command();
        c.args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.execute(c, args.first().copied().unwrap_or(""), input, true)
    }

    /// Runs a runc call that starts a container process, whose stdio the process inherits.
    pub fn run_with_stdio(&self, args: &[&str], io: ProcessStdio) -> Result<()> {
        let mut c = self.command();
        c.args(args)
            .stdin(stdio(io.stdin))
            .stdout(stdio(io.stdout))
            .stderr(stdio(io.stderr));
        self.execute(c, args.first().copied().unwrap_or(""), None, false)
            .map(|_| ())
    }

    fn execute(
        &self,
        mut c: Command,
        verb: &str,
        input: Option<&[u8]>,
        piped: bool,
    ) -> Result<Vec<u8>> {
        let log_start = std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        // Subscribe before the child exists, so its exit cannot be missed.
        let exits = monitor_subscribe(Topic::Pid)?;
        let mut child = c.spawn().map_err(ShimError::io(format!(
            "cannot run {}",
            self.binary.display()
        )))?;
        // The parent's copies of the process's stdio must not outlive this call: the
        // container's readers see EOF only when every writer is gone.
        drop(c);
        let pid = child.id() as i32;
        if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
            let _ = stdin.write_all(data);
        }
        let mut out = Vec::new();
        let mut err = Vec::new();
        if piped {
            let stderr = child.stderr.take();
            let reader = std::thread::spawn(move || {
                let mut e = Vec::new();
                if let Some(mut s) = stderr {
                    let _ = s.read_to_end(&mut e);
                }
                e
            });
            if let Some(mut s) = child.stdout.take() {
                let _ = s.read_to_end(&mut out);
            }
            err = reader.join().unwrap_or_default();
        }
        let code = loop {
            match exits.rx.recv() {
                Ok(ExitEvent {
                    subject: Subject::Pid(p),
                    exit_code,
                }) if p == pid => break exit_code,
                Ok(_) => continue,
                Err(_) => return Err(ShimError::Other("the child reaper is gone".into())),
            }
        };
        if code == 0 {
            return Ok(out);
        }
        let message = self
            .last_error(log_start, &err)
            .unwrap_or_else(|| format!("exit status {code}"));
        Err(runc_failed(verb, &message))
    }

    /// runc's last error: the last `error`/`fatal` line of its JSON log, else its stderr.
    fn last_error(&self, from: u64, stderr: &[u8]) -> Option<String> {
        let log = std::fs::read(&self.log).unwrap_or_default();
        let log = String::from_utf8_lossy(
            log.get(usize::try_from(from).unwrap_or(usize::MAX)..)
                .unwrap_or_default(),
        );
        let from_log = log.lines().rev().find_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).ok()?;
            let level = v.get("level")?.as_str()?;
            (level == "error" || level == "fatal")
                .then(|| v.get("msg")?.as_str().map(str::to_string))
                .flatten()
        });
        from_log.or_else(|| {
            let s = String::from_utf8_lossy(stderr).trim().replace('\n', "; ");
            (!s.is_empty()).then_some(s)
        })
    }
}

/// `runc <verb> failed: <message>`, without saying it twice (runc's own lines often start so).
fn runc_failed(verb: &str, message: &str) -> ShimError {
    let prefix = format!("runc {verb} failed");
    if message.starts_with(&prefix) {
        ShimError::Runc(message.to_string())
    } else {
        ShimError::Runc(format!("{prefix}: {message}"))
    }
}

/// Reads a pid file written by runc.
pub fn read_pid(path: &Path) -> Result<u32> {
    let s = std::fs::read_to_string(path)
        .map_err(ShimError::io(format!("cannot read {}", path.display())))?;
    s.trim()
        .parse()
        .map_err(|_| ShimError::Other(format!("{} holds no pid: {s:?}", path.display())))
}

/// The pids of `runc ps --format json`.
pub fn parse_ps(out: &[u8]) -> Result<Vec<u32>> {
    let v: Option<Vec<u32>> =
        serde_json::from_slice(out).map_err(|e| ShimError::Other(format!("runc ps: {e}")))?;
    Ok(v.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_binary_and_namespace_from_options() {
        let mut o = Options::new();
        let r = Runc::new(&o, "k8s.io", Path::new("/b"));
        assert_eq!(r.root, PathBuf::from("/run/containerd/runc/k8s.io"));
        assert_eq!(r.log, PathBuf::from("/b/log.json"));
        o.root = "/r".into();
        o.binary_name = "/x/runc".into();
        o.systemd_cgroup = true;
        let r = Runc::new(&o, "default", Path::new("/b"));
        assert_eq!(r.root, PathBuf::from("/r/default"));
        assert_eq!(r.binary, PathBuf::from("/x/runc"));
        assert!(r.systemd_cgroup);
    }

    #[test]
    fn runc_errors_say_what_failed_once() {
        assert_eq!(
            runc_failed("create", "runc create failed: exec: x").to_string(),
            "runc create failed: exec: x"
        );
        assert_eq!(
            runc_failed("start", "container not created").to_string(),
            "runc start failed: container not created"
        );
    }

    #[test]
    fn ps_output() {
        assert_eq!(parse_ps(b"[1,22]").unwrap(), vec![1, 22]);
        assert_eq!(parse_ps(b"null").unwrap(), Vec::<u32>::new());
        assert!(parse_ps(b"x").is_err());
    }

    #[test]
    fn last_error_prefers_runc_log() {
        let t = tempfile::tempdir().unwrap();
        let r = Runc::new(&Options::new(), "n", t.path());
        std::fs::write(
            &r.log,
            "{\"level\":\"info\",\"msg\":\"a\"}\n{\"level\":\"error\",\"msg\":\"no such file\"}\n",
        )
        .unwrap();
        assert_eq!(r.last_error(0, b"other").as_deref(), Some("no such file"));
        // only what this call wrote counts
        let len = std::fs::metadata(&r.log).unwrap().len();
        assert_eq!(r.last_error(len, b"").as_deref(), None);
        std::fs::remove_file(&r.log).unwrap();
        assert_eq!(
            r.last_error(0, b"bad\nthing\n").as_deref(),
            Some("bad; thing")
        );
    }
}
