//! runc's command line, as far as dynamig needs it: the global flags (where runc keeps its state,
//! where it logs), the verb, and for `create`/`run`/`delete` the bundle and the container id.
//!
//! runc uses urfave/cli, which accepts `--flag value`, `--flag=value`, `-flag value` and
//! `-flag=value`. Callers in practice: containerd-shim-runc-v2 (go-runc) passes
//! `--root R --log L --log-format json [--systemd-cgroup] create --bundle B --pid-file P
//! [--console-socket S] ID`; dockerd 20.10 (through its containerd shim) does the same with
//! `--root .../runtime-runc/moby`.

use std::path::PathBuf;

/// Global flags that take a value.
const GLOBAL_VALUE: &[&str] = &["root", "log", "log-format", "criu", "rootless"];
/// Global flags without a value.
const GLOBAL_BOOL: &[&str] = &["debug", "systemd-cgroup", "help", "h", "version", "v"];
/// `create`/`run` flags that take a value.
const CREATE_VALUE: &[&str] = &[
    "bundle",
    "b",
    "console-socket",
    "pid-file",
    "preserve-fds",
    "pidfd-socket",
];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Global {
    pub root: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub log_format: Option<String>,
}

/// What dynamig does for a runc invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// `create` or `run` (`run: true`; runc then also deletes the container itself when it
    /// exits, with no `delete` call): maybe allocate, then edit the bundle's config.json.
    Create {
        bundle: Option<PathBuf>,
        id: String,
        run: bool,
    },
    /// `delete`: release after runc deleted the container.
    Delete { id: String },
    /// `start`: when runc cannot start a container dynamig gave a slice, say whether it was
    /// preempted before it started.
    Start { id: String },
    /// `exec --process FILE ID` (what go-runc passes): the process file gets the container's
    /// device env when dynamig gave it a slice. `exec` without `--process` is [`Verb::Other`].
    Exec { id: String, process: PathBuf },
    /// Anything else (or a form we could not read): straight to runc.
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub global: Global,
    pub verb: Verb,
}

/// `--name=value` / `-name=value` / `--name` → (name, inline value).
fn split_flag(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg
        .strip_prefix("--")
        .or_else(|| arg.strip_prefix('-'))
        .filter(|b| !b.is_empty())?;
    Some(match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    })
}

impl Invocation {
    /// Reads runc's argv (without argv\[0\]). Never fails: what it cannot read is `Verb::Other`.
    pub fn parse<S: AsRef<str>>(args: &[S]) -> Invocation {
        let mut global = Global::default();
        let mut i = 0;
        let mut verb_at = None;
        while i < args.len() {
            let a = args[i].as_ref();
            if a == "--" {
                verb_at = Some(i + 1).filter(|&v| v < args.len());
                break;
            }
            match split_flag(a) {
                None => {
                    verb_at = Some(i);
                    break;
                }
                Some((name, inline)) => {
                    if GLOBAL_VALUE.contains(&name) {
                        let value = match inline {
                            Some(v) => Some(v.to_string()),
                            None => {
                                i += 1;
                                args.get(i).map(|v| v.as_ref().to_string())
                            }
                        };
                        match name {
                            "root" => global.root = value.map(PathBuf::from),
                            "log" => global.log = value.map(PathBuf::from),
                            "log-format" => global.log_format = value,
                            _ => {}
                        }
                    } else if !GLOBAL_BOOL.contains(&name) {
                        // An unknown global flag: we cannot tell whether it takes a value.
                        return Invocation {
                            global,
                            verb: Verb::Other,
                        };
                    }
                }
            }
            i += 1;
        }
        let verb = match verb_at {
            Some(v) => match args[v].as_ref() {
                "create" => parse_create(&args[v + 1..], false),
                "run" => parse_create(&args[v + 1..], true),
                "delete" => parse_delete(&args[v + 1..]),
                "exec" => parse_exec(&args[v + 1..]),
                "start" => match parse_delete(&args[v + 1..]) {
                    Verb::Delete { id } => Verb::Start { id },
                    other => other,
                },
                _ => Verb::Other,
            },
            None => Verb::Other,
        };
        Invocation { global, verb }
    }

    /// The namespace a container belongs to: the last component of runc's `--root`
    /// (containerd: `/run/containerd/runc/<namespace>`; docker: `.../runtime-runc/moby`).
    pub fn namespace(&self) -> String {
        self.global
            .root
            .as_ref()
            .and_then(|r| r.file_name())
            .and_then(|n| n.to_str())
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string()
    }

    /// runc's state root (`--root`, default `/run/runc`).
    pub fn state_root(&self) -> PathBuf {
        self.global
            .root
            .clone()
            .unwrap_or_else(|| PathBuf::from("/run/runc"))
    }
}

fn parse_create<S: AsRef<str>>(args: &[S], run: bool) -> Verb {
    let mut bundle = None;
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_ref();
        if a == "--" {
            positional.extend(args[i + 1..].iter().map(|s| s.as_ref().to_string()));
            break;
        }
        match split_flag(a) {
            Some((name, inline)) if CREATE_VALUE.contains(&name) => {
                let value = match inline {
                    Some(v) => Some(v.to_string()),
                    None => {
                        i += 1;
                        args.get(i).map(|v| v.as_ref().to_string())
                    }
                };
                if name == "bundle" || name == "b" {
                    bundle = value.map(PathBuf::from);
                }
            }
            Some(_) => {} // boolean flags: --detach, --no-pivot, --no-new-keyring, --keep ...
            None => positional.push(a.to_string()),
        }
        i += 1;
    }
    match positional.pop() {
        Some(id) => Verb::Create { bundle, id, run },
        None => Verb::Other,
    }
}

