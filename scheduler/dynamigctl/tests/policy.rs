//! The node policy through `dynamigctl allocate --namespace N [--annotation
//! io.kubernetes.cri.sandbox-namespace=K]`: the seed walkthrough without a policy file, and a
//! tenant trying to evict another by claiming `interactive` with one.

mod common;
use common::*;

fn seed(c: &Ctl) {
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "t1", "--gpu-memory", "10GB"]);
    c.ok(&["allocate", "t2", "--mig-profile", "2g.10gb"]);
    c.ok(&["allocate", "t3", "--mig-profile", "2g.10gb"]);
}

fn held(c: &Ctl) -> Vec<String> {
    let mut v: Vec<String> = instances(&c.status())
        .into_iter()
        .filter_map(|i| i.4)
        .collect();
    v.sort();
    v
}

#[test]
fn no_policy_file_keeps_the_seed_walkthrough() {
    let c = Ctl::new();
    seed(&c);
    let missing = c.dir.path().join("no-such-policy.toml");
    // No policy (DYNAMIG_POLICY=none, the same as a node without /etc/dynamig/policy.toml,
    // see the policy unit tests): the seed's interactive request preempts exactly one.
    let a = c.json(&[
        "allocate",
        "big",
        "--gpu-memory",
        "20GB",
        "--priority",
        "interactive",
        "--json",
    ]);
    assert_eq!(a["evict"].as_array().unwrap().len(), 1);
    assert_eq!(a["profile"], "3g.20gb");
    // A DYNAMIG_POLICY that names a missing file is an error, not an open node.
    let o = c
        .cmd()
        .env("DYNAMIG_POLICY", &missing)
        .args(["allocate", "more", "--gpu-memory", "5GB"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("policy file"));
}

#[test]
fn tenant_claiming_interactive_to_evict_is_refused() {
    let c = Ctl::new();
    seed(&c);
    let p = c.dir.path().join("policy.toml");
    std::fs::write(
        &p,
        "[namespace.\"*\"]\nmax_priority = \"training\"\nmay_evict = false\n\n\
         [namespace.ops]\nmax_priority = \"interactive\"\nmay_evict = true\n\n\
         [namespace.batch]\nmax_priority = \"inference\"\nmay_evict = false\n",
    )
    .unwrap();
    let before = std::fs::read(c.state_file()).unwrap();
    let run = |ns: &str, prio: &str| {
        c.cmd()
            .env("DYNAMIG_POLICY", &p)
            .args([
                "allocate",
                "claim",
                "--gpu-memory",
                "20GB",
                "--priority",
                prio,
                "--namespace",
                ns,
                "--json",
            ])
            .output()
            .unwrap()
    };
    // The dry run says the same as the allocation would.
    let plan = |ns: &str, prio: &str| {
        c.cmd()
            .env("DYNAMIG_POLICY", &p)
            .args([
                "plan",
                "--gpu-memory",
                "20GB",
                "--priority",
                prio,
                "--namespace",
                ns,
            ])
            .output()
            .unwrap()
    };
    assert_eq!(plan("tenant", "interactive").status.code(), Some(2));
    assert_eq!(plan("batch", "inference").status.code(), Some(1));
    assert!(String::from_utf8_lossy(&plan("batch", "inference").stderr).contains("may not evict"));
    assert!(plan("ops", "interactive").status.success());
    // Above its allowance: exit 2, one line, nothing evicted, state untouched.
    let o = run("tenant", "interactive");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1);
    assert!(
        err.contains("containerd namespace \"tenant\" may claim priority at most training"),
        "{err}"
    );
    assert_eq!(std::fs::read(c.state_file()).unwrap(), before);
    // Within its priority but not allowed to evict: exit 1, nothing evicted.
    let o = run("batch", "inference");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("may not evict"), "{err}");
    assert_eq!(std::fs::read(c.state_file()).unwrap(), before);
    assert_eq!(held(&c), vec!["t1", "t2", "t3"]);
    // The refusals are in the event log.
    let ev = c.ok(&["events"]);
    assert!(
        ev.contains("at most training") && ev.contains("may not evict"),
        "{ev}"
    );
    // Allowed: preempts exactly one, as in the seed.
    let o = run("ops", "interactive");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(a["evict"].as_array().unwrap().len(), 1);
    assert_eq!(held(&c).len(), 3);
}

/// A namespace that may not evict, asking with `--wait`, waits for free room instead of
/// evicting (or failing at once), and leaves nothing behind when its time is up.
#[test]
fn may_not_evict_waits_for_free_room_then_gives_up_cleanly() {
    let c = Ctl::new();
    seed(&c);
    let p = c.dir.path().join("policy.toml");
    std::fs::write(
        &p,
        "[namespace.batch]\nmax_priority = \"inference\"\nmay_evict = false\n",
    )
    .unwrap();
    let before = std::fs::read(c.state_file()).unwrap();
    let started = std::time::Instant::now();
    let o = c
        .cmd()
        .env("DYNAMIG_POLICY", &p)
        .args([
            "allocate",
            "claim",
            "--gpu-memory",
            "20GB",
            "--priority",
            "inference",
            "--namespace",
            "batch",
            "--wait",
            "1s",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "did not wait: {err}"
    );
    assert!(
        err.contains("gave up after waiting") && err.contains("may not evict"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert_eq!(held(&c), vec!["t1", "t2", "t3"]);
    assert!(c.status()["queue"].as_array().is_none_or(|q| q.is_empty()));
    // nothing but the queue bookkeeping changed: same holders, no ticket left
    let body = |bytes: &[u8]| -> serde_json::Value {
        let json = bytes
            .splitn(2, |b| *b == b'\n')
            .nth(1)
            .expect("a header line");
        serde_json::from_slice(json).expect("state JSON")
    };
    let after = body(&std::fs::read(c.state_file()).unwrap());
    let was = body(&before);
    assert_eq!(after["holders"], was["holders"]);
}
