//! The seed walkthrough, scripted through `dynamigctl` on a simulated A100-SXM4-40GB, and the
//! command-line contract around it (exit codes, JSON fields).

mod common;
use common::*;

#[test]
fn seed_walkthrough_through_dynamigctl() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    let a1 = c.json(&["allocate", "mig1", "--gpu-memory", "10GB", "--json"]);
    let a2 = c.json(&["allocate", "mig2", "--mig-profile", "2g.10gb", "--json"]);
    let a3 = c.json(&["allocate", "mig3", "--mig-profile", "2g.10gb", "--json"]);
    for a in [&a1, &a2, &a3] {
        assert!(a["uuid"].as_str().unwrap().starts_with("MIG-"));
        assert_eq!(a["evict"].as_array().unwrap().len(), 0);
        assert_eq!(a["gpu"], 0);
    }
    let st = c.status();
    let mem: Vec<u64> = st["gpus"][0]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["memory_mib"].as_u64().unwrap())
        .collect();
    assert_eq!(mem, vec![9984, 9984, 9984], "three 10 GB devices");
    let before = instances(&st);

    // Dry run first: it names exactly one victim and changes nothing.
    let plan = c.json(&[
        "plan",
        "--gpu-memory",
        "20G",
        "--priority",
        "interactive",
        "--json",
    ]);
    assert_eq!(plan["profile"], "3g.20gb");
    assert_eq!(plan["evict"].as_array().unwrap().len(), 1);
    assert_eq!(instances(&c.status()), before);

    let a4 = c.json(&[
        "allocate",
        "mig1-int",
        "--gpu-memory",
        "20G",
        "--priority",
        "interactive",
        "--json",
    ]);
    assert_eq!(a4["profile"], "3g.20gb");
    let evicted: Vec<String> = a4["evict"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(evicted.len(), 1);
    assert_eq!(
        evicted,
        plan["evict"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    );

    let st = c.status();
    assert_no_overlap(&st);
    let after = instances(&st);
    // The two survivors are unchanged: same placement, same uuid.
    let survivors: Vec<_> = before
        .iter()
        .filter(|i| i.4.as_deref() != Some(evicted[0].as_str()))
        .collect();
    assert_eq!(survivors.len(), 2);
    for s in survivors {
        assert!(after.contains(s), "{s:?} changed");
    }
    let ended = st["ended"].as_array().unwrap();
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["id"], evicted[0].as_str());
    assert_eq!(ended[0]["state"], "preempted");
    let ev = c.json(&["events", "--json"]);
    assert!(ev
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "preempted" && e["holder"] == evicted[0].as_str()));

    // Release is idempotent and frees the slices.
    c.ok(&["release", "mig1-int"]);
    assert!(c.ok(&["release", "mig1-int"]).contains("nothing"));
    assert_eq!(instances(&c.status()).len(), 2);
}

#[test]
fn exit_codes() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    let code = |args: &[&str]| c.run(args).status.code();
    assert_eq!(code(&["allocate", "a", "--gpu-memory", "10XB"]), Some(2));
    assert_eq!(code(&["allocate", "a", "--gpu-memory", "0GB"]), Some(2));
    assert_eq!(
        code(&["allocate", "a", "--mig-profile", "1g.10gb+me"]),
        Some(2),
        "unknown on this model"
    );
    assert_eq!(
        code(&["allocate", "a", "--gpu-memory", "100GB"]),
        Some(2),
        "larger than any GPU"
    );
    assert_eq!(
        code(&[
            "allocate",
            "a",
            "--gpu-memory",
            "1GB",
            "--mig-profile",
            "1g.5gb"
        ]),
        Some(2)
    );
    assert_eq!(
        code(&[
            "allocate",
            "a",
            "--gpu-memory",
            "1GB",
            "--priority",
            "urgent"
        ]),
        Some(2)
    );
    assert_eq!(
        code(&["allocate", "big", "--mig-profile", "7g.40gb"]),
        Some(0)
    );
    assert_eq!(
        code(&["allocate", "big", "--mig-profile", "1g.5gb"]),
        Some(1),
        "already held"
    );
    let o = c.run(&["allocate", "small", "--mig-profile", "1g.5gb"]);
    assert_eq!(o.status.code(), Some(1), "no room");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("big 7g.40gb"),
        "names what occupies the GPU: {err}"
    );
    // Bad input never touched the state.
    assert_eq!(instances(&c.status()).len(), 1);
}

