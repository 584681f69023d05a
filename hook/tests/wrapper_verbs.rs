//! `dynamig-runc` on the verbs after `create`, for a container dynamig gave a slice or not.
//! `delete` releases only what that very container was given (issue #13): the
//! holder of its namespace (runc's `--root`) and id, and only when runc's record of the
//! container carries the `dynamig.io/injected` record naming it. And `dynamig-runc start` of a
//! container preempted between its create and its start says so, and by whom; `exec
//! --process` gives the exec process the container's device env.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

struct Env {
    t: tempfile::TempDir,
}

impl Env {
    fn state(&self) -> PathBuf {
        self.t.path().join("state")
    }

    fn dynamigctl(&self, args: &[&str]) -> String {
        let me = PathBuf::from(env!("CARGO_BIN_EXE_dynamig-runc"));
        let ctl = me.with_file_name("dynamigctl");
        assert!(
            ctl.exists(),
            "dynamigctl is not built next to dynamig-runc; run `cargo build --workspace` first"
        );
        let o = Command::new(ctl)
            .env("DYNAMIG_STATE_DIR", self.state())
            .env("DYNAMIG_BACKEND", "sim")
            .env("DYNAMIG_POLICY", "none")
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `namespace/id` of every holder with an instance.
    fn holders(&self) -> Vec<String> {
        let v: serde_json::Value =
            serde_json::from_str(&self.dynamigctl(&["status", "--json"])).unwrap();
        v["gpus"][0]["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let h = &i["holder"];
                format!(
                    "{}/{}",
                    h["namespace"].as_str().unwrap(),
                    h["id"].as_str().unwrap()
                )
            })
            .collect()
    }

    /// runc's record of `namespace/id`, with the spec's annotations as runc keeps them.
    fn runc_record(&self, namespace: &str, id: &str, annotations: &[(&str, String)]) {
        let d = self.t.path().join("runc").join(namespace).join(id);
        std::fs::create_dir_all(&d).unwrap();
        let mut labels = vec![format!(
            "bundle={}",
            self.t.path().join("nobundle").display()
        )];
        labels.extend(annotations.iter().map(|(k, v)| format!("{k}={v}")));
        let state = serde_json::json!({"id": id, "config": {"labels": labels}});
        std::fs::write(d.join("state.json"), state.to_string()).unwrap();
    }

    /// `dynamig-runc --root <runc>/<namespace> --log L --log-format json start <id>`, in front
    /// of a runc that fails as runc does for a container whose process is gone. Returns the
    /// exit status, stderr and the log.
    fn start(&self, namespace: &str, id: &str) -> (Option<i32>, String, String) {
        let runc = self.t.path().join("stopped-runc");
        std::fs::write(
            &runc,
            "#!/bin/sh\necho 'cannot start a container that has stopped' >&2\nexit 1\n",
        )
        .unwrap();
        std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = self.t.path().join("runc").join(namespace);
        let log = self.t.path().join(format!("{namespace}-{id}-start.log"));
        let o = Command::new(env!("CARGO_BIN_EXE_dynamig-runc"))
            .env("DYNAMIG_STATE_DIR", self.state())
            .env("DYNAMIG_LOG_FILE", self.t.path().join("runtime.log"))
            .env("DYNAMIG_BACKEND", "sim")
            .env("DYNAMIG_RUNC", &runc)
            .arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "start", id])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    /// `dynamig-runc --root <runc>/<namespace> delete <id>`, in front of a runc that removes
    /// its record.
    fn delete(&self, namespace: &str, id: &str) {
        let runc = self.t.path().join("fake-runc");
        std::fs::write(
            &runc,
            "#!/bin/sh\nfor a; do id=$a; done\nrm -rf \"$ROOT/$id\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let root = self.t.path().join("runc").join(namespace);
        let o = Command::new(env!("CARGO_BIN_EXE_dynamig-runc"))
            .env("DYNAMIG_STATE_DIR", self.state())
            .env("DYNAMIG_LOG_FILE", self.t.path().join("runtime.log"))
            .env("DYNAMIG_BACKEND", "sim")
            .env("DYNAMIG_RUNC", &runc)
            .env("ROOT", &root)
            .arg("--root")
            .arg(&root)
            .args(["delete", id])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(!root.join(id).exists(), "runc ran");
    }
}

fn record(namespace: &str, id: &str) -> (&'static str, String) {
    let r = serde_json::json!({"holder": id, "namespace": namespace, "uuid": "MIG-x"});
    ("dynamig.io/injected", r.to_string())
}

