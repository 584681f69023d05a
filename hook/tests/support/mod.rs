//! A simulated node in a private state directory, and `dynamig-runc create` run on it as
//! containerd would run it (`--root <runc root>/<namespace> --log ... create --bundle B ID`).
#![allow(dead_code)]

use dynamig_core::request::{Request, Size};
use dynamig_node::backend::sim::SimNode;
use dynamig_node::backend::{self, BackendChoice};
use dynamig_node::config::NodeConfig;
use dynamig_node::node::{AllocSpec, Node};
use dynamig_node::state::{NodeLock, StateDir};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub struct SimBox {
    pub tmp: tempfile::TempDir,
    pub dir: StateDir,
    n: std::cell::Cell<u32>,
}

impl SimBox {
    pub fn new(models: &[&str]) -> SimBox {
        // Hermetic: this machine's /etc/dynamig/policy.toml does not apply, neither in this
        // process (`resident`) nor in the runtimes it starts (unless a test names a policy).
        std::env::set_var("DYNAMIG_POLICY", "none");
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(&tmp.path().join("state")).unwrap();
        SimNode::new(models).unwrap().save(&dir.sim_file()).unwrap();
        SimBox {
            tmp,
            dir,
            n: std::cell::Cell::new(0),
        }
    }

    /// Allocates through the library for a holder with no process (it stays until released).
    pub fn resident(&self, id: &str, size: Size, priority: i32) {
        let lock = NodeLock::acquire(&self.dir.lock_file(), Duration::from_secs(30)).unwrap();
        let cfg = NodeConfig::at(self.dir.path());
        let b = backend::open(&self.dir, BackendChoice::Sim, cfg.proc_tree()).unwrap();
        let mut node = Node::with_backend(&cfg, &self.dir, lock, b).unwrap();
        let mut request = Request::new(size);
        request.priority = dynamig_core::priority::Priority(priority);
        request.preemptible = request.priority.default_preemptible();
        node.allocate(AllocSpec {
            id: id.into(),
            namespace: "k8s.io".into(),
            request,
            process: None,
            creator: None,
        })
        .unwrap();
        node.close();
    }

    pub fn state_bytes(&self) -> (Vec<u8>, Vec<u8>) {
        (
            std::fs::read(self.dir.state_file()).unwrap_or_default(),
            std::fs::read(self.dir.sim_file()).unwrap(),
        )
    }

    /// Holder id -> state, from the state file.
    pub fn holders(&self) -> Vec<(String, String)> {
        let bytes = std::fs::read(self.dir.state_file()).unwrap();
        let nl = bytes.iter().position(|&b| b == b'\n').unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes[nl + 1..]).unwrap();
        v["holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["id"].as_str().unwrap().to_string(),
                    h["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// A bundle whose spec has these annotations and env entries.
    pub fn bundle(&self, annotations: &serde_json::Value, env: &[String]) -> PathBuf {
        let n = self.n.get() + 1;
        self.n.set(n);
        let b = self.tmp.path().join(format!("bundle{n}"));
        std::fs::create_dir_all(&b).unwrap();
        let spec = serde_json::json!({
            "ociVersion": "1.0.2-dev",
            "process": {"args": ["true"], "env": env},
            "annotations": annotations,
            "linux": {},
        });
        std::fs::write(
            b.join("config.json"),
            serde_json::to_vec_pretty(&spec).unwrap(),
        )
        .unwrap();
        b
    }

    /// `dynamig-runc create` for container `id` in containerd namespace `ns`. The real runc is
    /// `runc` (a path), reached only when dynamig lets the container through.
    pub fn create(
        &self,
        ns: &str,
        id: &str,
        bundle: &Path,
        runc: &str,
        extra: &[(&str, &str)],
    ) -> (Output, String) {
        let root = self.tmp.path().join("runc").join(ns);
        let log = self.tmp.path().join(format!("{id}.log.json"));
        let hook = self.tmp.path().join("dynamig-hook");
        std::fs::write(&hook, "").unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_dynamig-runc"));
        c.env("DYNAMIG_STATE_DIR", self.dir.path())
            .env("DYNAMIG_BACKEND", "sim")
            .env("DYNAMIG_RUNC", runc)
            .env("DYNAMIG_HOOK", &hook)
            .env("DYNAMIG_POLICY", "none")
            .env_remove("DYNAMIG_FAULT")
            .env_remove("DYNAMIG_LOG_FILE");
        for (k, v) in extra {
            c.env(k, v);
        }
        c.arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&log)
            .args(["--log-format", "json", "create", "--bundle"])
            .arg(bundle)
            .arg(id);
        let o = c.output().unwrap();
        let log_text = std::fs::read_to_string(&log).unwrap_or_default();
        (o, log_text)
    }
}
