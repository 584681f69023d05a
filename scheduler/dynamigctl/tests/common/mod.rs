//! Helpers for the tests that drive the real `dynamigctl` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Ctl {
    pub dir: tempfile::TempDir,
}

impl Default for Ctl {
    fn default() -> Self {
        Ctl::new()
    }
}

impl Ctl {
    pub fn new() -> Ctl {
        Ctl {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dynamigctl"));
        c.env("DYNAMIG_STATE_DIR", self.state_dir())
            .env("DYNAMIG_BACKEND", "sim")
            // Hermetic: whatever /etc/dynamig/policy.toml this machine has does not apply.
            .env("DYNAMIG_POLICY", "none")
            .env_remove("DYNAMIG_FAULT")
            .env_remove("DYNAMIG_METRICS_FILE");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run dynamigctl")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "dynamigctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("json output")
    }

    pub fn status(&self) -> serde_json::Value {
        self.json(&["status", "--json"])
    }

    pub fn state_file(&self) -> PathBuf {
        self.state_dir().join("state.json")
    }
}

/// The instances of every GPU in `status --json`, as (gpu, start, size, uuid, holder id).
pub fn instances(status: &serde_json::Value) -> Vec<(u64, u64, u64, String, Option<String>)> {
    let mut v = Vec::new();
    for g in status["gpus"].as_array().into_iter().flatten() {
        for i in g["instances"].as_array().into_iter().flatten() {
            v.push((
                g["index"].as_u64().unwrap_or(99),
                i["placement"]["start"].as_u64().unwrap_or(99),
                i["placement"]["size"].as_u64().unwrap_or(99),
                i["uuid"].as_str().unwrap_or("").to_string(),
                i["holder"]["id"].as_str().map(str::to_string),
            ));
        }
    }
    v
}

/// No two instances on a GPU share a memory slice.
pub fn assert_no_overlap(status: &serde_json::Value) {
    let inst = instances(status);
    for (a, x) in inst.iter().enumerate() {
        for y in inst.iter().skip(a + 1) {
            if x.0 == y.0 {
                let disjoint = x.1 + x.2 <= y.1 || y.1 + y.2 <= x.1;
                assert!(disjoint, "overlap: {x:?} and {y:?}");
            }
        }
    }
}