#[test]
fn delete_releases_only_this_containers_slice() {
    let e = Env {
        t: tempfile::tempdir().unwrap(),
    };
    e.dynamigctl(&["sim", "init", "a100-40gb"]);
    let mut container = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = container.id().to_string();
    e.dynamigctl(&[
        "allocate",
        "c1",
        "--mig-profile",
        "3g.20gb",
        "--namespace",
        "default",
        "--pid",
        &pid,
    ]);
    assert_eq!(e.holders(), ["default/c1"]);

    // tenant/c1 asked for nothing: its record has no dynamig annotation
    e.runc_record("tenant", "c1", &[("io.example", "x".into())]);
    e.delete("tenant", "c1");
    assert_eq!(e.holders(), ["default/c1"]);
    // tenant/c1 without any runc record (deleted twice, or never created)
    e.delete("tenant", "c1");
    assert_eq!(e.holders(), ["default/c1"]);
    // a record naming default's holder does not make tenant/c1 its owner
    e.runc_record("tenant", "c1", &[record("default", "c1")]);
    e.delete("tenant", "c1");
    assert_eq!(e.holders(), ["default/c1"]);
    let events = std::fs::read_to_string(e.state().join("events.jsonl")).unwrap();
    assert!(!events.contains("\"released\""), "{events}");

    // default/c1's own delete releases it
    e.runc_record("default", "c1", &[record("default", "c1")]);
    e.delete("default", "c1");
    assert!(e.holders().is_empty());
    container.kill().unwrap();
    let _ = container.wait();
}

#[test]
fn start_of_a_container_preempted_after_its_create_says_by_whom() {
    let e = Env {
        t: tempfile::tempdir().unwrap(),
    };
    e.dynamigctl(&["sim", "init", "a100-40gb"]);
    // the created container's process (runc init, waiting for `start`)
    let mut created = Command::new("sleep").arg("60").spawn().unwrap();
    let pid = created.id().to_string();
    let low = [
        "allocate",
        "low",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "training",
        "--grace-period",
        "1s",
        "--namespace",
        "default",
        "--pid",
        &pid,
    ];
    e.dynamigctl(&low);
    e.runc_record("default", "low", &[record("default", "low")]);
    // a container that was not evicted: runc's own error, nothing added
    let (code, _, log) = e.start("default", "low");
    assert_eq!(code, Some(1));
    assert!(!log.contains("preempted"), "{log}");
    // evicted before its start
    e.dynamigctl(&[
        "allocate",
        "high",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "interactive",
        "--namespace",
        "team",
    ]);
    let _ = created.wait();
    let (code, err, log) = e.start("default", "low");
    assert_eq!(code, Some(1), "runc's status");
    assert!(
        err.contains("cannot start a container that has stopped"),
        "{err}"
    );
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    let msg = last["msg"].as_str().unwrap();
    assert!(
        msg.starts_with("dynamig: container default/low was preempted before it started: evicted for team/high at "),
        "{msg}"
    );
    assert_eq!(last["level"], "error");
    // the same id in another namespace, never given a slice: runc's error alone
    e.runc_record("tenant", "low", &[("io.example", "x".into())]);
    let (_, _, log) = e.start("tenant", "low");
    assert!(!log.contains("preempted"), "{log}");
}

/// `runc exec --process FILE` (how containerd's runc shim and dockerd exec): for a container
/// dynamig gave a slice, the process file gets its device env before runc reads it; another
/// container's is left byte for byte.
#[test]
fn exec_processes_of_a_container_with_a_slice_see_its_device() {
    let e = Env {
        t: tempfile::tempdir().unwrap(),
    };
    let runc = e.t.path().join("copy-runc");
    // runc stand-in: keeps what it was given to run
    std::fs::write(
        &runc,
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do [ \"$1\" = --process ] && cp \"$2\" \"$2.seen\"; shift; done\n",
    )
    .unwrap();
    std::fs::set_permissions(&runc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let exec = |ns: &str, id: &str| -> serde_json::Value {
        let p = e.t.path().join(format!("{ns}-{id}-process.json"));
        std::fs::write(&p, r#"{"args":["sh"],"env":["PATH=/bin"],"cwd":"/"}"#).unwrap();
        let root = e.t.path().join("runc").join(ns);
        let o = Command::new(env!("CARGO_BIN_EXE_dynamig-runc"))
            .env("DYNAMIG_STATE_DIR", e.state())
            .env("DYNAMIG_LOG_FILE", e.t.path().join("runtime.log"))
            .env("DYNAMIG_RUNC", &runc)
            .arg("--root")
            .arg(&root)
            .args(["exec", "--process"])
            .arg(&p)
            .args(["--detach", id])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let seen = std::fs::read(p.with_extension("json.seen")).unwrap();
        serde_json::from_slice(&seen).unwrap()
    };
    e.runc_record("default", "c1", &[record("default", "c1")]);
    e.runc_record("tenant", "c1", &[("io.example", "x".into())]);
    assert_eq!(
        exec("default", "c1")["env"],
        serde_json::json!([
            "PATH=/bin",
            "NVIDIA_VISIBLE_DEVICES=MIG-x",
            "CUDA_VISIBLE_DEVICES=MIG-x",
            "DYNAMIG_HOLDER=c1"
        ])
    );
    assert_eq!(
        exec("tenant", "c1")["env"],
        serde_json::json!(["PATH=/bin"])
    );
    assert_eq!(
        exec("default", "nobody")["env"],
        serde_json::json!(["PATH=/bin"])
    );
}