/// `runc exec` flags that take a value.
const EXEC_VALUE: &[&str] = &[
    "console-socket",
    "pidfd-socket",
    "cwd",
    "env",
    "e",
    "user",
    "u",
    "additional-gids",
    "g",
    "process",
    "p",
    "process-label",
    "apparmor",
    "cap",
    "c",
    "pid-file",
    "preserve-fds",
    "cgroup",
];

fn parse_exec<S: AsRef<str>>(args: &[S]) -> Verb {
    let mut process = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_ref();
        match split_flag(a) {
            Some((name, inline)) if EXEC_VALUE.contains(&name) => {
                let value = match inline {
                    Some(v) => Some(v.to_string()),
                    None => {
                        i += 1;
                        args.get(i).map(|v| v.as_ref().to_string())
                    }
                };
                if name == "process" || name == "p" {
                    process = value.map(PathBuf::from);
                }
            }
            Some(_) => {} // --detach, --tty, --no-new-privs, --ignore-paused, ...
            None => {
                // the container id; with --process nothing follows it
                return match process {
                    Some(process) if i + 1 == args.len() => Verb::Exec {
                        id: a.to_string(),
                        process,
                    },
                    _ => Verb::Other,
                };
            }
        }
        i += 1;
    }
    Verb::Other
}

fn parse_delete<S: AsRef<str>>(args: &[S]) -> Verb {
    let positional: Vec<&str> = args
        .iter()
        .map(|s| s.as_ref())
        .filter(|a| split_flag(a).is_none())
        .collect();
    match positional.last() {
        Some(id) => Verb::Delete { id: id.to_string() },
        None => Verb::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Invocation {
        Invocation::parse(&s.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn containerd_runc_v2_create() {
        let inv = p("--root /run/containerd/runc/k8s.io --log /run/containerd/io.containerd.runtime.v2.task/k8s.io/c1/log.json --log-format json create --bundle /run/containerd/io.containerd.runtime.v2.task/k8s.io/c1 --pid-file /run/x/init.pid c1");
        assert_eq!(
            inv.global.log.as_deref(),
            Some(std::path::Path::new(
                "/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1/log.json"
            ))
        );
        assert_eq!(inv.global.log_format.as_deref(), Some("json"));
        assert_eq!(inv.namespace(), "k8s.io");
        assert_eq!(
            inv.verb,
            Verb::Create {
                bundle: Some("/run/containerd/io.containerd.runtime.v2.task/k8s.io/c1".into()),
                id: "c1".into(),
                run: false,
            }
        );
    }

    #[test]
    fn containerd_with_console_and_systemd() {
        let inv = p("--root=/r/ns --log=/l/log.json --log-format=json --systemd-cgroup create --bundle=/b --pid-file /p --console-socket /tmp/pty.sock --no-pivot c2");
        assert_eq!(inv.namespace(), "ns");
        assert_eq!(
            inv.global.log.as_deref(),
            Some(std::path::Path::new("/l/log.json"))
        );
        assert_eq!(
            inv.verb,
            Verb::Create {
                bundle: Some("/b".into()),
                id: "c2".into(),
                run: false,
            }
        );
    }

    #[test]
    fn dockerd_create_and_delete() {
        let inv = p("--root /var/run/docker/runtime-runc/moby --log /run/containerd/io.containerd.runtime.v2.task/moby/abc/log.json --log-format json create --bundle /run/containerd/io.containerd.runtime.v2.task/moby/abc --pid-file /x/init.pid abc");
        assert_eq!(inv.namespace(), "moby");
        assert!(matches!(inv.verb, Verb::Create { ref id, .. } if id == "abc"));
        let d = p("--root /var/run/docker/runtime-runc/moby --log /l --log-format json delete --force abc");
        assert_eq!(d.verb, Verb::Delete { id: "abc".into() });
        assert_eq!(d.namespace(), "moby");
    }

    #[test]
    fn single_dash_and_short_bundle_and_run() {
        let inv = p("-root /r/default -debug run -d -b /bundle --pid-file=/p x");
        assert_eq!(
            inv.verb,
            Verb::Create {
                bundle: Some("/bundle".into()),
                id: "x".into(),
                run: true,
            }
        );
        // no bundle flag: runc uses the current directory
        assert_eq!(
            p("create c3").verb,
            Verb::Create {
                bundle: None,
                id: "c3".into(),
                run: false,
            }
        );
        assert_eq!(p("create c3").namespace(), "default");
    }

    #[test]
    fn other_verbs_and_odd_forms_pass_through() {
        assert_eq!(
            p("--root /r start c1").verb,
            Verb::Start { id: "c1".into() }
        );
        assert_eq!(p("start").verb, Verb::Other);
        assert_eq!(
            p("--root /r --log /l --log-format json exec --process /p.json --detach --pid-file /x.pid c1").verb,
            Verb::Exec {
                id: "c1".into(),
                process: "/p.json".into()
            }
        );
        assert_eq!(
            p("exec -p=/p.json -d c1").verb,
            Verb::Exec {
                id: "c1".into(),
                process: "/p.json".into()
            }
        );
        for s in [
            "--root /r state c1",
            "--root /r kill c1 9",
            "--root /r exec c1 sh",
            "--root /r exec --process /p.json c1 extra",
            "--root /r exec --env A=1 c1 env",
            "--version",
            "",
            "create",
            "delete",
            "--unknown-flag x create c1",
            "--rootless false features",
        ] {
            assert_eq!(p(s).verb, Verb::Other, "{s}");
        }
        assert_eq!(
            p("--rootless=auto --criu /usr/sbin/criu delete -f c9").verb,
            Verb::Delete { id: "c9".into() }
        );
    }
}
