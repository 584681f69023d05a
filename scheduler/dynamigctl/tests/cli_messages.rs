//! What a new user reads when something is off (issue #18, "Messages"): refusals that name the
//! flag and the nearest accepted spelling, bounds said as bounds, `plan --json` refusals as
//! JSON, help texts, the simulated node refusing what the driver refuses, `replay`'s trace and
//! `doctor` on a simulated node.

mod common;
use common::*;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `args`, expects exit status `code` and one `dynamigctl:` line on stderr; returns it.
fn refusal(c: &Ctl, args: &[&str], code: i32) -> String {
    let o = c.run(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    assert!(err.starts_with("dynamigctl: "), "{args:?}: {err}");
    err.trim_end().to_string()
}

fn sim(models: &[&str]) -> Ctl {
    let c = Ctl::new();
    let mut args = vec!["sim", "init"];
    args.extend_from_slice(models);
    c.ok(&args);
    c
}

#[test]
fn a_flag_is_named_as_a_flag_and_a_fraction_gets_its_whole_spelling() {
    let c = sim(&["a100-40gb"]);
    let e = refusal(&c, &["plan", "--gpu-memory", "1.5GB"], 2);
    assert!(
        e.starts_with("dynamigctl: --gpu-memory \"1.5GB\" must be a whole, positive number"),
        "{e}"
    );
    assert!(e.ends_with("; did you mean 1500MB?"), "{e}");
    assert!(
        !e.contains("dynamig.io/"),
        "the flag, not the annotation: {e}"
    );
    // The same value as an annotation (what containerd passes) still names the annotation.
    let e = refusal(
        &c,
        &["plan", "--annotation", "dynamig.io/gpu-memory=1.5GB"],
        2,
    );
    assert!(
        e.starts_with("dynamigctl: annotation dynamig.io/gpu-memory=\"1.5GB\" must be"),
        "{e}"
    );
    assert!(e.ends_with("; did you mean 1500MB?"), "{e}");
    let e = refusal(
        &c,
        &[
            "plan",
            "--gpu-memory",
            "10GB",
            "--env",
            "DYNAMIG_GPU_MEMORY=20GB",
        ],
        2,
    );
    assert!(
        e.contains("--gpu-memory \"10GB\" and env DYNAMIG_GPU_MEMORY=\"20GB\" disagree"),
        "{e}"
    );
    let e = refusal(&c, &["allocate", "x", "--priority", "5"], 2);
    assert!(
        e.contains("--priority is set without --gpu-memory or --mig-profile"),
        "{e}"
    );
}

#[test]
fn near_miss_spellings_are_refused_with_the_accepted_one() {
    let c = sim(&["a100-40gb"]);
    for (args, says, meant) in [
        (
            ["plan", "--gpu-memory", "10gb"],
            "has unknown unit `gb`",
            "10GB",
        ),
        (
            ["plan", "--mig-profile", "2g.10GB"],
            "is not a MIG profile name",
            "2g.10gb",
        ),
        (
            ["plan", "--gpu-memory", "512mib"],
            "has unknown unit",
            "512MiB",
        ),
    ] {
        let e = refusal(&c, &args, 2);
        assert!(e.contains(says), "{e}");
        assert!(e.ends_with(&format!("; did you mean {meant}?")), "{e}");
        // And the spelling it offers is accepted.
        let mut fixed = args;
        fixed[2] = meant;
        c.ok(&fixed);
    }
    let e = refusal(&c, &["plan", "--gpu-memory", "10XB"], 2);
    assert!(!e.contains("did you mean"), "nothing near 10XB: {e}");
}

#[test]
fn zero_and_negative_values_reach_the_request_parser() {
    let c = sim(&["a100-40gb"]);
    let e = refusal(&c, &["plan", "--gpu-memory", "0"], 2);
    assert!(e.contains("--gpu-memory \"0\" is zero;"), "{e}");
    let e = refusal(&c, &["plan", "--gpu-memory", "-5GB"], 2);
    assert!(
        e.contains("--gpu-memory \"-5GB\" must be a whole, positive number"),
        "not the argument parser's: {e}"
    );
    // Taking values that start with '-' does not swallow the next flag silently.
    let e = refusal(&c, &["plan", "--gpu-memory", "--json"], 2);
    assert!(
        e.contains("--gpu-memory needs a value, but is followed by \"--json\""),
        "{e}"
    );
    // A negative priority is a priority.
    let p = c.json(&["plan", "--gpu-memory", "5GB", "--priority", "-20", "--json"]);
    assert_eq!(p["profile"], "1g.5gb");
}

#[test]
fn values_past_a_bound_say_which_bound() {
    let c = sim(&["a100-40gb"]);
    for (flag, value, says) in [
        ("--grace-period", "2h", "exceeds the maximum of 1h"),
        ("--wait", "2h", "exceeds the maximum of 1h"),
        ("--priority", "2000", "exceeds the maximum of 1000"),
        ("--priority", "-2000", "is below the minimum of -1000"),
        ("--checkpoint-interval", "25h", "exceeds the maximum of 24h"),
        ("--checkpoint-interval", "0s", "is zero"),
    ] {
        let e = refusal(&c, &["plan", "--gpu-memory", "5GB", flag, value], 2);
        assert!(e.contains(&format!("{flag} \"{value}\" {says};")), "{e}");
        assert!(!e.contains("is not a"), "{e}");
    }
}

#[test]
fn a_refused_plan_json_is_json_with_the_reason_and_the_same_exit_status() {
    let c = sim(&["a100-40gb"]);
    c.ok(&[
        "allocate",
        "big",
        "--mig-profile",
        "7g.40gb",
        "--priority",
        "inference",
    ]);
    for (args, code) in [
        (vec!["plan", "--mig-profile", "1g.5gb", "--json"], 1),
        (vec!["plan", "--gpu-memory", "1.5GB", "--json"], 2),
    ] {
        let o = c.run(&args);
        assert_eq!(o.status.code(), Some(code), "{args:?}");
        let v: serde_json::Value = serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {}", stdout(&o)));
        assert_eq!(v["refused"], true);
        assert_eq!(v["exit_code"], code);
        let reason = v["reason"].as_str().unwrap();
        // The reason is the line stderr gives.
        assert_eq!(
            stderr(&o).trim_end(),
            format!("dynamigctl: {reason}"),
            "{args:?}"
        );
    }
}

#[test]
fn watch_count_zero_is_refused() {
    let c = sim(&["a100-40gb"]);
    let o = c.run(&["status", "--watch", "--count", "0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).is_empty(), "nothing drawn: {}", stdout(&o));
    assert!(stderr(&o).contains("must be at least 1"), "{}", stderr(&o));
}

#[test]
fn every_json_flag_and_the_holder_id_have_help_text() {
    let c = Ctl::new();
    for cmd in [
        vec!["profiles"],
        vec!["status"],
        vec!["plan"],
        vec!["allocate"],
        vec!["gc"],
        vec!["events"],
        vec!["replay"],
    ] {
        let mut args = cmd.clone();
        args.push("--help");
        let help = c.ok(&args);
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with("--json"))
            .unwrap_or_else(|| panic!("{cmd:?} has no --json:\n{help}"));
        assert!(
            line.trim_start().trim_start_matches("--json").trim().len() > 10,
            "{cmd:?}: --json has no help text: {line:?}"
        );
    }
    for cmd in ["allocate", "release"] {
        let help = c.ok(&[cmd, "--help"]);
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with("<ID>"))
            .unwrap_or_else(|| panic!("{cmd}: no <ID>:\n{help}"));
        assert!(line.contains("holder"), "{cmd}: <ID> has no help: {line:?}");
    }
}

#[test]
fn turning_mig_off_under_live_instances_is_refused_as_the_driver_refuses_it() {
    let c = sim(&["a100-40gb"]);
    c.ok(&["allocate", "a", "--gpu-memory", "5GB"]);
    c.ok(&["allocate", "b", "--gpu-memory", "5GB"]);
    for mode in ["off", "pending-off"] {
        let e = refusal(&c, &["sim", "mig", "0", mode], 1);
        assert!(
            e.contains("GPU 0: cannot disable MIG while 2 GPU instance(s) exist"),
            "{e}"
        );
        assert!(e.contains("NVML_ERROR_IN_USE"), "{e}");
    }
    let st = c.status();
    assert_eq!(st["gpus"][0]["usable"], true, "MIG still on: {st}");
    assert_eq!(instances(&st).len(), 2);
    c.ok(&["release", "a"]);
    c.ok(&["release", "b"]);
    c.ok(&["sim", "mig", "0", "off"]);
    assert_eq!(c.status()["gpus"][0]["usable"], false);
}

#[test]
fn replay_finds_its_trace_from_any_directory_and_says_a_read_error_once() {
    let c = Ctl::new();
    let mut cmd = c.cmd();
    cmd.current_dir(c.dir.path()).args([
        "replay",
        "--workload",
        "alibaba",
        "--requests",
        "20",
        "--policies",
        "dynamig",
        "--json",
    ]);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    let missing = c.dir.path().join("no-such-trace.csv");
    let e = refusal(
        &c,
        &[
            "replay",
            "--workload",
            "alibaba",
            "--trace",
            missing.to_str().unwrap(),
        ],
        2,
    );
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
}

/// `doctor` on a simulated node, with the host's engines and driver stack out of the way.
fn doctor(c: &Ctl, backend: &str) -> Output {
    let etc = c.dir.path().join("etc");
    std::fs::create_dir_all(etc.join("containerd")).unwrap();
    std::fs::write(etc.join("containerd/config.toml"), "version = 2\n").unwrap();
    c.cmd()
        .env("DYNAMIG_BACKEND", backend)
        .env("DYNAMIG_ETC_ROOT", &etc)
        .env("DYNAMIG_DRIVER_STACK", "none")
        .arg("doctor")
        .output()
        .unwrap()
}

#[test]
fn doctor_checks_the_simulated_node_it_would_use_and_says_things_once() {
    let c = Ctl::new();
    // No simulated node yet: not ready, and stdout alone says so.
    let o = doctor(&c, "sim");
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("[FAIL] backend: DYNAMIG_BACKEND=sim, but there is no simulated node"),
        "{out}"
    );
    assert!(
        out.ends_with("node: NOT ready (see the FAIL lines above)\n"),
        "{out}"
    );
    assert_eq!(stderr(&o), "", "stderr does not repeat stdout's last line");

    c.ok(&["sim", "init", "a100-40gb", "h100-80gb"]);
    c.ok(&["sim", "mig", "1", "off"]);
    let o = doctor(&c, "sim");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("[ok  ] backend: DYNAMIG_BACKEND=sim: the simulated node in"),
        "{out}"
    );
    assert!(out.contains("[ok  ] GPU 0: a100-40gb (simulated)"), "{out}");
    assert!(
        out.contains("[warn] GPU 1: h100-80gb (simulated)")
            && out.contains("`dynamigctl sim mig 1 on`"),
        "{out}"
    );
    assert!(!out.contains("sim init"), "the node exists: {out}");
    assert!(!out.contains("[FAIL]"), "{out}");
    assert!(
        out.contains("`dynamigctl runtime configure --runtime containerd`")
            && out.contains("/usr/share/dynamig/containerd/"),
        "{out}"
    );
    assert!(!out.contains("packaging/"), "{out}");
    assert!(
        out.ends_with("node: ready (1 GPU(s) with MIG usable)\n"),
        "{out}"
    );
    assert_eq!(stderr(&o), "");
}

