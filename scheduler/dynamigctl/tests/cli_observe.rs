//! What people and scripts observe: the `nvidia-smi`-style status, `status --watch`, and
//! `events --since` with seconds, durations and RFC 3339 times.

mod common;
use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn seed(c: &Ctl) {
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "mig1", "--gpu-memory", "10GB"]);
    c.ok(&["allocate", "mig2", "--mig-profile", "2g.10gb"]);
    c.ok(&["allocate", "mig3", "--mig-profile", "2g.10gb"]);
    c.ok(&[
        "allocate",
        "mig1-int",
        "--gpu-memory",
        "20G",
        "--priority",
        "interactive",
    ]);
}

#[test]
fn status_text_reads_like_nvidia_smi() {
    let c = Ctl::new();
    seed(&c);
    let st = c.status();
    // Every field on one line per device, with the UUIDs: the wide form.
    let text = c.ok(&["status", "--wide"]);
    let g = &st["gpus"][0];
    // The GPU box: name, UUID, MIG mode.
    let gpu_line = text
        .lines()
        .position(|l| l.contains(g["name"].as_str().unwrap()))
        .expect("GPU line");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[gpu_line].contains("Enabled"), "{text}");
    assert!(lines[gpu_line + 1].contains(g["uuid"].as_str().unwrap()));
    // The MIG devices table: one row per instance with GPU, GI, CI, profile, placement,
    // memory and holder, and the MIG UUID under it.
    assert!(text.contains("| MIG devices:"), "{text}");
    for i in g["instances"].as_array().unwrap() {
        let uuid = i["uuid"].as_str().unwrap();
        let at = lines
            .iter()
            .position(|l| l.contains(uuid))
            .unwrap_or_else(|| panic!("{uuid} missing:\n{text}"));
        let row: Vec<&str> = lines[at - 1]
            .split(['|', ' '])
            .filter(|s| !s.is_empty())
            .collect();
        let placement = format!("{}:{}", i["placement"]["start"], i["placement"]["size"]);
        assert_eq!(row[0], "0");
        assert_eq!(row[1], i["gi"].to_string());
        assert_eq!(row[2], i["ci"].to_string());
        assert_eq!(row[4], i["profile"].as_str().unwrap());
        assert_eq!(row[5], placement);
        assert_eq!(row[6], format!("{}MiB", i["memory_mib"]));
        // the holder as namespace/id: two namespaces may each have a container `c1`
        let h = &i["holder"];
        assert_eq!(
            row[8],
            format!(
                "{}/{}",
                h["namespace"].as_str().unwrap(),
                h["id"].as_str().unwrap()
            )
        );
        assert_eq!(row[9], i["holder"]["priority_class"].as_str().unwrap());
        assert_eq!(row[11], "active");
    }
    // Every line of a box is as wide as its border.
    let mut width = 0;
    for l in &lines {
        if l.starts_with('+') {
            width = l.chars().count();
        } else if l.starts_with('|') {
            assert_eq!(l.chars().count(), width, "{l}");
        }
    }
    // The preempted holder, in its own table.
    let ended = &lines[lines
        .iter()
        .position(|l| l.contains("Holders without a MIG device"))
        .expect("ended table")..];
    assert!(ended
        .iter()
        .any(|l| l.contains("mig3") && l.contains("preempted")));
}

/// The default form fits an 80-column terminal, as `nvidia-smi` does: every box exactly 80
/// wide, whatever the holders' names; each device's holder, priority and state under its ids.
#[test]
fn status_fits_80_columns_and_keeps_its_width() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    let widths = |text: &str| -> Vec<usize> { text.lines().map(|l| l.chars().count()).collect() };
    let empty = c.ok(&["status"]);
    seed(&c);
    c.ok(&["release", "mig2"]);
    c.ok(&[
        "allocate",
        "a-holder-id-far-longer-than-any-column-0123456789abcdef",
        "--mig-profile",
        "1g.5gb",
        "--namespace",
        "k8s.io",
    ]);
    let text = c.ok(&["status"]);
    for l in text.lines().filter(|l| l.starts_with(['+', '|'])) {
        assert_eq!(l.chars().count(), 80, "{l}\n{text}");
    }
    assert!(!text.contains('\x1b'), "no escapes on a pipe:\n{text}");
    // Nor in its logs, when stderr is not a terminal either.
    let o = c
        .cmd()
        .args(["status"])
        .env("DYNAMIG_LOG", "debug")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("DEBUG"), "debug logs expected: {err}");
    assert!(
        !err.contains('\x1b'),
        "no escapes in logs on a pipe: {err:?}"
    );
    // The GPU box and the MIG devices box keep their lines' widths from an empty node to a
    // busy one (`--watch` does not jitter).
    let box_lines = |t: &str| -> Vec<usize> {
        let end = t.find("MIG devices:").expect("MIG devices table");
        widths(&t[..end])
    };
    assert_eq!(box_lines(&empty), box_lines(&text), "{empty}\n{text}");
    let lines: Vec<&str> = text.lines().collect();
    let st = c.status();
    for i in st["gpus"][0]["instances"].as_array().unwrap() {
        let h = &i["holder"];
        let name = format!(
            "{}/{}",
            h["namespace"].as_str().unwrap(),
            h["id"].as_str().unwrap()
        );
        // The holder column of an A100's box is 22 wide.
        let cut = if name.len() > 22 {
            format!(" {}... ", &name[..19])
        } else {
            format!(" {name} ")
        };
        let at = lines
            .iter()
            .position(|l| l.contains(&cut))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"));
        let cells = |l: &str| -> Vec<String> {
            l.split(['|', ' '])
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        let (first, second) = (cells(lines[at]), cells(lines[at + 1]));
        assert_eq!(first[0], "0");
        assert_eq!(first[1], i["gi"].to_string());
        assert_eq!(first[2], i["ci"].to_string());
        assert_eq!(first[4], i["profile"].as_str().unwrap());
        assert_eq!(first[5], format!("{}MiB", i["memory_mib"]));
        assert_eq!(first.last().unwrap(), "active");
        assert_eq!(
            second[0],
            format!("{}:{}", i["placement"]["start"], i["placement"]["size"])
        );
        assert_eq!(second[1], i["sms"].to_string());
        assert!(
            second[2].starts_with(h["priority_class"].as_str().unwrap()),
            "{text}"
        );
    }
    // The long name is cut to its column, not let widen the box.
    assert!(text.contains(" k8s.io/a-holder-id-... "), "{text}");
    assert!(!text.contains("0123456789abcdef"), "{text}");
}

