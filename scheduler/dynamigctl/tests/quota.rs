//! Per-namespace GPU quotas through `dynamigctl allocate --namespace N` (docs/policy.md): the
//! seed's setup ("allocate 2 GPUs to the project") on a node of two A100-40GB: within its quota
//! a project runs as without quotas; beyond it only preemptible work runs, marked over quota,
//! and a project within its quota takes that room back first, whatever its priority.

mod common;
use common::*;

const POLICY: &str = "\
[namespace.\"team-a\"]
max_priority = \"interactive\"
may_evict = true
gpu_quota = 1
over_quota = true

[namespace.\"team-b\"]
max_priority = \"interactive\"
may_evict = true
gpu_quota = 1
over_quota = true

[namespace.\"team-c\"]
max_priority = \"interactive\"
may_evict = true
gpu_quota = 0.25
";

struct Quota {
    c: Ctl,
    policy: std::path::PathBuf,
}

impl Quota {
    fn new() -> Quota {
        let c = Ctl::new();
        c.ok(&["sim", "init", "a100-40gb", "a100-40gb"]);
        let policy = c.dir.path().join("policy.toml");
        std::fs::write(&policy, POLICY).unwrap();
        Quota { c, policy }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        self.c
            .cmd()
            .env("DYNAMIG_POLICY", &self.policy)
            .args(args)
            .output()
            .unwrap()
    }

    /// Allocates `id` in `ns`; returns the allocation's JSON.
    fn alloc(&self, ns: &str, id: &str, profile: &str, extra: &[&str]) -> serde_json::Value {
        let mut args = vec![
            "allocate",
            id,
            "--mig-profile",
            profile,
            "--namespace",
            ns,
            "--json",
        ];
        args.extend_from_slice(extra);
        let o = self.run(&args);
        assert!(
            o.status.success(),
            "{ns}/{id}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// `(namespace/id, over quota)` of every holder with an instance, sorted.
    fn holders(&self) -> Vec<(String, bool)> {
        let st = self.c.status();
        let mut v: Vec<(String, bool)> = st["gpus"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["instances"].as_array().cloned().unwrap_or_default())
            .filter(|i| i["holder"].is_object())
            .map(|i| {
                let h = &i["holder"];
                (
                    format!(
                        "{}/{}",
                        h["namespace"].as_str().unwrap(),
                        h["id"].as_str().unwrap()
                    ),
                    h["over_quota"] == true,
                )
            })
            .collect();
        v.sort();
        v
    }
}

fn metric(c: &Ctl, line_start: &str) -> Option<f64> {
    let text = std::fs::read_to_string(c.state_dir().join("metrics").join("dynamig.prom")).ok()?;
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn over_quota_work_runs_preemptible_and_is_taken_back_first() {
    let q = Quota::new();
    // team-a's quota (1 GPU) holds two half-GPU slices: within it, as without quotas.
    q.alloc("team-a", "a1", "3g.20gb", &[]);
    q.alloc("team-a", "a2", "3g.20gb", &[]);
    // An interactive (not preemptible) request beyond the quota: one line with the quota, what
    // is used and what is asked; exit 1; nothing allocated.
    let before = std::fs::read(q.c.state_file()).unwrap();
    let o = q.run(&[
        "allocate",
        "a-int",
        "--mig-profile",
        "2g.10gb",
        "--priority",
        "interactive",
        "--namespace",
        "team-a",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("containerd namespace \"team-a\" has a quota of 1 GPU")
            && err.contains("uses 1 GPU")
            && err.contains("asks for 0.25 GPU (2g.10gb on NVIDIA A100-SXM4-40GB)")
            && err.contains("preemptible"),
        "{err}"
    );
    assert_eq!(std::fs::read(q.c.state_file()).unwrap(), before);
    // `plan` says the same.
    let o = q.run(&[
        "plan",
        "--mig-profile",
        "2g.10gb",
        "--priority",
        "interactive",
        "--namespace",
        "team-a",
    ]);
    assert_eq!(o.status.code(), Some(1));
    // Preemptible training beyond the quota: admitted, marked over quota.
    q.alloc("team-a", "a3", "3g.20gb", &[]);
    q.alloc("team-a", "a4", "3g.20gb", &[]);
    assert_eq!(
        q.holders(),
        [
            ("team-a/a1".to_string(), false),
            ("team-a/a2".to_string(), false),
            ("team-a/a3".to_string(), true),
            ("team-a/a4".to_string(), true),
        ]
    );
    let table = q.c.ok(&["status"]);
    assert_eq!(table.matches("over quota").count(), 2, "{table}");
    let ev = q.c.ok(&["events"]);
    assert!(
        ev.lines().any(|l| l.contains("allocated")
            && l.contains("team-a/a3")
            && l.ends_with("over quota")),
        "{ev}"
    );
    assert!(
        ev.contains("has a quota of 1 GPU"),
        "the refusal is an event: {ev}"
    );
    assert_eq!(metric(&q.c, "dynamig_over_quota_holders "), Some(2.0));
    assert_eq!(
        metric(
            &q.c,
            "dynamig_namespace_gpus{namespace=\"team-a\",quota=\"over\"}"
        ),
        Some(1.0)
    );
    // team-b, within its quota, at the same priority (training, which may not evict training):
    // takes the over-quota room back, and only that.
    let b = q.alloc("team-b", "b1", "7g.40gb", &[]);
    let mut evicted: Vec<&str> = b["evict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    evicted.sort_unstable();
    assert_eq!(evicted, ["a3", "a4"], "{b}");
    assert_eq!(
        q.holders(),
        [
            ("team-a/a1".to_string(), false),
            ("team-a/a2".to_string(), false),
            ("team-b/b1".to_string(), false),
        ]
    );
    let ev = q.c.ok(&["events"]);
    assert!(ev.contains("(taken back: over quota)"), "{ev}");
    assert_eq!(metric(&q.c, "dynamig_over_quota_holders "), Some(0.0));
    // team-b is now at its quota: more of it is over quota, and cannot take team-a's room
    // within quota (same priority, not over quota).
    let o = q.run(&[
        "allocate",
        "b2",
        "--mig-profile",
        "1g.5gb",
        "--namespace",
        "team-b",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no room"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn over_quota_only_where_the_policy_allows_it() {
    let q = Quota::new();
    // team-c: a quota of 0.25 GPU and no over_quota.
    q.alloc("team-c", "c1", "2g.10gb", &[]);
    let o = q.run(&[
        "allocate",
        "c2",
        "--mig-profile",
        "1g.5gb",
        "--namespace",
        "team-c",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("quota of 0.25 GPU")
            && err.contains("uses 0.25 GPU")
            && err.contains("asks for 0.125 GPU")
            && err.contains("may not run beyond its quota"),
        "{err}"
    );
    // Another namespace without a quota is unaffected; a release frees quota.
    q.alloc("other", "o1", "7g.40gb", &[]);
    q.c.ok(&["release", "c1", "--namespace", "team-c"]);
    q.alloc("team-c", "c2", "1g.5gb", &[]);
    assert!(q.holders().iter().all(|(_, over)| !over));
}

#[test]
fn two_gpus_of_quota_are_two_gpus_of_slices_whatever_their_size() {
    let q = Quota::new();
    q.c.ok(&["sim", "init", "a100-40gb", "a100-40gb", "a100-40gb"]);
    std::fs::write(
        &q.policy,
        "[namespace.\"team-a\"]\nmax_priority = \"interactive\"\nmay_evict = true\ngpu_quota = 2\n",
    )
    .unwrap();
    // 1 + 0.5 + 0.25 + 0.125 + 0.125 GPUs: the quota, with a third GPU still free.
    for (id, profile) in [
        ("s1", "7g.40gb"),
        ("s2", "3g.20gb"),
        ("s3", "2g.10gb"),
        ("s4", "1g.5gb"),
        ("s5", "1g.5gb"),
    ] {
        q.alloc("team-a", id, profile, &[]);
    }
    let o = q.run(&[
        "allocate",
        "s6",
        "--gpu-memory",
        "5GB",
        "--namespace",
        "team-a",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("quota of 2 GPUs")
            && err.contains("uses 2 GPUs")
            && err.contains("asks for 0.125 GPU (1g.5gb"),
        "{err}"
    );
}

/// Polls `status --json` until the queue holds `n` tickets; returns their ids and over-quota
/// marks in serving order.
fn queue_of(q: &Quota, n: usize) -> Vec<(String, bool)> {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let st = q.c.status();
        let t: Vec<(String, bool)> = st["queue"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap_or("").to_string(),
                    t["over_quota"] == true,
                )
            })
            .collect();
        if t.len() == n {
            return t;
        }
        assert!(
            std::time::Instant::now() < end,
            "queue never had {n}: {t:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn the_queue_serves_within_quota_before_over_quota_at_one_priority() {
    let q = Quota::new();
    q.c.ok(&["sim", "init", "a100-40gb"]);
    std::fs::write(
        &q.policy,
        "[namespace.\"team-a\"]\nmax_priority = \"training\"\nmay_evict = true\n\
         gpu_quota = 0.25\nover_quota = true\n\n\
         [namespace.\"team-b\"]\nmax_priority = \"training\"\nmay_evict = true\n\
         gpu_quota = 0.25\nover_quota = true\n\n\
         [namespace.other]\nmax_priority = \"training\"\n",
    )
    .unwrap();
    // team-a at its quota; the rest of the GPU held by training holders nobody here may evict.
    q.alloc("team-a", "a0", "2g.10gb", &[]);
    for n in 1..=5 {
        q.alloc("other", &format!("o{n}"), "1g.5gb", &[]);
    }
    let waiter = |ns: &str, id: &str| {
        q.c.cmd()
            .env("DYNAMIG_POLICY", &q.policy)
            .args([
                "allocate",
                id,
                "--mig-profile",
                "1g.5gb",
                "--namespace",
                ns,
                "--wait",
                "60s",
                "--json",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // team-a's request (over its quota) queues first, team-b's (within) second, same priority.
    let over = waiter("team-a", "a1");
    queue_of(&q, 1);
    let within = waiter("team-b", "b1");
    assert_eq!(
        queue_of(&q, 2),
        [("b1".to_string(), false), ("a1".to_string(), true)]
    );
    let table = q.c.ok(&["status"]);
    assert!(table.contains("training (over quota)"), "{table}");
    // One slice frees: team-b's request is served, team-a's waits.
    q.c.ok(&["release", "o1", "--namespace", "other"]);
    let o = within.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(queue_of(&q, 1), [("a1".to_string(), true)]);
    // Another frees: team-a's is served, over quota.
    q.c.ok(&["release", "o2", "--namespace", "other"]);
    let o = over.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(q.holders().contains(&("team-a/a1".to_string(), true)));
    assert!(q.holders().contains(&("team-b/b1".to_string(), false)));
}
