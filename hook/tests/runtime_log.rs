//! The runtime log of a container-path run: the real `dynamig-runc` (in front of a stand-in
//! runc) and `dynamig-hook` binaries on a bundle, against a simulated node. Every line must be
//! one JSON object with a timestamp, level, target and the component that wrote it.

use dynamig_node::backend::sim::SimNode;
use dynamig_node::state::StateDir;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn bundle(dir: &Path, name: &str, config: &str) -> std::path::PathBuf {
    let b = dir.join(name);
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("config.json"), config).unwrap();
    b
}

/// `create` of a bundle whose spec has a createRuntime hook (one dynamig edited) starts a
/// stand-in container process and runs the hook while runc is still running, as runc does.
const FAKE_RUNC: &str = r#"#!/bin/sh
b=.; prev=; id=
for a; do [ "$prev" = --bundle ] && b=$a; prev=$a; id=$a; done
case " $* " in *" create "*)
  grep -q createRuntime "$b/config.json" || exit 0
  sleep 30 >/dev/null 2>&1 &
  echo $! > PIDFILE
  printf '{"id":"%s","pid":%s,"bundle":"%s"}' "$id" "$!" "$b" | "$DYNAMIG_HOOK" create-runtime || exit 1
  ;;
esac
exit 0
"#;

struct Env {
    t: tempfile::TempDir,
}

impl Env {
    fn cmd(&self, bin: &str) -> Command {
        let mut c = Command::new(bin);
        c.env("DYNAMIG_STATE_DIR", self.t.path().join("state"))
            .env("DYNAMIG_LOG_FILE", self.log())
            .env("DYNAMIG_BACKEND", "sim")
            .env("DYNAMIG_RUNC", self.t.path().join("fake-runc"))
            .env("DYNAMIG_HOOK", env!("CARGO_BIN_EXE_dynamig-hook"))
            .env_remove("DYNAMIG_LOG")
            .env_remove("DYNAMIG_METRICS_FILE");
        c
    }

    fn runc(&self, args: &[&str]) -> std::process::Output {
        let root = self.t.path().join("runc").join("k8s.io");
        let mut c = self.cmd(env!("CARGO_BIN_EXE_dynamig-runc"));
        c.arg("--root").arg(&root).args(args);
        c.output().unwrap()
    }

    fn hook(&self, stage: &str, state: &str) -> std::process::Output {
        let mut c = self.cmd(env!("CARGO_BIN_EXE_dynamig-hook"));
        let mut p = c
            .arg(stage)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(state.as_bytes()).unwrap();
        p.wait_with_output().unwrap()
    }

    fn log(&self) -> std::path::PathBuf {
        self.t.path().join("runtime.log")
    }
}