/// A malformed checkpoint interval is refused in one line, exit status 2, whether it comes as
/// the flag or as the annotation; a good one is kept with the holder and shown in status.
#[test]
fn a_checkpoint_interval_is_checked_and_shown_with_its_holder() {
    let c = sim(&["a100-40gb"]);
    let e = refusal(
        &c,
        &[
            "allocate",
            "j",
            "--gpu-memory",
            "5GB",
            "--checkpoint-interval",
            "30min",
        ],
        2,
    );
    assert!(
        e.contains("--checkpoint-interval \"30min\" is not a duration; accepted:"),
        "{e}"
    );
    let e = refusal(
        &c,
        &[
            "allocate",
            "j",
            "--gpu-memory",
            "5GB",
            "--annotation",
            "dynamig.io/checkpoint-interval=1.5h",
        ],
        2,
    );
    assert!(
        e.contains("annotation dynamig.io/checkpoint-interval=\"1.5h\" is not a duration"),
        "{e}"
    );
    assert_eq!(
        c.status()["gpus"][0]["instances"].as_array().map(Vec::len),
        Some(0)
    );
    c.ok(&[
        "allocate",
        "j",
        "--gpu-memory",
        "5GB",
        "--checkpoint-interval",
        "30m",
    ]);
    c.ok(&["allocate", "k", "--gpu-memory", "5GB"]);
    let st = c.status();
    let holder = |id: &str| {
        st["gpus"][0]["instances"]
            .as_array()
            .and_then(|v| v.iter().find(|i| i["holder"]["id"] == id))
            .map(|i| i["holder"].clone())
            .unwrap_or_default()
    };
    assert_eq!(holder("j")["checkpoint_interval_ms"], 1_800_000);
    assert!(
        holder("k").get("checkpoint_interval_ms").is_none(),
        "{}",
        holder("k")
    );
}