#[test]
fn foreign_instances_are_left_alone_and_block() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["sim", "create", "0", "4g.20gb", "0"]);
    c.ok(&["gc"]);
    let st = c.status();
    assert_eq!(st["gpus"][0]["instances"][0]["state"], "foreign");
    let a = c.json(&[
        "allocate",
        "x",
        "--mig-profile",
        "3g.20gb",
        "--priority",
        "inference",
        "--json",
    ]);
    assert_eq!(a["placement"]["start"], 4);
    assert_eq!(
        c.run(&[
            "allocate",
            "y",
            "--mig-profile",
            "1g.5gb",
            "--priority",
            "inference"
        ])
        .status
        .code(),
        Some(1)
    );
    assert_eq!(
        instances(&c.status()).len(),
        2,
        "the foreign instance is still there"
    );
}

#[test]
fn mig_pending_gpu_is_reported_not_used() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb", "a100-40gb"]);
    c.ok(&["sim", "mig", "0", "pending-off"]);
    let a = c.json(&["allocate", "x", "--gpu-memory", "5GB", "--json"]);
    assert_eq!(a["gpu"], 1);
    let st = c.status();
    assert_eq!(st["gpus"][0]["mig_pending"], true);
    assert_eq!(st["gpus"][0]["usable"], false);
    assert!(c.ok(&["status"]).contains("pending a GPU reset"));
}

#[test]
fn damaged_state_file_is_reported_not_reset() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "a", "--gpu-memory", "10GB"]);
    let good = std::fs::read(c.state_file()).unwrap();
    std::fs::write(c.state_file(), &good[..good.len() / 2]).unwrap();
    let o = c.run(&["status"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("damaged"), "{err}");
    let o = c.run(&["allocate", "b", "--gpu-memory", "10GB"]);
    assert!(!o.status.success());
    assert_eq!(
        std::fs::read(c.state_file()).unwrap(),
        &good[..good.len() / 2],
        "left as it was"
    );
    std::fs::write(c.state_file(), b"").unwrap();
    assert!(String::from_utf8_lossy(&c.run(&["status"]).stderr).contains("empty"));
}

#[test]
fn eviction_terminates_a_live_holder_before_destroying_its_instance() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    // A process that ignores SIGTERM: it must be SIGKILLed after the grace period.
    let mut stubborn = std::process::Command::new("sh")
        .args(["-c", "trap '' TERM; sleep 60"])
        .spawn()
        .unwrap();
    let mut polite = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let sp = stubborn.id().to_string();
    let pp = polite.id().to_string();
    c.ok(&[
        "allocate",
        "stubborn",
        "--mig-profile",
        "3g.20gb",
        "--pid",
        &sp,
        "--grace-period",
        "300ms",
    ]);
    c.ok(&[
        "allocate",
        "polite",
        "--mig-profile",
        "3g.20gb",
        "--pid",
        &pp,
    ]);
    let t = std::time::Instant::now();
    let a = c.json(&[
        "allocate",
        "boss",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "interactive",
        "--json",
    ]);
    assert_eq!(a["evict"].as_array().unwrap().len(), 2);
    assert!(
        t.elapsed() >= std::time::Duration::from_millis(300),
        "waited for the grace period"
    );
    let s1 = stubborn.wait().unwrap();
    let s2 = polite.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(s1.signal(), Some(9), "SIGKILL after grace");
    assert_eq!(s2.signal(), Some(15), "SIGTERM");
    let st = c.status();
    assert_eq!(st["ended"].as_array().unwrap().len(), 2);
}

#[test]
fn holder_released_when_its_process_exits() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    let mut p = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    c.ok(&[
        "allocate",
        "job",
        "--gpu-memory",
        "10GB",
        "--pid",
        &p.id().to_string(),
    ]);
    c.ok(&["gc"]);
    assert_eq!(instances(&c.status()).len(), 1, "alive: kept");
    p.kill().unwrap();
    p.wait().unwrap();
    let gc = c.json(&["gc", "--json"]);
    assert_eq!(gc["released"][0], "job");
    assert_eq!(instances(&c.status()).len(), 0);
    let gc = c.json(&["gc", "--json"]);
    assert_eq!(
        gc["released"].as_array().unwrap().len(),
        0,
        "released exactly once"
    );
}

#[test]
fn profiles_lists_the_catalog() {
    let c = Ctl::new();
    let out = c.ok(&["profiles", "a100-40gb"]);
    assert!(out.contains("{0,2,4,6}:2"));
    assert!(out.contains("{0,1,2,3,4,5,6}:1"));
    let all = c.json(&["profiles", "--json"]);
    // The six original models and the eight of docs/models.md.
    assert_eq!(all.as_array().unwrap().len(), 14);
    assert_eq!(c.run(&["profiles", "v100"]).status.code(), Some(2));
}