#[test]
fn every_runtime_log_line_is_a_json_object() {
    let e = Env {
        t: tempfile::tempdir().unwrap(),
    };
    let runc = e.t.path().join("fake-runc");
    // A stand-in runc: `create` starts the "container process" and runs the createRuntime hook
    // while it is still running, as runc does.
    let pid_file = e.t.path().join("container.pid");
    std::fs::write(
        &runc,
        FAKE_RUNC.replace("PIDFILE", pid_file.to_str().unwrap()),
    )
    .unwrap();
    std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = StateDir::open(&e.t.path().join("state")).unwrap();
    SimNode::new(&["a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();

    // A container without a request: nothing is logged at all.
    let plain = bundle(e.t.path(), "plain", r#"{"process":{"env":[]}}"#);
    let o = e.runc(&["create", "--bundle", plain.to_str().unwrap(), "plain"]);
    assert!(o.status.success());
    assert!(
        !e.log().exists(),
        "a container without a request logs nothing"
    );

    // A request: allocated, injected, then the hooks record and release it.
    let good = bundle(
        e.t.path(),
        "good",
        r#"{"annotations":{"dynamig.io/mig-profile":"2g.10gb"},"process":{"env":[]},"linux":{}}"#,
    );
    let o = e.runc(&["create", "--bundle", good.to_str().unwrap(), "ctr1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SAFETY: kill(2) takes plain integers; a stale pid is at worst an ESRCH.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // (as runc runs it: the OCI state names the bundle, whose spec says whose slice it is)
    let o = e.hook(
        "poststop",
        &format!(r#"{{"id":"ctr1","bundle":"{}"}}"#, good.display()),
    );
    assert!(o.status.success());
    // runc delete after the poststop hook: nothing left to release.
    assert!(e.runc(&["delete", "ctr1"]).status.success());

    // A bad annotation: refused, and the refusal is logged.
    let bad = bundle(
        e.t.path(),
        "bad",
        r#"{"annotations":{"dynamig.io/gpu-memory":"10XB"},"process":{"env":[]}}"#,
    );
    let o = e.runc(&["create", "--bundle", bad.to_str().unwrap(), "ctr2"]);
    assert!(!o.status.success());

    let text = std::fs::read_to_string(e.log()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|err| panic!("{err}: {l:?}")))
        .collect();
    assert!(lines.len() >= 4, "{text}");
    for l in &lines {
        assert!(l.is_object(), "{l}");
        let ts = l["timestamp"].as_str().expect("timestamp");
        assert!(ts.contains('T') && ts.ends_with('Z'), "{ts}");
        assert!(["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&l["level"].as_str().unwrap()));
        assert!(l["target"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(l["fields"]["message"].is_string(), "{l}");
        assert!(l["span"]["pid"].is_u64(), "{l}");
    }
    let find = |component: &str, message: &str| {
        lines
            .iter()
            .find(|l| l["span"]["component"] == component && l["fields"]["message"] == message)
            .unwrap_or_else(|| panic!("no {component} {message:?} line in\n{text}"))
    };
    let injected = &find("dynamig-runc", "injected")["fields"];
    assert_eq!(injected["holder"], "ctr1");
    assert_eq!(injected["namespace"], "k8s.io");
    assert_eq!(injected["gpu"], 0);
    assert_eq!(injected["profile"], "2g.10gb");
    assert!(injected["uuid"].as_str().unwrap().starts_with("MIG-"));
    assert!(injected["decision_us"].is_u64());
    assert!(injected["total_us"].is_u64());
    assert_eq!(
        find("dynamig-hook", "recorded the container process")["fields"]["pid"],
        pid
    );
    // The container process ended before poststop: the hook's reconcile released the holder.
    let ev = lines
        .iter()
        .find(|l| l["span"]["component"] == "dynamig-hook" && l["fields"]["kind"] == "released")
        .unwrap_or_else(|| panic!("no release event in\n{text}"));
    assert_eq!(ev["fields"]["holder"], "ctr1");
    assert_eq!(ev["fields"]["gpu"], 0);
    assert_eq!(ev["fields"]["profile"], "2g.10gb");
    let refused = find("dynamig-runc", "create refused");
    assert_eq!(refused["level"], "ERROR");
    assert_eq!(refused["fields"]["holder"], "ctr2");
    assert!(refused["fields"]["error"]
        .as_str()
        .unwrap()
        .contains("10XB"));
}

/// The runtime log replaced by a link to a file elsewhere: dynamig-runc still does its work,
/// never writes through the link, and says so on stderr.
#[test]
fn a_symlinked_runtime_log_is_never_written_through() {
    let e = Env {
        t: tempfile::tempdir().unwrap(),
    };
    let runc = e.t.path().join("fake-runc");
    std::fs::write(&runc, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = StateDir::open(&e.t.path().join("state")).unwrap();
    SimNode::new(&["a100-40gb"])
        .unwrap()
        .save(&dir.sim_file())
        .unwrap();
    let elsewhere = e.t.path().join("elsewhere");
    std::fs::write(&elsewhere, "kept\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, e.log()).unwrap();
    let bad = bundle(
        e.t.path(),
        "bad",
        r#"{"annotations":{"dynamig.io/gpu-memory":"10XB"},"process":{"env":[]}}"#,
    );
    let o = e.runc(&["create", "--bundle", bad.to_str().unwrap(), "ctr3"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "kept\n");
}