#[test]
fn watch_redraws_count_times_in_text_and_json() {
    let c = Ctl::new();
    seed(&c);
    let text = c.ok(&["status", "--watch", "0.1", "--count", "3"]);
    assert_eq!(
        text.matches("Every 0.1s: dynamigctl status").count(),
        3,
        "{text}"
    );
    assert_eq!(text.matches("| MIG devices:").count(), 3);
    let json = c.ok(&["status", "--json", "--watch", "0.1", "--count", "2"]);
    let frames: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(frames.len(), 2);
    for f in &frames {
        assert_eq!(instances(f), instances(&c.status()));
    }
    // Bad intervals are bad input.
    assert_eq!(c.run(&["status", "--watch", "0"]).status.code(), Some(2));
    assert_eq!(c.run(&["status", "--count", "2"]).status.code(), Some(2));
}

#[test]
fn watch_follows_changes_and_stops_cleanly_on_sigint() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    let mut w = c
        .cmd()
        .args(["status", "--watch", "0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(w.stdout.take().unwrap()).lines();
    let mut wait_for = |needle: &str| {
        for l in out.by_ref() {
            if l.unwrap().contains(needle) {
                return;
            }
        }
        panic!("the watcher ended before showing {needle:?}");
    };
    wait_for("No MIG devices found");
    // While it watches, writers get the lock, and the next redraw shows their change.
    c.ok(&["allocate", "late", "--mig-profile", "3g.20gb"]);
    wait_for("late");
    let pid = i32::try_from(w.id()).expect("pid");
    // SAFETY: kill(2) takes plain integers; `pid` is our own child.
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0);
    let status = w.wait().unwrap();
    assert!(status.success(), "SIGINT ends the watch with 0: {status:?}");
    // The lock was let go: the node is usable at once.
    c.ok(&["release", "late"]);
}

/// Writes an event `age_ms` old into the event log.
fn old_event(c: &Ctl, age_ms: u64) {
    use std::io::Write;
    let now = dynamig_core::duration::millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap(),
    );
    let e = serde_json::json!({
        "time_ms": now - age_ms, "kind": "released", "holder": "old", "gpu": null,
        "profile": null, "start": null, "uuid": null, "message": "long ago"
    });
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(c.state_dir().join("events.jsonl"))
        .unwrap();
    writeln!(f, "{e}").unwrap();
}

fn holders(c: &Ctl, since: &str) -> Vec<String> {
    c.json(&["events", "--json", "--since", since])
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["holder"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[test]
fn events_since_seconds_durations_and_rfc3339() {
    let c = Ctl::new();
    c.ok(&["sim", "init", "a100-40gb"]);
    c.ok(&["allocate", "a", "--gpu-memory", "5GB"]);
    old_event(&c, 2 * 3600 * 1000);
    let all = holders(&c, "1970-01-01T00:00:00Z");
    assert_eq!(all, vec!["a", "old"]);
    assert_eq!(holders(&c, "3h"), vec!["a", "old"]);
    assert_eq!(holders(&c, "10800"), vec!["a", "old"]);
    assert_eq!(holders(&c, "1h"), vec!["a"]);
    assert_eq!(holders(&c, "90m"), vec!["a"]);
    assert_eq!(holders(&c, "3600"), vec!["a"]);
    // An RFC 3339 time 90 minutes ago, with an offset, in the format `events` prints.
    let now = dynamig_core::duration::millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap(),
    );
    let t = dynamig_core::rfc3339::format_ms(now - 90 * 60 * 1000);
    assert_eq!(holders(&c, &t), vec!["a"]);
    let far = dynamig_core::rfc3339::format_ms(now + 3600 * 1000);
    assert!(holders(&c, &far).is_empty());
    // The text output shows that time.
    let text = c.ok(&["events", "--since", "1h"]);
    assert!(text.contains("allocated") && text.contains('T') && text.contains('Z'));
    // Nonsense is bad input, with what would be accepted.
    let o = c.run(&["events", "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("yesterday") && err.contains("RFC 3339"),
        "{err}"
    );
}

/// `dynamigctl profiles | head -1`: the reader goes away early; dynamigctl ends quietly (by
/// SIGPIPE, as `cat` would), never with a panic message on the terminal.
#[test]
fn closed_stdout_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let ctl = Ctl::new();
    let mut child = ctl
        .cmd()
        .args(["profiles"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(
        out.status.success() || out.status.signal() == Some(13),
        "status {:?}, stderr: {stderr}",
        out.status
    );
}
